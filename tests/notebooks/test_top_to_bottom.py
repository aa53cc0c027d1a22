"""Every instructor notebook runs top to bottom in a Jupyter kernel, experiments and
hidden tests included, without an error, every hidden test cell scores its
points, and every visible test cell's self-check passes. (How long that takes
is measured, not asserted: `make notebooks` prints it; the target is under 60 s
a notebook on CPU.)"""

from __future__ import annotations

import time

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrader.utils import determine_grade

from tests.notebooks.nbgrader_course import ASSIGNMENT_NOTEBOOKS, REPO

CELL_TIMEOUT_S = 300


@pytest.mark.parametrize("assignment, name", ASSIGNMENT_NOTEBOOKS, ids=[f"{a}/{n}" for a, n in ASSIGNMENT_NOTEBOOKS])
def test_the_instructor_notebook_runs_top_to_bottom(assignment, name):
    folder = REPO / "source" / assignment
    notebook = nbformat.read(folder / f"{name}.ipynb", as_version=4)
    started = time.perf_counter()
    NotebookClient(notebook, timeout=CELL_TIMEOUT_S, startup_timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()  # raises on the first error
    print(f"\n{assignment}/{name}.ipynb: top to bottom in {time.perf_counter() - started:.1f} s")
    graded = [cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("points")]
    assert graded
    for cell in graded:
        score, points = determine_grade(cell)
        assert score == points, (cell.id, [o.get("text", "") for o in cell.outputs])
    for cell in notebook.cells:  # the visible tests' self-checks, live in this kernel, pass the instructor's answers
        if "from selfcheck import check" in cell.source:
            printed = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
            assert printed.count("(self-check on ") == cell.source.count('check("') == \
                printed.count("; hidden tests grade it): passed\n"), (cell.id, printed)
