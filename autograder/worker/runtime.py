"""What runs inside a worker process: the student's cells, then probes.

The worker knows nothing of the reference or of expected values. It executes
the code cells it is sent, in order, in one namespace, then answers probe
requests: it calls a probe from :mod:`autograder.probes` on that namespace and
sends back what happened, as data (:mod:`autograder.worker.wire`).

A :class:`Guard` watches the student's code meanwhile and each reply lists
what it saw the code do to read or change what grades it (``tampering``): the
grader names those checks and cells in its report. The sandbox is what stops
such code; the guard reports it, puts back what the code patched in the
worker, and refuses the plainest attempts so that ``--sandbox process`` does
not carry them out either. Code that controls its own process can of course
hide from it.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import linecache
import os
import random
import re
import signal
import socket
import stat
import struct
import sys
import time
import traceback
import types
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from autograder import probes
from autograder.worker import wire
from autograder.worker.sandbox import become_subreaper, descendants, process_table

OUTPUT_CAP = 20_000  # characters of a cell's stdout/stderr kept for the report
_MAGIC = re.compile(r"^(\s*)([%!].*)$", re.MULTILINE)


class CellTimeout(TimeoutError):
    """A cell or probe ran past its time limit inside the worker."""


def send(sock: socket.socket, message: Any) -> None:
    data = wire.dumps(message)
    sock.sendall(struct.pack("!Q", len(data)) + data)


def recv(sock: socket.socket) -> Any:
    header = _recv_exactly(sock, 8)
    (size,) = struct.unpack("!Q", header)
    if size > wire.MAX_MESSAGE_BYTES:
        raise wire.WireError("message over the size limit")
    return wire.loads(_recv_exactly(sock, size))


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError("peer closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _on_alarm(signum, frame):
    raise CellTimeout("time limit reached")


@contextlib.contextmanager
def time_limit(seconds: float):
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


class _CappedText(io.StringIO):
    """A text stream that keeps only the first OUTPUT_CAP characters."""

    def write(self, s: str) -> int:
        room = OUTPUT_CAP - self.tell()
        if room > 0:
            super().write(s[:room])
        return len(s)


def strip_magics(source: str) -> str:
    """IPython magics and shell escapes mean nothing outside a kernel: comment them out."""
    return _MAGIC.sub(r"\1# \2", source)


def describe_exception(exc: BaseException, filename_prefix: str = "<cell") -> dict:
    """Type, message and the last line of the student's code that raised it."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(filename_prefix):
            line = {"cell": frame.filename.strip("<>"), "lineno": frame.lineno, "code": frame.line}
    message = str(exc)
    return {"type": type(exc).__name__, "message": message[:500], "where": line}


# --- tampering: what student code does to read or change what grades it ------------------

GRADER_DIR = str(Path(probes.__file__).resolve().parent)  #: the autograder package
MAX_FINDINGS = 20  #: findings kept per reply
DAEMON_WAIT_S = 2.0  #: for a killed daemon to die
_REPORT_LIKE = re.compile(r'"(?:max_score|submissions)"\s*:')  # text shaped like a grade report
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_MISSING = object()
_SOUGHT = ("solutions", ".ipynb", "submitted")  # in a path searched or a program's arguments: looking for answers


class Refused(PermissionError):
    """An act the guard does not let student code carry out (see :class:`Guard`)."""


def _is_grader_frame(frame: Any) -> bool:
    return isinstance(frame, types.FrameType) and frame.f_code.co_filename.startswith(GRADER_DIR)


def _is_device(path: str) -> bool:
    """Whether ``path`` is a character device (``/dev/null``, a terminal): writing there leaves nothing."""
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False


