"""The worker's guard: it notices what student code does to read or change what
grades it, refuses the plain acts, and puts back what was patched.

The sandbox is what stops such code; the guard reports it (each reply lists
``tampering``), and refuses the plainest attempts so that ``--sandbox process``
does not carry them out either. Code that controls its own process can of
course hide from it.
"""

from __future__ import annotations

import builtins
import contextlib
import itertools
import operator
import os
import re
import signal
import socket
import stat
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import torch

from autograder.worker import wire
from autograder.worker.sandbox import become_subreaper, descendants, process_table

MAX_FINDINGS = 20  #: findings kept per reply
DAEMON_WAIT_S = 2.0  #: for a killed daemon to die
_REPORT_LIKE = re.compile(r'"(?:max_score|submissions)"\s*:')  # text shaped like a grade report
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_MISSING = object()
_CODE_ATTRIBUTES = ("__code__", "__defaults__", "__kwdefaults__")  #: what makes a function do what it does
_PATH_WORD = re.compile(r"/[^\s'\";|&<>()`$]*")  # an absolute path in a command line
_SOUGHT = ("solutions", ".ipynb", "submitted")  # in a path searched or a program's arguments: looking for answers
ENGINE = "autograder"  #: the engine's package; of it, only ``autograder.worker`` belongs in a worker
WORKER_PACKAGE = "autograder.worker"


class Refused(PermissionError):
    """An act the guard does not let student code carry out (see :class:`Guard`)."""


def _is_device(path: str) -> bool:
    """Whether ``path`` is a character device (``/dev/null``, a terminal): writing there leaves nothing."""
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False


