"""A hang costs one short limit: a case may take a bounded multiple of the
reference's time on it, and after a function ran out of time, its remaining
cases, and its callers' cases, run with a shorter limit (``CheckContext.run``).

A stand-in worker records the limit each case was given and answers as told;
the time a real hang costs is measured by ``scripts/bench_hang.py``.
"""

from __future__ import annotations

import pytest

from autograder.checks.framework import FIRST_FACTOR, FIRST_FLOOR_S, HUNG_FACTOR, HUNG_FLOOR_S, HUNG_SHARE, Case, \
    CheckContext, CheckFailed, CheckSpec, Outcome
from autograder.checks.registry import all_checks
from autograder.notebooks import calls_between
from tests.course import PYTORCH_VFA

FULL_S = 10.0


class Worker:
    """Answers each case with the next kind in ``kinds`` (then the last one), noting its limit."""

    def __init__(self, *kinds: str):
        self.kinds, self.limits, self.call_limits = list(kinds), [], []

    def __call__(self, case, seed, record=None, time_limit=None, call_limits=None) -> Outcome:
        self.limits.append(time_limit)
        self.call_limits.append(call_limits)
        kind = self.kinds.pop(0) if len(self.kinds) > 1 else self.kinds[0]
        if kind.startswith("timeout in "):  # a watched callee's own call limit struck
            return Outcome("timeout", struck=kind.removeprefix("timeout in "))
        return Outcome("timeout", killed=kind == "killed") if kind in ("timeout", "killed") else Outcome("ok", 0.0)


def context(worker: Worker, function: str = "td_target", hung: dict | None = None, reaches=lambda f: ()):
    return CheckContext(CheckSpec("td0.update", "td0", 10, function, FULL_S), PYTORCH_VFA, worker, seed=0,
                        device="cpu", hung={} if hung is None else hung, reaches=reaches)


CASE = Case("probe", {}, "f()")


def test_after_a_timeout_each_call_of_the_function_gets_the_short_limit():
    worker = Worker("timeout", "ok")
    ctx = context(worker)
    for _ in range(3):
        ctx.run(CASE, reference=Outcome("ok", seconds=0.2))
    assert worker.limits == [FULL_S, FULL_S, FULL_S]  # 50 x 0.2 s: the case's own limit stays
    assert worker.call_limits == [None, {"td_target": HUNG_FACTOR * 0.2}, {"td_target": HUNG_FACTOR * 0.2}]
    assert ctx.hung == {"td_target": "td0.update"}


def test_the_short_limit_scales_with_the_references_time_between_a_floor_and_the_full_limit():
    assert CheckContext.short_limit(FULL_S, Outcome("ok", seconds=0.001)) == HUNG_FLOOR_S
    assert CheckContext.short_limit(FULL_S, Outcome("ok", seconds=0.2)) == pytest.approx(HUNG_FACTOR * 0.2)
    assert CheckContext.short_limit(FULL_S, Outcome("ok", seconds=5.0)) == FULL_S
    assert CheckContext.short_limit(30.0, None) == pytest.approx(HUNG_SHARE * 30.0)  # no reference time known


def test_a_case_may_take_a_multiple_of_the_references_time_between_a_floor_and_the_full_limit():
    assert CheckContext.first_limit(FULL_S, Outcome("ok", seconds=0.001)) == FIRST_FLOOR_S
    assert CheckContext.first_limit(FULL_S, Outcome("ok", seconds=0.1)) == pytest.approx(FIRST_FACTOR * 0.1)
    assert CheckContext.first_limit(FULL_S, Outcome("ok", seconds=5.0)) == FULL_S
    assert CheckContext.first_limit(FULL_S, None) == FULL_S  # no reference time known: the full limit


def test_a_function_that_never_returns_costs_one_short_limit_then_the_shorter_ones():
    worker = Worker("timeout")
    ctx = context(worker)
    for _ in range(3):
        ctx.run(CASE, reference=Outcome("ok", seconds=0.002))
    assert worker.limits == [FIRST_FLOOR_S] * 3 and FIRST_FLOOR_S < FULL_S
    assert worker.call_limits == [None, {"td_target": HUNG_FLOOR_S}, {"td_target": HUNG_FLOOR_S}]


