"""Bad input gets a clear message, and the rest of the submission is graded.

One batch of broken submissions is graded once; each test reads its student.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from tests.autograder.conftest import TENSORS_OK, checks_by_name, grade_json, write_notebook

BASICS, VALUES = "pytorch_basics.ipynb", "value_approximation.ipynb"
TENSOR_CHECKS = ["tensors.from_data", "tensors.column", "tensors.columns_concatenated", "tensors.columns_stacked",
                 "tensors.move_first_axis_last", "tensors.drop_singleton_axes", "tensors.add_axis",
                 "tensors.flat_view", "tensors.select_device"]


def build_batch(root: Path) -> Path:
    sub = root / "submitted"

    def student(name: str) -> Path:
        return sub / name / "pytorch_vfa"

    write_notebook(student("good") / BASICS, [TENSORS_OK])
    (student("not_json") / BASICS).parent.mkdir(parents=True)
    (student("not_json") / BASICS).write_text("{ this is not json")
    write_notebook(student("not_json") / VALUES, ["x = 1"])
    (student("empty") / BASICS).parent.mkdir(parents=True)
    (student("empty") / BASICS).write_text("")
    v3 = nbformat.v3.new_notebook(worksheets=[nbformat.v3.new_worksheet(cells=[nbformat.v3.new_code_cell(TENSORS_OK)])])
    (student("nbformat3") / BASICS).parent.mkdir(parents=True)
    (student("nbformat3") / BASICS).write_text(nbformat.writes(v3, version=3))
    write_notebook(student("renamed") / BASICS, [TENSORS_OK.replace("def flat_view(", "def flat_view_mine(")])
    write_notebook(student("syntax_error") / BASICS, [TENSORS_OK, "def broken(:\n    pass",
                                                       "def add_axis(x, dim):\n    return x.unsqueeze(dim) * 0  # later, wrong"])
    write_notebook(student("import_error") / BASICS, ["import no_such_module_here", TENSORS_OK])
    write_notebook(student("stdlib_shadow") / BASICS, [TENSORS_OK])
    (student("stdlib_shadow") / "timeit.py").write_text("raise RuntimeError('shadowed the standard library')\n")
    (student("stdlib_shadow") / "numpy.py").write_text("raise RuntimeError('shadowed numpy')\n")
    write_notebook(student("stderr") / BASICS, ["import sys, warnings\nprint('noise', file=sys.stderr)\n"
                                                "warnings.warn('a warning')", TENSORS_OK])
    (sub / "nothing" / "pytorch_vfa").mkdir(parents=True)
    return sub


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    from autograder.cli import main
    import io, contextlib

    sub = build_batch(tmp_path_factory.mktemp("batch"))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["grade", str(sub), "--format", "json", "--jobs", "2", "--timeout", "20"])
    assert code == 0, err.getvalue()
    return {s["student"]: s for s in json.loads(out.getvalue())["submissions"]}


def tensors_score(submission: dict) -> float:
    return submission["groups"]["tensors"]


def test_a_correct_part_scores_full_marks(report):
    assert tensors_score(report["good"]) == 15.0
    assert report["good"]["groups"]["td0"] == 0.0  # its other notebook is missing


def test_a_missing_notebook_is_named_and_scores_zero(report):
    good = report["good"]
    assert "value_approximation.ipynb was not found" in good["error"]
    assert {c["status"] for c in good["checks"] if c["group"] in ("td0", "q", "baird")} == {"missing"}


def test_a_notebook_that_is_not_json_is_named_and_the_other_graded(report):
    s = report["not_json"]
    assert s["status"] == "graded"
    assert "pytorch_basics.ipynb is not a valid notebook file" in s["error"]
    assert tensors_score(s) == 0.0


def test_an_empty_notebook_is_named(report):
    assert "pytorch_basics.ipynb is empty" in report["empty"]["error"]


def test_an_nbformat_3_notebook_is_converted_and_graded(report):
    s = report["nbformat3"]
    assert "old nbformat 3" in s["error"]
    assert tensors_score(s) == 15.0


def test_a_renamed_function_is_missing_in_its_check_only(report):
    checks = checks_by_name(report["renamed"])
    assert checks["tensors.flat_view"]["status"] == "missing"
    assert checks["tensors.flat_view"]["diagnosis"] == "missing"
    assert tensors_score(report["renamed"]) == 13.0


def test_a_syntax_error_is_reported_and_later_cells_still_count(report):
    s = report["syntax_error"]
    assert "raised SyntaxError" in s["error"]
    # the last definition counts: the later, wrong add_axis is the one graded
    assert checks_by_name(s)["tensors.add_axis"]["status"] == "failed"
    assert tensors_score(s) == 14.0


def test_an_exception_at_import_is_reported_and_the_rest_graded(report):
    s = report["import_error"]
    assert "ModuleNotFoundError" in s["error"]
    assert tensors_score(s) == 15.0


def test_files_named_like_modules_next_to_the_notebook_shadow_nothing(report):
    assert tensors_score(report["stdlib_shadow"]) == 15.0


def test_output_on_stderr_costs_nothing(report):
    assert tensors_score(report["stderr"]) == 15.0


def test_a_folder_without_notebooks_scores_zero_with_a_reason(report):
    s = report["nothing"]
    assert s["score"] == 0.0
    assert "pytorch_basics.ipynb was not found" in s["error"]