def _within(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _depth(path: str, roots: tuple[str, ...]) -> int:
    """The length of the longest of ``roots`` that holds ``path`` (-1: none)."""
    return max((len(root) for root in roots if _within(path, (root,))), default=-1)


@dataclass(frozen=True)
class Boundaries:
    """Where student code may not look. ``denied``: the grader's files (the
    engine, the course with its plug-ins, reference and notebooks, the
    submissions); ``allowed``: what lies inside those but is the worker's own
    (the Python installation, the code the worker runs). The longest root that
    holds a path decides."""

    denied: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()

    def denies(self, path: str) -> bool:
        return _depth(path, self.denied) > _depth(path, self.allowed)

    def named_in(self, words: str) -> str | None:
        """A denied path named in a program's arguments (a shell command's too), if any."""
        return next((path for path in _PATH_WORD.findall(words) if self.denies(os.path.normpath(path))), None)


class Integrity:
    """The attributes of the worker and of torch/numpy that probes rely on,
    saved before any student code runs. :meth:`restore` names and puts back
    whatever was patched since, so that a patch (``torch.allclose = ...``,
    ``torch.Tensor.grad_fn = ...``, a probe replaced) cannot change what a
    probe measures. On a watched class, a new name counts when it shadows an
    inherited one (``torch.Tensor.__eq__``); caches that libraries add
    (``__slotnames__``) do not."""

    #: name -> attributes watched one by one (modules gain attributes lazily)
    NAMES = {
        "torch": ("allclose", "equal", "isclose", "is_tensor", "from_numpy", "tensor", "as_tensor", "no_grad",
                  "is_grad_enabled"),
        "torch.testing": ("assert_close",),
        "numpy": ("allclose", "array_equal", "isclose", "shares_memory", "may_share_memory"),
        "numpy.testing": ("assert_allclose", "assert_array_equal", "assert_equal"),
    }

    def __init__(self, probes: ModuleType) -> None:
        import numpy.testing  # noqa: F401  - so that it can be watched
        import torch.testing  # noqa: F401

        self._saved: list[tuple[str, Any, dict, bool]] = []  # (label, owner, saved items, is a class)
        for name, attributes in self.NAMES.items():
            module = sys.modules[name]
            self._saved.append((name, module, {a: getattr(module, a) for a in attributes}, False))
        # the probes and the worker's own modules that answer them
        grader = (probes, *(module for name, module in sorted(sys.modules.items())
                            if name.startswith(WORKER_PACKAGE + ".") and module is not None))
        for owner in (builtins, *grader):
            self._saved.append((owner.__name__, owner, dict(vars(owner)), False))
        # the probes' own classes (their networks, an environment whose log a behavioural check reads, ...) too
        probe_classes = [v for v in vars(probes).values() if isinstance(v, type) and v.__module__ == probes.__name__]
        for owner in (torch.Tensor, torch.nn.Module, *probe_classes):
            self._saved.append((f"{owner.__module__}.{owner.__qualname__}", owner, dict(vars(owner)), True))
        self._functions = [f for module in grader for f in vars(module).values()
                           if isinstance(f, types.FunctionType) and f.__module__ == module.__name__]
        #: each function's code, defaults and keyword defaults, one list per attribute (tested in C)
        self._code = {attribute: [getattr(f, attribute) for f in self._functions] for attribute in _CODE_ATTRIBUTES}
        #: whether some function's code or defaults were set since the last :meth:`restore`: the audit hook
        #: (:meth:`Guard._hook`) sees every such assignment, whoever makes it and whenever
        self.code_touched = False

    def restore(self) -> list[str]:
        """What was patched since the start (named), each put back."""
        found = []
        for label, owner, saved, strict in self._saved:
            current = vars(owner)
            # the usual case, nothing patched, tested by identity in C: a probe restores twice, and a
            # loop in Python over torch.Tensor's and the modules' attributes cost ~1 ms each time
            if all(map(operator.is_, map(current.get, saved, itertools.repeat(_MISSING)), saved.values())) and \
                    (not strict or current.keys() <= saved.keys()):
                continue
            for key, value in saved.items():
                if current.get(key, _MISSING) is not value:
                    found.append(f"patched `{label}.{key}`")
                    setattr(owner, key, value)
            for key in [k for k in current if k not in saved] if strict else []:
                if any(key in vars(base) for base in owner.__mro__[1:]):  # shadows what it inherits
                    found.append(f"added `{label}.{key}`")
                    delattr(owner, key)
        if not self.code_touched:  # reading a function's __code__ is audited: ~1.5 us each, hundreds a probe
            return found
        for i, function in enumerate(self._functions):
            if any(getattr(function, attribute) is not saved[i] for attribute, saved in self._code.items()):
                found.append(f"replaced the code of `{function.__module__}.{function.__qualname__}`")
                for attribute, saved in self._code.items():
                    setattr(function, attribute, saved[i])
        self.code_touched = False
        return found


def grader_dirs(probes: ModuleType) -> tuple[str, ...]:
    """The folders of the code that grades inside a worker: the worker package and the probes."""
    import autograder.worker

    return tuple(dict.fromkeys(str(Path(m.__file__).resolve().parent) for m in (autograder.worker, probes)))


class Guard:
    """Notices what student code does to read or change what grades it.

    An audit hook (:func:`sys.addaudithook`, which nothing can remove) sees,
    while student code runs: imports of the reference, of the grader's modules
    that a worker never runs, or of the plug-in's beyond its probes; files
    opened where :class:`Boundaries` deny it (the grader's and the course's
    files: its plug-ins, reference, source notebooks, submissions), under a
    ``solutions`` folder, notebooks outside the scratch folder, the editable
    install's records that tell where the course lives, other processes'
    ``/proc`` entries; files written outside the scratch folder (but to devices
    such as ``/dev/null``; ``/tmp`` and ``/dev/shm`` are let be where the
    sandbox makes them private), or named like a grader's output
    (``results.json``); listings and globs of those places, or for solutions or
    notebooks; network connections; the grader's own stack frames
    (``sys._getframe``, ``inspect``), tracers and profilers; programs run with
    such paths, solutions or notebooks in their arguments; signals to the
    zygote, to init or to every process (``kill -1``). The reading, importing,
    writing, connecting, running and killing ones are also refused
    (:class:`Refused`). After each cell and around each probe it puts back what
    was patched (:class:`Integrity`), and kills the processes the code left
    running in a session of their own (daemons: the worker is their
    subreaper), which could otherwise outlive the grading. Reading the code the
    worker itself runs (tracebacks and warnings do, for honest students too)
    and legitimate library behaviour (imports, caches, ``typing``'s frame
    lookups) are none of these.
    """

    def __init__(self, scratch: str, probes: ModuleType, private_tmp: bool = False,
                 boundaries: Boundaries = Boundaries(), reference: str = "solutions"):
        self.scratch = os.path.realpath(scratch)
        self.writable = (self.scratch,) + (("/tmp", "/dev/shm") if private_tmp else ())
        self.boundaries = boundaries
        self.grader_dirs = grader_dirs(probes)
        self.probes_name = probes.__name__
        #: top-level packages of the reference and of the plug-in: a worker imports only the probes of these
        self.reference_packages = tuple(dict.fromkeys((reference.partition(".")[0], "solutions")))
        self.plugin_package = probes.__name__.partition(".")[0]
        self.active = False  #: whether student code is running
        self._busy = False  # the hook's own attribute lookups are audited too
        self._found: list[str] = []
        self._integrity = Integrity(probes)
        self._finder = _ClosedPackages(self)
        sys.meta_path.insert(0, self._finder)
        become_subreaper()  # what the student's code leaves running stays among the worker's children
        sys.addaudithook(self._hook)

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Student code runs in here."""
        self.active = True
        try:
            yield
        finally:
            self.active = False

    def record(self, what: str) -> None:
        if what not in self._found and len(self._found) < MAX_FINDINGS:
            self._found.append(what)

    def restore(self) -> None:
        """Put back what student code patched and kill the daemons it left, noting both."""
        for what in self._integrity.restore() + self._kill_daemons():
            self.record(what)
        if sys.meta_path[:1] != [self._finder]:
            self.record("removed the guard's import finder")
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(self._finder)
            sys.meta_path.insert(0, self._finder)

    def findings(self) -> list[str]:
        """What was seen since the last call (after :meth:`restore`)."""
        self.restore()
        found, self._found = self._found, []
        return found

    def check_output(self, *texts: str) -> None:
        if any(_REPORT_LIKE.search(text) for text in texts):
            self.record("printed text shaped like a grade report")

    def is_grader_frame(self, frame: Any) -> bool:
        return isinstance(frame, types.FrameType) and frame.f_code.co_filename.startswith(self.grader_dirs)

    # -- the audit hook ----------------------------------------------------------------------

    def _hook(self, event: str, args: tuple) -> None:
        if event == "object.__setattr__" and len(args) > 1 and args[1] in _CODE_ATTRIBUTES:
            self._integrity.code_touched = True  # a function's code replaced: restore() looks, and puts it back
        if not self.active or self._busy:
            return
        handler = self._HANDLERS.get(event)
        if handler is None:
            return
        self._busy = True
        try:
            finding = handler(self, args)
        except Exception:  # noqa: BLE001 - a hook that fails must not break the student's code
            finding = None
        finally:
            self._busy = False
        if finding is not None:
            what, refused = finding
            self.record(what)
            if refused is not None:
                raise refused

    def _on_import(self, args: tuple) -> tuple[str, BaseException | None] | None:
        return self.judge_import(str(args[0]))

    def judge_import(self, name: str) -> tuple[str, BaseException | None] | None:
        """What importing the module ``name`` is, if it is the grader's or the reference's."""
        top = name.partition(".")[0]
        if top in self.reference_packages:
            what = "the reference solutions"
        elif top in (ENGINE, self.plugin_package):
            what = "the grader's module"
        else:
            return None
        # a worker runs the engine's worker package and the probes (and so imports the packages above them)
        runs = name in (ENGINE, WORKER_PACKAGE, self.probes_name) or name.startswith(WORKER_PACKAGE + ".") \
            or self.probes_name.startswith(name + ".")
        refused = None if runs else ModuleNotFoundError(f"No module named {name!r}")
        return f"imported {what} (`{name}`)", refused

    def _on_open(self, args: tuple) -> tuple[str, BaseException | None] | None:
        path, mode, flags = (tuple(args) + (None, None, None))[:3]
        if isinstance(path, int):
            return None
        path = os.path.realpath(os.fsdecode(path))
        name = os.path.basename(path)
        writing = any(c in mode for c in "wax+") if isinstance(mode, str) else \
            isinstance(flags, int) and bool(flags & _WRITE_FLAGS)
        problem = None
        if "solutions" in Path(path).parts and not _within(path, (self.scratch,)):
            problem = f"read the reference solutions ({path})"
        elif path.endswith(".ipynb") and not _within(path, (self.scratch,)):
            problem = f"read a notebook that is not its own ({path})"
        elif name.startswith("__editable__"):
            problem = f"read the grader's install record ({name})"
        elif self.boundaries.denies(path):
            problem = f"read the grader's files ({path})"
        elif re.match(r"/proc/\d+/", path) and not path.startswith(f"/proc/{os.getpid()}/"):
            problem = f"read another process's {path}"
        elif writing and not _within(path, self.writable) and not _is_device(path):
            problem = f"wrote outside its scratch folder ({path})"
        if problem:
            return problem, Refused(f"not allowed while grading: {path}")
        if writing and name == "results.json":
            return f"wrote a file named like a grader's output ({name})", None
        return None

    def _on_listing(self, args: tuple) -> tuple[str, BaseException | None] | None:
        pattern = os.fsdecode(args[0]) if args and isinstance(args[0], (str, bytes, os.PathLike)) else ""
        if any(word in pattern for word in _SOUGHT):
            return f"searched for solutions or notebooks ({pattern})", Refused(f"not allowed while grading: {pattern}")
        if pattern and self.boundaries.denies(os.path.realpath(pattern.split("*")[0] or ".")):
            return f"listed the grader's files ({pattern})", Refused(f"not allowed while grading: {pattern}")
        return None

    def _on_program(self, args: tuple) -> tuple[str, BaseException | None] | None:
        words = " ".join(str(a) for a in args if isinstance(a, (str, bytes, list, tuple)))
        if any(word in words for word in _SOUGHT) or self.boundaries.named_in(words):
            return "ran a program to find or read solutions, notebooks or the grader's files", \
                Refused("not allowed while grading")
        return None

    def _on_kill(self, args: tuple) -> tuple[str, BaseException | None] | None:
        if args and args[0] in (-1, 1, os.getppid()):
            return "tried to kill the grader's processes", Refused("not allowed while grading")
        return None

    def _on_connect(self, args: tuple) -> tuple[str, BaseException | None] | None:
        sock, address = args[0], args[1]
        if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6):
            return f"opened a network connection ({address})", Refused("no network while grading")
        return None

    def _on_getframe(self, args: tuple) -> tuple[str, BaseException | None] | None:
        return ("looked at the grader's stack frames", None) if self.is_grader_frame(args[0]) else None

    def _on_getattr(self, args: tuple) -> tuple[str, BaseException | None] | None:
        # inspect.stack() and friends read each frame's code; traceback's debugging prints are let be
        if len(args) > 1 and args[1] == "f_code" and self.is_grader_frame(args[0]):
            caller = sys._getframe(2).f_code.co_filename  # above: this handler, _hook, then the reader
            if caller.startswith("<cell") or os.path.basename(caller) == "inspect.py":
                return "looked at the grader's stack frames", None
        return None

    def _on_tracing(self, args: tuple) -> tuple[str, BaseException | None] | None:
        return "traced the grader's code (tracer, profiler or frames of all threads)", None

    _HANDLERS: dict[str, Callable[..., tuple[str, BaseException | None] | None]] = {
        "import": _on_import, "open": _on_open,
        "os.listdir": _on_listing, "os.scandir": _on_listing, "glob.glob": _on_listing,
        "socket.connect": _on_connect, "socket.sendto": _on_connect, "socket.sendmsg": _on_connect,
        "sys._getframe": _on_getframe, "object.__getattr__": _on_getattr,
        "sys.settrace": _on_tracing, "sys.setprofile": _on_tracing, "sys._current_frames": _on_tracing,
        "subprocess.Popen": _on_program, "os.system": _on_program, "os.exec": _on_program,
        "os.posix_spawn": _on_program, "os.spawn": _on_program, "os.kill": _on_kill, "os.killpg": _on_kill,
    }

    # -- processes left behind ---------------------------------------------------------------

    @staticmethod
    def _kill_daemons() -> list[str]:
        """Kill the worker's descendants that left its session (daemons, which
        would outlive the worker's process group) and reap them."""
        if not _has_children():  # the usual case: nothing to look for, without reading all of /proc
            return []
        table, session, me = process_table(), os.getsid(0), os.getpid()
        daemons = [pid for pid in descendants(me, table) if table[pid][1] != session and table[pid][2] != "Z"]
        if not daemons:
            return []
        for pid in daemons:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + DAEMON_WAIT_S  # dead and reaped, so that the next look does not see them
        while time.monotonic() < deadline:
            for pid, (parent, their_session, state) in process_table().items():
                if parent == me and state == "Z" and their_session != session:
                    with contextlib.suppress(OSError):
                        os.waitpid(pid, os.WNOHANG)
            table = process_table()
            if not any(pid in table and table[pid][2] != "Z" for pid in daemons):
                break
            time.sleep(0.01)
        return ["left a process running in a session of its own (it was killed)"] if daemons else []


def _has_children() -> bool:
    """Whether this process has a child (a zombie included), by /proc/self/task/*/children; True
    where the kernel does not show those lists."""
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as children:
                if children.read().strip():
                    return True
    except OSError:
        return True
    return False


class _ClosedPackages:
    """The first finder of ``sys.meta_path`` while a guard watches: imports that
    do not go through an ``import`` statement (``importlib.import_module``,
    ``importlib.util.find_spec``), which raise no audit event, are judged as
    those that do."""

    def __init__(self, guard: Guard):
        self.guard = guard

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        guard = self.guard
        if not guard.active or guard._busy:
            return None
        guard._busy = True
        try:
            finding = guard.judge_import(name)
        finally:
            guard._busy = False
        if finding is not None:
            what, refused = finding
            guard.record(what)
            if refused is not None:
                raise refused
        return None


def suspicious(value: Any, depth: int = 0) -> Iterator[str]:
    """What in a result (of a student's function, or of a probe) is built to fool the grader's side."""
    if depth > wire.MAX_DEPTH or value is None or type(value) in (bool, int, float, str):
        return
    kind = type(value)
    if isinstance(value, torch.Tensor):
        if kind not in (torch.Tensor, torch.nn.Parameter):
            yield f"returned a tensor subclass `{kind.__qualname__}`"
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from suspicious(item, depth + 1)
    elif isinstance(value, dict):
        if "__tensor__" in value:
            yield "returned data forged to look like the grader's encoding of a tensor"
        for item in value.values():
            yield from suspicious(item, depth + 1)
    elif any(hook in vars(klass) for klass in kind.__mro__ if klass.__module__ == "__main__"
             for hook in ("__reduce__", "__reduce_ex__", "__getstate__", "__setstate__")):
        yield f"returned an object that would run its own code if unpickled (`{kind.__qualname__}`)"
