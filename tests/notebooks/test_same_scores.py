"""``nbgrader autograde`` and ``autograder grade`` give the same group scores.

The spec promises that the notebooks' own test cells give the same group
scores as ``autograder grade`` on well-behaved submissions. Both graders grade
the same ``submitted/`` tree here: the instructor notebooks, the untouched
release, and fixture submissions with mistakes in different parts (both
notebooks each: a fixture's ``# notebook:`` header is ignored, so the other
notebook is the instructor's). nbgrader's group scores are read from its
gradebook: each hidden test cell's score goes to the group of the check it runs
(``run_checks("<check>", ...)`` in the source cell).
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

from autograder.checks.registry import all_checks, points_by_group
from scripts import build_submissions
from tests.course import FIXTURES as FIXTURE_ROOT
from tests.course import PYTORCH_VFA
from tests.notebooks.nbgrader_course import (
    ASSIGNMENT,
    AUTOGRADE_TIMEOUT_S,
    COURSE_ID,
    NOTEBOOKS,
    REPO,
    run_nbgrader,
    source_notebook,
)

FIXTURES = ("td-error-as-loss", "wrong-features", "grad-accumulation", "no-exploration")
STUDENTS = ("instructor", "untouched", *FIXTURES)
GRADE_TIMEOUT_S = 900
RUN_CHECKS = re.compile(r"""run_checks\(\s*["']([\w.]+)["']""")


CHECK_GROUPS = {meta.name: meta.group for meta, _ in all_checks(PYTORCH_VFA)}


def cell_checks() -> dict[str, str]:
    """Hidden test cell id -> the check it runs."""
    cells = {}
    for name in NOTEBOOKS:
        for cell in source_notebook(name).cells:
            match = RUN_CHECKS.search(cell.source) if cell.cell_type == "code" else None
            if match:
                cells[cell.id] = match.group(1)
    return cells


def nbgrader_checks(course: Path, student: str, checks_of_cells: dict[str, str]) -> dict[str, float]:
    """Check -> the score nbgrader gave the hidden test cell that runs it."""
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID) as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.max_score:  # the visible tests are 0-point grade cells
                    scores[checks_of_cells[grade.name]] = grade.score
    return scores


def group_scores(check_scores: dict[str, float]) -> dict[str, float]:
    groups = {group: 0.0 for group in PYTORCH_VFA.groups}
    for check, score in check_scores.items():
        groups[CHECK_GROUPS[check]] += score
    return {group: round(score, 2) for group, score in groups.items()}


def autograder_results(course: Path, tmp_path: Path) -> dict[str, dict]:
    """Student -> the submission in `autograder grade --format json`."""
    report = tmp_path / "report.json"
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    process = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(course / "submitted"), "--format", "json",
         "--output", str(report), "--no-cache", "--jobs", "2", "--course-root", str(course)],
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

    @property
    def groups(self) -> tuple[dict[str, float], dict[str, float]]:
        return group_scores(self.nbgrader_checks), self.autograder["groups"]


@pytest.fixture(scope="module")
def both_graders(nbgrader_course: Path, tmp_path_factory) -> dict[str, Graded]:
    course = tmp_path_factory.mktemp("same-scores") / "root"
    shutil.copytree(nbgrader_course, course)
    submitted = course / "submitted"
    for folder, student in (("source", "instructor"), ("release", "untouched")):
        shutil.copytree(REPO / folder / ASSIGNMENT, submitted / student / ASSIGNMENT)
    for name in FIXTURES:
        edits = build_submissions.read_edits(FIXTURE_ROOT / ASSIGNMENT / f"{name}.py")
        edits.notebooks = PYTORCH_VFA.notebooks  # both notebooks: the other one as the instructor's
        build_submissions.build(edits, submitted)
    run_nbgrader(course, "autograde", ASSIGNMENT, timeout=AUTOGRADE_TIMEOUT_S)
    checks_of_cells = cell_checks()
    ours = autograder_results(course, tmp_path_factory.mktemp("report"))
    graded = {student: Graded(nbgrader_checks(course, student, checks_of_cells), ours[student])
              for student in STUDENTS}
    print("\ngroup scores, nbgrader autograde / autograder grade:")
    for student, both in graded.items():
        theirs, mine = both.groups
        print(f"  {student:18} " + "  ".join(f"{g} {theirs[g]:g}/{mine[g]:g}" for g in theirs))
    return graded


@pytest.mark.parametrize("student", STUDENTS)
def test_nbgrader_and_the_autograder_give_the_same_group_scores(both_graders, student):
    graded = both_graders[student]
    theirs, ours = graded.groups
    assert set(theirs) == set(ours) == set(PYTORCH_VFA.groups)
    different = {group: (theirs[group], ours[group]) for group in theirs
                 if abs(theirs[group] - ours[group]) > 0.01}
    checks = {check["name"]: check for check in graded.autograder["checks"]}
    why = [f"{name}: nbgrader {score:g}, autograder {checks[name]['score']:g}\n{checks[name]['feedback']}"
           for name, score in graded.nbgrader_checks.items() if abs(score - checks[name]["score"]) > 0.01]
    assert not different, (f"{student}: (nbgrader, autograder) differ in {different}\n" + "\n".join(why))


def test_the_fixtures_lose_points_in_different_groups(both_graders):
    """The comparison means something: each fixture lost points, not all in one part."""
    full = points_by_group(PYTORCH_VFA)
    lost = {student: {g for g, score in both_graders[student].groups[1].items() if score < full[g]}
            for student in FIXTURES}
    assert all(lost.values()), lost
    assert len(set().union(*lost.values())) >= 3, lost
    assert both_graders["instructor"].groups[1] == full
    assert not any(both_graders["untouched"].groups[1].values())
