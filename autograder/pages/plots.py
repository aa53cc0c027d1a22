"""Plots of what grading measured (``CheckResult.series``) and of a class's scores, as PNG bytes.

matplotlib's object API on its Agg canvas: no pyplot, no global backend, no
display; a figure is drawn, saved and dropped. Imported only when pages are
written, after grading.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

SIZE, DPI = (7.2, 3.6), 100  #: a plot is 720 × 360 pixels
STYLE = {"got": {"linestyle": "-", "linewidth": 1.6, "marker": "o"},
         "expected": {"linestyle": "--", "linewidth": 1.4, "marker": "s"},
         "context": {"linestyle": ":", "linewidth": 1.4, "marker": None, "color": "0.35"}}
ROLE_WORDS = {"got": "your run", "expected": "expected", "context": ""}
MARKERS_UP_TO = 30  #: points of a curve drawn with markers (more would blur into a thick line)
#: a curve this many times larger than the expected one squashes it: the y axis turns symmetric-logarithmic
SYMLOG_RATIO = 1e3


def data_uri(png: bytes) -> str:
    """An image embedded in a page: no file beside it, nothing fetched."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _save(figure: Figure) -> bytes:
    out = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _values(ys: Sequence) -> list[float]:
    return [math.nan if y is None else float(y) for y in ys]


def series_png(plot: dict) -> bytes:
    """One entry of ``CheckResult.series`` (see :mod:`autograder.series`) drawn as a PNG."""
    figure = Figure(figsize=SIZE, layout="constrained")
    ax = figure.add_subplot()
    components = plot.get("components")
    for curve in plot["curves"]:
        style = dict(STYLE[curve["role"]])
        if len(curve["x"]) > MARKERS_UP_TO:
            style["marker"] = None
        style.setdefault("markersize", 4)
        if components:
            rows = curve["y"]
            for j, component in enumerate(components):
                ax.plot(curve["x"], _values([row[j] if row is not None else None for row in rows]),
                        **{**style, "color": f"C{j % 10}"})
        else:
            ax.plot(curve["x"], _values(curve["y"]), label=curve["label"], **style)
    for i, line in enumerate(plot.get("hlines", [])):
        ax.axhline(line["y"], color=f"C{(i + 3) % 10}", linestyle="-.", linewidth=1, label=line["label"])
    for i, line in enumerate(plot.get("vlines", [])):
        ax.axvline(line["x"], color=f"C{(i + 3) % 10}", linestyle="-.", linewidth=1.2, label=line["label"])
    _scale(ax, plot)
    if all(isinstance(x, int) for curve in plot["curves"] for x in curve["x"]):  # steps, episodes, states
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title(plot["title"], fontsize=10)
    ax.set_xlabel(plot["x_label"])
    ax.set_ylabel(plot["y_label"])
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if components:  # colours name the components, line styles the runs
        handles += [Line2D([], [], color=f"C{j % 10}") for j in range(len(components))]
        labels += list(components)
        handles += [Line2D([], [], color="black", linestyle=STYLE[c["role"]]["linestyle"]) for c in plot["curves"]]
        labels += [c["label"] for c in plot["curves"]]
    ax.legend(handles, labels, fontsize=8, ncols=2 if len(labels) > 5 else 1, loc="best")
    return _save(figure)


def _scale(ax, plot: dict) -> None:
    """A symmetric-log y axis when one curve dwarfs the expected one (a diverging run), so both stay visible."""
    def biggest(role: str) -> float:
        found = [abs(v) for c in plot["curves"] if c["role"] == role for y in c["y"]
                 for v in (y if isinstance(y, list) else [y]) if v is not None]
        return max(found, default=0.0)

    expected, got = biggest("expected"), biggest("got")
    if expected > 0 and got > SYMLOG_RATIO * expected:
        ax.set_yscale("symlog", linthresh=expected)


def histograms_png(panels: Sequence[tuple[str, float, Sequence[float]]], columns: int = 4) -> bytes:
    """Score distributions, one panel per (title, maximum, scores)."""
    rows = max(1, math.ceil(len(panels) / columns))
    figure = Figure(figsize=(2.6 * columns, 2.2 * rows), layout="constrained")
    for i, (title, maximum, scores) in enumerate(panels):
        ax = figure.add_subplot(rows, columns, i + 1)
        top = maximum if maximum > 0 else max(scores, default=1.0) or 1.0
        ax.hist(scores, bins=10, range=(0, top), color="C0", edgecolor="white")
        ax.set_title(f"{title} (of {maximum:g})", fontsize=9)
        ax.set_xlabel("points", fontsize=8)
        ax.set_ylabel("students", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.yaxis.get_major_locator().set_params(integer=True)
    return _save(figure)
