"""The one comparison helper: structure, shape, dtype and device first, then values.

Everything a check compares goes through :func:`compare`. It returns a
:class:`Comparison` that says what differs, the largest error and where it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from .wire import WireTensor


@dataclass(frozen=True)
class Tolerance:
    """``|got − expected| ≤ atol + rtol·|expected|``, elementwise."""

    rtol: float
    atol: float
    why: str


# Results built by the same operations in the same order (indexing, reshaping,
# copying, a seeded replay): any difference at all is a different computation.
EXACT = Tolerance(0.0, 0.0, "same operations in the same order give identical bits")
# One float32 step computed in another order (½·mean δ² vs −mean(δ.detach()·v̂),
# no_grad vs detach, fused vs unfused matmuls): a few ulps of float32 (ε ≈ 1.2e-7)
# per operation, a few dozen operations deep. 1e-5 relative leaves 10x headroom
# and still separates every known mistake, which differs by a factor (2x, −1x) or
# by a whole term.
FLOAT32_STEP = Tolerance(1e-5, 1e-6, "one float32 update computed in a different order")
# A whole trajectory of float32 updates: rounding differences compound over the
# steps (and Baird's weights grow geometrically), so only the relative error is
# meaningful.
FLOAT32_RUN = Tolerance(1e-3, 1e-4, "many float32 updates: rounding compounds along the run")


@dataclass(frozen=True)
class Comparison:
    """How a result compares with what was expected.

    ``problem`` is None when they match, else one of ``type``, ``structure``,
    ``shape``, ``dtype``, ``device``, ``values``. ``message`` says it in words
    (``expected shape (3,), got (3, 1)``). ``values_match`` is True when only
    shape/dtype/device differ and the values agree once those are set aside.
    """

    problem: str | None
    message: str = ""
    path: str = ""
    max_error: float | None = None
    values_match: bool = False

    @property
    def ok(self) -> bool:
        return self.problem is None


MATCH = Comparison(None)


def describe(value: Any, limit: int = 8) -> str:
    """A short, readable rendering of a value for feedback."""
    if isinstance(value, WireTensor):
        values = value.values
        flat = values.flatten().tolist() if values.device.type != "meta" else []
        shown = ", ".join(_num(v) for v in flat[:limit]) + (", …" if len(flat) > limit else "")
        return f"tensor([{shown}], shape={tuple(values.shape)}, dtype={str(values.dtype).removeprefix('torch.')}, device={value.device})"
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, list):
        items = [describe(v, limit) for v in value[:limit]]
        return "[" + ", ".join(items) + (", …" if len(value) > limit else "") + "]"
    if isinstance(value, dict) and "__unsupported__" in value:
        return f"an object of type {value['__unsupported__']}"
    return repr(value)


def _num(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def compare(got: Any, expected: Any, tol: Tolerance = EXACT, path: str = "result") -> Comparison:
    """Compare a received result with the expected one, structure first."""
    if isinstance(expected, WireTensor):
        return _compare_tensor(got, expected, tol, path)
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            return Comparison("structure", f"{path}: expected {describe(expected)}, got {describe(got)}", path)
        for key in expected:
            result = compare(got[key], expected[key], tol, f"{path}[{key!r}]")
            if not result.ok:
                return result
        return MATCH
    if isinstance(expected, list):
        if not isinstance(got, list):
            return Comparison("type", f"{path}: expected a sequence, got {describe(got)}", path)
        if len(got) != len(expected):
            return Comparison("shape", f"{path}: expected {len(expected)} items, got {len(got)}", path)
        for i, (g, e) in enumerate(zip(got, expected)):
            result = compare(g, e, tol, f"{path}[{i}]")
            if not result.ok:
                return result
        return MATCH
    if isinstance(expected, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        error = abs(got - expected)
        if error <= tol.atol + tol.rtol * abs(expected) or (math.isnan(got) and math.isnan(expected)):
            return MATCH
        return Comparison("values", f"{path}: expected {_num(expected)}, got {_num(got)}", path, error)
    if type(got) is not type(expected):
        return Comparison("type", f"{path}: expected {describe(expected)}, got {describe(got)}", path)
    if got != expected:
        return Comparison("values", f"{path}: expected {describe(expected)}, got {describe(got)}", path)
    return MATCH


def _compare_tensor(got: Any, expected: WireTensor, tol: Tolerance, path: str) -> Comparison:
    if not isinstance(got, WireTensor):
        return Comparison("type", f"{path}: expected a tensor, got {describe(got)}", path)
    if got.shape != expected.shape:
        return Comparison("shape", f"{path}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}",
                          path, values_match=_values_close(got.values, expected.values, tol)[0])
    if got.dtype != expected.dtype:
        return Comparison("dtype", f"{path}: expected dtype {_dtype(expected)}, got {_dtype(got)}",
                          path, values_match=_values_close(got.values, expected.values, tol)[0])
    if got.device != expected.device:
        return Comparison("device", f"{path}: expected a tensor on {expected.device}, got one on {got.device}",
                          path, values_match=_values_close(got.values, expected.values, tol)[0])
    close, error, index = _values_close(got.values, expected.values, tol)
    if close:
        return MATCH
    e, g = expected.values[index].item(), got.values[index].item()
    where = f" at index {tuple(index) if len(index) != 1 else index[0]}" if index else ""
    return Comparison("values", f"{path}: largest error {_num(error)}{where}: expected {_num(e)}, got {_num(g)}",
                      path, error)


def _dtype(t: WireTensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def _values_close(got: torch.Tensor, expected: torch.Tensor, tol: Tolerance) -> tuple[bool, float, tuple]:
    """Whether the values agree within ``tol`` (NaN equals NaN); where they do not, the largest
    error and its index. Shapes must be broadcast-free equal to compare."""
    if got.device.type == "meta" or expected.device.type == "meta":
        return got.shape == expected.shape, 0.0, ()
    if got.numel() != expected.numel():
        return False, math.inf, ()
    if got.dtype == expected.dtype and got.shape == expected.shape and torch.equal(got, expected):
        return True, 0.0, ()  # the same bits (no NaN: NaN equals nothing there) are within any tolerance
    g = got.reshape(expected.shape).to(torch.float64) if not got.is_complex() else got.reshape(expected.shape)
    e = expected.to(torch.float64) if not expected.is_complex() else expected
    if g.numel() == 0:
        return True, 0.0, ()
    error = (g - e).abs()
    # NaN matches NaN and inf the same inf, nothing else: a relative tolerance of an infinite value
    # would let any number through
    exact = (g.isnan() & e.isnan()) | ((g == e) & e.isinf())
    error = torch.nan_to_num(torch.where(exact, torch.zeros_like(error), error), nan=math.inf, posinf=math.inf)
    bad = ~exact & (~(g.isfinite() & e.isfinite()) | (error > tol.atol + tol.rtol * e.abs()))
    if not bool(bad.any()):  # where the largest error lies is only ever shown for a mismatch
        return True, 0.0, ()
    largest = int(error.flatten().argmax())
    flat, index = largest, []
    for size in reversed(e.shape):  # the flat index as a multi-index, row-major
        flat, at = divmod(flat, size)
        index.append(at)
    return False, float(error.flatten()[largest]), tuple(reversed(index))


# --- results that cannot earn points ---------------------------------------------------------

def non_finite(got: Any, expected: Any = None, path: str = "result") -> Comparison | None:
    """Where a result holds NaN or inf, as a mismatch: such a result never equals the
    reference's (which the check has made sure is finite), whatever the tolerance.
    It may still equal a known mistake's (:func:`compare` matches NaN with NaN)."""
    if isinstance(got, WireTensor):
        values = got.values
        if values.device.type == "meta" or not values.is_floating_point():
            return None
        bad = ~values.isfinite()
        if not bool(bad.any()):
            return None
        first = tuple(int(i) for i in bad.nonzero()[0])
        count = f" ({int(bad.sum())} of {values.numel()} values)" if values.numel() > 1 else ""
        where = f", first at index {first if len(first) != 1 else first[0]}" if values.numel() > 1 else ""
        shown = f"got {_num(values[first].item())}"
        if isinstance(expected, WireTensor) and expected.shape == values.shape and expected.values.device.type != "meta":
            shown = f"expected {_num(expected.values[first].item())}, {shown}"
        return Comparison("values", f"{path}: holds NaN or inf{count}{where}: {shown}", path, math.inf)
    if isinstance(got, float) and not math.isfinite(got):
        shown = f"expected {_num(expected)}, " if isinstance(expected, float) else ""
        return Comparison("values", f"{path}: NaN or inf: {shown}got {_num(got)}", path, math.inf)
    if isinstance(got, dict):
        items = [(f"{path}[{key!r}]", value, expected.get(key) if isinstance(expected, dict) else None)
                 for key, value in got.items()]
    elif isinstance(got, list):
        items = [(f"{path}[{i}]", value, expected[i] if isinstance(expected, list) and i < len(expected) else None)
                 for i, value in enumerate(got)]
    else:
        return None
    return next((found for found in (non_finite(value, theirs, where) for where, value, theirs in items) if found),
                None)


