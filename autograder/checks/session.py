"""One submission under test, and running an assignment's checks on it.

:class:`GradingSession` holds a submission's notebooks (each run lazily in a
worker), the findings its checks share and what a check's context needs.
:func:`run_checks` runs every check of the assignment on it, in the parts'
order, each bounded in time; ``autograder grade`` calls it for each
submission. The checks' pytest plugin (:mod:`autograder.checks.pytest_plugin`)
builds the same session and contexts for ``pytest <checks> --submission PATH``:
both ways grade alike, and pytest's own start-up, collection and reports are
not paid once per submission of a batch.
"""

from __future__ import annotations

import contextlib
import random
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

from autograder import feedback, timing
from autograder.assignment import Assignment
from autograder.checks.framework import CheckContext, CheckFailed, CheckSpec, Outcome, derive_seed, graded_names, \
    reply_outcome, shared_findings
from autograder.checks.registry import all_checks
from autograder.notebooks import calls_between
from autograder.results import CheckResult
from autograder.submission import load_notebook, one_submission
from autograder.worker.client import NotebookSession, Zygote
from autograder.worker.sandbox import Limits
from autograder.worker.seeding import deterministic_math

SESSION_FAILED = ("the grader failed while loading the submission ({error}): none of its checks ran. This is not "
                  "your mistake: tell your instructor.")
CHECK_TIMEOUT_FACTOR = 8  #: a check makes a handful of probe calls, each bounded by its time limit
CHECK_TIMEOUT_EXTRA_S = 60.0  #: beyond them: the reference's and the known mistakes' runs, here
CHECK_BROKE = "{name} (0/{points:g} points): {status}\nThe grader could not finish this check; please tell your instructor."


def check_timeout(meta: CheckSpec) -> float:
    """How long a whole check may take: a bound beyond its probes' own limits, for the grader's side."""
    return CHECK_TIMEOUT_FACTOR * meta.time_limit + CHECK_TIMEOUT_EXTRA_S


def broken(meta: CheckSpec, status: str) -> CheckResult:
    """The result of a check that itself broke (``error``) or ran past :func:`check_timeout` (``timeout``):
    no points, and the feedback says it is the grader's failure."""
    return CheckResult(meta.name, meta.group, 0.0, meta.points, status, status,
                       CHECK_BROKE.format(name=meta.name, points=meta.points, status=status), [status])


