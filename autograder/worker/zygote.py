"""Pre-warmed parents: a host that forks one zygote per submission, and the
zygotes that fork the workers.

Importing torch costs seconds; forking a process that already has it costs
milliseconds. The host imports torch, numpy, gymnasium, matplotlib and the
worker loop and the assignment's probes once per grading process -- never the reference or
the checks -- inside the sandbox (:mod:`autograder.worker.sandbox`). For each
submission it forks a zygote; for each notebook (and each restart after a
hang) the zygote forks a worker.

Submissions do not share a sandbox: in ``bwrap`` mode each zygote first
enters new mount, PID, network, IPC and UTS namespaces, with its own empty
``/tmp`` and its own ``/proc``; it is PID 1 there, so killing it ends every
process of the submission. Where the host cannot create namespaces, it says so
and the grader starts one host (one bubblewrap sandbox) per submission instead.

A zygote is its workers' subreaper: a process a worker leaves behind (a daemon
that escaped the worker's process group) becomes the zygote's child, and is
killed with the next worker killed, and with all the others when the grader
closes the zygote's control socket.

Started by the host's handle (:mod:`autograder.worker.host`) from the staged
code (:func:`autograder.worker.staging.boot_command`): ``main([CONTROL_FD,
CONFIG_JSON])``.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import socket
import sys
import tempfile
import time

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = \
    0x00020000, 0x04000000, 0x08000000, 0x20000000, 0x40000000
SUBMISSION_NAMESPACES = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET
EXIT_WAIT_S = 2.0  # for a zygote told to close to end its workers, before it is killed
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = \
    0x1, 0x2, 0x4, 0x8, 0x20, 0x1000, 0x4000, 0x40000


def preload(probes: str, gpu: bool = False) -> None:
    """Import, once, what every worker needs: torch and friends, the worker's
    loop and the assignment's ``probes`` module. ``gpu``: a GPU is shown to the
    workers, so nothing here may start CUDA or autograd's engine (which starts
    CUDA): a process forked after that cannot use CUDA ("initialization
    error") nor autograd ("Unable to handle autograd's threading in
    combination with fork-based multiprocessing"), as seen on an H200."""
    import gymnasium  # noqa: F401  - imported here so that workers start warm
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401

    from autograder.worker.limits import warm_up

    warm_up(autograd=not gpu)

    import importlib

    from autograder.worker import serve  # noqa: F401

    importlib.import_module(probes)


# --- a worker -------------------------------------------------------------------------------


def become_worker(config: dict) -> None:
    """In a freshly forked child: own session, own scratch directory, limits,
    no privileges, and no way to write to the grader's terminal."""
    os.setsid()
    scratch = tempfile.mkdtemp(prefix="work-", dir=config["scratch_root"])
    uid = config.get("drop_to_uid")
    if uid is not None and os.geteuid() == 0:
        os.chown(scratch, uid, uid)
        os.setgroups(config.get("gpu_groups", []))  # none, or those that open the GPU's device nodes
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # also clears every capability
    os.chdir(scratch)
    os.environ["TMPDIR"] = tempfile.tempdir = scratch  # temporary files stay in the scratch folder
    limits = config["limits"]
    # CUDA reserves tens of GiB of address space at start: where a GPU is shown, memory is the data segment
    memory = "RLIMIT_DATA" if config.get("gpu") else "RLIMIT_AS"
    for name, value in ((memory, limits["memory_bytes"]), ("RLIMIT_NPROC", limits["processes"]),
                        ("RLIMIT_CPU", limits["cpu_seconds"]), ("RLIMIT_FSIZE", limits["file_bytes"]),
                        ("RLIMIT_CORE", 0)):
        resource.setrlimit(getattr(resource, name), (value, value))
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # prints that bypass sys.stdout go nowhere: no flood reaches the grader
    os.dup2(devnull, 2)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)