def trivial_answer(expected: Any, inputs: Any) -> bool:
    """Whether ``expected`` is what code that does nothing would return: zeros
    everywhere (numbers, tensors, ``False``, nothing at all), or one of the
    ``inputs`` unchanged."""
    return _zero_like(expected) or any(_same(expected, value) for value in _leaves(inputs))


def _zero_like(value: Any) -> bool:
    if value is None or (type(value) in (bool, int, float) and value == 0):
        return True
    if isinstance(value, WireTensor):
        return value.values.device.type != "meta" and not bool(value.values.any())
    if isinstance(value, dict):
        return all(_zero_like(v) for v in value.values())
    if isinstance(value, list):
        return all(_zero_like(v) for v in value)
    return False


def _leaves(value: Any, depth: int = 0) -> list[Any]:
    if depth > 4:
        return []
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v, depth + 1)]
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _leaves(v, depth + 1)]
    return [value] if isinstance(value, torch.Tensor) else []


def _same(expected: Any, tensor: torch.Tensor) -> bool:
    if not isinstance(expected, WireTensor) or expected.values.device.type == "meta" or tensor.device.type == "meta":
        return False
    values = expected.values
    return values.shape == tensor.shape and values.dtype == tensor.dtype and torch.equal(values, tensor.cpu())
