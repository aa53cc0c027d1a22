"""Which cases of a check earn points: no points for what code that does nothing gets right.

The rules (autograder/scoring.py, ``countable``; autograder/compare.py,
``non_finite`` and ``trivial_answer``) on hand-made cases; every graded
function of every assignment is tried in tests/assignments/test_no_points_for_nothing.py.
"""

from __future__ import annotations

import math

import torch

from autograder.compare import FLOAT32_STEP, non_finite, trivial_answer
from autograder.scoring import Case, Outcome, compare_case, countable as countable_cases, trivial_flags
from autograder.worker import wire


def t(value, **kwargs):
    return wire.loads(wire.dumps(torch.tensor(value, **kwargs)))


def meta(shape):
    return wire.WireTensor(torch.empty(shape, device="meta"), "meta", False, False)


X = torch.tensor([1.0, 2.0])


def case(x=X, device="cpu", **more) -> Case:
    return Case("probe", {"x": x, "device": device, **more}, "f(x)", FLOAT32_STEP)


def countable(cases, expected, got) -> list[bool]:
    expected = [Outcome("ok", e) for e in expected]
    got = [Outcome("ok", g) for g in got]
    return countable_cases(cases, trivial_flags(cases, expected),
                           [compare_case(c, e, g) for c, e, g in zip(cases, expected, got)])


# --- form-only cases: the meta device --------------------------------------------------------

def test_a_meta_case_counts_only_with_its_twins_values_right():
    cases = [case(), case(x=X * 2), case(device="meta")]
    expected = [t([3.0, 4.0]), t([5.0, 6.0]), meta(2)]
    # its twin (same inputs on the CPU) is wrong, the other case right: the meta case earns nothing
    assert countable(cases, expected, [t([0.5, 0.5]), t([5.0, 6.0]), meta(2)]) == [True, True, False]
    assert countable(cases, expected, [t([3.0, 4.0]), t([0.5, 0.5]), meta(2)]) == [True, True, True]


def test_a_twin_with_right_values_in_the_wrong_form_still_lets_its_meta_case_count():
    cases = [case(), case(device="meta")]
    expected = [t([3.0, 4.0]), meta(2)]
    assert countable(cases, expected, [t([3.0, 4.0], dtype=torch.float64), meta(2)]) == [True, True]


def test_a_meta_case_without_a_twin_needs_every_case_with_values_right():
    cases = [case(), case(x=X * 2), case(x=X * 3, device="meta")]
    expected = [t([3.0, 4.0]), t([5.0, 6.0]), meta(2)]
    assert countable(cases, expected, [t([3.0, 4.0]), t([0.0, 1.0]), meta(2)])[2] is False
    assert countable(cases, expected, [t([3.0, 4.0]), t([5.0, 6.0]), meta(2)])[2] is True


# --- trivial answers ------------------------------------------------------------------------

def test_a_case_whose_answer_is_zero_counts_only_alongside_one_whose_answer_is_not():
    cases = [case(), case(x=X * 2)]
    expected = [t([0.0, 0.0]), t([5.0, 6.0])]
    assert countable(cases, expected, [t([0.0, 0.0]), t([1.0, 1.0])]) == [False, True]
    assert countable(cases, expected, [t([0.0, 0.0]), t([5.0, 6.0])]) == [True, True]


def test_a_case_whose_answer_is_an_input_unchanged_is_trivial():
    assert trivial_answer(t([1.0, 2.0]), {"x": X})
    assert trivial_answer(t([1.0, 2.0]), {"args": [3, [X]]})  # nested as a probe's argument list
    assert not trivial_answer(t([1.0, 2.0]), {"x": X * 2})
    assert not trivial_answer(t([1.0, 2.0], dtype=torch.float64), {"x": X})  # a conversion is work


def test_zeros_of_every_kind_are_trivial():
    for value in (0, 0.0, False, None, [0, 0.0], {"step": t([0.0]), "delta": 0.0}, t([], dtype=torch.float32)):
        assert trivial_answer(value, {}), value
    for value in (1, [0, 1], {"step": t([0.0]), "delta": 0.5}, "text", meta(2)):
        assert not trivial_answer(value, {}), value


# --- NaN and inf ------------------------------------------------------------------------------

def test_nan_or_inf_never_matches_and_the_feedback_says_where():
    found = non_finite(t([1.0, math.nan, math.inf]), t([1.0, 2.0, 3.0]))
    assert found is not None and not found.ok and not found.values_match
    assert found.message == "result: holds NaN or inf (2 of 3 values), first at index 1: expected 2, got nan"
    nested = non_finite({"step": [t([1.0]), t([-math.inf])], "delta": 0.5}, {"step": [t([1.0]), t([4.0])]})
    assert nested.message == "result['step'][1]: holds NaN or inf: expected 4, got -inf"
    assert non_finite(math.nan, 0.25).message == "result: NaN or inf: expected 0.25, got nan"
    assert non_finite({"a": t([1.0]), "b": 2.0}) is None
    assert non_finite(meta(3)) is None and non_finite(t([1, 2])) is None


def test_a_nan_result_earns_nothing_even_where_the_tolerance_is_loose():
    cases = [case()]
    comparison = compare_case(cases[0], Outcome("ok", t([3.0, 4.0])), Outcome("ok", t([3.0, math.nan])))
    assert comparison.problem == "values" and "holds NaN or inf" in comparison.message
