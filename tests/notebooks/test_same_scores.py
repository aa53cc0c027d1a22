"""``nbgrader autograde`` and ``autograder grade`` give the same group scores, for every assignment.

The specs promise that the notebooks' own test cells give the same group
scores as ``autograder grade`` on well-behaved submissions. Both graders grade
the same ``submitted/`` tree of an assignment here: the instructor notebooks,
the untouched release, and fixture submissions with mistakes in different
parts (every notebook each: a fixture's ``# notebook:`` header is ignored, so
the other notebook is the instructor's). nbgrader's group scores are read from
its gradebook: each hidden test cell's score goes to the group of the check it
runs (``run_checks("<check>", ...)`` in the source cell).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder.assignment import Assignment
from autograder.checks.registry import all_checks, points_by_group
from scripts import build_submissions
from tests.course import COURSE
from tests.course import FIXTURES as FIXTURE_ROOT
from tests.notebooks.nbgrader_course import AUTOGRADE_TIMEOUT_S, COURSE_ID, REPO, run_nbgrader

#: fixtures whose mistakes lie in different parts of their assignment
FIXTURES = {
    # action-before-state and log-probs-other-action: mistakes no code names, carried forward to callers
    "pytorch_vfa": ("td-error-as-loss", "wrong-features", "grad-accumulation", "no-exploration",
                    "action-before-state"),
    "policy_gradient": ("unstable-log-prob", "returns-not-discounted", "mean-not-sum", "baseline-not-detached",
                        "log-probs-other-action"),
}
GRADE_TIMEOUT_S = 900
RUN_CHECKS = re.compile(r"""run_checks\(\s*["']([\w.]+)["']""")


def students(name: str) -> tuple[str, ...]:
    return ("instructor", "untouched", *FIXTURES[name])


def cell_checks(assignment: Assignment) -> dict[str, str]:
    """Hidden test cell id -> the check it runs."""
    import nbformat

    cells = {}
    for notebook in assignment.notebooks:
        for cell in nbformat.read(assignment.source_dir / notebook, as_version=4).cells:
            match = RUN_CHECKS.search(cell.source) if cell.cell_type == "code" else None
            if match:
                cells[cell.id] = match.group(1)
    return cells


def nbgrader_checks(course: Path, assignment: str, student: str, checks_of_cells: dict[str, str]) -> dict:
    """Check -> the score nbgrader gave the hidden test cell that runs it."""
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.max_score:  # the visible tests are 0-point grade cells
                    scores[checks_of_cells[grade.name]] = grade.score
    return scores


def autograder_results(course: Path, assignment: str, tmp_path: Path) -> dict[str, dict]:
    """Student -> the submission in `autograder grade --format json`."""
    report = tmp_path / "report.json"
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    process = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(course / "submitted"), "--format", "json",
         "--output", str(report), "--no-cache", "--jobs", "2", "--course-root", str(course),
         "--assignment", assignment],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=GRADE_TIMEOUT_S)
    assert process.returncode == 0, process.stderr[-4000:]
    submissions = json.loads(report.read_text())["submissions"]
    assert all(s["status"] == "graded" for s in submissions), submissions
    return {s["student"]: s for s in submissions}


@dataclass
class Graded:
    """One student as both graders saw it."""

    nbgrader_checks: dict[str, float]
    autograder: dict  #: the submission of the JSON report
    check_groups: dict[str, str]

    @property
    def groups(self) -> tuple[dict[str, float], dict[str, float]]:
        groups = {group: 0.0 for group in self.autograder["groups"]}
        for check, score in self.nbgrader_checks.items():
            groups[self.check_groups[check]] += score
        return {group: round(score, 2) for group, score in groups.items()}, self.autograder["groups"]


@pytest.fixture(scope="module", params=sorted(FIXTURES))
def both_graders(request, nbgrader_course: Path, tmp_path_factory) -> tuple[Assignment, dict[str, Graded]]:
    assignment = COURSE.assignment(request.param)
    course = tmp_path_factory.mktemp(f"same-scores-{assignment.name}") / "root"
    shutil.copytree(nbgrader_course, course)
    submitted = course / "submitted"
    for folder, student in ((assignment.source_dir, "instructor"), (assignment.release_dir, "untouched")):
        shutil.copytree(folder, submitted / student / assignment.name)
    for name in FIXTURES[assignment.name]:
        edits = build_submissions.read_edits(FIXTURE_ROOT / assignment.name / f"{name}.py")
        edits.notebooks = assignment.notebooks  # every notebook: the other ones as the instructor's
        build_submissions.build(edits, submitted)
    run_nbgrader(course, "autograde", assignment.name, timeout=AUTOGRADE_TIMEOUT_S)
    checks_of_cells = cell_checks(assignment)
    ours = autograder_results(course, assignment.name, tmp_path_factory.mktemp("report"))
    check_groups = {meta.name: meta.group for meta, _ in all_checks(assignment)}
    graded = {student: Graded(nbgrader_checks(course, assignment.name, student, checks_of_cells), ours[student],
                              check_groups) for student in students(assignment.name)}
    print(f"\n{assignment.name}: group scores, nbgrader autograde / autograder grade:")
    for student, both in graded.items():
        theirs, mine = both.groups
        print(f"  {student:18} " + "  ".join(f"{g} {theirs[g]:g}/{mine[g]:g}" for g in theirs))
    return assignment, graded


@pytest.mark.parametrize("student", range(6), ids=lambda i: f"student{i}")
def test_nbgrader_and_the_autograder_give_the_same_group_scores(both_graders, student):
    assignment, graded = both_graders
    name = students(assignment.name)[student]
    theirs, ours = graded[name].groups
    assert set(theirs) == set(ours) == set(assignment.groups)
    different = {group: (theirs[group], ours[group]) for group in theirs
                 if abs(theirs[group] - ours[group]) > 0.01}
    checks = {check["name"]: check for check in graded[name].autograder["checks"]}
    why = [f"{check}: nbgrader {score:g}, autograder {checks[check]['score']:g}\n{checks[check]['feedback']}"
           for check, score in graded[name].nbgrader_checks.items() if abs(score - checks[check]["score"]) > 0.01]
    assert not different, (f"{assignment.name}/{name}: (nbgrader, autograder) differ in {different}\n" +
                           "\n".join(why))


def test_the_fixtures_lose_points_in_different_groups(both_graders):
    """The comparison means something: each fixture lost points, not all in one part."""
    assignment, graded = both_graders
    full = points_by_group(assignment)
    lost = {student: {g for g, score in graded[student].groups[1].items() if score < full[g]}
            for student in FIXTURES[assignment.name]}
    assert all(lost.values()), lost
    assert len(set().union(*lost.values())) >= 3, lost
    assert graded["instructor"].groups[0] == graded["instructor"].groups[1] == full
    assert not any(graded["untouched"].groups[1].values())
