"""A hidden test cell in a real kernel: what nbgrader reads from it (determine_grade).

Full marks are the cell's result; a partial score too, even where the notebook
told IPython to show no results; no points is an error after the feedback,
with a one-line traceback.
"""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook
from nbgrader.utils import determine_grade

from tests.notebooks.nbgrader_course import source_notebook

CELL_TIMEOUT_S = 120
# a residual-gradient TD(0) update (tests/fixtures/submissions/pytorch_vfa/target-not-detached.py):
# partial credit, as its terminal and device cases are right
PARTIAL_UPDATE = '''\
def semi_gradient_td0_update(v, optimizer, state, reward, next_state, terminated, gamma):
    target = td_target(reward, v(next_state).squeeze(-1), terminated, gamma)
    delta = target - v(state).squeeze(-1)
    optimizer.zero_grad()
    (0.5 * (delta ** 2).mean()).backward()
    optimizer.step()
    return delta.detach()
'''
BROKEN_TARGET = "def td_target(reward, next_value, terminated, gamma):\n    raise KeyError('oops')\n"


def hidden_test(check: str, points: float):
    cell = new_code_cell(f'from autograder.in_kernel import run_checks\nrun_checks("{check}", globals())')
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": check, "locked": True, "points": points,
                                 "schema_version": 3, "solution": False}
    return cell


def run(student_code: str) -> dict[str, nbformat.NotebookNode]:
    """The value_approximation setup, the student's code, then three hidden test cells."""
    cells = {cell.id: cell for cell in source_notebook("value_approximation").cells}
    notebook = new_notebook(cells=[new_code_cell(cells["setup"].source), new_code_cell(student_code),
                                   hidden_test("td0.target", 4), hidden_test("td0.update", 10),
                                   hidden_test("tensors.column", 1)])
    NotebookClient(notebook, timeout=CELL_TIMEOUT_S, startup_timeout=CELL_TIMEOUT_S, allow_errors=True,
                   kernel_name="python3").execute()
    return {cell.metadata["nbgrader"]["grade_id"]: cell for cell in notebook.cells[2:]}


@pytest.mark.parametrize("hide_results", [False, True])
def test_full_partial_and_no_points_as_nbgrader_reads_them(hide_results):
    target = cells_of_source("td-target-solution")
    hide = "get_ipython().ast_node_interactivity = 'none'\n" if hide_results else ""
    graded = run(target + "\n" + PARTIAL_UPDATE + hide)
    assert determine_grade(graded["td0.target"]) == (4.0, 4.0)
    assert determine_grade(graded["td0.update"]) == (2.86, 10.0)  # shown even when results are hidden
    update = graded["td0.update"]
    assert [o.output_type for o in update.outputs] == ["stream", "execute_result"]
    assert update.outputs[0].text.startswith("td0.update (2.86/10 points): partial")
    assert "Likely mistake [target-not-detached]" in update.outputs[0].text
    column = graded["tensors.column"]  # not defined in this notebook: 0 points
    assert determine_grade(column) == (0, 1.0)
    assert [o.output_type for o in column.outputs] == ["stream", "error"]
    assert "tensors.column (0/1 points)" in column.outputs[0].text
    assert column.outputs[1].ename == "NoPoints"
    assert column.outputs[1].traceback == ["NoPoints: tensors.column: 0/1 points (the feedback is above)"]


def test_an_answer_that_raises_scores_zero_with_feedback():
    graded = run(BROKEN_TARGET)
    cell = graded["td0.target"]
    assert determine_grade(cell) == (0, 4.0)
    assert "KeyError" in cell.outputs[0].text and cell.outputs[-1].ename == "NoPoints"


def cells_of_source(cell_id: str) -> str:
    return next(cell.source for cell in source_notebook("value_approximation").cells if cell.id == cell_id)
