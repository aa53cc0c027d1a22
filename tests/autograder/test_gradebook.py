"""``autograder grade --gradebook``: nbgrader's gradebook, export and feedback.

Two fixture students are graded into a fresh course folder (nbgrader's config,
no gradebook yet: the assignment is recorded from the source notebooks); then
nbgrader's own ``export`` and ``generate_feedback`` run on what was written.
One student also deleted a hidden test cell and added a cell with made-up
nbgrader metadata, and has nbgrader's ``timestamp.txt``. A second course gets
its gradebook from ``nbgrader generate_assignment`` first. Every subprocess is
bounded by a timeout.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.utils import determine_grade

from autograder.checks.registry import points_by_group
from autograder.gradebook import GradebookError, GradeCell, _outputs, record_results
from autograder.results import CheckResult, SubmissionResult
from scripts import build_submissions
from tests.autograder.pages_data import weights
from tests.course import FIXTURES, PYTORCH_VFA, REPO

ASSIGNMENT = PYTORCH_VFA.name
NBGRADER = Path(sys.executable).with_name("nbgrader")
STUDENTS = ("td-error-as-loss", "grad-accumulation", "no-divergence")
TIMESTAMP = "2025-01-15 10:30:00.000000 UTC"
GRADE_TIMEOUT_S = 600
NBGRADER_TIMEOUT_S = 300


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    process = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert process.returncode == 0, f"{args}\n--- stdout\n{process.stdout[-3000:]}\n--- stderr\n{process.stderr[-3000:]}"
    return process


def grade(submitted: Path, gradebook: Path, cache: Path) -> dict[str, dict]:
    """``autograder grade --gradebook``; student -> its submission in the JSON report."""
    report = gradebook.parent / "report.json"
    run([sys.executable, "-m", "autograder", "grade", str(submitted), "--gradebook", str(gradebook),
         "--format", "json", "--output", str(report), "--jobs", "2", "--cache", str(cache)],
        cwd=REPO, timeout=GRADE_TIMEOUT_S)
    return {s["student"]: s for s in json.loads(report.read_text())["submissions"]}


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    return run([str(NBGRADER), *args], cwd=course, timeout=NBGRADER_TIMEOUT_S)


def submit(submitted: Path) -> None:
    for name in STUDENTS:
        edits = build_submissions.read_edits(FIXTURES / ASSIGNMENT / f"{name}.py")
        edits.notebooks = PYTORCH_VFA.notebooks
        build_submissions.build(edits, submitted)
    # The second student deleted a hidden test cell and made up a graded cell of their own.
    path = submitted / STUDENTS[1] / ASSIGNMENT / "pytorch_basics.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells = [cell for cell in notebook.cells if cell.id != "column-hidden-tests"]
    notebook.cells.append(nbformat.v4.new_code_cell("print('all good')", metadata={"nbgrader": {
        "grade": True, "grade_id": "my-own-test", "locked": True, "points": 50, "schema_version": 3,
        "solution": False}}))
    nbformat.write(notebook, path)
    (path.parent / "timestamp.txt").write_text(TIMESTAMP)


def gradebook_scores(gradebook: Path, student: str) -> dict[str, float]:
    with Gradebook(f"sqlite:///{gradebook}") as gb:
        submission = gb.find_submission(ASSIGNMENT, student)
        return {grade.name: grade.score for notebook in submission.notebooks for grade in notebook.grades}


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def course(tmp_path_factory, cache) -> tuple[Path, dict[str, dict]]:
    """A course folder with nbgrader's config and no gradebook, graded with --gradebook."""
    root = tmp_path_factory.mktemp("gradebook") / "course"
    root.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    submit(root / "submitted")
    report = grade(root / "submitted", root / "gradebook.db", cache)
    return root, report


def test_every_hidden_test_cell_gets_its_checks_score(course):
    root, report = course
    for student in STUDENTS:
        checks = {check["name"]: check["score"] for check in report[student]["checks"]}
        scores = gradebook_scores(root / "gradebook.db", student)
        assert scores["td0-update-hidden-tests"] == checks["td0.update"]
        assert scores["train-step-hidden-tests"] == checks["autograd.train_step"]
        assert scores["column-hidden-tests"] == checks["tensors.column"]  # even where the cell was deleted
        assert "my-own-test" not in scores
        assert sum(scores.values()) == pytest.approx(report[student]["score"])
    assert report["td-error-as-loss"]["groups"]["td0"] < 20 and report["grad-accumulation"]["groups"]["autograd"] < 10


def test_the_autograded_notebooks_give_nbgrader_the_same_scores(course):
    """nbgrader's own rule (determine_grade) reads each hidden test cell's outputs as its score."""
    root, report = course
    for student in STUDENTS:
        scores = gradebook_scores(root / "gradebook.db", student)
        for name in PYTORCH_VFA.notebooks:
            notebook = nbformat.read(root / "autograded" / student / ASSIGNMENT / name, as_version=4)
            graded = {cell.metadata.nbgrader["grade_id"]: cell for cell in notebook.cells
                      if cell.metadata.get("nbgrader", {}).get("points")}
            assert graded and all("run_checks(" in cell.source for cell in graded.values())
            for grade_id, cell in graded.items():
                assert determine_grade(cell)[0] == pytest.approx(scores[grade_id]), (student, grade_id)


def test_nbgrader_export_has_the_scores(course):
    root, report = course
    nbgrader(root, "export")
    with open(root / "grades.csv", newline="") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(STUDENTS)
    for student in STUDENTS:
        assert float(rows[student]["score"]) == pytest.approx(report[student]["score"])
        assert float(rows[student]["max_score"]) == sum(points_by_group(PYTORCH_VFA).values())
    assert rows[STUDENTS[1]]["timestamp"].startswith("2025-01-15 10:30:00")


