"""What a check measured along a run, as data for plots (``CheckResult.series``).

A check records what its cases measured (a run's TD errors, weights, returns)
with :meth:`~autograder.checks.framework.CheckContext.measured`, or a case
declares it (``Case(series=...)``); the reports keep it, and the feedback pages
(:mod:`autograder.pages`) plot it after grading. Nothing here draws: grading
never imports matplotlib for this.

One entry of ``series`` is one plot, plain JSON::

    {"name": "td_errors",                  # stable within its check
     "title": "TD errors along the run",   # one line, what the plot shows
     "x_label": "step", "y_label": "TD error δ",
     "curves": [{"label": "your run", "role": "got",        # the student's measurement
                 "x": [1, 2, ...], "y": [0.5, null, ...]},  # null: NaN or ±inf
                {"label": "expected", "role": "expected", "x": [...], "y": [...]}],
     "components": null,                   # or the names of the entries of each y row (w1 … w8)
     "hlines": [{"label": "J*", "y": -11.66}], "vlines": [{"label": "your p", "x": 0.43}]}

``role`` is ``got`` (measured on the student's code), ``expected`` (the
reference's run, or the known right answer) or ``context`` (neither: a curve
that situates them, J(p) say). ``y`` holds numbers, or rows of numbers when a
run measures a vector per step (``components`` names them). A curve keeps at
most :data:`MAX_POINTS` points and :data:`MAX_NUMBERS` numbers, evenly spaced,
first and last included, each rounded to :data:`DIGITS` significant digits: a
report of a large class stays small (a submission of the course's first
assignment takes about 43 kB of JSON for its plots).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

MAX_POINTS = 250  #: points per curve kept in a report (a plot a few hundred pixels wide needs no more)
MAX_NUMBERS = 1000  #: numbers per curve: a curve of vectors keeps fewer points (8 weights: 125)
DIGITS = 5  #: significant digits kept of each number
MAX_COMPONENTS = 16  #: entries of a vector-valued y
MAX_CURVES = 8
ROLES = ("got", "expected", "context")


class SeriesError(ValueError):
    """What was measured cannot be plotted (not numbers, ragged rows, ...): nothing is recorded."""


def numbers(value: Any) -> list:
    """A measurement as plain lists: a tensor (or a tensor received from a worker) by its values."""
    if not hasattr(value, "tolist") and hasattr(getattr(value, "values", None), "tolist"):
        value = value.values  # a tensor received from a worker (a WireTensor): its CPU tensor
    if hasattr(value, "tolist"):
        if getattr(getattr(value, "device", None), "type", None) == "meta":
            raise SeriesError("a tensor on the meta device has no values")
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise SeriesError(f"not a sequence of numbers: {type(value).__name__}")
    return list(value)


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SeriesError(f"not a number: {type(value).__name__}")
    if isinstance(value, int):
        return value
    value = float(value)
    return float(f"{value:.{DIGITS}g}") if math.isfinite(value) else None


def _point(value: Any, width: int | None) -> float | None | list[float | None]:
    if width is None:
        return _number(value)
    if not isinstance(value, (list, tuple)) or len(value) != width:
        raise SeriesError(f"rows of {width} numbers expected")
    return [_number(v) for v in value]


def kept(n: int, limit: int = MAX_POINTS) -> list[int]:
    """The indices of ``n`` points that a curve keeps: all, or ``limit`` evenly spaced ones, first and last."""
    if n <= limit:
        return list(range(n))
    return sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})


def curve(label: str, role: str, y: Any, x: Iterable[float] | None = None) -> dict:
    """One curve: ``y`` numbers (or rows of numbers) at ``x`` (default 0, 1, …), downsampled and rounded."""
    if role not in ROLES:
        raise ValueError(f"a curve's role is one of {ROLES}, not {role!r}")
    ys = numbers(y)
    xs = list(range(len(ys))) if x is None else list(x)
    if len(xs) != len(ys):
        raise SeriesError(f"{len(ys)} values at {len(xs)} x positions")
    width = None
    if ys and isinstance(ys[0], (list, tuple)):
        width = len(ys[0])
        if not 0 < width <= MAX_COMPONENTS:
            raise SeriesError(f"rows of 1 to {MAX_COMPONENTS} numbers expected, got {width}")
    index = kept(len(ys), min(MAX_POINTS, MAX_NUMBERS // (width or 1)))
    return {"label": label, "role": role, "x": [_number(xs[i]) for i in index],
            "y": [_point(ys[i], width) for i in index]}


def plot(name: str, title: str, x_label: str, y_label: str, curves: Sequence[dict], *,
         components: Sequence[str] | None = None, hlines: dict[str, float] | None = None,
         vlines: dict[str, float] | None = None) -> dict:
    """One plot of ``CheckResult.series`` (the shape is in the module's docstring)."""
    if not 0 < len(curves) <= MAX_CURVES:
        raise ValueError(f"a plot has 1 to {MAX_CURVES} curves, got {len(curves)}")
    widths = {_width(c) for c in curves if c["y"]}
    if widths - {len(components) if components is not None else None}:
        raise SeriesError("every curve's values must be numbers, or rows of one number per named component")
    return {"name": name, "title": title, "x_label": x_label, "y_label": y_label, "curves": list(curves),
            "components": list(components) if components is not None else None,
            "hlines": [{"label": k, "y": _number(v)} for k, v in (hlines or {}).items()],
            "vlines": [{"label": k, "x": _number(v)} for k, v in (vlines or {}).items()]}


def _width(c: dict) -> int | None:
    first = c["y"][0]
    return len(first) if isinstance(first, list) else None


def against_expected(name: str, title: str, x_label: str, y_label: str, got: Any, expected: Any, *,
                     start: int = 0, expected_label: str = "expected (the reference's run)",
                     components: Sequence[str] | None = None) -> dict:
    """The common plot: the student's run against the expected one, point by point from ``start``."""
    def one(label: str, role: str, values: Any) -> dict:
        ys = numbers(values)
        return curve(label, role, ys, range(start, start + len(ys)))

    return plot(name, title, x_label, y_label, [one("your run", "got", got), one(expected_label, "expected", expected)],
                components=components)


#: a list of numbers that an indented JSON text spreads over lines (a newline before its end: in JSON a
#: newline is never inside a string, so the brackets are the structure's, not a student's text)
_SPREAD_NUMBERS = re.compile(r"\[(?=[^\]]*\n)[-+.\deEnul,\s]*\]")


def compact_json(text: str) -> str:
    """An indented JSON text with each list of numbers on one line: a report's series stay a
    fraction of its size (one number a line would be four times as large)."""
    def one_line(match: re.Match) -> str:
        return "[" + ", ".join(item.strip() for item in match.group(0)[1:-1].split(",")) + "]"

    return _SPREAD_NUMBERS.sub(one_line, text)
