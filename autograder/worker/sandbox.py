"""How a submission's zygote is confined: bubblewrap when available, else a
plain process with resource limits.

``bwrap`` mode: the worker host (one per grading process), its zygotes and
their workers live in a fresh mount, PID, network, IPC and UTS namespace. They
see the system's libraries and the Python installation, read-only, the code a
worker runs (a copy of the engine's worker package and of the assignment's
probes: :mod:`autograder.worker.staging`), and an empty ``/tmp``; not the rest
of the engine, the course (its plug-ins' checks and known mistakes, the
reference solutions, the source notebooks), other submissions or the grader's
outputs. Where one of those lies inside the Python installation (a
non-editable install puts the engine in site-packages), it is masked. There is
no network. Where the machine has an NVIDIA GPU, its device nodes (and
``/sys``, read-only) are shown too, so that student code can use CUDA: workers
see the GPU exactly when the grader does, whatever ``--device`` says, and
a student's function that picks a device answers alike on both sides. Each submission's zygote then
enters namespaces of its own, nested in those, with its own empty ``/tmp`` and
``/proc``: submissions see nothing of each other, and killing a zygote ends
its PID namespace, so no process of the submission survives it. (Where that
nesting is not allowed, each submission gets a host, and a bubblewrap sandbox,
of its own.)

``process`` mode (no bubblewrap): workers run with resource limits in their
own session, and are killed by process group; the daemons they leave are
killed after each cell and with the submission (the worker and the zygote are
subreapers). Graded as root (a Gradescope container), workers drop to
``nobody`` where it can run them: read this Python's installation and reach the
scratch folder (:func:`unprivileged_blocker`, which the host asks before its
first zygote); else they stay root. Either way they can read whatever their
user can read and reach the network: the worker's guard (``guard.Guard``)
refuses the plain Python ways of doing so, not a program they start, nor code
that disables the guard. Only file permissions keep ``nobody`` out of the
course (the Gradescope bundle makes it root-only). The README says so.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

UNPRIVILEGED_UID = 65534  # nobody: a worker started as root drops to it


@dataclass(frozen=True)
class Limits:
    """Resource limits of each worker process."""

    #: memory: address space (RLIMIT_AS); where a GPU is shown, data segment (RLIMIT_DATA) and GPU memory
    #: (the caching allocator's cap), since CUDA reserves far more address space than it ever uses
    memory_bytes: int = 4 * 2**30
    processes: int = 128  #: processes and threads of the unprivileged user (RLIMIT_NPROC)
    cpu_seconds: int = 900  #: CPU time (RLIMIT_CPU); wall-clock limits are the grader's
    file_bytes: int = 64 * 2**20  #: the largest file a worker may write (RLIMIT_FSIZE)
    scratch_bytes: int = 256 * 2**20  #: size of the worker's /tmp (bwrap mode)


@functools.cache
def bwrap_available() -> bool:
    """Whether bubblewrap is installed and can create namespaces here."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return False
    try:
        probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--die-with-parent",
                                "--proc", "/proc", "--dev", "/dev", "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def gpu_device_nodes() -> list[str]:
    """The NVIDIA device nodes of this machine (``/dev/nvidiactl``, ``/dev/nvidia0``,
    ``/dev/nvidia-uvm``, ...); none on a machine without an NVIDIA GPU."""
    nodes = []
    for node in glob.glob("/dev/nvidia*") + glob.glob("/dev/nvidia-caps/*"):
        try:
            if stat.S_ISCHR(os.stat(node).st_mode):
                nodes.append(node)
        except OSError:
            pass
    return sorted(nodes)


def gpu_groups() -> list[int]:
    """Groups a worker dropped to ``nobody`` needs to open the GPU's device
    nodes: of a node that others may not read and write, its group if that
    group may (``video``, say), never root's."""
    groups = set()
    for node in gpu_device_nodes():
        with contextlib.suppress(OSError):
            info = os.stat(node)
            if info.st_mode & 0o006 != 0o006 and info.st_mode & 0o060 == 0o060 and info.st_gid != 0:
                groups.add(info.st_gid)
    return sorted(groups)


def choose_mode(requested: str = "auto") -> str:
    """``bwrap`` or ``process``; ``auto`` prefers bwrap."""
    if requested == "auto":
        return "bwrap" if bwrap_available() else "process"
    if requested == "bwrap" and not bwrap_available():
        raise RuntimeError("--sandbox bwrap: bubblewrap is not installed or cannot create namespaces here "
                           "(install the Debian package 'bubblewrap', or use --sandbox process)")
    return requested


def python_paths() -> set[Path]:
    """This Python's installation: its prefixes, site-packages and the folder of its executable."""
    paths = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parent}
    return paths | {Path(p).resolve() for p in sys.path if p and Path(p).is_dir() and "site-packages" in p}


def readable_paths(stage: str | Path) -> list[Path]:
    """What the sandbox shows, read-only: Python, its site-packages and the
    staged code of the workers."""
    return sorted(python_paths() | {Path(stage).resolve()})


