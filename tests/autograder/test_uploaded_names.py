"""Notebooks uploaded under the names a browser or a file manager gives a second copy."""

from __future__ import annotations

import shutil

import pytest

from autograder.cli import main
from autograder.course import assignments_of, uploaded_as
from autograder.submission import find_submissions, load_notebook, one_submission
from tests.autograder.conftest import TENSORS_OK, grade_json, write_notebook
from tests.course import COURSE, PYTORCH_VFA

NOTEBOOKS = PYTORCH_VFA.notebooks  # pytorch_basics.ipynb, value_approximation.ipynb


@pytest.mark.parametrize("uploaded", ["value_approximation.ipynb", "value_approximation (1).ipynb",
                                      "value_approximation(2).ipynb", "value_approximation 2.ipynb",
                                      "value_approximation - Copy.ipynb", "value_approximation - Copy (3).ipynb",
                                      "value_approximation copy 2.ipynb", "Value_Approximation (1).IPYNB"])
def test_a_copys_name_is_the_notebooks(uploaded):
    assert uploaded_as(uploaded, NOTEBOOKS) == "value_approximation.ipynb"


@pytest.mark.parametrize("uploaded", ["value_approximation (1).py", "value_approximation_v2.ipynb",
                                      "approximation (1).ipynb", "value_approximation (1) notes.ipynb", "(1).ipynb"])
def test_other_names_are_not(uploaded):
    assert uploaded_as(uploaded, NOTEBOOKS) is None


def test_a_folder_of_copies_is_a_submission_of_the_latest(tmp_path):
    folder = tmp_path / "submission"
    for name in ("value_approximation (1).ipynb", "value_approximation (10).ipynb", "value_approximation (2).ipynb",
                 "pytorch_basics (1).ipynb", "pytorch_basics.ipynb", "notes.txt"):
        write_notebook(folder / name, ["x = 1"])
    (submission,) = find_submissions([folder], PYTORCH_VFA)
    assert submission.notebooks == {"pytorch_basics.ipynb": folder / "pytorch_basics.ipynb",  # its own name wins
                                    "value_approximation.ipynb": folder / "value_approximation (10).ipynb"}
    assert assignments_of(folder, COURSE) == {"pytorch_vfa"}
    assert one_submission(folder / "value_approximation (2).ipynb", PYTORCH_VFA).notebooks == {
        "value_approximation.ipynb": folder / "value_approximation (2).ipynb"}
    loaded = load_notebook("value_approximation.ipynb", folder / "value_approximation (10).ipynb", PYTORCH_VFA)
    assert "value_approximation (10).ipynb was graded as value_approximation.ipynb." in loaded.notes
    assert load_notebook("pytorch_basics.ipynb", folder / "pytorch_basics.ipynb", PYTORCH_VFA).notes == []


def test_grade_takes_a_browsers_copy_for_the_notebook(capsys, tmp_path):
    folder = tmp_path / "submission"
    write_notebook(folder / "pytorch_basics (1).ipynb", [TENSORS_OK])
    shutil.copy(PYTORCH_VFA.release_dir / "value_approximation.ipynb", folder / "value_approximation (1).ipynb")
    code, report, _ = grade_json(capsys, str(folder), "--jobs", "1", "--assignment", "pytorch_vfa")
    assert code == 0
    (student,) = report["submissions"]
    assert student["groups"]["tensors"] == 15.0
    assert "pytorch_basics (1).ipynb was graded as pytorch_basics.ipynb." in student["notes"]
    assert not any("was not found" in note for note in student["notes"])
    assert main(["grade", str(folder / "pytorch_basics (1).ipynb"), "--format", "json", "--jobs", "1"]) == 0
