"""Driving an assignment's checks: one grading session per submission, many in parallel.

``grade_submission`` runs every check of the assignment on one submission
(:func:`autograder.checks.session.run_checks`: what ``pytest <the assignment's
checks> --submission PATH`` runs, without pytest's start-up and reports each
time) and adds up the scores. ``grade_batch`` spreads submissions over
``jobs`` processes, each with its own pre-warmed worker host, and yields
results as they finish.
"""

from __future__ import annotations

import functools
import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from autograder import options as declared
from autograder import timing
from autograder.assignment import Assignment
from autograder.checks import framework
from autograder.checks.registry import all_checks, points_by_group
from autograder.checks.session import SESSION_FAILED, GradingSession, broken, run_checks
from autograder.results import SubmissionResult
from autograder.submission import Submission
from autograder.worker.client import Zygote, ZygoteHost
from autograder.worker.sandbox import Limits, die_with_parent


@dataclass(frozen=True)
class Options:
    """How to grade; the command line fills it from its arguments (defaults: :mod:`autograder.options`)."""

    assignment: Assignment
    seed: int = declared.SEED.default
    device: str = "cpu"  #: resolved already (:func:`autograder.options.resolve_device`)
    cell_timeout: float = declared.TIMEOUT.default
    sandbox: str = declared.SANDBOX.default  #: bwrap, process, or auto (bwrap where it works)
    limits: Limits = Limits()
    #: folders and files of the grader's that student code must not see, beyond the course (submissions, outputs)
    denied: tuple[str, ...] = ()
    #: where the reference's results are kept between grading processes (framework.save_reference_runs)
    reference_runs: Path | None = None

    def worker_code(self):
        return self.assignment.worker_code(self.denied)


class ZygotePool:
    """A fresh zygote (and sandbox) for every submission, forked by one warm
    host per grading process; where the host cannot isolate submissions from
    each other, a host per submission, the next one warming up while the
    current submission is graded."""

    def __init__(self, options: Options, host: ZygoteHost | None = None):
        self.options = options
        #: starts in the background (the command line starts it before it imports torch)
        self._host: ZygoteHost | None = host or ZygoteHost(options.worker_code(), options.sandbox, options.limits)
        self._spare: Zygote | None = None

    def _start(self) -> Zygote:
        return Zygote(self.options.worker_code(), self.options.sandbox, self.options.limits)

    def take(self, prefetch: bool = True) -> Zygote:
        if self._host is not None and self._host.shareable:
            return self._host.zygote()
        if self._host is not None:
            self._host.close()
            self._host = None
        zygote, self._spare = self._spare or self._start(), None
        if prefetch:
            self._spare = self._start()
        return zygote

    def close(self) -> None:
        for held in (self._spare, self._host):
            if held is not None:
                held.close()
        self._spare = self._host = None


def grade_submission(submission: Submission, options: Options,
                     zygote: Zygote | Callable[[], Zygote] | None = None) -> SubmissionResult:
    """Run every check on one submission and add up the scores. ``zygote`` (or
    what makes it: its wait counts in the submission's time) is this
    submission's sandbox, closed at the end: nothing of it survives."""
    with timing.phase("submission"):
        return _grade_submission(submission, options, zygote)


def _grade_submission(submission: Submission, options: Options,
                      zygote: Zygote | Callable[[], Zygote] | None) -> SubmissionResult:
    started = time.perf_counter()
    assignment = options.assignment
    zygote = zygote() if callable(zygote) else zygote or Zygote(options.worker_code(), options.sandbox,
                                                                options.limits)
    points = points_by_group(assignment)
    result = SubmissionResult(submission.student, str(submission.path), max_score=sum(points.values()),
                              seed=options.seed)
    _load_reference_runs(options.reference_runs)
    session = None
    try:
        session = GradingSession(assignment, submission.path, seed=options.seed, device=options.device,
                                 cell_timeout=options.cell_timeout, sandbox=options.sandbox, limits=options.limits,
                                 zygote=zygote)
        checks = run_checks(session)
        notes, internal = session.notes(), session.internal_errors()
    except Exception as exc:  # noqa: BLE001 - one broken submission never stops a batch, and is never a silent 0
        failure = SESSION_FAILED.format(error=f"{type(exc).__name__}: {exc}"[:300])
        checks = [broken(meta, "error") for meta, _ in all_checks(assignment)]
        notes, internal = [failure, *(session.notes() if session is not None else [])], [failure]
    finally:
        if session is not None:
            session.close()
        zygote.close()
    _save_reference_runs(options.reference_runs)
    order = {group: i for i, group in enumerate(assignment.groups)}
    result.checks = sorted(checks, key=lambda c: (order.get(c.group, len(order)), c.name))
    result.notes = notes
    if internal:  # the grader failed: never a silent 0
        result.status = "error"
        result.error = "\n".join(notes)
    elif notes:
        result.error = "\n".join(notes)
    result.groups = {group: 0.0 for group in assignment.groups}
    for check in result.checks:
        result.groups[check.group] = round(result.groups[check.group] + check.score, 2)
    result.score = round(sum(result.groups.values()), 2)
    result.duration_s = round(time.perf_counter() - started, 2)
    return result


_reference_runs_known: dict[Path, int] = {}  #: per file: the results known when it was last read or written


def _load_reference_runs(path: Path | None) -> None:
    if path is not None and path not in _reference_runs_known:
        framework.load_reference_runs(path)
        _reference_runs_known[path] = framework.reference_runs_known()


def _save_reference_runs(path: Path | None) -> None:
    """After a submission that needed reference results not yet kept (the first few of a batch)."""
    if path is not None and framework.reference_runs_known() > _reference_runs_known.get(path, 0):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            framework.save_reference_runs(path)
        except OSError:
            return  # a cache, not a result: the next process computes them again
        _reference_runs_known[path] = framework.reference_runs_known()


# --- batches ---------------------------------------------------------------------------

_pool: ZygotePool | None = None


def _grade_in_pool(job: tuple[Submission, Options]) -> SubmissionResult:
    global _pool
    submission, options = job
    if _pool is None:  # one per pool process: its spare zygote warms up between submissions
        _pool = ZygotePool(options)
    return grade_submission(submission, options, _pool.take)


def grade_batch(submissions: list[Submission], options: Options, jobs: int,
                host: ZygoteHost | None = None) -> Iterator[SubmissionResult]:
    """Grade submissions on ``jobs`` processes; yield each result as it
    finishes. ``host``, already started with ``options``' worker code, sandbox
    and limits, serves a batch graded in this process (and is closed with it)."""
    if jobs <= 1 or len(submissions) <= 1:
        pool = ZygotePool(options, host)
        try:
            for i, submission in enumerate(submissions):
                yield grade_submission(submission, options,
                                       functools.partial(pool.take, prefetch=i + 1 < len(submissions)))
        finally:
            pool.close()
        return
    if host is not None:  # each pool process starts a host of its own
        host.close()
    context = multiprocessing.get_context("fork")  # the grader is warm: children start with torch loaded
    with context.Pool(min(jobs, len(submissions)), initializer=die_with_parent) as pool:
        yield from pool.imap_unordered(_grade_in_pool, [(s, options) for s in submissions])