class GradingSession:
    """The submission under test: its notebooks, each run lazily in a worker of ``zygote``
    (or of a zygote of its own, closed with it)."""

    def __init__(self, assignment: Assignment, path: Path, *, seed: int, device: str, cell_timeout: float,
                 sandbox: str, limits: Limits, zygote: Zygote | None = None):
        deterministic_math()
        self.assignment = assignment
        self.submission = one_submission(Path(path), assignment)
        self.loaded = {name: load_notebook(name, self.submission.notebooks.get(name, self.submission.path / name),
                                           assignment, self.submission.folder)
                       for name in assignment.notebooks}
        self.cell_timeout, self.device, self.seed = cell_timeout, device, seed
        self._zygote, self._owns_zygote = zygote, zygote is None
        self._sandbox, self._limits = sandbox, limits
        self.sessions: dict[str, NotebookSession] = {}
        self.findings = shared_findings()  # shared by the checks of this submission
        self._calls: dict[str, frozenset[str]] | None = None  # graded function -> the graded ones it calls

    def context(self, meta: CheckSpec) -> CheckContext:
        """A check's context: its seed (Python's ``random`` seeded with it too), its time limit, the
        worker of its part's notebook and the findings the submission's checks share."""
        seed = derive_seed(self.seed, meta.name)
        random.seed(seed)
        time_limit = min(meta.time_limit, self.cell_timeout)
        return CheckContext(meta, self.assignment, self.student(self.assignment.part(meta.group).notebook, time_limit),
                            seed, self.device, time_limit=time_limit, reaches=self.reaches, **self.findings)

    def student(self, notebook: str, time_limit: float):
        """A function running a case on this notebook's worker."""
        loaded = self.loaded[notebook]
        if loaded.error:
            return lambda case, seed, record=None, time_limit=None, call_limits=None: Outcome(
                "missing", error={"type": "MissingNotebook", "message": loaded.error})
        full_limit = time_limit

        def run(case, seed: int, record: dict | None = None, time_limit: float | None = None,
                call_limits: dict[str, float] | None = None) -> Outcome:
            session = self.sessions.get(notebook)
            if session is None:
                if self._zygote is None:
                    code = self.assignment.worker_code(denied=(self.submission.path,))
                    self._zygote = Zygote(code, self._sandbox, self._limits)
                session = self.sessions[notebook] = NotebookSession(self._zygote, loaded.cells, self.cell_timeout)
                session.start()
            return reply_outcome(session.probe(case.probe, case.args, seed, time_limit or full_limit, record,
                                               call_limits))

        return run

    def notes(self) -> list[str]:
        """What went wrong with the notebooks themselves, for the report."""
        notes = []
        reference = self.assignment.reference.partition(".")[0]
        for name, loaded in self.loaded.items():
            notes += ([loaded.error] if loaded.error else []) + loaded.notes
            session = self.sessions.get(name)
            for cell in session.reports if session else []:
                if cell.status == "error":
                    error = cell.error or {}
                    notes.append(f"{name}: cell {cell.index} raised {error.get('type')}: {error.get('message')}"
                                 " (what it defined before that line is still graded)")
                elif cell.status == "timeout":
                    notes.append(f"{name}: cell {cell.index} ran past {self.cell_timeout:g} s and was stopped")
                tampering = list(cell.tampering)
                if (cell.error or {}).get("type") in ("ModuleNotFoundError", "ImportError") and \
                        f"'{reference}" in str((cell.error or {}).get("message")) and \
                        not any("reference" in what for what in tampering):
                    tampering.append("imported the reference solutions")
                if tampering:
                    notes.append(feedback.TAMPERING_NOTE.format(where=f"{name}, cell {cell.index}",
                                                                what="; ".join(dict.fromkeys(tampering))))
        return notes

    def reaches(self, function: str) -> frozenset[str]:
        """The other graded functions that ``function`` calls in the submission, directly or not."""
        if self._calls is None:
            names = graded_names(self.assignment)
            self._calls = {}
            for loaded in self.loaded.values():
                for name, callees in calls_between([cell["source"] for cell in loaded.cells], names).items():
                    self._calls[name] = self._calls.get(name, frozenset()) | callees
        return self._calls.get(function, frozenset())

    def internal_errors(self) -> list[str]:
        """The grader's own failures while loading the notebooks (their notes say so)."""
        return [loaded.error for loaded in self.loaded.values() if loaded.internal and loaded.error]

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()
        if self._owns_zygote and self._zygote is not None:
            self._zygote.close()


class CheckTimeout(Exception):
    """A whole check ran past :func:`check_timeout` (raised in it by a timer)."""


@contextlib.contextmanager
def _bounded(seconds: float) -> Iterator[None]:
    """Raise :class:`CheckTimeout` in the code inside after ``seconds`` (a timer signal: the main
    thread only, where grading processes and the Dask worker's grading child run checks)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise CheckTimeout(f"the check ran past {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_check(meta: CheckSpec, check: Callable[[CheckContext], object], ctx: CheckContext) -> CheckResult:
    """Run one check: its result, or :func:`broken`'s when the check itself broke or ran too long
    before it had one."""
    status = "error"
    with timing.phase(timing.CHECK_PHASE.format(name=meta.name)):
        try:
            with _bounded(check_timeout(meta)):
                check(ctx)
        except CheckFailed:
            pass  # its result holds the feedback
        except CheckTimeout:
            status = "timeout"
        except Exception:  # noqa: BLE001 - the grader's failure on this check: 0 points, said so
            pass
    return ctx.result or broken(meta, status)


def run_checks(session: GradingSession) -> list[CheckResult]:
    """Every check of the session's assignment on its submission, in the parts' order: a function's
    callees are checked first, so that a caller is not charged again for a mistake already named."""
    return [run_check(meta, check, session.context(meta)) for meta, check in all_checks(session.assignment)]
