"""What the grader reads from an assignment's source notebooks.

Experiment cells (training runs, plots) are never run when grading. Which
cells they are is decided here, from the instructor's SOURCE notebook, never
from the submission: a student can edit a cell's tags and metadata, but not
the source notebook. A submitted cell is an experiment when its cell id is in
the set this module computes from the source.

The rule: an experiment cell is a code cell whose id starts with
``experiment-`` (``experiment-training``, ``experiment-figure``, ...). The
autograder's nbgrader preprocessor
(``autograder.nbgrader_hooks``) and the standalone grader both call
:func:`experiment_cell_ids`. A cell that the source grades (see
:func:`graded_cell_ids`) is never skipped, whatever id a student gives it.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

EXPERIMENT_ID_PREFIX = "experiment-"

_GRADED_EXPERIMENT = (
    "{path}: cell {cell_id!r} is named as an experiment (its id starts with "
    "{prefix!r}) but is an nbgrader {role} cell; experiments are never run when "
    "grading, so rename the cell or take it out of the grading"
)


def _nbgrader_metadata(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def experiment_cell_ids(source_notebook: str | Path) -> frozenset[str]:
    """The ids of the experiment cells of a source notebook.

    Args:
        source_notebook: path of an instructor notebook,
            ``source/<assignment>/<notebook>.ipynb``.

    Returns:
        The ids of its code cells whose id starts with ``experiment-``.

    Raises:
        FileNotFoundError: the notebook does not exist.
        ValueError: an experiment cell is also an nbgrader solution or grade
            cell, which would silently drop graded work.
    """
    path = Path(source_notebook)
    ids = set()
    for cell in nbformat.read(path, as_version=nbformat.NO_CONVERT).cells:
        cell_id = cell.get("id", "")
        if cell.cell_type != "code" or not cell_id.startswith(EXPERIMENT_ID_PREFIX):
            continue
        for role in ("solution", "grade"):
            if _nbgrader_metadata(cell).get(role):
                raise ValueError(_GRADED_EXPERIMENT.format(
                    path=path, cell_id=cell_id, prefix=EXPERIMENT_ID_PREFIX, role=role))
        ids.add(cell_id)
    return frozenset(ids)


def graded_cell_ids(source_notebook: str | Path) -> frozenset[str]:
    """The nbgrader ``grade_id`` of every cell that a source notebook grades
    (nbgrader test cells with points)."""
    cells = nbformat.read(Path(source_notebook), as_version=nbformat.NO_CONVERT).cells
    return frozenset(_nbgrader_metadata(cell)["grade_id"] for cell in cells
                     if _nbgrader_metadata(cell).get("grade"))
