"""The Dask worker's side: a worker plug-in holding one grading child, and the task that uses it.

:class:`GradingPlugin` carries the batch's setup (the course's files, the
options, the client's fingerprints) to each worker once, new workers and
workers the nanny restarted included. It starts the worker's grading child
(:mod:`autograder.cluster.child`) at once, so that it warms up (imports,
worker host) before the first task, and ends it on teardown. :func:`grade_task`
runs in a task thread: it sends the submission to the child and waits for the
result. If the child died, the task raises :class:`ChildDied` and the next task
starts another.

Files land in a folder of mode 0700 inside the worker's local directory (each
child's own), which the sandbox never binds and which is denied to student
code (:attr:`autograder.grading.Options.denied`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from distributed import WorkerPlugin, get_worker

from autograder.cluster import shipping

READY_TIMEOUT_S = 600.0  #: for a child to start (imports, its worker host): minutes on a busy machine
EXIT_WAIT_S = 5.0  #: for a closed child to close its host, before it is killed
LOG_TAIL = 3000  #: characters of a dead child's log that its error quotes


class ChildDied(RuntimeError):
    """The grading child of a Dask worker exited or never got ready."""


class GradingFailed(RuntimeError):
    """The grader failed on a submission (in the child, which carries on)."""


class GradingChild:
    """A started grading child and the socket to it."""

    def __init__(self, setup: dict, private: Path):
        self.private = private
        ours, theirs = socket.socketpair()
        self._log_path = private / "child.log"
        with open(self._log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "autograder.cluster.child", str(theirs.fileno())], pass_fds=[theirs.fileno()],
                cwd=private, stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, start_new_session=True)  # its own session: a terminal's Ctrl-C is the worker's
        theirs.close()
        self._sock = ours
        self._ready = threading.Event()
        self.info: dict | None = None
        self._failure: str | None = None
        # the setup (the course's files) is sent from a thread: plug-ins are set up in the worker's event loop
        threading.Thread(target=self._handshake, args=({**setup, "private": str(private)},), daemon=True,
                         name="autograder-child-setup").start()

    def _handshake(self, setup: dict) -> None:
        try:
            shipping.send(self._sock, setup)
            reply = shipping.recv(self._sock)
            if not isinstance(reply, dict) or "ready" not in reply:
                raise EOFError("it exited before it was ready")
            self.info = reply["ready"]
        except (OSError, EOFError) as exc:
            self._failure = f"the grading process did not start ({exc}): {self._death()}"
        finally:
            self._ready.set()

    def alive(self) -> bool:
        return self.process.poll() is None and not (self._ready.is_set() and self._failure)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> dict:
        if not self._ready.wait(timeout):
            raise ChildDied(f"the grading process did not get ready within {timeout:.0f} s")
        if self._failure is not None:
            raise ChildDied(self._failure)
        return self.info

    def request(self, job: dict) -> dict:
        try:
            shipping.send(self._sock, job)
            reply = shipping.recv(self._sock)
        except (OSError, EOFError) as exc:
            raise ChildDied(f"the grading process died while grading ({exc}): {self._death()}") from None
        if reply is None:
            raise ChildDied(f"the grading process died while grading: {self._death()}")
        return reply

    def _death(self) -> str:
        try:
            code = self.process.wait(timeout=EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            code = None
        try:
            tail = self._log_path.read_bytes()[-LOG_TAIL:].decode(errors="replace")
        except OSError:
            tail = ""
        return f"exit status {code}" + (f"; its last output:\n{tail}" if tail.strip() else "")

    def close(self) -> None:
        """End it (it closes its worker host on EOF) and remove its folder."""
        self._sock.close()
        try:
            self.process.wait(timeout=EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        shutil.rmtree(self.private, ignore_errors=True)


class GradingPlugin(WorkerPlugin):
    """One batch's setup on every worker of the cluster, and the worker's grading child."""

    #: named by its setup's digest (:mod:`autograder.cluster.client`): registered again (a batch run again after
    #: its client was killed), it is the same, and the warm children stay
    idempotent = True

    def __init__(self, setup: dict):
        self.batch = setup  #: what :mod:`autograder.cluster.child` is told first (the course's files among it)

    def setup(self, worker) -> None:
        self._worker = worker
        self._lock = threading.Lock()  # one submission at a time: the child grades one
        self._child: GradingChild | None = None
        self._start()

    def teardown(self, worker) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.close()

    def _start(self) -> GradingChild:
        local = Path(self._worker.local_directory).resolve()
        private = Path(tempfile.mkdtemp(prefix="autograder-", dir=local)).resolve()  # mode 0700
        self._child = GradingChild({**self.batch, "denied": [str(local)]}, private)
        return self._child

    def _live_child(self) -> GradingChild:
        if self._child is None or not self._child.alive():
            if self._child is not None:
                self._child.close()
            self._start()
        return self._child

    def _drop(self, child: GradingChild) -> None:
        child.close()
        if self._child is child:
            self._child = None

    def ready(self) -> dict:
        """The child's ``ready`` info, once it is ready, with this worker's address (or why it is not)."""
        with self._lock:
            child = self._live_child()
            try:
                info = dict(child.wait_ready())
            except ChildDied as exc:
                self._drop(child)
                return {"worker": self._worker.address, "failure": str(exc)}
        return {**info, "worker": self._worker.address}

    def grade(self, job: dict) -> dict:
        with self._lock:
            child = self._live_child()
            try:
                info = child.wait_ready()
                where = {"worker": self._worker.address, "host": info["host"], "sandbox": info["sandbox"]}
                if info["refusal"]:
                    return {"refused": info["refusal"], **where}
                reply = child.request(job)
            except ChildDied:
                self._drop(child)
                raise
        if "error" in reply:
            raise GradingFailed(reply["error"])
        return {"result": reply["result"], **where}


def grade_task(plugin: str, job: dict) -> dict:
    """A task: grade one job on this worker's child (see :class:`GradingPlugin`)."""
    held = get_worker().plugins.get(plugin)
    if held is None:
        raise ChildDied(f"the grader's plug-in {plugin} is not on this worker")
    return held.grade(job)


async def worker_report(plugin: str, dask_worker) -> dict:
    """For ``client.run``: this worker's child once ready (it may take a minute), without blocking the worker."""
    held = dask_worker.plugins.get(plugin)
    if held is None:
        return {"worker": dask_worker.address, "failure": f"the grader's plug-in {plugin} did not reach it"}
    return await asyncio.get_running_loop().run_in_executor(None, held.ready)


def worker_reference_runs(plugin: str, dask_worker) -> bytes | None:
    """For ``client.run``: the reference's results this worker's child kept (and computed), for the client to keep."""
    held = dask_worker.plugins.get(plugin)
    child = getattr(held, "_child", None)
    if child is None:
        return None
    found = sorted(child.private.glob("reference-*.jsonl"))
    try:
        return found[0].read_bytes() if found else None
    except OSError:
        return None


async def worker_has_cuda(dask_worker) -> bool:
    """For ``client.run``: whether torch sees CUDA on this worker, asked in a process of its own (the worker
    never imports torch, nor starts CUDA)."""
    from autograder.worker.sandbox import gpu_device_nodes

    if not gpu_device_nodes():  # no NVIDIA device: no need to ask torch
        return False

    def ask() -> bool:
        done = subprocess.run([sys.executable, "-c", "from autograder.cluster.child import cuda_available; "
                               "print(cuda_available())"], capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL)
        return done.stdout.strip() == "True"

    return await asyncio.get_running_loop().run_in_executor(None, ask)
