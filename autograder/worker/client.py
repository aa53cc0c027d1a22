"""The grader's side of a worker: start it, talk to it in data, kill it.

A :class:`Zygote` is started once per grading process; each notebook gets a
:class:`NotebookSession`, which runs the notebook's cells in a fresh worker and
then answers probes. A worker that stops answering is killed with its whole
process group and replaced: one hanging function costs only its own checks.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from autograder.worker import runtime

GRACE_S = 5.0  # beyond a limit the worker enforces itself, before it is killed


class WorkerDied(RuntimeError):
    """The worker exited or stopped answering."""


class Zygote:
    """The pre-warmed parent of all workers (see :mod:`autograder.worker.zygote`)."""

    def __init__(self, env: dict[str, str] | None = None, start_timeout: float = 120.0):
        self._control, theirs = socket.socketpair()
        child_env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg",
                     "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
        self._tmp = tempfile.TemporaryDirectory(prefix="autograder-")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "autograder.worker.zygote", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], cwd=self._tmp.name, env=child_env,
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._control.settimeout(start_timeout)
        if self._readline() != "ready":
            raise WorkerDied("the worker zygote did not start")

    def _readline(self) -> str:
        data = b""
        while not data.endswith(b"\n"):
            chunk = self._control.recv(64)
            if not chunk:
                raise WorkerDied("the worker zygote exited")
            data += chunk
        return data.decode().strip()

    def spawn(self, workdir: str) -> "Worker":
        ours, theirs = socket.socketpair()
        socket.send_fds(self._control, [workdir.encode()], [theirs.fileno()])
        theirs.close()
        pid = int(self._readline())
        return Worker(pid, ours)

    def close(self) -> None:
        self._control.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._tmp.cleanup()


class Worker:
    """One forked worker process and the socket to it."""

    def __init__(self, pid: int, sock: socket.socket):
        self.pid, self.sock = pid, sock

    def request(self, message: dict, timeout: float) -> dict:
        """Send one request, wait at most ``timeout`` seconds for the reply."""
        self.sock.settimeout(timeout)
        try:
            runtime.send(self.sock, message)
            reply = runtime.recv(self.sock)
        except (socket.timeout, TimeoutError) as exc:
            raise TimeoutError(f"no reply within {timeout:.0f} s") from exc
        except (EOFError, OSError) as exc:
            raise WorkerDied(str(exc)) from exc
        if not isinstance(reply, dict):
            raise WorkerDied("the worker sent something that is not a reply")
        return reply

    def kill(self) -> None:
        """Kill the worker's whole process group (it called setsid)."""
        self.sock.close()
        for target in (lambda: os.killpg(self.pid, signal.SIGKILL), lambda: os.kill(self.pid, signal.SIGKILL)):
            try:
                target()
            except (ProcessLookupError, PermissionError):
                pass


@dataclass
class CellReport:
    """What happened to one code cell of the submission."""

    index: int
    id: str | None
    status: str  # ok, error, timeout
    error: dict | None = None
    stderr: str = ""


@dataclass
class NotebookSession:
    """A submitted notebook running in a worker, ready to answer probes.

    ``cells`` are the code cells to run (experiment cells already removed),
    each ``{"index", "id", "source"}``.
    """

    zygote: Zygote
    cells: list[dict]
    cell_time_limit: float = 60.0
    reports: list[CellReport] = field(default_factory=list)
    _worker: Worker | None = None
    _skip: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._workdir = tempfile.TemporaryDirectory(prefix="autograder-work-")

    def start(self) -> None:
        """(Re)start the worker and run the cells, skipping those that hung before."""
        self.reports = []
        while True:
            self._worker = self.zygote.spawn(self._workdir.name)
            hung = self._run_cells()
            if hung is None:
                return
            self._skip.add(hung)

    def _run_cells(self) -> int | None:
        for cell in self.cells:
            if cell["index"] in self._skip:
                self.reports.append(CellReport(cell["index"], cell.get("id"), "timeout"))
                continue
            try:
                reply = self._worker.request({"kind": "cell", "cell": cell, "time_limit": self.cell_time_limit},
                                             timeout=self.cell_time_limit + GRACE_S)
            except (TimeoutError, WorkerDied):
                self._worker.kill()
                return cell["index"]
            self.reports.append(CellReport(cell["index"], cell.get("id"), str(reply.get("status")),
                                           reply.get("error"), str(reply.get("stderr", ""))[:2000]))
        return None

    def probe(self, name: str, args: dict, seed: int, time_limit: float) -> dict:
        """Run a probe in the worker; a worker that hangs or dies is replaced."""
        if self._worker is None:
            self.start()
        try:
            return self._worker.request({"kind": "probe", "probe": name, "args": args, "seed": seed,
                                         "time_limit": time_limit}, timeout=time_limit + GRACE_S)
        except TimeoutError:
            outcome = {"outcome": "timeout"}
        except WorkerDied as exc:
            outcome = {"outcome": "error", "error": {"type": "WorkerDied", "message": str(exc), "where": None}}
        self._worker.kill()
        self._worker = None
        return outcome

    def close(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker = None
        self._workdir.cleanup()
