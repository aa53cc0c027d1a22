"""The pytest plugin of the checks: options, fixtures, and results in reports.

Each test marked ``@check(...)`` gets a ``ctx`` fixture (the submission's
worker, the reference, its seed). Its :class:`~autograder.results.CheckResult`
travels in the test report's ``user_properties`` as ``check_result``, where
``autograder grade`` (or any pytest plugin) picks it up.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import torch

from autograder import feedback, spec
from autograder.checks.framework import CheckContext, CheckSpec, Outcome, derive_seed
from autograder.results import CheckResult
from autograder.submission import COURSE_ROOT, load_notebook, one_submission
from autograder.worker.client import NotebookSession, Zygote
from autograder.worker.runtime import deterministic_math

RESULT_KEY = pytest.StashKey[CheckResult]()
CHECK_TIMEOUT_FACTOR = 8  # a check makes a handful of probe calls, each bounded by its time limit
DEFAULT_SEED = 20251


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograder", "grading a pytorch_vfa submission")
    group.addoption("--submission", help="a notebook, or a student's folder holding the assignment's notebooks")
    group.addoption("--seed", type=int, default=None,
                    help=f"base seed of every check (default {DEFAULT_SEED}); a report prints it")
    group.addoption("--device", choices=("auto", "cpu", "cuda"), default="auto",
                    help="where the checks run the student's code and the reference (default: auto)")
    group.addoption("--cell-timeout", type=float, default=60.0,
                    help="seconds one notebook cell may run before it is stopped (default 60)")
    group.addoption("--sandbox", choices=("auto", "bwrap", "process"), default="auto",
                    help="how student code is confined (default: bwrap where it works)")
    group.addoption("--course-root", default=str(COURSE_ROOT),
                    help="the course directory holding source/ (for experiment cells)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "check(spec): an autograder check, with its name, group and points")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the parts in the spec's order (a stable sort keeps each module's own
    order): a function's callees are checked first, so that a caller is not
    charged again for a mistake already named in a callee (e.g. SARSA's update
    calls the TD(0) update)."""
    order = {part.group: i for i, part in enumerate(spec.PARTS)}

    def part_of(item: pytest.Item) -> int:
        marker = item.get_closest_marker("check")
        return order.get(marker.args[0].group, len(order)) if marker else len(order)

    items.sort(key=part_of)
    for item in items:  # pytest-timeout bounds each whole check, beyond its probes' own limits
        marker = item.get_closest_marker("check")
        if marker is not None and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(CHECK_TIMEOUT_FACTOR * marker.args[0].time_limit + 60))


def resolve_device(choice: str) -> str:
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise pytest.UsageError("--device cuda was asked for, but CUDA is not available on this machine")
    return choice


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.getoption("--seed")
    return f"autograder: submission={config.getoption('--submission')} seed={DEFAULT_SEED if seed is None else seed}"


class GradingSession:
    """The submission under test: its notebooks, each run lazily in a worker."""

    def __init__(self, config: pytest.Config):
        deterministic_math()
        path = config.getoption("--submission")
        if not path:
            raise pytest.UsageError("the checks need --submission PATH (a notebook or a student's folder)")
        if not Path(path).exists():
            raise pytest.UsageError(f"--submission {path}: no such file or folder")
        self.submission = one_submission(Path(path))
        course_root = Path(config.getoption("--course-root"))
        self.loaded = {name: load_notebook(name, self.submission.notebooks.get(name, self.submission.path / name),
                                           course_root)
                       for name in spec.NOTEBOOKS}
        self.cell_timeout = config.getoption("--cell-timeout")
        self.device = resolve_device(config.getoption("--device"))
        seed = config.getoption("--seed")
        self.seed = DEFAULT_SEED if seed is None else seed
        self._zygote: Zygote | None = getattr(config, "_autograder_zygote", None)
        self._owns_zygote = self._zygote is None
        self._sandbox = config.getoption("--sandbox")
        self.sessions: dict[str, NotebookSession] = {}
        self.diagnosed: dict = {}  # shared by the checks: callers are not charged for callees

    def student(self, notebook: str, time_limit: float):
        """A function running a case on this notebook's worker."""
        loaded = self.loaded[notebook]
        if loaded.error:
            return lambda case, seed: Outcome("missing", error={"type": "MissingNotebook", "message": loaded.error})

        def run(case, seed: int) -> Outcome:
            session = self.sessions.get(notebook)
            if session is None:
                if self._zygote is None:
                    self._zygote = Zygote(self._sandbox)
                session = self.sessions[notebook] = NotebookSession(self._zygote, loaded.cells, self.cell_timeout)
                session.start()
            return Outcome.from_reply(session.probe(case.probe, case.args, seed, time_limit))

        return run

    def notes(self) -> list[str]:
        """What went wrong with the notebooks themselves, for the report."""
        notes = []
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
                        "'solutions" in str((cell.error or {}).get("message")) and \
                        not any("solutions" in what for what in tampering):
                    tampering.append("imported the reference solutions")
                if tampering:
                    notes.append(feedback.TAMPERING_NOTE.format(where=f"{name}, cell {cell.index}",
                                                                what="; ".join(dict.fromkeys(tampering))))
        return notes

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()
        if self._owns_zygote and self._zygote is not None:
            self._zygote.close()


@pytest.fixture(scope="session")
def grading(pytestconfig: pytest.Config):
    session = GradingSession(pytestconfig)
    pytestconfig._autograder_session = session
    yield session
    session.close()


@pytest.fixture
def ctx(request: pytest.FixtureRequest, grading: GradingSession) -> CheckContext:
    marker = request.node.get_closest_marker("check")
    meta: CheckSpec = marker.args[0]
    seed = derive_seed(grading.seed, meta.name)
    random.seed(seed)
    time_limit = min(meta.time_limit, grading.cell_timeout)
    context = CheckContext(meta, grading.student(meta.part.notebook, time_limit), seed, grading.device,
                           time_limit=time_limit, diagnosed=grading.diagnosed)
    context.on_result = lambda result: request.node.stash.__setitem__(RESULT_KEY, result)
    return context


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("check")
    if marker is None or not (report.when == "call" or (report.when == "setup" and report.failed)):
        return
    result = item.stash.get(RESULT_KEY, None)
    if result is None:  # the check itself broke (or hit pytest-timeout): score 0, say so
        meta: CheckSpec = marker.args[0]
        status = "timeout" if "Timeout" in str(report.longrepr) else "error"
        result = CheckResult(meta.name, meta.group, 0.0, meta.points, status, status,
                             f"{meta.name} (0/{meta.points:g} points): {status}\n"
                             f"The grader could not finish this check; please tell your instructor.")
    report.user_properties.append(("check_result", result.to_dict()))