def _within(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


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

    def __init__(self) -> None:
        import numpy.testing  # noqa: F401  - so that it can be watched
        import torch.testing  # noqa: F401

        self._saved: list[tuple[str, Any, dict, bool]] = []  # (label, owner, saved items, is a class)
        for name, attributes in self.NAMES.items():
            module = sys.modules[name]
            self._saved.append((name, module, {a: getattr(module, a) for a in attributes}, False))
        grader = (probes, wire, sys.modules[__name__])
        for owner in (builtins, *grader):
            self._saved.append((owner.__name__, owner, dict(vars(owner)), False))
        # the probes' own classes (Mlp, the random walk whose log a behavioural check reads, ...) too
        probe_classes = [v for v in vars(probes).values() if isinstance(v, type) and v.__module__ == probes.__name__]
        for owner in (torch.Tensor, torch.nn.Module, *probe_classes):
            self._saved.append((f"{owner.__module__}.{owner.__qualname__}", owner, dict(vars(owner)), True))
        self._probes = dict(probes.PROBES)
        self._code = {f: (f.__code__, f.__defaults__, f.__kwdefaults__)
                      for module in grader for f in vars(module).values()
                      if isinstance(f, types.FunctionType) and f.__module__ == module.__name__}

    def restore(self) -> list[str]:
        """What was patched since the start (named), each put back."""
        found = []
        for label, owner, saved, strict in self._saved:
            current = vars(owner)
            for key, value in saved.items():
                if current.get(key, _MISSING) is not value:
                    found.append(f"patched `{label}.{key}`")
                    setattr(owner, key, value)
            for key in [k for k in current if k not in saved] if strict else []:
                if any(key in vars(base) for base in owner.__mro__[1:]):  # shadows what it inherits
                    found.append(f"added `{label}.{key}`")
                    delattr(owner, key)
        if probes.PROBES != self._probes:
            found.append("replaced the grader's probes")
            probes.PROBES.clear()
            probes.PROBES.update(self._probes)
        for function, (code, defaults, kwdefaults) in self._code.items():
            if (function.__code__, function.__defaults__, function.__kwdefaults__) != (code, defaults, kwdefaults):
                found.append(f"replaced the code of `{function.__module__}.{function.__qualname__}`")
                function.__code__, function.__defaults__, function.__kwdefaults__ = code, defaults, kwdefaults
        return found


class Guard:
    """Notices what student code does to read or change what grades it.

    An audit hook (:func:`sys.addaudithook`, which nothing can remove) sees,
    while student code runs: imports of the reference (``solutions``) or of
    the grader; files opened under a ``solutions`` folder, notebooks outside
    the scratch folder, the editable install's records that tell where the
    course lives, other processes' ``/proc`` entries; files written outside
    the scratch folder (but to devices such as ``/dev/null``; ``/tmp`` and
    ``/dev/shm`` are let be where the sandbox makes them private), or named
    like a grader's output (``results.json``); listings and
    globs for solutions or notebooks; network connections; the grader's own
    stack frames (``sys._getframe``, ``inspect``), tracers and profilers;
    programs run with solutions or notebooks in their arguments; signals to
    the zygote, to init or to every process (``kill -1``).
    The reading, writing, connecting, running and killing ones are also refused
    (:class:`Refused`). After each cell and around each probe it puts back
    what was patched (:class:`Integrity`), and kills the processes the code
    left running in a session of their own (daemons: the worker is their
    subreaper), which could otherwise outlive the grading. Legitimate
    library behaviour (imports, caches, ``typing``'s frame lookups) is none
    of these.
    """

    def __init__(self, scratch: str, private_tmp: bool = False):
        self.scratch = os.path.realpath(scratch)
        self.writable = (self.scratch,) + (("/tmp", "/dev/shm") if private_tmp else ())
        self.active = False  #: whether student code is running
        self._busy = False  # the hook's own attribute lookups are audited too
        self._found: list[str] = []
        self._integrity = Integrity()
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

    def findings(self) -> list[str]:
        """What was seen since the last call (after :meth:`restore`)."""
        self.restore()
        found, self._found = self._found, []
        return found

    def check_output(self, *texts: str) -> None:
        if any(_REPORT_LIKE.search(text) for text in texts):
            self.record("printed text shaped like a grade report")

    # -- the audit hook ----------------------------------------------------------------------

    def _hook(self, event: str, args: tuple) -> None:
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
        name = str(args[0])
        top = name.partition(".")[0]
        if top == "solutions":
            return f"imported the reference solutions (`{name}`)", ModuleNotFoundError(f"No module named {name!r}")
        if top == "autograder":
            return f"imported the grader's module `{name}`", None
        return None

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
        elif name.startswith("__editable__"):
            problem = f"read the grader's install record ({name})"
        elif path.endswith(".ipynb") and not _within(path, (self.scratch,)):
            problem = f"read a notebook that is not its own ({path})"
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
        return None

    def _on_program(self, args: tuple) -> tuple[str, BaseException | None] | None:
        words = " ".join(str(a) for a in args if isinstance(a, (str, bytes, list, tuple)))
        if any(word in words for word in _SOUGHT):
            return "ran a program to find or read solutions or notebooks", Refused("not allowed while grading")
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
        return ("looked at the grader's stack frames", None) if _is_grader_frame(args[0]) else None

    def _on_getattr(self, args: tuple) -> tuple[str, BaseException | None] | None:
        # inspect.stack() and friends read each frame's code; traceback's debugging prints are let be
        if len(args) > 1 and args[1] == "f_code" and _is_grader_frame(args[0]):
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
        table, session, me = process_table(), os.getsid(0), os.getpid()
        daemons = [pid for pid in descendants(me, table) if table[pid][1] != session and table[pid][2] != "Z"]
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


class StudentApi(probes.Api):
    """The student's namespace as the probes see it. What a student's function
    returns reaches the probe as plain tensors: a tensor subclass could lie to
    the probe (about its graph, its storage) through ``__torch_function__``."""

    def __init__(self, namespace: dict, guard: Guard | None = None):
        super().__init__(namespace)
        self._guard = guard

    def __getattr__(self, name: str) -> Any:
        value = super().__getattr__(name)
        if not callable(value) or isinstance(value, type):
            return value

        def plain_result(*args: Any, **kwargs: Any) -> Any:
            result = value(*args, **kwargs)
            if self._guard is not None:
                for what in _suspicious(result):
                    self._guard.record(what)
            return self._plain(result)

        return plain_result

    def _plain(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor) and type(value) not in (torch.Tensor, torch.nn.Parameter):
            return torch._C.TensorBase.as_subclass(value, torch.Tensor)
        if isinstance(value, (tuple, list)):
            return (list if isinstance(value, list) else tuple)(self._plain(v) for v in value)
        return value


def _suspicious(value: Any, depth: int = 0) -> Iterator[str]:
    """What in a result (of a student's function, or of a probe) is built to fool the grader's side."""
    if depth > wire.MAX_DEPTH or value is None or type(value) in (bool, int, float, str):
        return
    kind = type(value)
    if isinstance(value, torch.Tensor):
        if kind not in (torch.Tensor, torch.nn.Parameter):
            yield f"returned a tensor subclass `{kind.__qualname__}`"
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _suspicious(item, depth + 1)
    elif isinstance(value, dict):
        if "__tensor__" in value:
            yield "returned data forged to look like the grader's encoding of a tensor"
        for item in value.values():
            yield from _suspicious(item, depth + 1)
    elif any(hook in vars(klass) for klass in kind.__mro__ if klass.__module__ == "__main__"
             for hook in ("__reduce__", "__reduce_ex__", "__getstate__", "__setstate__")):
        yield f"returned an object that would run its own code if unpickled (`{kind.__qualname__}`)"


def run_cell(namespace: dict, cell: dict, seconds: float, guard: Guard | None = None) -> dict:
    """Execute one code cell; report its outcome, (capped) output and what the guard saw."""
    stdout, stderr = _CappedText(), _CappedText()
    outcome: dict = {"index": cell["index"], "id": cell.get("id"), "status": "ok"}
    filename = f"<cell {cell['index']}>"
    source = strip_magics(cell["source"])
    # Registered so that tracebacks can quote the student's line.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        code = compile(source, filename, "exec")
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr), time_limit(seconds), \
                guard.watching() if guard else contextlib.nullcontext():
            exec(code, namespace)
    except CellTimeout:
        outcome["status"] = "timeout"
    except SystemExit as exc:  # sys.exit() in a cell ends that cell, not the worker
        outcome.update(status="error", error={"type": "SystemExit", "message": str(exc.code), "where": None})
    except BaseException as exc:  # noqa: BLE001 - a student's cell may raise anything
        outcome.update(status="error", error=describe_exception(exc))
    outcome["stdout"], outcome["stderr"] = stdout.getvalue(), stderr.getvalue()
    if guard is not None:
        guard.check_output(outcome["stdout"], outcome["stderr"])
        outcome["tampering"] = guard.findings()
    return outcome


