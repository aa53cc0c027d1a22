"""The pytest plugin of the checks: options, fixtures, and results in reports.

Registered for every pytest run of the environment (the ``pytest11`` entry
point) and idle unless ``--submission`` is given::

    pytest assignments/<name>/checks --submission PATH

Each test marked ``@check(...)`` then gets a ``ctx`` fixture (its assignment,
the submission's worker, the reference, its seed). Its
:class:`~autograder.results.CheckResult` travels in the test report's
``user_properties`` as ``check_result``, where any pytest plugin can pick it
up. ``autograder grade`` runs the same session and contexts without pytest's
machinery (:mod:`autograder.checks.session`). The options are the command line's own
declarations (:mod:`autograder.options`); pytest-timeout owns ``--timeout``,
so the time limit is ``--cell-timeout`` here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder import options
from autograder.assignment import Assignment
from autograder.checks.framework import CheckContext, CheckSpec
from autograder.checks.session import SESSION_FAILED, GradingSession, broken, check_timeout
from autograder.course import PLUGINS, Course, find_course
from autograder.results import CheckResult
from autograder.worker.sandbox import Limits

RESULT_KEY = pytest.StashKey[CheckResult]()
SESSION_KEY = pytest.StashKey[GradingSession]()
ASSIGNMENT_KEY = pytest.StashKey[Assignment]()
#: why the grading session could not start: the grader's failure, reported as the submission's error
FAILURE_KEY = pytest.StashKey[str]()
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
            item.add_marker(pytest.mark.timeout(check_timeout(marker.args[0])))


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


@pytest.fixture(scope="session")
def grading(pytestconfig: pytest.Config):
    if not grading_requested(pytestconfig):
        raise pytest.UsageError("the checks need --submission PATH (a notebook or a student's folder)")
    path = pytestconfig.getoption("--submission")
    if not Path(path).exists():
        raise pytest.UsageError(f"--submission {path}: no such file or folder")
    device, memory = _device_and_memory(pytestconfig)
    try:
        session = GradingSession(assignment_of(pytestconfig), Path(path),
                                 seed=pytestconfig.getoption(options.SEED.pytest_dest), device=device,
                                 cell_timeout=pytestconfig.getoption(options.TIMEOUT.pytest_dest),
                                 sandbox=pytestconfig.getoption(options.SANDBOX.pytest_dest),
                                 limits=Limits(memory_bytes=memory))
    except Exception as exc:  # every check fails on it; the stash tells the report why, as an error
        pytestconfig.stash[FAILURE_KEY] = SESSION_FAILED.format(error=f"{type(exc).__name__}: {exc}"[:300])
        raise
    pytestconfig.stash[SESSION_KEY] = session
    yield session
    session.close()


@pytest.fixture
def ctx(request: pytest.FixtureRequest, grading: GradingSession) -> CheckContext:
    meta: CheckSpec = request.node.get_closest_marker("check").args[0]
    context = grading.context(meta)
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
        result = broken(marker.args[0], "timeout" if "Timeout" in str(report.longrepr) else "error")
    report.user_properties.append(("check_result", result.to_dict()))
