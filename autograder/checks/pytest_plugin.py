"""The pytest plugin of the checks: options, fixtures, and results in reports.

Registered for every pytest run of the environment (the ``pytest11`` entry
point) and idle unless ``--submission`` is given::

    pytest assignments/<name>/checks --submission PATH

Each test marked ``@check(...)`` then gets a ``ctx`` fixture (its assignment,
the submission's worker, the reference, its seed). Its
:class:`~autograder.results.CheckResult` travels in the test report's
``user_properties`` as ``check_result``, where ``autograder grade`` (or any
pytest plugin) picks it up. The options are the command line's own
declarations (:mod:`autograder.options`); pytest-timeout owns ``--timeout``,
so the time limit is ``--cell-timeout`` here.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from autograder import feedback, options
from autograder.assignment import Assignment
from autograder.checks.framework import CheckContext, CheckSpec, Outcome, derive_seed, graded_names, \
    reply_outcome, shared_findings
from autograder.course import PLUGINS, Course, find_course
from autograder.notebooks import calls_between
from autograder.results import CheckResult
from autograder.submission import load_notebook, one_submission
from autograder.worker.client import NotebookSession, Zygote
from autograder.worker.sandbox import Limits
from autograder.worker.seeding import deterministic_math

RESULT_KEY = pytest.StashKey[CheckResult]()
SESSION_KEY = pytest.StashKey["GradingSession"]()
#: a zygote handed in by ``autograder grade`` (its batch's sandbox), instead of one of the session's own
ZYGOTE_KEY = pytest.StashKey[Zygote]()
ASSIGNMENT_KEY = pytest.StashKey[Assignment]()
#: why the grading session could not start: the grader's failure, reported as the submission's error
FAILURE_KEY = pytest.StashKey[str]()
SESSION_FAILED = ("the grader failed while loading the submission ({error}): none of its checks ran. This is not "
                  "your mistake: tell your instructor.")
CHECK_TIMEOUT_FACTOR = 8  # a check makes a handful of probe calls, each bounded by its time limit
SUBMISSION_HELP = "a notebook, or a student's folder holding the assignment's notebooks (grades it)"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograder", "grading a submission with an assignment's checks")
    group.addoption("--submission", help=SUBMISSION_HELP)
    options.add_to_pytest(group)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "check(spec): an autograder check, with its name, group and points")
    if grading_requested(config):  # a bad option is a usage error before anything runs
        assignment_of(config)
        _device_and_memory(config)


def _device_and_memory(config: pytest.Config) -> tuple[str, int]:
    try:
        return (options.resolve_device(config.getoption(options.DEVICE.pytest_dest)),
                options.memory_bytes(config.getoption(options.MEMORY_LIMIT.pytest_dest)))
    except options.UsageError as exc:
        raise pytest.UsageError(str(exc)) from None


def grading_requested(config: pytest.Config) -> bool:
    return bool(config.getoption("--submission", default=None))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the parts in the assignment's order (a stable sort keeps each
    module's own order): a function's callees are checked first, so that a
    caller is not charged again for a mistake already named in a callee."""
    if not grading_requested(config):
        return
    order = {group: i for i, group in enumerate(assignment_of(config).groups)}

    def part_of(item: pytest.Item) -> int:
        marker = item.get_closest_marker("check")
        return order.get(marker.args[0].group, len(order)) if marker else len(order)

    items.sort(key=part_of)
    for item in items:  # pytest-timeout bounds each whole check, beyond its probes' own limits
        marker = item.get_closest_marker("check")
        if marker is not None and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(CHECK_TIMEOUT_FACTOR * marker.args[0].time_limit + 60))


def pytest_report_header(config: pytest.Config) -> str | None:
    if not grading_requested(config):
        return None
    return (f"autograder: assignment={assignment_of(config).name} submission={config.getoption('--submission')} "
            f"seed={config.getoption(options.SEED.pytest_dest)}")


def assignment_of(config: pytest.Config) -> Assignment:
    """``--assignment`` of the course; else the plug-in whose checks are being run; else the submission's."""
    if ASSIGNMENT_KEY not in config.stash:
        config.stash[ASSIGNMENT_KEY] = _find_assignment(config)
    return config.stash[ASSIGNMENT_KEY]


def _find_assignment(config: pytest.Config) -> Assignment:
    name, course = config.getoption(options.ASSIGNMENT.pytest_dest), _course(config)
    if not name:
        for arg in config.args:
            parts = Path(arg).resolve().parts
            if PLUGINS in parts[:-1]:
                at = len(parts) - 1 - parts[::-1].index(PLUGINS)
                if len(parts) > at + 1:
                    course = Course(Path(*parts[:at]), course.default_assignment)
                    name = parts[at + 1]
                    break
    try:
        return course.resolve(name, [Path(config.getoption("--submission"))])
    except options.UsageError as exc:
        raise pytest.UsageError(str(exc)) from None


def _course(config: pytest.Config) -> Course:
    try:
        return find_course(config.getoption(options.COURSE_ROOT.pytest_dest))
    except options.UsageError as exc:
        raise pytest.UsageError(str(exc)) from None


class GradingSession:
    """The submission under test: its notebooks, each run lazily in a worker."""

    def __init__(self, config: pytest.Config):
        deterministic_math()
        path = config.getoption("--submission")
        if not Path(path).exists():
            raise pytest.UsageError(f"--submission {path}: no such file or folder")
        self.assignment = assignment_of(config)
        self.submission = one_submission(Path(path), self.assignment)
        self.loaded = {name: load_notebook(name, self.submission.notebooks.get(name, self.submission.path / name),
                                           self.assignment, self.submission.folder)
                       for name in self.assignment.notebooks}
        self.cell_timeout = config.getoption(options.TIMEOUT.pytest_dest)
        self.device, memory = _device_and_memory(config)
        self.seed = config.getoption(options.SEED.pytest_dest)
        self._zygote: Zygote | None = config.stash.get(ZYGOTE_KEY, None)
        self._owns_zygote = self._zygote is None
        self._sandbox, self._limits = config.getoption(options.SANDBOX.pytest_dest), Limits(memory_bytes=memory)
        self.sessions: dict[str, NotebookSession] = {}
        self.findings = shared_findings()  # shared by the checks of this submission
        self._calls: dict[str, frozenset[str]] | None = None  # graded function -> the graded ones it calls

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


@pytest.fixture(scope="session")
def grading(pytestconfig: pytest.Config):
    if not grading_requested(pytestconfig):
        raise pytest.UsageError("the checks need --submission PATH (a notebook or a student's folder)")
    try:
        session = GradingSession(pytestconfig)
    except Exception as exc:  # every check fails on it; the stash tells the report why, as an error
        pytestconfig.stash[FAILURE_KEY] = SESSION_FAILED.format(error=f"{type(exc).__name__}: {exc}"[:300])
        raise
    pytestconfig.stash[SESSION_KEY] = session
    yield session
    session.close()


@pytest.fixture
def ctx(request: pytest.FixtureRequest, grading: GradingSession) -> CheckContext:
    marker = request.node.get_closest_marker("check")
    meta: CheckSpec = marker.args[0]
    seed = derive_seed(grading.seed, meta.name)
    random.seed(seed)
    time_limit = min(meta.time_limit, grading.cell_timeout)
    context = CheckContext(meta, grading.assignment, grading.student(grading.assignment.part(meta.group).notebook,
                                                                     time_limit),
                           seed, grading.device, time_limit=time_limit, reaches=grading.reaches, **grading.findings)
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
                             f"The grader could not finish this check; please tell your instructor.", [status])
    report.user_properties.append(("check_result", result.to_dict()))