def deterministic_math() -> None:
    """TF32 off: on recent GPUs it rounds float32 matmuls to 10-bit mantissas,
    far beyond the tolerances the checks state."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def seed_everything(seed: int) -> None:
    """One place seeds every source of randomness a probe may touch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run_probe(namespace: dict, request: dict, guard: Guard | None = None) -> dict:
    """Call one probe on the student's namespace; say what happened (and,
    with a guard, what it saw the student's code do: ``tampering``)."""
    reply = _probe(namespace, request, guard)
    if guard is not None:
        reply["tampering"] = guard.findings()
    return reply


def _probe(namespace: dict, request: dict, guard: Guard | None) -> dict:
    api = StudentApi(namespace, guard)
    args = _plain(request.get("args", {}))
    if guard is not None:  # anything patched since the last reply is put back before the probe runs
        guard.restore()
    seed_everything(int(request.get("seed", 0)))
    stdout, stderr = _CappedText(), _CappedText()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr), \
                time_limit(float(request.get("time_limit", 10))), \
                guard.watching() if guard else contextlib.nullcontext():
            value = probes.run(request["probe"], api, **args)
            if guard is not None:
                for what in _suspicious(value):
                    guard.record(what)
                guard.check_output(stdout.getvalue(), stderr.getvalue())
        return {"outcome": "ok", "value": value}
    except probes.Missing as exc:
        return {"outcome": "missing", "name": exc.name}
    except CellTimeout:
        return {"outcome": "timeout"}
    except NotImplementedError as exc:
        return {"outcome": "not-implemented", "error": describe_exception(exc)}
    except BaseException as exc:  # noqa: BLE001
        return {"outcome": "error", "error": describe_exception(exc)}