def test_a_function_that_had_to_be_killed_is_not_run_again():
    worker = Worker("killed")  # it caught the limit's exception and went on: the worker did not answer
    ctx = context(worker)
    ctx.run(CASE, reference=Outcome("ok", seconds=0.002))
    ctx.run(CASE, reference=Outcome("ok", seconds=0.002))
    assert worker.call_limits == [None, {"td_target": 0.0}]


def test_a_caller_of_a_function_that_hung_gives_that_one_its_call_limit():
    worker = Worker("ok")
    reaches = {"semi_gradient_td0_update": {"td_target"}}.get
    ctx = context(worker, "semi_gradient_td0_update", hung={"td_target": "td0.target"},
                  reaches=lambda f: reaches(f, ()))
    ctx.call_limits["td_target"] = HUNG_FLOOR_S
    ctx.run(CASE, reference=Outcome("ok", seconds=0.001))
    assert worker.limits == [FIRST_FLOOR_S] and worker.call_limits == [{"td_target": HUNG_FLOOR_S}]
    assert "semi_gradient_td0_update" not in ctx.hung  # it answered: only what hangs is limited
    other = Worker("ok")  # a function that calls nothing that hung has no call limits
    context(other, "q_values", hung={"td_target": "td0.target"}, reaches=lambda f: reaches(f, ())).run(CASE)
    assert other.limits == [FULL_S] and other.call_limits == [None]


def test_what_a_function_calls_is_read_from_the_submitted_cells():
    cells = ["def helper(r, v, t, g):\n    return td_target(r, v, t, g)\n",
             "def semi_gradient_td0_update(v, o, s, r, n, t, g):\n    return helper(r, v(n), t, g)\n",
             "def td_target(r, v, t, g):\n    return r + g * v * (1 - t)\n"]
    calls = calls_between(cells, ["td_target", "semi_gradient_td0_update", "q_values"])
    assert calls == {"semi_gradient_td0_update": {"td_target"}, "td_target": frozenset()}


def test_the_feedback_says_the_limit_was_shortened_and_why():
    check = next(fn for meta, fn in all_checks(PYTORCH_VFA) if meta.name == "td0.update")
    meta = next(meta for meta, _ in all_checks(PYTORCH_VFA) if meta.name == "td0.update")
    worker = Worker("timeout in td_target")
    ctx = CheckContext(meta, PYTORCH_VFA, worker, seed=0, device="cpu", hung={"td_target": "td0.target"},
                       call_limits={"td_target": HUNG_FLOOR_S},
                       reaches=lambda f: {"td_target"} if f == meta.function else ())
    with pytest.raises(CheckFailed):
        check(ctx)
    assert all(limits["td_target"] == HUNG_FLOOR_S for limits in worker.call_limits)
    assert ctx.result.score == 0 and ctx.result.diagnosis == "timeout"
    assert (f"Each call of `td_target` (in td0.target) could take {HUNG_FLOOR_S:g} s here: it had already run "
            "out of time in this submission, and a hang costs one limit, not one per case") in ctx.result.feedback


def test_the_feedback_names_the_limit_of_a_first_hang():
    check = next(fn for meta, fn in all_checks(PYTORCH_VFA) if meta.name == "td0.target")
    meta = next(meta for meta, _ in all_checks(PYTORCH_VFA) if meta.name == "td0.target")
    worker = Worker("timeout")
    ctx = CheckContext(meta, PYTORCH_VFA, worker, seed=0, device="cpu")
    with pytest.raises(CheckFailed):
        check(ctx)
    assert worker.limits[0] == FIRST_FLOOR_S < meta.time_limit  # the reference answers in milliseconds
    assert ctx.result.score == 0 and ctx.result.diagnosis == "timeout"
    assert f"Its limit was {FIRST_FLOOR_S:g} s: a case may take {FIRST_FACTOR:g} times what the reference takes" \
        in ctx.result.feedback


# --- in the worker: a call's own limit --------------------------------------------------------

SPIN = "def spin(x):\n    while True:\n        pass\n"
#: catches the limit's exception and goes on; the second one it lets go (so that the test ends)
SWALLOW = "caught = []\ndef spin(x):\n    while True:\n        try:\n            while True:\n                pass\n" \
          "        except BaseException:\n            caught.append(1)\n            if len(caught) == 2:\n" \
          "                return len(caught)\n"


