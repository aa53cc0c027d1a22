"""``nbgrader autograde`` on whole submissions, scores read from nbgrader's gradebook.

One course, one autograde run over several students (a module fixture), each
student a submission built to show one behaviour:

- ``instructor``: the source notebooks as they are: full marks;
- ``untouched``: the release as a student receives it: zero, and no crash;
- ``noisy``: correct answers that also write warnings to stderr: full marks;
- ``sabotaged-experiments``: every experiment cell kills the kernel if run, and
  its tags and metadata were changed: full marks (the cells were skipped);
- ``renamed-test``: a wrong ``column``, whose hidden test cell was given an
  experiment's cell id: that test still runs and scores zero.

A second course autogrades ``noisy`` with nbgrader's stderr rule switched back
on, to show that the configuration is what saves those points.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.nbgrader_hooks import SKIPPED_SOURCE
from tests.notebooks.nbgrader_course import (
    ASSIGNMENT,
    AUTOGRADE_TIMEOUT_S,
    COURSE_ID,
    NOTEBOOKS,
    REPO,
    make_course,
    read_notebook,
    run_nbgrader,
)

FULL_MARKS = 100.0
# The hidden tests call a student's function with sys.stderr redirected, so noise
# reaches the test cell's output only through a stream bound earlier: a logging
# handler made when the cell ran (as logging setups do) holds the kernel's stderr.
NOISE_SETUP = """\
import logging, sys, warnings
_noise = logging.getLogger("{name}-noise")
_noise.addHandler(logging.StreamHandler(sys.stderr))
_noise.propagate = False
"""
NOISE = """\
    warnings.simplefilter("always")
    warnings.warn("{name}: a warning, as PyTorch prints them", UserWarning)
    print("{name}: a line on stderr", file=sys.stderr)
    _noise.warning("{name}: a log record on the kernel's stderr")
"""
NOISY_CELLS = {"pytorch_basics": ("column-solution", "column"),
               "value_approximation": ("td-target-solution", "td_target")}
SABOTAGE = """\
import os, pathlib
pathlib.Path({marker!r}).touch()
os._exit(1)  # kills the kernel: every test after this cell would fail
"""


def submit(course: Path, student: str, notebooks: dict[str, nbformat.NotebookNode]) -> None:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    for name, notebook in notebooks.items():
        nbformat.write(notebook, folder / f"{name}.ipynb")


def notebooks_from(folder: str) -> dict[str, nbformat.NotebookNode]:
    return {name: read_notebook(REPO / folder / ASSIGNMENT / f"{name}.ipynb") for name in NOTEBOOKS}


def noisy() -> dict[str, nbformat.NotebookNode]:
    """The source, with two correct answers that write to stderr whenever they run."""
    notebooks = notebooks_from("source")
    for name, (cell_id, function) in NOISY_CELLS.items():
        cell = next(c for c in notebooks[name].cells if c.id == cell_id)
        marker = "### BEGIN SOLUTION\n"
        assert marker in cell.source
        cell.source = NOISE_SETUP.format(name=function) + cell.source.replace(
            marker, marker + NOISE.format(name=function))
    return notebooks


def sabotaged_experiments(marker_folder: Path) -> dict[str, nbformat.NotebookNode]:
    notebooks = notebooks_from("source")
    for notebook in notebooks.values():
        for cell in notebook.cells:
            if cell.id.startswith("experiment-"):
                cell.source = SABOTAGE.format(marker=str(marker_folder / cell.id))
                cell.metadata = {"tags": ["not-an-experiment"], "editable": True, "experiment": False}
    return notebooks


def renamed_test() -> dict[str, nbformat.NotebookNode]:
    """A wrong `column` whose hidden test cell took the id of an experiment cell."""
    notebooks = notebooks_from("source")
    cells = {cell.id: cell for cell in notebooks["pytorch_basics"].cells}
    cells["column-solution"].source = cells["column-solution"].source.replace(
        "return matrix[:, j]", "return matrix[j]  # a row, not a column")
    cells["experiment-classifier-training"].id = "classifier-training"
    cells["column-hidden-tests"].id = "experiment-classifier-training"
    cells["column-hidden-tests"].metadata["tags"] = ["experiment"]
    return notebooks


def scores(course: Path, student: str) -> tuple[float, dict[str, float]]:
    """The submission's total and the score of every graded cell, by grade id."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID) as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, student)
        cells = {grade.name: grade.score for notebook in submission.notebooks
                 for grade in notebook.grades}
        return submission.score, cells