def _plain(value: Any) -> Any:
    """Arguments from the grader, with received tensors made ordinary tensors."""
    if isinstance(value, wire.WireTensor):
        return value.values
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def limit_gpu_memory(max_bytes: int) -> None:
    """Cap what this process may allocate on the GPU (PyTorch's caching
    allocator), so that one submission cannot starve the others sharing it.
    It starts CUDA here, before any student code: its start-up does not count
    against a cell's time limit, nor does the guard watch it. Should CUDA fail
    to start, the worker goes on: student code that uses it meets the same
    error, which its report shows."""
    with contextlib.suppress(Exception):  # see above
        if torch.cuda.is_available():
            for index in range(torch.cuda.device_count()):
                total = torch.cuda.get_device_properties(index).total_memory
                torch.cuda.set_per_process_memory_fraction(min(1.0, max_bytes / total), index)


def serve(sock: socket.socket, private_tmp: bool = False, gpu_memory_bytes: int | None = None) -> None:
    """The worker's loop: answer requests until the grader closes the socket.
    ``private_tmp``: whether ``/tmp`` is the sandbox's own (bwrap), so writing there is harmless;
    ``gpu_memory_bytes``: where a GPU is shown, how much of its memory the worker may take."""
    torch.set_num_threads(1)
    deterministic_math()
    if gpu_memory_bytes is not None:
        limit_gpu_memory(gpu_memory_bytes)
    namespace: dict = {"__name__": "__main__"}
    guard = Guard(os.getcwd(), private_tmp)
    while True:
        try:
            request = recv(sock)
        except EOFError:
            return
        kind = request.get("kind")
        if kind == "cell":
            reply = run_cell(namespace, request["cell"], float(request.get("time_limit", 60)), guard)
        elif kind == "probe":
            reply = run_probe(namespace, request, guard)
        else:
            reply = {"outcome": "error", "error": {"type": "ProtocolError", "message": f"unknown request {kind!r}"}}
        try:
            send(sock, reply)
        except wire.WireError as exc:
            send(sock, {"outcome": "error", "error": {"type": "ResultRejected", "message": str(exc), "where": None}})
        sys.stdout.flush()
