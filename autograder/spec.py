"""The assignment as the public spec defines it: notebooks, parts, groups, points.

Everything that names a notebook, a group or a point total reads it from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ASSIGNMENT = "pytorch_vfa"
COURSE_ROOT = Path(__file__).resolve().parents[1]  #: the course directory: source/, release/, solutions/


@dataclass(frozen=True)
class Part:
    """One graded part of the assignment."""

    number: int
    group: str  #: the score group in reports
    title: str
    notebook: str  #: file name of the notebook that holds it
    points: float


PARTS = (
    Part(1, "tensors", "tensors", "pytorch_basics.ipynb", 15.0),
    Part(2, "networks", "networks", "pytorch_basics.ipynb", 15.0),
    Part(3, "autograd", "autograd and optimisation", "pytorch_basics.ipynb", 10.0),
    Part(4, "td0", "semi-gradient TD(0) prediction", "value_approximation.ipynb", 20.0),
    Part(5, "q", "action values", "value_approximation.ipynb", 20.0),
    Part(6, "baird", "Baird's counterexample", "value_approximation.ipynb", 20.0),
)
GROUPS = {part.group: part for part in PARTS}
NOTEBOOKS = tuple(dict.fromkeys(part.notebook for part in PARTS))
MAX_SCORE = sum(part.points for part in PARTS)
