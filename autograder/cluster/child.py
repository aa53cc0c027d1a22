"""The grading child: the one long-lived process of a Dask worker that grades.

The worker plug-in (:mod:`autograder.cluster.worker`) starts it with
subprocess (``python -m autograder.cluster.child FD``), in a session of its
own, with a socket to it (:func:`autograder.cluster.shipping.send` and
``recv``). It has a main thread of its own, where pytest-timeout's signals
work and the worker host (:class:`~autograder.worker.host.ZygoteHost`) is
started once and kept warm: in a Dask worker's task threads neither would be.

The first message is the batch's setup; it answers ``{"ready": info}``:
where it runs, the sandbox it got, its fingerprints and, where it cannot
grade as the client asked, a ``refusal`` (another engine, other files, no
bubblewrap where bubblewrap was asked, no CUDA for ``--device cuda``). Then
each message is a job (:func:`autograder.cluster.shipping.job_of`), answered
``{"result": dict}`` (the client's paths in it) or ``{"error": text}`` (the
grader failed; its host is started again for the next). At the end of the
stream it closes its host and exits; when its Dask worker dies it exits too.

Everything it writes lies in the folder it is given (``private``, mode 0700,
denied to student code): the course under ``course/``, each submission in a
fresh folder under ``submissions/``, removed when graded.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from autograder.cluster import shipping

WATCH_PARENT_S = 0.5  #: how often it looks whether its Dask worker is still there
_current: Grader | None = None  #: this process's grader, once it is being set up


def cuda_available() -> bool:
    """Whether torch sees CUDA here, asked without starting it (NVML; see :mod:`autograder.cli`)."""
    from autograder.worker.sandbox import gpu_device_nodes

    if not gpu_device_nodes():
        return False
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"
    import torch

    return bool(torch.cuda.is_available())


class Refused(Exception):
    """This worker cannot grade the batch as the client asked; the text says why and what to do."""


class Grader:
    """The batch's grading state in this process: its course, options and warm pool."""

    def __init__(self, setup: dict):
        global _current
        _current = self  # for the watch on its Dask worker, which starts first
        self.private = Path(setup["private"])
        self.info: dict = {"host": socket.gethostname(), "pid": os.getpid(), "uid": os.geteuid(), "sandbox": None,
                           "engine": None, "grader": None, "refusal": None}
        self.host = self.pool = None
        try:
            self._start(setup)
        except Refused as refusal:
            self.info["refusal"] = str(refusal)
        except Exception as exc:  # noqa: BLE001 - a worker that cannot grade says why; the client stops there
            self.info["refusal"] = f"could not start grading: {type(exc).__name__}: {exc}"[:3000]

    def _start(self, setup: dict) -> None:
        from autograder.cache import engine_fingerprint, grader_fingerprint, reference_runs_file
        from autograder.course import Course
        from autograder.worker.sandbox import Limits, choose_mode

        expected = setup["expected"]
        self.info["engine"] = engine_fingerprint()
        if self.info["engine"] != expected["engine"]:
            raise Refused(f"runs another version of the engine: its fingerprint is {self.info['engine']}, the "
                          f"client's {expected['engine']}. Install the same autograder on every worker as on the "
                          "client (pip install '.[cluster]' from the same release or checkout)")
        self.course_root = shipping.unpack_course(setup["course"], self.private / "course")
        self.client_course_root = setup["client_course_root"]
        assignment = Course(self.course_root).assignment(setup["assignment"])
        self.info["grader"] = grader_fingerprint(assignment)
        if self.info["grader"] != expected["grader"]:
            raise Refused(f"has other files of the assignment {assignment.name}: their fingerprint is "
                          f"{self.info['grader']}, the client's {expected['grader']}")
        mode = choose_mode("auto")  # each worker sees for itself what it can run
        if setup["sandbox"] != "process" and mode != "bwrap":
            raise Refused("cannot run bubblewrap (it is not installed, or user namespaces are disabled: "
                          "sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0), so student "
                          "code there would be confined less than asked. Install bubblewrap there and allow user "
                          "namespaces, or pass --sandbox process to grade without it")
        mode = setup["sandbox"] if setup["sandbox"] == "process" else mode
        self.info["sandbox"] = mode
        if setup["device"] == "cuda" and not cuda_available():
            raise Refused("has no CUDA (torch.cuda.is_available() is False there), and the batch grades on cuda: "
                          "give every worker a GPU, or pass --device cpu")
        from autograder.worker.host import WorkerDied, ZygoteHost

        limits = Limits(**setup["limits"])
        denied = (*setup["denied"], str(self.private))
        # the host first: it warms up (torch) on another core while this process imports the grader
        self.host = ZygoteHost(assignment.worker_code(denied), mode, limits)
        from autograder.grading import Options, ZygotePool  # pytest, torch: warm before the first submission

        # the reference's results the client kept: not computed again here (where torch is the client's)
        reference_runs = reference_runs_file(self.private, assignment)
        shipped = setup.get("reference_runs")
        if shipped and shipped["name"] == reference_runs.name:
            reference_runs.write_bytes(shipped["data"])
        self.options = Options(assignment, seed=setup["seed"], device=setup["device"],
                               cell_timeout=setup["timeout"], sandbox=mode, limits=limits, denied=denied,
                               reference_runs=reference_runs)
        try:
            self.host.wait_ready()
        except WorkerDied as exc:
            raise Refused(f"could not start its worker host: {exc}") from None
        self.pool = ZygotePool(self.options, self.host)
        (self.private / "submissions").mkdir(mode=0o700)

    def grade(self, job: dict) -> dict:
        from autograder.grading import ZygotePool, grade_submission

        folder = Path(tempfile.mkdtemp(dir=self.private / "submissions")).resolve()
        try:
            submission = shipping.write_job(job, folder)
            try:
                result = grade_submission(submission, self.options, self.pool.take)
            except Exception:  # noqa: BLE001 - the grader failed (its host died, say): a fresh one for the next
                self.pool.close()
                self.pool = ZygotePool(self.options)
                return {"error": traceback.format_exc(limit=8)[-3000:]}
            finally:
                shipping.forget_job(submission)
            data = shipping.map_paths(result.to_dict(), [(str(folder), job["client_folder"]),
                                                         (str(self.course_root), self.client_course_root)])
            return {"result": data}
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        for held in (self.pool, self.host):
            if held is not None:
                held.close()

    def kill(self) -> None:
        """At once, from another thread: the host's whole session (its sandboxes with it)."""
        if self.host is not None:
            try:
                os.killpg(self.host.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _watch_parent(parent: int, private: Path) -> None:
    """Exit when the Dask worker that started it is gone (killed: no one closes the socket)."""
    while os.getppid() == parent:
        time.sleep(WATCH_PARENT_S)
    if _current is not None:
        _current.kill()
    shutil.rmtree(private, ignore_errors=True)
    os._exit(1)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"  # asking for CUDA must not start it
    parent = os.getppid()
    sock = socket.socket(fileno=int(argv[0]))
    sock.set_inheritable(False)  # nothing this starts (the worker host) gets it
    setup = shipping.recv(sock)
    if setup is None:
        return
    threading.Thread(target=_watch_parent, args=(parent, Path(setup["private"])), daemon=True).start()
    grader = Grader(setup)
    try:
        shipping.send(sock, {"ready": grader.info})
        while (job := shipping.recv(sock)) is not None:
            shipping.send(sock, grader.grade(job) if grader.pool is not None else {"error": grader.info["refusal"]})
    except (OSError, EOFError):
        pass  # its Dask worker closed the stream: the end
    finally:
        grader.close()


if __name__ == "__main__":
    main()
