"""Running the checks without pytest's machinery (``autograder.checks.session``): a check's result,
or the grader's failure said as such, each check bounded in time."""

from __future__ import annotations

import time
from types import SimpleNamespace

from autograder.checks import session
from autograder.checks.framework import CheckFailed, CheckSpec
from autograder.results import CheckResult

META = CheckSpec("td0.update", "td0", 10, "semi_gradient_td0_update", time_limit=5)
RESULT = CheckResult("td0.update", "td0", 5.0, 10, "partial", "double-step", "td0.update (5/10 points): partial")


def context(result: CheckResult | None = None) -> SimpleNamespace:
    return SimpleNamespace(result=result)


def test_a_check_that_fails_has_its_result_as_it_reported_it():
    def check(ctx):
        ctx.result = RESULT
        raise CheckFailed(RESULT.feedback, pytrace=False)

    assert session.run_check(META, check, context()) is RESULT


def test_a_check_that_breaks_is_the_graders_error_with_no_points():
    def check(ctx):
        raise KeyError("the reference has no such probe")

    result = session.run_check(META, check, context())
    assert (result.status, result.score, result.diagnosis) == ("error", 0.0, "error")
    assert result.feedback == ("td0.update (0/10 points): error\n"
                               "The grader could not finish this check; please tell your instructor.")


def test_a_check_that_runs_past_its_bound_is_stopped_and_says_so(monkeypatch):
    monkeypatch.setattr(session, "check_timeout", lambda meta: 0.3)
    started = time.perf_counter()
    result = session.run_check(META, lambda ctx: time.sleep(5), context())
    assert time.perf_counter() - started < 3
    assert (result.status, result.score) == ("timeout", 0.0)


def test_the_bound_is_eight_times_the_checks_limit_and_a_minute():
    assert session.check_timeout(META) == 8 * 5 + 60


def test_checks_run_in_the_parts_order_callees_first():
    from autograder.checks.registry import all_checks
    from tests.course import PYTORCH_VFA

    groups = [meta.group for meta, _ in all_checks(PYTORCH_VFA)]
    assert groups == sorted(groups, key=PYTORCH_VFA.groups.index) and set(groups) == set(PYTORCH_VFA.groups)
