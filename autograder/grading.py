"""Driving an assignment's check suite: one pytest run per submission, many in parallel.

``grade_submission`` runs ``pytest <the assignment's checks> --submission
PATH`` in-process and collects each check's result from the reports.
``grade_batch`` spreads submissions over ``jobs`` processes, each with its own
pre-warmed worker host, and yields results as they finish.
"""

from __future__ import annotations

import contextlib
import functools
import io
import multiprocessing
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest

from autograder import options as declared
from autograder import timing
from autograder.assignment import Assignment
from autograder.checks import framework
from autograder.checks.pytest_plugin import FAILURE_KEY, SESSION_KEY, ZYGOTE_KEY
from autograder.checks.registry import points_by_group
from autograder.results import CheckResult, SubmissionResult
from autograder.submission import Submission
from autograder.worker.client import Zygote, ZygoteHost
from autograder.worker.sandbox import Limits, die_with_parent

PYTEST_PLUGIN = "autograder.checks.pytest_plugin"


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
    plugins: tuple = field(default=(), compare=False)  #: more pytest plugins for every submission (benchmarks)
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


class _Collector:
    """A pytest plugin that keeps the check results and the notebooks' notes."""

    def __init__(self, zygote: Zygote | None):
        self.zygote = zygote
        self.results: list[CheckResult] = []
        self.notes: list[str] = []
        self.internal: list[str] = []  #: the grader's own failures: the submission's status is then error

    def pytest_configure(self, config: pytest.Config) -> None:
        if self.zygote is not None:
            config.stash[ZYGOTE_KEY] = self.zygote

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for key, value in report.user_properties:
            if key == "check_result":
                self.results.append(CheckResult(**value))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        grading = session.config.stash.get(SESSION_KEY, None)
        if grading is not None:
            self.notes, self.internal = grading.notes(), grading.internal_errors()
        failure = session.config.stash.get(FAILURE_KEY, None)
        if failure is not None:
            self.notes, self.internal = [failure, *self.notes], [failure]


def pytest_args(submission: Submission, options: Options) -> list[str]:
    """The pytest command line of one submission."""
    checks = options.assignment.checks_dir
    return [str(checks), "--submission", str(submission.path), "-p", PYTEST_PLUGIN,
            declared.ASSIGNMENT.flag, options.assignment.name,
            declared.COURSE_ROOT.flag, str(options.assignment.course_root),
            declared.SEED.flag, str(options.seed), declared.DEVICE.flag, options.device,
            declared.TIMEOUT.pytest_flag, str(options.cell_timeout), declared.SANDBOX.flag, options.sandbox,
            declared.MEMORY_LIMIT.flag, str(options.limits.memory_bytes / 2**30),
            "-q", "--no-header", "-p", "no:cacheprovider", "-p", "no:randomly", "--disable-warnings",
            # these two run gc.collect() at the end of every session (0.3-0.4 s a submission)
            "-p", "no:unraisableexception", "-p", "no:threadexception",
            # its log capture adds and removes handlers around every phase of every check (~30 ms a submission)
            "-p", "no:logging",
            "-o", "addopts=", "-o", "testpaths=", "--rootdir", str(checks), "-c", "/dev/null"]


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
    collector = _Collector(zygote)
    _load_reference_runs(options.reference_runs)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pytest's own report is not ours to print
            exit_code = pytest.main(pytest_args(submission, options), plugins=[collector, *options.plugins])
    except Exception as exc:  # noqa: BLE001 - one broken submission never stops a batch
        exit_code, collector.notes = -1, [f"the grader failed: {exc}"]
    finally:
        zygote.close()
    _save_reference_runs(options.reference_runs)
    order = {group: i for i, group in enumerate(assignment.groups)}
    result.checks = sorted(collector.results, key=lambda c: (order.get(c.group, len(order)), c.name))
    result.notes = collector.notes
    if exit_code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) or not result.checks \
            or collector.internal:  # the grader failed: never a silent 0
        result.status = "error"
        result.error = "\n".join(collector.notes) or f"the check suite did not run (pytest exit code {exit_code})"
    elif collector.notes:
        result.error = "\n".join(collector.notes)
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
