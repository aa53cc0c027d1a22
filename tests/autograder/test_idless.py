"""Notebooks saved by other tools are graded as written, without running their experiments or test cells.

Google Colab downloads nbformat 4.0 without cell ids (and, a notebook copied
into Colab cell by cell, without nbgrader metadata); VS Code saves 4.4
without ids; JupyterLab 4 saves 4.5 with the release's ids. Each copy here is
the instructor's answers as a student hands them in
(:func:`scripts.resave_notebooks.student_copy`: experiments moved and their
hyperparameters changed, solution cells swapped), outputs and widget state
included. Timing is not asserted: which cells were chosen, and what grading
ran (an experiment or test cell that ran would leave a note), is.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import nbformat
import pytest

from autograder import nbfile
from autograder.checks.registry import graded_functions
from autograder.cli import main
from autograder.notebooks import EXPERIMENT, RUN, TEST, classify_cells, source_notebook
from autograder.submission import load_notebook
from scripts.resave_notebooks import as_colab, as_jupyterlab, as_vscode, save, student_copy
from tests.course import POLICY_GRADIENT, PYTORCH_VFA

SAVERS = {"jupyterlab": as_jupyterlab, "colab": as_colab, "vscode": as_vscode}
NOTEBOOKS = [(a, name) for a in (PYTORCH_VFA, POLICY_GRADIENT) for name in a.notebooks]
#: appended to every experiment and test cell of the graded copies: a cell that runs leaves a note
RAN = 'raise RuntimeError("an experiment or test cell ran while grading")'


def answers(assignment, name: str, mark: bool = False) -> nbformat.NotebookNode:
    notebook = nbformat.read(assignment.source_dir / name, as_version=4)
    if mark:
        for cell in notebook.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and (cell.id.startswith("experiment-")
                                             or meta.get("grade") and not meta.get("solution")):
                cell.source += "\n" + RAN
    return student_copy(notebook)


def saved_cells(saver: str, assignment, name: str) -> list:
    """The cells as a reader gets them (sources as text: the file holds lists of lines)."""
    return nbformat.reads(json.dumps(SAVERS[saver](answers(assignment, name))), as_version=nbformat.NO_CONVERT).cells


def choices(cells: list, assignment, name: str, **kwargs) -> list:
    source = source_notebook(assignment.source_dir / name, assignment.release_dir / name)
    return classify_cells(cells, source, graded_functions(assignment, name), **kwargs)


def roles_by_text(cells: list, found: list) -> dict[str, tuple[str, bool]]:
    return {cells[c.index].source: (c.role, c.skipped) for c in found}


@pytest.mark.parametrize("saver", ["colab", "vscode"])
@pytest.mark.parametrize("assignment,name", NOTEBOOKS, ids=[n for _, n in NOTEBOOKS])
def test_an_idless_save_is_told_apart_as_the_save_with_ids(saver, assignment, name):
    lab = saved_cells("jupyterlab", assignment, name)
    other = saved_cells(saver, assignment, name)
    assert all("id" not in cell for cell in other)
    with_ids, without = choices(lab, assignment, name), choices(other, assignment, name)
    assert roles_by_text(other, without) == roles_by_text(lab, with_ids)
    assert [c.source_index for c in without] == [c.source_index for c in with_ids]
    assert {c.matched_by for c in without} <= {"content", "grade_id"}
    if saver == "colab":  # no nbgrader metadata left: content alone
        assert {c.matched_by for c in without} == {"content"}
    # every experiment and test cell is skipped, and nothing else
    source = source_notebook(assignment.source_dir / name)
    skipped_roles = sorted(c.role for c in without if c.skipped)
    assert skipped_roles == sorted(c.role for c in source.cells if c.role in (EXPERIMENT, TEST))
    assert all(c.role == RUN for c in without if not c.skipped)


@pytest.mark.parametrize("assignment,name", NOTEBOOKS, ids=[n for _, n in NOTEBOOKS])
def test_shuffled_cells_are_matched_by_content_not_position(assignment, name):
    """Every cell edited (so that none matches exactly: the hidden-test cells are alike), then
    shuffled: each still matches the source cell it came from, not the one at its place."""
    cells = saved_cells("colab", assignment, name)
    for cell in cells:
        cell.source += "\n# edited"

    def matched(order: list) -> dict[str, int | None]:
        return {order[c.index].source: c.source_index for c in choices(order, assignment, name)}

    expected = matched(cells)
    assert {c.matched_by for c in choices(cells, assignment, name)} == {"content"}
    shuffled = list(cells)
    random.Random(7).shuffle(shuffled)
    assert matched(shuffled) == expected


def test_identical_cells_are_told_apart_by_position():
    """Two source cells with the same text but different roles: the nearer one wins."""
    source_path = PYTORCH_VFA.source_dir / "pytorch_basics.ipynb"
    source = source_notebook(source_path)
    first, last = source.cells[0], source.cells[-1]
    twin = type(first)(first.index, None, None, EXPERIMENT, last.position, first.texts)
    both = type(source)((first, twin), frozenset(), by_text={first.texts[0]: (first, twin)})
    text = nbformat.read(source_path, as_version=4).cells[first.index].source
    cells = [nbformat.v4.new_code_cell(text) for _ in range(3)]
    for cell in cells:
        del cell["id"]
    found = classify_cells(cells, both, skipped_roles=(EXPERIMENT,))
    assert [c.role for c in found] == [RUN, RUN, EXPERIMENT]  # positions 0, 0.5 (a tie: the first), 1


def test_under_nbgrader_only_experiments_are_skipped():
    cells = saved_cells("colab", PYTORCH_VFA, "value_approximation.ipynb")
    found = choices(cells, PYTORCH_VFA, "value_approximation.ipynb", skipped_roles=(EXPERIMENT,))
    assert {c.role for c in found if c.skipped} == {EXPERIMENT}
    assert all(not c.skipped for c in found if c.role == TEST)


def _experiment_and_solution(cells: list) -> tuple[int, int]:
    experiment = next(i for i, c in enumerate(cells) if c.cell_type == "code"
                      and c.source.startswith("# Experiment"))
    solution = next(i for i, c in enumerate(cells) if c.cell_type == "code"
                    and c.source.startswith("def td_target("))
    return experiment, solution


def test_an_experiment_like_cell_that_defines_a_graded_function_runs():
    cells = saved_cells("colab", PYTORCH_VFA, "value_approximation.ipynb")
    experiment, solution = _experiment_and_solution(cells)
    cells[experiment].source += "\n\n" + cells[solution].source  # the answer moved into the experiment
    cells[solution].source = "# moved below"
    found = {c.index: c for c in choices(cells, PYTORCH_VFA, "value_approximation.ipynb")}
    assert found[experiment].role == EXPERIMENT
    assert not found[experiment].skipped and found[experiment].kept_for == {"td_target"}


def test_an_experiment_like_cell_that_binds_a_global_graded_code_reads_runs():
    cells = saved_cells("colab", PYTORCH_VFA, "value_approximation.ipynb")
    experiment, solution = _experiment_and_solution(cells)
    cells[experiment].source += "\nDISCOUNT_SCALE = 1.0\n"
    body = cells[solution].source.replace("def td_target(", "def _td_target(")
    cells[solution].source = body + "\n\ndef td_target(*args):\n    return _td_target(*args) * DISCOUNT_SCALE\n"
    found = {c.index: c for c in choices(cells, PYTORCH_VFA, "value_approximation.ipynb")}
    assert not found[experiment].skipped and found[experiment].kept_for == {"DISCOUNT_SCALE"}
    # the same cell without that line is an experiment again, and skipped
    cells[experiment].source = cells[experiment].source.replace("DISCOUNT_SCALE = 1.0", "")
    found = {c.index: c for c in choices(cells, PYTORCH_VFA, "value_approximation.ipynb")}
    assert found[experiment].skipped and found[experiment].kept_for == frozenset()


@pytest.mark.parametrize("saver", ["jupyterlab", "vscode"])
def test_a_graded_definition_written_into_a_named_test_cell_is_never_run(saver):
    """nbgrader puts a locked test cell's source back before grading: a definition there is not the student's."""
    cells = saved_cells(saver, PYTORCH_VFA, "value_approximation.ipynb")
    test = next(i for i, c in enumerate(cells) if c.get("cell_type") == "code"
                and c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution"))
    cells[test].source = "def td_target(reward, next_value, terminated, gamma):\n    return reward\n"
    found = {c.index: c for c in choices(cells, PYTORCH_VFA, "value_approximation.ipynb")}
    assert found[test].role == TEST and found[test].matched_by in ("grade_id", "id")
    assert found[test].skipped and found[test].kept_for == frozenset()


def test_a_test_cell_whose_import_repeats_a_run_cells_is_still_skipped():
    cells = saved_cells("vscode", PYTORCH_VFA, "pytorch_basics.ipynb")
    test = next(i for i, c in enumerate(cells) if "\nm = torch.tensor(" in c.source)  # column's visible tests
    cells[test].source = "import torch\n" + cells[test].source
    found = {c.index: c for c in choices(cells, PYTORCH_VFA, "pytorch_basics.ipynb")}
    assert found[test].role == TEST and found[test].skipped


@pytest.mark.parametrize("saver", list(SAVERS))
def test_a_saved_notebook_loads_without_its_outputs_and_widget_state(saver, tmp_path):
    path = save(SAVERS[saver](answers(PYTORCH_VFA, "value_approximation.ipynb")), tmp_path / "v.ipynb")
    raw = json.loads(path.read_text())
    assert raw["metadata"]["widgets"] and any(c.get("outputs") for c in raw["cells"])
    read = nbfile.read_notebook(path, tmp_path)
    assert read.notebook.metadata["widgets"] == {}
    assert all(c.get("outputs", []) == [] for c in read.notebook.cells)
    loaded = load_notebook("value_approximation.ipynb", path, PYTORCH_VFA)
    assert loaded.error is None and loaded.notes == []
    sources = [cell["source"] for cell in loaded.cells]
    assert not any(s.startswith("# Experiment") for s in sources)
    assert any(s.startswith("def td_target(") for s in sources)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    """One batch: the same marked answers of pytorch_vfa, saved three ways."""
    import contextlib
    import io

    tree = tmp_path_factory.mktemp("idless") / "submitted"
    for saver, save_as in SAVERS.items():
        for name in PYTORCH_VFA.notebooks:
            save(save_as(answers(PYTORCH_VFA, name, mark=True)), tree / saver / "pytorch_vfa" / name)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["grade", str(tree), "--assignment", "pytorch_vfa", "--format", "json", "--no-cache",
                     "--jobs", "1", "--timeout", "30"])
    assert code == 0, err.getvalue()
    return {s["student"]: s for s in json.loads(out.getvalue())["submissions"]}


@pytest.mark.parametrize("saver", list(SAVERS))
def test_every_save_gets_full_marks_without_running_experiments_or_tests(graded, saver):
    submission = graded[saver]
    assert submission["status"] == "graded"
    assert submission["score"] == submission["max_score"] == graded["jupyterlab"]["score"]
    assert {c["status"] for c in submission["checks"]} == {"passed"}
    # a cell that ran RAN would have left "cell N raised RuntimeError: ..."; the marks themselves are
    # edits of locked test cells, which the copy with ids (and their grade_ids) is told of
    assert not [note for note in submission["notes"] if "RuntimeError" in note or "raised" in note]
    assert all("edited the locked test cell" in note for note in submission["notes"])