def _kill_group(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _kill_orphans(keep: set[int]) -> None:
    """Kill every child that is not in ``keep``, with its process group."""
    from autograder.worker.sandbox import process_table

    me = os.getpid()
    for pid, (parent, _, _) in process_table().items():
        if parent == me and pid not in keep:
            _kill_group(pid)


# --- a zygote: one submission ---------------------------------------------------------------


def serve_workers(control: socket.socket, config: dict) -> None:
    """The zygote's loop: fork a worker per request, kill on request; on EOF
    kill everything and exit. Never returns."""
    from autograder.worker.sandbox import become_subreaper
    from autograder.worker.serve import serve

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    become_subreaper()
    workers: set[int] = set()
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 4096, 2)
        except OSError:
            message, fds = b"", []
        if not message:  # the grader went away: so do the workers and whatever they left
            _kill_orphans(set())
            if config.get("remove_scratch"):
                shutil.rmtree(config["scratch_root"], ignore_errors=True)
            os._exit(0)
        if message.startswith(b"kill "):
            for line in message.decode().split("\n"):
                if line.startswith("kill "):
                    workers.discard(int(line.split()[1]))
                    _kill_group(int(line.split()[1]))
            _kill_orphans(workers)
            continue
        pid = os.fork()
        if pid == 0:
            control.close()
            channel = socket.socket(fileno=fds[0])
            try:
                become_worker(config)
                serve(channel, config)
            finally:
                os._exit(0)
        workers.add(pid)
        for fd in fds:
            os.close(fd)
        control.sendall(f"{pid}\n".encode())


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def enter_submission_namespaces(config: dict) -> None:
    """unshare(2) the namespaces of one submission (the caller's next child is
    PID 1 of the new PID namespace)."""
    _check(ctypes.CDLL(None, use_errno=True).unshare(SUBMISSION_NAMESPACES), "unshare")


def mount_private_filesystems(config: dict) -> None:
    """In the new namespaces, as their PID 1: an empty ``/tmp`` of the
    sandbox's size, with the sandbox's read-only binds under ``/tmp`` (a
    checkout there) bound again, and a ``/proc`` that shows only this
    submission's processes."""
    libc = ctypes.CDLL(None, use_errno=True)
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    old_tmp = os.open("/tmp", os.O_PATH | os.O_DIRECTORY)  # still reaches what the new /tmp hides
    try:
        size = f"size={config['limits']['scratch_bytes']},mode=1777".encode()
        _check(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, size), "mount tmpfs /tmp")
        for path in config.get("tmp_binds", []):
            os.makedirs(path, mode=0o755, exist_ok=True)
            source = f"/proc/self/fd/{old_tmp}/{os.path.relpath(path, '/tmp')}".encode()
            _check(libc.mount(source, path.encode(), None, MS_BIND | MS_REC, None), f"bind {path}")
            _check(libc.mount(None, path.encode(), None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
                              None), f"read-only {path}")
    finally:
        os.close(old_tmp)
    _check(libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None), "mount proc /proc")
    os.chdir("/tmp")  # the old working directory is the host's /tmp, under the new mount