def autograded(course: Path, student: str, name: str) -> nbformat.NotebookNode:
    return read_notebook(course / "autograded" / student / ASSIGNMENT / f"{name}.ipynb")


@pytest.fixture(scope="module")
def graded(nbgrader_course: Path, tmp_path_factory) -> tuple[Path, Path]:
    """A course where every student above was autograded; and the sabotage's marker folder."""
    course = tmp_path_factory.mktemp("autograde") / "root"
    shutil.copytree(nbgrader_course, course)
    markers = tmp_path_factory.mktemp("markers")
    submit(course, "instructor", notebooks_from("source"))
    submit(course, "untouched", notebooks_from("release"))
    submit(course, "noisy", noisy())
    submit(course, "sabotaged-experiments", sabotaged_experiments(markers))
    submit(course, "renamed-test", renamed_test())
    run_nbgrader(course, "autograde", ASSIGNMENT, timeout=AUTOGRADE_TIMEOUT_S)
    return course, markers


def assert_full_marks(course: Path, student: str) -> None:
    total, cells = scores(course, student)
    lost = {grade_id: score for grade_id, score in cells.items() if score == 0}
    assert total == FULL_MARKS, f"{student} lost points in {lost}"


def test_the_instructor_notebooks_get_full_marks(graded):
    course, _ = graded
    assert_full_marks(course, "instructor")


def test_the_untouched_release_gets_zero_without_crashing(graded):
    course, _ = graded
    total, cells = scores(course, "untouched")
    assert total == 0.0 and len(cells) > 20 and not any(cells.values())
    for name in NOTEBOOKS:  # graded to the end: every hidden test ran and failed
        notebook = autograded(course, "untouched", name)
        last_test = [cell for cell in notebook.cells if cell.id.endswith("hidden-tests")][-1]
        assert any(output.output_type == "error" for output in last_test.outputs)


def test_correct_answers_that_print_to_stderr_keep_their_points(graded):
    course, _ = graded
    assert_full_marks(course, "noisy")  # the control test below shows the noise was there


def test_without_the_config_stderr_zeroes_a_correct_answer(nbgrader_course, tmp_path):
    """The control experiment: nbgrader's own rule, IgnorePattern switched off."""
    course = tmp_path / "root"
    shutil.copytree(nbgrader_course, course)
    submit(course, "noisy", noisy())
    run_nbgrader(course, "autograde", ASSIGNMENT, "--notebook=pytorch_basics",
                 "--IgnorePattern.enabled=False", timeout=AUTOGRADE_TIMEOUT_S)
    _, cells = scores(course, "noisy")
    assert cells["column-hidden-tests"] == 0.0
    assert cells["tensor-from-data-hidden-tests"] == 3.0


def test_experiment_cells_are_skipped_whatever_their_tags_and_metadata(graded):
    course, markers = graded
    assert_full_marks(course, "sabotaged-experiments")
    assert not list(markers.iterdir()), "an experiment cell ran"
    for name in NOTEBOOKS:
        experiments = [cell for cell in autograded(course, "sabotaged-experiments", name).cells
                       if cell.id.startswith("experiment-")]
        assert experiments and all(cell.source == SKIPPED_SOURCE for cell in experiments)


def test_a_test_cell_renamed_as_an_experiment_still_runs(graded):
    course, _ = graded
    total, cells = scores(course, "renamed-test")
    assert cells["column-hidden-tests"] == 0.0
    assert total == FULL_MARKS - 1.0
    cells_by_id = {cell.id: cell for cell in autograded(course, "renamed-test", "pytorch_basics").cells}
    assert cells_by_id["experiment-classifier-training"].source != SKIPPED_SOURCE
    # the experiment, given another id, is still told by its content: skipped (autograder/notebooks.py)
    assert cells_by_id["classifier-training"].source == SKIPPED_SOURCE