def as_user(uid: int, probe: Callable[[], Any]) -> Any:
    """What ``probe()`` returns (JSON data) when run as ``uid``, in a throwaway child of this
    root process; None if it failed."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            with os.fdopen(write, "w") as pipe:
                json.dump(probe(), pipe)
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    try:
        return json.loads(data)
    except ValueError:
        return None


def unprivileged_blocker(scratch_root: str | Path, uid: int = UNPRIVILEGED_UID) -> str | None:
    """Why ``uid`` could not run a worker of this root process in process mode, or None: it
    must read this Python's installation and its site-packages (a worker imports lazily), and
    reach ``scratch_root``, where its own scratch folder is made. The caller must be root."""
    needed = [(str(p), os.R_OK | os.X_OK) for p in sorted(python_paths())]
    needed += [(os.__file__, os.R_OK), (str(Path(scratch_root).resolve().parent), os.X_OK)]

    def probe() -> list[str]:
        return [path for path, mode in needed if not os.access(path, mode)]

    refused = as_user(uid, probe)
    if refused is None:
        return f"uid {uid} could not be tried here"
    return f"uid {uid} cannot read or enter {', '.join(refused)}" if refused else None


def readable_by(uid: int, paths: list[str]) -> list[str]:
    """The ``paths`` that ``uid`` can read (the caller must be root)."""
    return as_user(uid, lambda: [p for p in paths if os.access(p, os.R_OK)]) or []


def readable_paths_under_tmp(stage: str | Path) -> list[str]:
    """The read-only binds that lie under ``/tmp`` (the staged code, a checkout
    or a venv there): a submission's fresh ``/tmp`` must show them again."""
    return [str(p) for p in readable_paths(stage) if Path("/tmp") in p.parents]


def masks(stage: str | Path, denied: list[str]) -> list[str]:
    """The denied paths that lie inside what the sandbox shows (the engine or
    its install records in site-packages, say): bwrap hides them again."""
    shown = readable_paths(stage)
    inside = sorted({os.path.realpath(p) for p in denied if os.path.lexists(p)
                     and any(Path(os.path.realpath(p)).is_relative_to(root) for root in shown)})
    # a folder hides what is in it: only the outermost of nested paths
    return [p for p in inside if not any(p != q and Path(p).is_relative_to(q) for q in inside)]


def bwrap_command(command: list[str], limits: Limits, stage: str | Path, denied: list[str] = ()) -> list[str]:
    """``command`` wrapped in bubblewrap (see the module docstring)."""
    # by its full path: the sandbox's PATH (worker_environment) may not hold the folder it is in
    args = [shutil.which("bwrap") or "bwrap", "--die-with-parent", "--new-session",
            "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    for top in ("usr", "etc"):
        args += ["--ro-bind", f"/{top}", f"/{top}"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / top
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    # The scratch tmpfs first: a checkout or venv under /tmp is bound on top of it, not hidden by it.
    args += ["--perms", "1777", "--size", str(limits.scratch_bytes), "--tmpfs", "/tmp"]
    made: set[Path] = {Path("/tmp")}
    for path in readable_paths(stage):
        for parent in reversed(path.parents):
            if parent != Path("/") and parent not in made and not str(parent).startswith(("/usr", "/etc")):
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        args += ["--ro-bind", str(path), str(path)]
    for path in masks(stage, list(denied)):  # a folder becomes empty, a file becomes /dev/null
        args += ["--tmpfs", path] if os.path.isdir(path) else ["--ro-bind", "/dev/null", path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    nodes = gpu_device_nodes()
    for node in nodes:  # CUDA: the driver's device nodes; it reads the GPU's topology in /sys
        args += ["--dev-bind", node, node]
    if nodes:
        args += ["--ro-bind", "/sys", "/sys"]
    args += ["--chdir", "/tmp", "--clearenv"]
    for key, value in worker_environment().items():
        args += ["--setenv", key, value]
    if os.geteuid() == 0:
        # the zygotes drop their workers to an unprivileged user (SETUID, SETGID), kill them (KILL), and
        # enter namespaces of their own (SYS_ADMIN); workers lose every capability when they drop
        args += ["--cap-add", "CAP_SETUID,CAP_SETGID,CAP_KILL,CAP_SYS_ADMIN"]
    return args + command


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux
    PR_SET_PDEATHSIG), so that a batch killed with ``kill -9`` takes its
    grading processes and their sandboxes with it."""
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the pool and the sandbox's own --die-with-parent remain


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Have this process adopt its orphaned descendants (Linux
    PR_SET_CHILD_SUBREAPER) instead of init: what its children leave running
    (a daemon that double-forked away) stays among its descendants, to be
    found with :func:`descendants` and killed."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the sandbox's PID namespace remains


def process_table() -> dict[int, tuple[int, int, str]]:
    """pid -> ``(parent pid, session id, state)`` of every process in ``/proc``."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                fields = file.read().rpartition(")")[2].split()  # state, ppid, pgrp, session, ...
        except OSError:
            continue
        if len(fields) > 3:
            table[int(entry)] = (int(fields[1]), int(fields[3]), fields[0])
    return table


def descendants(root: int, table: dict[int, tuple[int, int, str]] | None = None) -> list[int]:
    """The pids of ``root``'s children, their children, and so on."""
    table = process_table() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


#: what CUDA needs from the grader's environment to find its driver and devices
PASSED_ENVIRONMENT = ("LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "CUDA_MODULE_LOADING")


def worker_environment() -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONHASHSEED": "0"}
    return env | {key: os.environ[key] for key in PASSED_ENVIRONMENT if key in os.environ}