def start_zygote(fd: int, config: dict) -> int:
    """Fork a zygote serving the control socket ``fd``; its pid (as the host
    sees it), or -1 if it could not start."""
    if not config.get("namespaces"):
        pid = os.fork()
        if pid == 0:
            _zygote_main(fd, config, in_namespaces=False)
        return pid
    # unshare(CLONE_NEWPID) moves only the caller's *children*: an intermediate
    # process unshares, forks the zygote (PID 1 inside) and reports its pid.
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            enter_submission_namespaces(config)
            zygote = os.fork()
            if zygote == 0:
                os.close(write_end)
                mount_private_filesystems(config)
                _zygote_main(fd, config, in_namespaces=True)
            os.write(write_end, f"{zygote}\n".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.read(64).strip()
    return int(answer) if answer.isdigit() else -1


def _zygote_main(fd: int, config: dict, in_namespaces: bool) -> None:
    try:
        os.setsid()
        if not in_namespaces:  # process mode: no namespace holds the submission; its own scratch folder
            from autograder.worker.sandbox import die_with_parent

            die_with_parent()
            config = {**config, "scratch_root": tempfile.mkdtemp(prefix="submission-", dir=config["scratch_root"]),
                      "remove_scratch": True}
            if _drops_root(config):  # each worker's scratch folder, nobody's own, is made in it
                os.chmod(config["scratch_root"], 0o711)
        serve_workers(socket.socket(fileno=fd), config)
    finally:
        os._exit(0)


# --- the host: one grading process ------------------------------------------------------------


def _drops_root(config: dict) -> bool:
    return config.get("drop_to_uid") is not None and os.geteuid() == 0


def decide_unprivileged(config: dict) -> None:
    """Process mode as root: whether workers drop to ``nobody`` (only where it can run them:
    :func:`autograder.worker.sandbox.unprivileged_blocker`); if so, open the host's scratch
    folder to it (search only: it holds the staged code and the submissions' folders)."""
    from autograder.worker.sandbox import unprivileged_blocker

    if not config.get("drop_only_if_usable") or not _drops_root(config):
        return
    if unprivileged_blocker(config["scratch_root"], config["drop_to_uid"]) is None:
        os.chmod(config["scratch_root"], 0o711)
    else:
        config["drop_to_uid"] = None


def namespaces_work(config: dict) -> bool:
    """Whether this host can give a submission its own namespaces (it needs
    CAP_SYS_ADMIN in the sandbox): tried once, in a throwaway child."""
    pid = os.fork()
    if pid == 0:
        try:
            enter_submission_namespaces(config)
            inner = os.fork()
            if inner == 0:
                try:
                    mount_private_filesystems(config)
                finally:
                    os._exit(0 if os.getpid() == 1 else 1)
            _, status = os.waitpid(inner, 0)
            os._exit(0 if os.waitstatus_to_exitcode(status) == 0 else 1)
        except BaseException:  # noqa: BLE001 - any failure means no
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _wait_exit(pid: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return  # gone (children are reaped automatically)
        time.sleep(0.005)


def serve_zygotes(control: socket.socket, config: dict) -> None:
    """The host's loop: a zygote per request, killed on request; on EOF every
    zygote is killed and the host exits. Never returns."""
    zygotes: set[int] = set()
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 4096, 2)
        except OSError:
            message, fds = b"", []
        if not message:
            _kill_orphans(set())
            os._exit(0)
        if message.startswith(b"kill "):
            pid = int(message.split()[1])
            if pid in zygotes:
                zygotes.discard(pid)
                if not config.get("namespaces"):  # let it kill its workers first (it does on EOF)
                    _wait_exit(pid, EXIT_WAIT_S)
                _kill_group(pid)  # in namespaces: PID 1 of the submission, which takes everything with it
            _kill_orphans(zygotes)  # process mode: what its workers left was reparented to the host
            continue
        pid = start_zygote(fds[0], config) if fds else -1
        for fd in fds:
            os.close(fd)
        if pid > 0:
            zygotes.add(pid)
        control.sendall(f"{pid}\n".encode())


def main(argv: list[str]) -> None:
    """The host: ``argv`` is the control socket's fd and the configuration (JSON)."""
    control_fd, config = int(argv[0]), json.loads(argv[1])
    preload(config["probes"], gpu=bool(config.get("gpu")))
    from autograder.worker.sandbox import become_subreaper, die_with_parent

    die_with_parent()
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != os.getcwd()]
    if config.get("namespaces"):
        config["namespaces"] = namespaces_work(config)
    decide_unprivileged(config)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    become_subreaper()  # a zygote's intermediate parent exits at once: the zygote stays the host's
    control = socket.socket(fileno=control_fd)
    words = ["ready", *(["isolated"] if config.get("namespaces") else []), *(["unprivileged"] if _drops_root(config)
                                                                            else [])]
    control.sendall(" ".join(words).encode() + b"\n")
    serve_zygotes(control, config)

