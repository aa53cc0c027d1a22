"""The client's side of grading on a Dask cluster: connect (or start a LocalCluster),
ship the batch to the workers, submit the submissions, retry those whose worker
died, and yield each result as it arrives (the command line saves it at once).

Imported only for ``--dask``: the command line does not import dask otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import re
import sys
from collections import deque
from dataclasses import asdict
from typing import TYPE_CHECKING, Iterator

from distributed import Client, LocalCluster, Lock, Semaphore, as_completed
from distributed.scheduler import KilledWorker

from autograder import options as declared
from autograder.cache import engine_fingerprint, grader_fingerprint
from autograder.cluster import shipping
from autograder.cluster.worker import GradingPlugin, grade_task, worker_has_cuda, worker_reference_runs, \
    worker_report
from autograder.options import UsageError
from autograder.results import CheckResult, SubmissionResult
from autograder.submission import Submission

if TYPE_CHECKING:
    from autograder.grading import Options

CONNECT_TIMEOUT_S = 10.0  #: for a scheduler to answer
WORKERS_TIMEOUT_S = 60.0  #: for a scheduler with no worker to get one
#: how many more times a submission is graded after its attempt failed (its worker or grading process
#: died, or the grader failed); then it is reported with status "error"
RETRIES = 2
LOCAL = "local:"
MAX_CLIENTS = 1024  #: clients that may grade the same batch on one cluster at once (one lease each)


def local_cluster(workers: int) -> LocalCluster:
    """``--dask local:N``: N worker processes of one thread, which their nannies restart
    when they die. A task whose worker dies fails at once there (``allowed_failures=0``):
    the grader counts the retries itself (:data:`RETRIES`)."""
    return LocalCluster(n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=":0",
                        scheduler_kwargs={"allowed_failures": 0})


@contextlib.contextmanager
def connect(address: str, timeout: float = CONNECT_TIMEOUT_S) -> Iterator["Cluster"]:
    """The cluster at ``address`` (a scheduler's, e.g. ``tcp://HOST:8786``), or a LocalCluster
    for ``local:N``; closed (with the LocalCluster) at the end.

    Raises:
        UsageError: no scheduler answered within ``timeout`` seconds, or it has no worker.
    """
    with contextlib.ExitStack() as stack:
        if address.startswith(LOCAL):
            count = address[len(LOCAL):]
            if not count.isdigit() or int(count) < 1:
                raise UsageError(f"--dask {address}: local:N takes a number of worker processes, at least 1 "
                                 "(local:2, say)")
            cluster = stack.enter_context(local_cluster(int(count)))
            client = stack.enter_context(Client(cluster, set_as_default=False))
        else:
            try:
                client = Client(address, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise UsageError(f"--dask {address}: no Dask scheduler answered there within {timeout:g} s "
                                 f"({type(exc).__name__}). Start one on that host (`dask scheduler`, which prints "
                                 "its address, tcp://HOST:8786 by default), check the address and that its port "
                                 "is reachable from here, or grade on this machine with --dask local:N") from None
            stack.enter_context(client)
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
        except TimeoutError:
            raise UsageError(f"--dask {address}: the scheduler has no worker (none joined within "
                             f"{WORKERS_TIMEOUT_S:g} s). Start workers on the grading hosts: "
                             f"`dask worker {address} --nworkers N --nthreads 1`") from None
        yield Cluster(client, address)


def _slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text)[:60]


class Cluster:
    """A connected Dask cluster that grades batches."""

    def __init__(self, client: Client, address: str):
        self.client = client
        self.address = address

    def threads(self) -> int:
        return sum(self.client.nthreads().values())

    def describe(self) -> str:
        workers = self.client.nthreads()
        return f"the Dask cluster {self.address} ({len(workers)} worker(s), {sum(workers.values())} thread(s))"

    def resolve_device(self, choice: str) -> str:
        """``--device`` for the whole batch: ``cuda`` when every worker has CUDA (``auto``), or
        must have it (``cuda``); a batch never mixes devices.

        Raises:
            UsageError: ``cuda``, and a worker without CUDA.
        """
        if choice == "cpu":
            return declared.resolve_device(choice, cuda_available=lambda: False)
        found = self.client.run(worker_has_cuda, on_error="return")
        without = sorted(address for address, ok in found.items() if ok is not True)
        if choice == "cuda" and without:
            raise UsageError(f"{declared.DEVICE.flag} cuda: CUDA is not available on the Dask worker(s) "
                             f"{', '.join(without)} (torch.cuda.is_available() is False there). Grade on workers "
                             "that all have a GPU, or use --device cpu or auto.")
        return declared.resolve_device(choice, cuda_available=lambda: bool(found) and not without)

    # -- a batch ------------------------------------------------------------------------------

    def grade(self, submissions: list[Submission], options: "Options") -> Iterator[SubmissionResult]:
        """Grade ``submissions`` on the cluster with ``options`` (its ``sandbox``: ``bwrap`` or
        ``process``, :func:`autograder.cluster.shipping.sandbox_of`); yield each result as it
        arrives, with the client's paths.

        Raises:
            UsageError: a worker refuses the batch (another engine or assignment files, no
                bubblewrap where it is asked, no CUDA for ``cuda``), or cannot start grading.
        """
        if not submissions:
            return
        assignment = options.assignment
        setup = {"assignment": assignment.name, "course": shipping.course_files(assignment),
                 "client_course_root": str(assignment.course_root), "seed": options.seed,
                 "device": options.device, "timeout": options.cell_timeout, "sandbox": options.sandbox,
                 "limits": asdict(options.limits),
                 "expected": {"engine": engine_fingerprint(), "grader": grader_fingerprint(assignment)}}
        # named by its contents: another batch's plug-in, on the same cluster, is not this one
        name = "autograder-" + hashlib.sha256(pickle.dumps(setup)).hexdigest()[:16]
        # kept only after the name is made: their results change what is kept, not what is graded
        if options.reference_runs is not None and options.reference_runs.is_file():
            setup["reference_runs"] = {"name": options.reference_runs.name,
                                       "data": options.reference_runs.read_bytes()}
        with self._plugin(name, GradingPlugin(setup)):
            for address, info in sorted(self.client.run(worker_report, name, on_error="return").items()):
                if isinstance(info, BaseException):
                    raise UsageError(f"the Dask worker {address} could not start grading: "
                                     f"{type(info).__name__}: {info}")
                self._accept(info, options)
            yield from self._grade(name, submissions, options)
            self._keep_reference_runs(name, options)

    def _keep_reference_runs(self, name: str, options: "Options") -> None:
        """The largest set of the reference's results a worker kept, kept here for the next batch (local or not)."""
        target = options.reference_runs
        if target is None:
            return
        with contextlib.suppress(Exception):  # a cache, not a result
            found = [data for data in self.client.run(worker_reference_runs, name, on_error="return").values()
                     if isinstance(data, bytes)]
            best = max(found, key=len, default=b"")
            if len(best) > (target.stat().st_size if target.is_file() else 0):
                target.parent.mkdir(parents=True, exist_ok=True)
                scratch = target.with_name(target.name + ".part")
                scratch.write_bytes(best)
                scratch.replace(target)

    @contextlib.contextmanager
    def _plugin(self, name: str, plugin: GradingPlugin) -> Iterator[None]:
        """``plugin`` on every worker while this client grades with it. Another client grading the same
        batch at the same time shares it (the same name), so each holds a lease on it, and the last one
        to finish takes it off the workers (ending their grading processes). A killed client's lease
        lapses after Dask's ``distributed.scheduler.locks.lease-timeout`` (30 s): the next client to
        finish then cleans up after it."""
        rpc = {"scheduler_rpc": self.client.scheduler, "loop": self.client.loop}
        setup, users = Lock(f"{name}-setup", **rpc), Semaphore(MAX_CLIENTS, f"{name}-users", **rpc)
        with setup:  # registered and leased as one step: a client finishing meanwhile sees this lease
            try:
                self.client.register_plugin(plugin, name=name)
            except Exception as exc:  # noqa: BLE001 - a worker without the engine cannot even load the plug-in
                raise UsageError(f"the Dask workers of {self.address} could not take the grader's plug-in "
                                 f"({type(exc).__name__}: {exc}): install this autograder with its cluster extra "
                                 "on every worker (pip install '.[cluster]')") from None
            users.acquire()
        try:
            yield
        finally:
            with contextlib.suppress(Exception), setup:
                users.release()
                if users.get_value() == 0:  # teardown ends the workers' grading processes
                    self.client.unregister_worker_plugin(name)

    def _accept(self, info: dict, options: "Options") -> None:
        """Refuse the batch (exit 2) where a worker cannot grade it as asked; say which and why."""
        where = f"the Dask worker {info.get('worker')}" + (f" on {info['host']}" if info.get("host") else "")
        if info.get("failure"):
            raise UsageError(f"{where} could not start grading: {info['failure']}")
        refusal = info.get("refusal") or info.get("refused")
        if refusal:
            raise UsageError(f"{where} {refusal}; the batch stops here")
        if info.get("sandbox") != options.sandbox:  # the worker refuses first; never a mixed batch
            raise UsageError(f"{where} grades with --sandbox {info.get('sandbox')}, the batch with {options.sandbox}")

    def _grade(self, name: str, submissions: list[Submission], options: "Options") -> Iterator[SubmissionResult]:
        token = name.removeprefix("autograder-")
        pending = deque(range(len(submissions)))
        failures = [0] * len(submissions)  # attempts that failed, each worker death counted
        in_flight: dict = {}  # future -> index
        finished = as_completed(loop=self.client.loop)

        def top_up() -> None:
            # no more in flight than the cluster has threads: the notebooks are read as they go, and
            # no task waits on a worker behind another (it would share that worker's death)
            room = max(1, self.threads()) - len(in_flight)
            while room > 0 and pending:
                index = pending.popleft()
                future = self.client.submit(
                    grade_task, name, shipping.job_of(submissions[index]), pure=False,
                    key=f"autograder-{_slug(submissions[index].student)}-{index}-{failures[index]}-{token}")
                in_flight[future] = index
                finished.add(future)
                room -= 1

        top_up()
        for future in finished:
            index = in_flight.pop(future)
            submission = submissions[index]
            if future.status == "finished":
                reply = future.result()
                future.release()
                if "refused" in reply:  # a worker that joined since: the batch stops, what is saved stays
                    self._cancel(in_flight)
                self._accept(reply, options)
                top_up()
                yield self._result(submission, reply["result"])
                continue
            error = future.exception() if future.status == "error" else None
            future.release()
            if isinstance(error, KilledWorker):  # the scheduler may itself have retried it on other workers
                failures[index] += error.allowed_failures + 1
                why = f"the Dask worker grading it ({getattr(error.last_worker, 'address', error.last_worker)}) died"
            else:
                failures[index] += 1
                why = f"{type(error).__name__}: {error}" if error is not None else f"its task was {future.status}"
            if failures[index] <= RETRIES:
                print(f"autograder: {submission.student}: {why.splitlines()[0][:200]}; grading it again "
                      f"({failures[index]} of {RETRIES} retries)", file=sys.stderr, flush=True)
                pending.appendleft(index)
                top_up()
                continue
            top_up()
            yield self._failed(submission, options, failures[index], why)

    def _cancel(self, in_flight: dict) -> None:
        with contextlib.suppress(Exception):
            self.client.cancel(list(in_flight))

    @staticmethod
    def _result(submission: Submission, data: dict) -> SubmissionResult:
        data = {**data, "student": submission.student, "path": str(submission.path)}
        data["checks"] = [CheckResult(**check) for check in data.get("checks", [])]
        return SubmissionResult(**data)

    @staticmethod
    def _failed(submission: Submission, options: "Options", failures: int, why: str) -> SubmissionResult:
        """Never lost: a submission that no attempt could grade is an error, saying why."""
        from autograder.checks.registry import points_by_group

        groups = options.assignment.groups
        return SubmissionResult(
            submission.student, str(submission.path), status="error", seed=options.seed,
            max_score=sum(points_by_group(options.assignment).values()), groups={group: 0.0 for group in groups},
            error=(f"the grader could not grade this submission: its grading on the Dask cluster failed "
                   f"{failures} time(s) (it is retried {RETRIES} times); the last time {why[:2000]}. Something in "
                   "it may make the grader's process die (memory, say): grade it alone to see. This is not a "
                   "score: tell your instructor."))