def test_nbgrader_generate_feedback_shows_the_checks_feedback(course):
    root, report = course
    nbgrader(root, "generate_feedback", ASSIGNMENT)
    for student, check, code in (("td-error-as-loss", "td0.update", "td-error-as-loss"),
                                 ("grad-accumulation", "autograd.train_step", "grad-accumulation")):
        folder = root / "feedback" / student / ASSIGNMENT
        pages = {name: (folder / name.replace(".ipynb", ".html")).read_text(encoding="utf-8")
                 for name in PYTORCH_VFA.notebooks}
        page = pages[PYTORCH_VFA.part(check.split(".")[0]).notebook]
        feedback = next(c["feedback"] for c in report[student]["checks"] if c["name"] == check)
        assert feedback.splitlines()[0] in page  # e.g. "td0.update (1.43/10 points): partial"
        assert f"Likely mistake [{code}]" in page
    deleted = (root / "feedback" / "grad-accumulation" / ASSIGNMENT / "pytorch_basics.html").read_text()
    assert "tensors.column (1/1 points): passed" in deleted  # the deleted hidden test cell is shown


def test_nbgrader_generate_feedback_shows_the_plots_of_a_check_that_did_not_pass(course):
    root, report = course
    nbgrader(root, "generate_feedback", ASSIGNMENT)
    page = (root / "feedback" / "no-divergence" / ASSIGNMENT / "value_approximation.html").read_text()
    image = re.compile(r'<img [^>]*src="data:image/png;base64,')
    after = page[page.index("baird.run_td (0/5 points): failed"):]
    assert len(image.findall(after)) == 1  # its weights against the book's divergence
    assert len(image.findall(page)) == 1  # the checks that passed: no plot


def test_plots_are_image_outputs_that_leave_nbgraders_score_as_it_was():
    cell = GradeCell("value_approximation", "baird-run-td-hidden-tests", 5.0, "run_checks('baird.run_td', globals())",
                     "baird.run_td")
    submission = SubmissionResult("s", "submitted/s/pytorch_vfa")

    def outputs(status: str, score: float) -> list:
        result = CheckResult("baird.run_td", "baird", score, 5.0, status, None, f"baird.run_td ({score:g}/5 points)",
                             series=[weights()])
        return _outputs(cell, {"baird.run_td": result}, submission, 1)[0]

    for status, score, last in (("failed", 0.0, "error"), ("partial", 2.5, "execute_result")):
        found = outputs(status, score)
        assert [o.output_type for o in found] == ["stream", "display_data", last]
        png = base64.b64decode(found[1].data["image/png"])
        assert png.startswith(b"\x89PNG") and found[1].data["text/plain"] == "<plot: Weights>"
        graded = nbformat.v4.new_code_cell(cell.source, metadata={"nbgrader": {
            "grade": True, "grade_id": cell.name, "points": 5.0, "solution": False, "locked": True}})
        graded.outputs = found
        assert determine_grade(graded)[0] == score
    assert [o.output_type for o in outputs("passed", 5.0)] == ["stream", "execute_result"]


def assignment_record(gradebook: Path) -> dict:
    """What a gradebook knows of the assignment: notebooks, cells, sources, checksums, points."""
    with Gradebook(f"sqlite:///{gradebook}") as gb:
        return {nb.name: (nb.kernelspec,
                          sorted((c.name, c.cell_type, c.locked, c.source, c.checksum) for c in nb.source_cells),
                          sorted((c.name, c.max_score, c.cell_type) for c in nb.grade_cells),
                          sorted(c.name for c in nb.solution_cells), sorted(c.name for c in nb.task_cells))
                for nb in gb.find_assignment(ASSIGNMENT).notebooks}


def test_an_existing_gradebook_from_generate_assignment_is_used_and_regrading_updates(course, tmp_path, cache):
    from tests.notebooks.nbgrader_course import make_course

    root, report = course
    generated = make_course(tmp_path / "generated")  # nbgrader generate_assignment made the gradebook
    recorded = assignment_record(generated / "gradebook.db")
    # what --gradebook recorded from the source, in the course that had no gradebook, is the same
    assert assignment_record(root / "gradebook.db") == recorded
    for _ in range(2):  # graded from the cache (quick); the second run finds the submissions there
        again = grade(root / "submitted", generated / "gradebook.db", cache)
    assert assignment_record(generated / "gradebook.db") == recorded
    with Gradebook(f"sqlite:///{generated / 'gradebook.db'}") as gb:
        assert len(gb.students) == len(STUDENTS)
    for student in STUDENTS:
        assert again[student]["score"] == report[student]["score"]
        assert gradebook_scores(generated / "gradebook.db", student) == gradebook_scores(root / "gradebook.db",
                                                                                          student)


def test_a_gradebook_from_other_source_notebooks_is_refused(tmp_path):
    gradebook = tmp_path / "gradebook.db"
    with Gradebook(f"sqlite:///{gradebook}") as gb:
        gb.add_assignment(ASSIGNMENT)
        for name in PYTORCH_VFA.notebooks:
            notebook = Path(name).stem
            gb.add_notebook(notebook, ASSIGNMENT)
            gb.add_grade_cell("old-hidden-tests", notebook, ASSIGNMENT, max_score=5, cell_type="code")
            gb.add_source_cell("old-hidden-tests", notebook, ASSIGNMENT, source="assert f(1) == 2",
                               cell_type="code", locked=True)
    with pytest.raises(GradebookError, match="old-hidden-tests.*runs no check"):
        record_results([], gradebook, PYTORCH_VFA)
