"""The one comparison helper: structure, shape, dtype, device, then values."""

import math

import pytest
import torch

from autograder.compare import EXACT, FLOAT32_STEP, compare
from autograder.worker import wire


def t(value, **kwargs):
    return wire.loads(wire.dumps(torch.tensor(value, **kwargs)))


def test_equal_tensors_match():
    assert compare(t([1.0, 2.0]), t([1.0, 2.0])).ok


def test_shape_is_checked_before_values():
    result = compare(t([[1.0, 2.0]]), t([1.0, 2.0]))
    assert result.problem == "shape" and result.values_match
    assert result.message == "result: expected shape (2,), got (1, 2)"


def test_dtype_is_checked_before_values():
    result = compare(t([1.0, 2.0], dtype=torch.float64), t([1.0, 2.0]))
    assert result.problem == "dtype" and result.values_match
    assert result.message == "result: expected dtype float32, got float64"


def test_device_is_checked_before_values():
    got = wire.WireTensor(torch.tensor([1.0]), "meta", False, False)
    result = compare(got, t([1.0]))
    assert result.problem == "device"
    assert result.message == "result: expected a tensor on cpu, got one on meta"


def test_values_report_the_largest_error_and_where_it_is():
    result = compare(t([[1.0, 2.0], [3.0, 4.0]]), t([[1.0, 2.0], [3.0, 4.5]]))
    assert result.problem == "values" and math.isclose(result.max_error, 0.5)
    assert result.message == "result: largest error 0.5 at index (1, 1): expected 4.5, got 4"


def test_tolerances_are_explicit():
    near = t([1.0 + 1e-6])
    assert not compare(near, t([1.0]), EXACT).ok
    assert compare(near, t([1.0]), FLOAT32_STEP).ok
    assert not compare(t([2.0]), t([1.0]), FLOAT32_STEP).ok  # a double step is never "close"


def test_nan_equals_nan_but_not_a_number():
    assert compare(t([float("nan")]), t([float("nan")])).ok
    assert not compare(t([float("nan")]), t([1.0])).ok


@pytest.mark.parametrize("tol", [EXACT, FLOAT32_STEP], ids=["exact", "relative"])
def test_inf_equals_the_same_inf_and_nothing_else(tol):
    inf = float("inf")
    assert compare(t([-inf, 1.0]), t([-inf, 1.0]), tol).ok
    for got, expected in ((-200.0, -inf), (-inf, -200.0), (inf, -inf), (float("nan"), inf)):
        result = compare(t([got]), t([expected]), tol)  # a relative tolerance of inf must not let -200 through
        assert result.problem == "values", (got, expected)
    assert compare(t([-200.0]), t([-inf]), tol).message == "result: largest error inf at index 0: expected -inf, got -200"


def test_dicts_and_lists_compare_item_by_item_with_a_path():
    result = compare({"delta": t([1.0]), "step": [t([0.0]), t([2.0])]},
                     {"delta": t([1.0]), "step": [t([0.0]), t([1.0])]})
    assert result.message.startswith("result['step'][1]: largest error 1")


def test_a_missing_tensor_is_a_type_problem():
    result = compare(3.0, t([3.0]))
    assert result.problem == "type" and "expected a tensor" in result.message