def _probe(source: str, call_limits: dict, time_limit: float = 5.0) -> tuple[dict, float]:
    """``caller`` calls ``spin`` on odd inputs only, via the worker's own probe runner, in this process."""
    import time

    from autograder.worker.probing import run_probe

    namespace: dict = {}
    exec(source + "def caller(x):\n    return spin(x) if x % 2 else x * 2\n", namespace)
    probes = {"call": lambda api, x: api.caller(x)}
    started = time.perf_counter()
    reply = run_probe(probes, namespace, {"probe": "call", "args": {"x": 1}, "seed": 0, "time_limit": time_limit,
                                          "call_limits": call_limits})
    return reply, time.perf_counter() - started


def test_a_call_limit_stops_a_hung_callee_long_before_the_cases_limit():
    reply, took = _probe(SPIN, {"spin": 0.2})
    assert reply["outcome"] == "timeout" and reply["in"] == "spin"
    assert took < 2.0  # not the case's 5 s
    reply, took = _probe(SPIN, {})  # without it, the case's whole limit
    assert reply["outcome"] == "timeout" and "in" not in reply and took >= 1.0 - 0.05
    from autograder.worker.probing import run_probe

    namespace: dict = {}
    exec(SPIN + "def caller(x):\n    return spin(x) if x % 2 else x * 2\n", namespace)
    ok = run_probe({"call": lambda api, x: api.caller(x)}, namespace,
                   {"probe": "call", "args": {"x": 2}, "seed": 0, "time_limit": 5.0, "call_limits": {"spin": 0.2}})
    assert ok == {"outcome": "ok", "value": 4}  # a case that never waits on it still answers


def test_the_cases_limit_still_stands_after_a_call_limit_was_swallowed():
    reply, took = _probe(SWALLOW, {"spin": 0.2}, time_limit=1.0)
    # the call's limit struck at 0.2 s and was caught; the case's own still struck at 1 s
    assert reply["outcome"] == "ok" and reply["value"] == 2
    assert 1.0 - 0.05 <= took < 3.0


def test_a_function_not_run_again_raises_at_once():
    reply, took = _probe(SPIN, {"spin": 0.0})
    assert reply["outcome"] == "timeout" and reply["in"] == "spin" and took < 1.0


#: a class whose construction (``init``) or whose call (``forward``) never returns, built by ``caller``
HANGING_CLASS = ("import torch\nclass Policy(torch.nn.Module):\n    def __init__(self, hang):\n"
                 "        super().__init__()\n        while hang == 'init':\n            pass\n        self.hang = hang\n"
                 "    def forward(self, x):\n        while self.hang == 'forward':\n            pass\n        return x\n"
                 "def caller(hang):\n    return float(Policy(hang)(torch.tensor(2.0)))\n")


@pytest.mark.parametrize("hang", ["init", "forward"])
def test_a_call_limit_stops_a_hung_class_in_its_constructor_or_its_call(hang):
    import time

    from autograder.worker.probing import run_probe

    namespace: dict = {}
    exec(HANGING_CLASS, namespace)
    cls, init = namespace["Policy"], namespace["Policy"].__init__
    started = time.perf_counter()
    reply = run_probe({"call": lambda api, hang: api.caller(hang)}, namespace,
                      {"probe": "call", "args": {"hang": hang}, "seed": 0, "time_limit": 5.0,
                       "call_limits": {"Policy": 0.2}})
    assert reply["outcome"] == "timeout" and reply["in"] == "Policy"
    assert time.perf_counter() - started < 2.0  # not the case's 5 s
    assert namespace["Policy"] is cls and vars(cls)["__init__"] is init  # the class as the student wrote it
    ok = run_probe({"call": lambda api, hang: api.caller(hang)}, namespace,
                   {"probe": "call", "args": {"hang": "no"}, "seed": 0, "time_limit": 5.0,
                    "call_limits": {"Policy": 0.2}})
    assert ok == {"outcome": "ok", "value": 2.0}  # an instance that does not hang still answers
