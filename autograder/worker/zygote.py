"""A pre-warmed parent that forks workers.

Importing torch costs seconds; forking a process that already has it costs
milliseconds. The zygote imports torch, numpy, gymnasium and the worker
runtime once -- never the reference solutions or the checks -- and then, for
each request on its control socket, forks a worker that serves the socket
passed along with the request. One zygote serves one submission, inside that
submission's sandbox (:mod:`autograder.worker.sandbox`).

The zygote is its workers' subreaper: a process a worker leaves behind (a
daemon that escaped the worker's process group) becomes the zygote's child,
and is killed with the next worker killed, and with all the others when the
grader closes the control socket.

Run as ``python -I -m autograder.worker.zygote CONTROL_FD CONFIG_JSON``.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import sys
import tempfile


def become_worker(config: dict) -> None:
    """In a freshly forked child: own session, own scratch directory, limits,
    no privileges, and no way to write to the grader's terminal."""
    os.setsid()
    scratch = tempfile.mkdtemp(prefix="work-", dir=config["scratch_root"])
    uid = config.get("drop_to_uid")
    if uid is not None and os.geteuid() == 0:
        os.chown(scratch, uid, uid)
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # also clears every capability
    os.chdir(scratch)
    os.environ["TMPDIR"] = tempfile.tempdir = scratch  # temporary files stay in the scratch folder
    limits = config["limits"]
    for name, value in (("RLIMIT_AS", limits["memory_bytes"]), ("RLIMIT_NPROC", limits["processes"]),
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


def _kill_orphans(workers: set[int]) -> None:
    """Kill every child that is not a live worker, with its process group."""
    from autograder.worker.sandbox import process_table

    me = os.getpid()
    for pid, (parent, _, _) in process_table().items():
        if parent == me and pid not in workers:
            _kill_group(pid)


def main(control_fd: int, config: dict) -> None:
    import gymnasium  # noqa: F401  - imported here so that workers start warm
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import torch

    # A first optimizer step imports torch._dynamo and friends (~1 s); on the
    # meta device, its kernels. Done once here, not once per worker.
    weight = torch.zeros(1, requires_grad=True)
    (weight * 2).sum().backward()
    torch.optim.SGD([weight], lr=0.1).step()
    (torch.empty(2, device="meta") + 1).sum()

    from autograder.worker import runtime
    from autograder.worker.sandbox import become_subreaper, die_with_parent

    die_with_parent()

    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != os.getcwd()]
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    become_subreaper()
    control = socket.socket(fileno=control_fd)
    control.sendall(b"ready\n")
    workers: set[int] = set()
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 4096, 2)
        except OSError:
            message = b""
        if not message:  # the grader went away: so do the workers and whatever they left
            _kill_orphans(set())
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
                runtime.serve(channel, private_tmp=bool(config.get("private_tmp")))
            finally:
                os._exit(0)
        workers.add(pid)
        for fd in fds:
            os.close(fd)
        control.sendall(f"{pid}\n".encode())


if __name__ == "__main__":
    main(int(sys.argv[1]), json.loads(sys.argv[2]))
