"""A pre-warmed parent that forks workers.

Importing torch costs seconds; forking a process that already has it costs
milliseconds. The zygote imports torch, numpy, gymnasium and the worker
runtime once -- never the reference solutions or the checks -- and then, for
each request on its control socket, forks a worker that serves the socket
passed along with the request.

Run as ``python -m autograder.worker.zygote CONTROL_FD``.
"""

from __future__ import annotations

import os
import signal
import socket
import sys


def main(control_fd: int) -> None:
    import gymnasium  # noqa: F401  - imported here so that workers start warm
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401

    from autograder.worker import runtime

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    control = socket.socket(fileno=control_fd)
    control.sendall(b"ready\n")
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 4096, 2)
        except (ConnectionError, OSError):
            return
        if not message:
            return  # the grader went away
        workdir = message.decode().strip()
        pid = os.fork()
        if pid == 0:
            control.close()
            os.setsid()  # its own process group: the grader kills the whole tree at once
            os.chdir(workdir)
            channel = socket.socket(fileno=fds[0])
            try:
                runtime.serve(channel)
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)
        control.sendall(f"{pid}\n".encode())


if __name__ == "__main__":
    main(int(sys.argv[1]))
