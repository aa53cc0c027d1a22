"""Malformed policy_gradient submissions: a clear note, no crash, and what can be graded is.

One batch: the instructor notebook broken in the usual ways (not JSON, empty,
nbformat 3, a syntax error in one cell, an import error, a renamed function,
files shadowing modules), and a student folder without the notebook.
"""

from __future__ import annotations

import contextlib
import io
import json
import re

import nbformat
import pytest

from autograder.cli import main
from tests.autograder.conftest import checks_by_name
from tests.course import POLICY_GRADIENT

NOTEBOOK = "policy_gradient.ipynb"


def source_notebook() -> nbformat.NotebookNode:
    return nbformat.read(POLICY_GRADIENT.source_dir / NOTEBOOK, as_version=4)


def with_cell(cell_id: str, change) -> nbformat.NotebookNode:
    nb = source_notebook()
    cell = next(c for c in nb.cells if c.id == cell_id)
    cell.source = change(cell.source)
    return nb


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    sub = tmp_path_factory.mktemp("pg-bad") / "submitted"

    def folder(name: str):
        path = sub / name / POLICY_GRADIENT.name
        path.mkdir(parents=True)
        return path

    folder("not_json").joinpath(NOTEBOOK).write_text("{ this is not json")
    folder("empty").joinpath(NOTEBOOK).write_text("")
    v4 = source_notebook()
    v3 = nbformat.v3.new_notebook(worksheets=[nbformat.v3.new_worksheet(cells=[
        nbformat.v3.new_code_cell(c.source) for c in v4.cells if c.cell_type == "code"
        and not c.id.startswith("experiment-") and "HIDDEN TESTS" not in c.source])])
    folder("nbformat3").joinpath(NOTEBOOK).write_text(nbformat.writes(v3, version=3))
    broken = with_cell("sample-action-solution", lambda s: s + "\ndef oops(:\n    pass\n")
    nbformat.write(broken, str(folder("syntax_error") / NOTEBOOK))
    failing_import = source_notebook()
    failing_import.cells.insert(1, nbformat.v4.new_code_cell("import no_such_module_here"))
    nbformat.write(failing_import, str(folder("import_error") / NOTEBOOK))
    renamed = with_cell("log-probs-solution", lambda s: re.sub(r"def log_probs\(", "def log_probabilities(", s))
    nbformat.write(renamed, str(folder("renamed") / NOTEBOOK))
    shadow = folder("stdlib_shadow")
    nbformat.write(source_notebook(), str(shadow / NOTEBOOK))
    (shadow / "random.py").write_text("raise RuntimeError('shadowed the standard library')\n")
    (shadow / "torch.py").write_text("raise RuntimeError('shadowed torch')\n")
    folder("nothing")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["grade", str(sub), "--format", "json", "--jobs", "2", "--timeout", "20", "--no-cache"])
    assert code == 0, err.getvalue()
    return {s["student"]: s for s in json.loads(out.getvalue())["submissions"]}


@pytest.mark.parametrize("student, note", [("not_json", "policy_gradient.ipynb is not a valid notebook file"),
                                           ("empty", "policy_gradient.ipynb is empty"),
                                           ("nothing", "policy_gradient.ipynb was not found")])
def test_a_notebook_that_cannot_be_read_is_named_and_scores_zero(report, student, note):
    s = report[student]
    assert s["status"] == "graded" and s["score"] == 0.0
    assert note in s["error"]
    assert {c["status"] for c in s["checks"]} == {"missing"}


def test_an_nbformat_3_notebook_is_converted_and_graded(report):
    s = report["nbformat3"]
    assert "old nbformat 3" in s["error"]
    assert s["score"] == 100.0, [c["feedback"] for c in s["checks"] if c["status"] != "passed"]


def test_a_syntax_error_costs_its_cell_only(report):
    s = report["syntax_error"]
    assert "raised SyntaxError" in s["error"]
    checks = checks_by_name(s)
    assert checks["policy.sample_action"]["status"] == "missing"
    assert s["score"] == 100.0 - checks["policy.sample_action"]["max_score"] - sum(  # and what calls it
        checks[name]["max_score"] - checks[name]["score"] for name in ("reinforce.run", "baseline.run"))


def test_an_exception_at_import_is_reported_and_the_rest_graded(report):
    s = report["import_error"]
    assert "ModuleNotFoundError" in s["error"] and s["score"] == 100.0


def test_a_renamed_function_is_missing_in_its_check(report):
    checks = checks_by_name(report["renamed"])
    assert (checks["policy.log_probs"]["status"], checks["policy.log_probs"]["diagnosis"]) == ("missing", "missing")


def test_files_named_like_modules_next_to_the_notebook_shadow_nothing(report):
    assert report["stdlib_shadow"]["score"] == 100.0
