"""A hang costs one time limit: after a function ran out of time, its remaining
cases, and its callers' cases, run with a short limit (``CheckContext.run``).

A stand-in worker records the limit each case was given and answers as told;
the time a real hang costs is measured by ``scripts/bench_hang.py``.
"""

from __future__ import annotations

import pytest

from autograder.checks.framework import HUNG_FACTOR, HUNG_FLOOR_S, HUNG_SHARE, Case, CheckContext, CheckFailed, \
    CheckSpec, Outcome
from autograder.checks.registry import all_checks
from autograder.notebooks import calls_between
from tests.course import PYTORCH_VFA

FULL_S = 10.0


class Worker:
    """Answers each case with the next kind in ``kinds`` (then the last one), noting its limit."""

    def __init__(self, *kinds: str):
        self.kinds, self.limits = list(kinds), []

    def __call__(self, case, seed, record=None, time_limit=None) -> Outcome:
        self.limits.append(time_limit)
        kind = self.kinds.pop(0) if len(self.kinds) > 1 else self.kinds[0]
        return Outcome("timeout") if kind == "timeout" else Outcome("ok", 0.0)


def context(worker: Worker, function: str = "td_target", hung: dict | None = None, reaches=lambda f: ()):
    return CheckContext(CheckSpec("td0.update", "td0", 10, function, FULL_S), PYTORCH_VFA, worker, seed=0,
                        device="cpu", hung={} if hung is None else hung, reaches=reaches)


CASE = Case("probe", {}, "f()")


def test_after_a_timeout_the_functions_other_cases_get_the_short_limit():
    worker = Worker("timeout", "ok")
    ctx = context(worker)
    for _ in range(3):
        ctx.run(CASE, reference=Outcome("ok", seconds=0.2))
    assert worker.limits == [FULL_S, HUNG_FACTOR * 0.2, HUNG_FACTOR * 0.2]
    assert ctx.hung == {"td_target": "td0.update"}


def test_the_short_limit_scales_with_the_references_time_between_a_floor_and_the_full_limit():
    assert CheckContext.short_limit(FULL_S, Outcome("ok", seconds=0.001)) == HUNG_FLOOR_S
    assert CheckContext.short_limit(FULL_S, Outcome("ok", seconds=0.2)) == pytest.approx(HUNG_FACTOR * 0.2)
    assert CheckContext.short_limit(FULL_S, Outcome("ok", seconds=5.0)) == FULL_S
    assert CheckContext.short_limit(30.0, None) == pytest.approx(HUNG_SHARE * 30.0)  # no reference time known


def test_a_caller_of_a_function_that_hung_starts_with_the_short_limit():
    worker = Worker("ok")
    reaches = {"semi_gradient_td0_update": {"td_target"}}.get
    ctx = context(worker, "semi_gradient_td0_update", hung={"td_target": "td0.target"},
                  reaches=lambda f: reaches(f, ()))
    ctx.run(CASE, reference=Outcome("ok", seconds=0.001))
    assert worker.limits == [HUNG_FLOOR_S]
    other = Worker("ok")  # a function that calls nothing that hung keeps the full limit
    context(other, "q_values", hung={"td_target": "td0.target"}, reaches=lambda f: reaches(f, ())).run(CASE)
    assert other.limits == [FULL_S]


def test_what_a_function_calls_is_read_from_the_submitted_cells():
    cells = ["def helper(r, v, t, g):\n    return td_target(r, v, t, g)\n",
             "def semi_gradient_td0_update(v, o, s, r, n, t, g):\n    return helper(r, v(n), t, g)\n",
             "def td_target(r, v, t, g):\n    return r + g * v * (1 - t)\n"]
    calls = calls_between(cells, ["td_target", "semi_gradient_td0_update", "q_values"])
    assert calls == {"semi_gradient_td0_update": {"td_target"}, "td_target": frozenset()}


def test_the_feedback_says_the_limit_was_shortened_and_why():
    check = next(fn for meta, fn in all_checks(PYTORCH_VFA) if meta.name == "td0.update")
    meta = next(meta for meta, _ in all_checks(PYTORCH_VFA) if meta.name == "td0.update")
    worker = Worker("timeout")
    ctx = CheckContext(meta, PYTORCH_VFA, worker, seed=0, device="cpu", hung={"td_target": "td0.target"},
                       reaches=lambda f: {"td_target"} if f == meta.function else ())
    with pytest.raises(CheckFailed):
        check(ctx)
    assert all(limit < meta.time_limit for limit in worker.limits)
    assert ctx.result.score == 0 and ctx.result.diagnosis == "timeout"
    assert ("had already run out of time in this submission, and a hang costs one full limit only"
            in ctx.result.feedback)
    assert "`td_target` (in td0.target)" in ctx.result.feedback
