"""The grader's handle on the worker host: the sandboxed, pre-warmed process
that forks each submission's zygote (:mod:`autograder.worker.zygote`).

Only the standard library and the worker package's grader-side helpers are imported
here, so that the command line can start the host first and import torch
while it warms up.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from autograder import timing
from autograder.worker import staging
from autograder.worker.sandbox import UNPRIVILEGED_UID, Limits, bwrap_command, choose_mode, gpu_device_nodes, \
    gpu_groups, readable_paths, readable_paths_under_tmp, worker_environment
from autograder.worker.staging import WorkerCode

if TYPE_CHECKING:
    from autograder.worker.client import Zygote

EXIT_WAIT_S = 2.0  # for a closed host to kill its zygotes, before it is killed itself


class WorkerDied(RuntimeError):
    """The worker exited or stopped answering."""


def _readline(sock: socket.socket, who: str) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(64)
        if not chunk:
            raise WorkerDied(f"{who} exited")
        data += chunk
    return data.decode().strip()


def worker_config(code: WorkerCode, mode: str, limits: Limits, stage: Path, scratch_root: str) -> dict:
    """What the host, its zygotes and their workers are told (JSON): limits,
    privileges, the probes to load, what student code may not read
    (``denied``, the grader's files; ``allowed``, what the sandbox shows)."""
    bwrap = mode == "bwrap"
    # as root, workers drop to nobody: in bwrap always; in process mode where nobody can run them (the host asks)
    return {"limits": asdict(limits), "scratch_root": "/tmp" if bwrap else scratch_root,
            "drop_to_uid": UNPRIVILEGED_UID if bwrap or os.geteuid() == 0 else None,
            "drop_only_if_usable": not bwrap, "private_tmp": bwrap, "namespaces": bwrap,
            "tmp_binds": readable_paths_under_tmp(stage) if bwrap else [],
            "gpu": bool(gpu_device_nodes()), "gpu_groups": gpu_groups(),
            "probes": code.probes, "reference": code.reference,
            "denied": sorted({*code.denied, *staging.engine_files()}),
            "allowed": [str(p) for p in readable_paths(stage)]}


class ZygoteHost:
    """The pre-warmed parent of the zygotes, in its sandbox (see
    :mod:`autograder.worker.zygote` and :mod:`autograder.worker.sandbox`): one
    per grading process. It starts at once in the background; the first
    :meth:`zygote` waits for it.

    ``isolated`` (known once it is ready): each zygote it forks gets namespaces
    of its own. In bwrap mode a host that cannot give them must serve a single
    submission (:attr:`shareable` is False). ``unprivileged`` (known then too):
    its workers drop root to ``nobody`` (see :mod:`autograder.worker.sandbox`).

    ``code``: the assignment's probes, which its workers load, and what they
    must not see. The host runs from a copy of the worker code and the probes
    (:mod:`autograder.worker.staging`), the only code of the grader its sandbox
    shows.
    """

    def __init__(self, code: WorkerCode, mode: str = "auto", limits: Limits = Limits(),
                 start_timeout: float = 120.0):
        self.mode = choose_mode(mode)
        self.code = code
        # SEQPACKET keeps each control message whole (a fork request, a kill, a pid)
        self._control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._tmp = tempfile.TemporaryDirectory(prefix="autograder-")
        self.scratch_root = self._tmp.name  #: process mode: where the submissions' scratch folders are made
        stage = staging.stage(Path(self._tmp.name) / "stage", code)
        config = worker_config(code, self.mode, limits, stage, scratch_root=self._tmp.name)
        command = staging.boot_command(stage, "autograder.worker.zygote", str(theirs.fileno()), json.dumps(config))
        env = {**os.environ, **worker_environment()}
        if self.mode == "bwrap":
            command = bwrap_command(command, limits, stage, config["denied"])
        self._log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(command, pass_fds=[theirs.fileno()], cwd=self._tmp.name, env=env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
                                        start_new_session=True)
        theirs.close()
        self._start_timeout = start_timeout
        self._ready = False
        self.isolated = self.unprivileged = False

    def wait_ready(self) -> None:
        if self._ready:
            return
        self._control.settimeout(self._start_timeout)
        try:
            with timing.phase("zygote wait"):
                ready = _readline(self._control, "the worker host").split()
        except (OSError, WorkerDied):
            ready = []
        if ready[:1] != ["ready"]:
            self._log.seek(0)
            raise WorkerDied(f"the worker host ({self.mode} mode) did not start: "
                             f"{self._log.read()[-2000:].decode(errors='replace')}")
        self._ready, self.isolated, self.unprivileged = True, "isolated" in ready, "unprivileged" in ready

    @property
    def shareable(self) -> bool:
        """Whether it may serve several submissions: bwrap mode needs a
        sandbox per submission, which only namespaces of their own give."""
        self.wait_ready()
        return self.isolated or self.mode == "process"

    def zygote(self) -> "Zygote":
        """A fresh zygote for one submission, from this (shared) host."""
        from autograder.worker.client import Zygote

        control, pid = self.fork_zygote()
        return Zygote(host=self, control=control, pid=pid)

    def fork_zygote(self) -> tuple[socket.socket, int]:
        """Have the host fork a zygote: its control socket and pid."""
        self.wait_ready()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with timing.phase("zygote wait"):
                socket.send_fds(self._control, [b"zygote"], [theirs.fileno()])
                pid = int(_readline(self._control, "the worker host"))
        except (OSError, ValueError) as exc:
            ours.close()
            raise WorkerDied(f"the worker host failed: {exc}") from exc
        finally:
            theirs.close()
        if pid <= 0:
            ours.close()
            raise WorkerDied("the worker host could not start a zygote")
        return ours, pid

    def kill(self, pid: int) -> None:
        try:
            self._control.sendall(f"kill {pid}".encode())
        except OSError:
            pass  # the host is gone, and its zygotes with it

    def close(self) -> None:
        """End every zygote and the host (bwrap: its whole PID namespace)."""
        self._control.close()  # the host then kills its zygotes and exits
        try:
            # a host never used has no zygote to end: killed at once, even while it is still importing
            self.process.wait(timeout=EXIT_WAIT_S if self._ready else 0)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self._log.close()
        self._tmp.cleanup()
