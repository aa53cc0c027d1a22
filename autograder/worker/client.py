"""The grader's side of a worker: start it, talk to it in data, kill it.

A :class:`Zygote` (forked by the :class:`ZygoteHost`) serves one submission;
each notebook gets a :class:`NotebookSession`, which runs the notebook's cells in a fresh worker and
then answers probes. A worker that stops answering is killed with its whole
process group and replaced: one hanging function costs only its own checks.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from autograder import timing
from autograder.worker import framing, wire
from autograder.worker.guard import MAX_FINDINGS
from autograder.worker.host import WorkerDied, ZygoteHost, _readline
from autograder.worker.sandbox import Limits
from autograder.worker.staging import WorkerCode

__all__ = ["MalformedReply", "NotebookSession", "WorkerCode", "WorkerDied", "Worker", "Zygote", "ZygoteHost"]

GRACE_S = 5.0  # beyond a cell's limit, which the worker enforces itself, before it is killed
#: the same beyond a probe's: a worker answers at once when its limit strikes, unless student code
#: caught the limit's exception and went on, and then every second of grace is lost (a kill, a
#: restart: never a wrong score)
PROBE_GRACE_S = 1.0


class MalformedReply(WorkerDied):
    """The worker sent something that is not a valid reply: only code that
    took over the worker (tampering) can."""


def tampering_of(reply: dict) -> list[str]:
    """The ``tampering`` a worker's reply reports, as a short list of strings."""
    found = reply.get("tampering")
    return [str(item)[:300] for item in found[:MAX_FINDINGS]] if isinstance(found, list) else []


class Zygote:
    """The parent of one submission's workers, forked by a :class:`ZygoteHost`.

    ``Zygote(code, mode)`` starts a host of its own and closes it with itself; in a
    batch, :meth:`ZygoteHost.zygote` gives one per submission from a shared host.
    """

    def __init__(self, code: WorkerCode | None = None, mode: str = "auto", limits: Limits = Limits(), *,
                 host: ZygoteHost | None = None, control: socket.socket | None = None, pid: int | None = None):
        if host is None and code is None:
            raise TypeError("a Zygote needs the worker code it runs, or the host that forks it")
        self._own_host = host is None
        self.host = host or ZygoteHost(code, mode, limits)  # starts in the background; the first spawn waits
        self.mode = self.host.mode
        self._control, self.pid = control, pid
        self.workers: list[Worker] = []

    def spawn(self) -> "Worker":
        if self._control is None:
            self._control, self.pid = self.host.fork_zygote()
        ours, theirs = socket.socketpair()
        try:
            socket.send_fds(self._control, [b"fork"], [theirs.fileno()])
            pid = int(_readline(self._control, "the worker zygote"))
        except (OSError, ValueError) as exc:
            ours.close()
            raise WorkerDied(f"the worker zygote failed: {exc}") from exc
        finally:
            theirs.close()
        worker = Worker(pid, ours, self)
        self.workers.append(worker)
        return worker

    def kill(self, pid: int) -> None:
        """Kill a worker's process group. The zygote does it: in bwrap mode the
        pid is one of the submission's PID namespace, meaningless out here."""
        try:
            if self._control is not None:
                self._control.sendall(f"kill {pid}\n".encode())
        except OSError:
            pass  # the zygote is gone, and its workers with it (bwrap) or by their EOF

    def close(self) -> None:
        """End the submission: every worker, the zygote and (bwrap) its whole PID namespace."""
        with timing.phase("teardown"):
            for worker in self.workers:
                worker.kill()
            if self._control is not None:
                self._control.close()  # the zygote then kills whatever its workers left behind, and exits
                self.host.kill(self.pid)
            if self._own_host:
                self.host.close()


class Worker:
    """One forked worker process and the socket to it."""

    def __init__(self, pid: int, sock: socket.socket, zygote: Zygote):
        self.pid, self.sock, self.zygote = pid, sock, zygote

    def request(self, message: dict, timeout: float) -> dict:
        """Send one request, wait at most ``timeout`` seconds for the reply."""
        self.sock.settimeout(timeout)
        try:
            framing.send(self.sock, message)
            reply = framing.recv(self.sock)
        except (socket.timeout, TimeoutError) as exc:
            raise TimeoutError(f"no reply within {timeout:.0f} s") from exc
        except (EOFError, OSError) as exc:
            raise WorkerDied(str(exc)) from exc
        except wire.WireError as exc:
            raise MalformedReply(f"the worker sent a reply that is not valid data: {exc}") from exc
        if not isinstance(reply, dict):
            raise WorkerDied("the worker sent something that is not a reply")
        return reply

    def kill(self) -> None:
        """Kill the worker's whole process group (it called setsid)."""
        self.sock.close()
        self.zygote.kill(self.pid)


@dataclass
class CellReport:
    """What happened to one code cell of the submission."""

    index: int
    id: str | None
    status: str  # ok, error, timeout
    error: dict | None = None
    stderr: str = ""
    tampering: list[str] = field(default_factory=list)  #: what the cell did to read or change its grading


@dataclass
class NotebookSession:
    """A submitted notebook running in a worker, ready to answer probes.

    ``cells`` are the code cells to run (experiment cells already removed),
    each ``{"index", "id", "source"}``.
    """

    zygote: Zygote
    cells: list[dict]
    cell_time_limit: float  #: seconds per cell (``--timeout``)
    reports: list[CellReport] = field(default_factory=list)
    _worker: Worker | None = None
    _skip: set[int] = field(default_factory=set)

    def start(self) -> None:
        """(Re)start the worker and run the cells, skipping those that hung before."""
        with timing.phase("notebook execution"):
            self.reports = []
            while True:
                self._worker = self.zygote.spawn()
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
                                           reply.get("error"), str(reply.get("stderr", ""))[:2000],
                                           tampering_of(reply)))
        return None

    def probe(self, name: str, args: dict, seed: int, time_limit: float, record: dict | None = None,
              call_limits: dict[str, float] | None = None) -> dict:
        """Run a probe in the worker (``record``: the calls to record, :mod:`autograder.worker.recording`;
        ``call_limits``: seconds per call of these functions, :class:`~autograder.worker.limits.CallLimits`);
        a worker that hangs or dies is replaced."""
        if self._worker is None:
            self.start()
        request = {"kind": "probe", "probe": name, "args": args, "seed": seed, "time_limit": time_limit}
        if record is not None:
            request["record"] = record
        if call_limits:
            request["call_limits"] = call_limits
        try:
            with timing.phase("probes (worker)"):
                return self._worker.request(request, timeout=time_limit + PROBE_GRACE_S)
        except TimeoutError:
            outcome = {"outcome": "timeout", "killed": True}
        except MalformedReply as exc:
            outcome = {"outcome": "error", "error": {"type": "MalformedReply", "message": str(exc), "where": None},
                       "tampering": ["sent the grader a reply that is not valid data"]}
        except WorkerDied as exc:
            outcome = {"outcome": "error", "error": {"type": "WorkerDied", "message": str(exc), "where": None}}
        except BaseException:  # interrupted here (pytest-timeout, Ctrl-C): its reply would confuse the next call
            self._worker.kill()
            self._worker = None
            raise
        self._worker.kill()
        self._worker = None
        return outcome

    def close(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker = None
