"""README.md's "Add an assignment", followed step by step in a temporary course.

The steps make a one-function assignment (a notebook, a reference, one check,
one known mistake); a correct submission written another way gets full marks,
a mistaken one is named; pytest runs the checks on their own too. Nothing of
the engine is edited, and the course lives outside this repository. (A grading
process serves one course: the commands run in subprocesses.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from tests.course import REPO

FILES = {
    # 1. the plug-in's declaration
    "assignments/__init__.py": '"""This course\'s assignment plug-ins."""\n',
    "assignments/returns_hw/__init__.py": '''
        """A one-function assignment: the discounted return (Sutton & Barto §3.3)."""
        from autograder.assignment import Assignment, Part

        ASSIGNMENT = Assignment(
            name="returns_hw",
            title="Returns",
            parts=(Part(1, "returns", "discounted returns", "returns.ipynb"),),
            reference="solutions.returns_hw",
        )
    ''',
    # 2. the reference
    "solutions/__init__.py": '"""Reference implementations, one package per assignment."""\n',
    "solutions/returns_hw/__init__.py": '''
        """The reference of returns_hw."""
        import torch

        __all__ = ["discounted_return"]


        def discounted_return(rewards: torch.Tensor, gamma: float) -> torch.Tensor:
            """G_0 = sum_t gamma^t R_{t+1} (§3.3), computed backwards: G_t = R_{t+1} + gamma G_{t+1}."""
            g = torch.zeros((), dtype=rewards.dtype, device=rewards.device)
            for reward in rewards.flip(0):
                g = reward + gamma * g
            return g
    ''',
    # 3. a probe: calls the student's function, returns data
    "assignments/returns_hw/probes.py": '''
        """Probes of returns_hw: they run in the student's worker and import nothing else of the plug-in."""
        import torch

        from autograder.worker.api import Api, probe


        @probe
        def discounted_return(api: Api, rewards: torch.Tensor, gamma: float, device: str = "cpu"):
            return api.discounted_return(rewards.to(device), gamma)
    ''',
    # 4. a known mistake, and what its code means
    "assignments/returns_hw/mistakes.py": '''
        """Known mistakes of returns_hw: wrong versions of the reference's functions."""
        MISTAKES = {"discounted_return": [("returns-not-discounted", lambda rewards, gamma: rewards.sum())]}
    ''',
    "assignments/returns_hw/feedback.py": '''
        """What returns_hw's own diagnosis codes mean."""
        DIAGNOSES = {"returns-not-discounted": "your return ignores gamma: each reward counts gamma^t times."}
        RETEACH = {"returns-not-discounted": "Discounting: G_t sums gamma^k R_(t+k+1)."}
        RESULT_FIELDS = {}
    ''',
    # 5. a check: cases, compared with the reference, its points declared here
    "assignments/returns_hw/checks/__init__.py": "",
    "assignments/returns_hw/checks/test_returns.py": '''
        import torch

        from autograder.checks import FLOAT32_STEP, Case, call, check


        @check("returns.discounted", group="returns", points=10, function="discounted_return")
        def test_discounted_return(ctx):
            g = torch.Generator().manual_seed(ctx.seed)
            cases = [(torch.tensor([1.0, -2.0, 3.0, 0.5]), 0.5), (torch.randn(6, generator=g), 0.9)]
            ctx.grade([Case("discounted_return", {"rewards": r, "gamma": gamma, "device": ctx.device},
                            call("discounted_return", r, gamma), FLOAT32_STEP) for r, gamma in cases])
    ''',
}

SOLUTION = "def discounted_return(rewards, gamma):\n    ### BEGIN SOLUTION\n    return rewards.sum()\n    ### END SOLUTION\n"
CORRECT = "import torch\n\ndef discounted_return(rewards, gamma):\n    powers = gamma ** torch.arange(len(rewards))\n" \
          "    return (powers * rewards).sum()\n"  # not the reference's loop
MISTAKEN = "def discounted_return(rewards, gamma):\n    return rewards.sum()\n"


def notebook(source: str, hidden_points: int | None = None) -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_code_cell(source, metadata={"nbgrader": {
        "grade": False, "grade_id": "discounted-return-solution", "locked": False, "schema_version": 3,
        "solution": True}})]
    if hidden_points is not None:
        cells.append(nbformat.v4.new_code_cell(
            '### BEGIN HIDDEN TESTS\nfrom autograder.in_kernel import run_checks\nrun_checks("returns.discounted", '
            'globals())\n### END HIDDEN TESTS\n', metadata={"nbgrader": {
                "grade": True, "grade_id": "discounted-return-hidden-tests", "locked": True,
                "points": hidden_points, "schema_version": 3, "solution": False}}))
    for cell in cells:
        cell.id = cell.metadata["nbgrader"]["grade_id"]
    return nbformat.v4.new_notebook(cells=cells)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("new-course") / "course"
    for relative, text in FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    (root / "source" / "returns_hw").mkdir(parents=True)  # 6. the instructor notebook
    nbformat.write(notebook(SOLUTION, hidden_points=10), str(root / "source" / "returns_hw" / "returns.ipynb"))
    for student, code in (("correct", CORRECT), ("mistaken", MISTAKEN)):
        folder = root / "submitted" / student / "returns_hw"
        folder.mkdir(parents=True)
        nbformat.write(notebook(code), str(folder / "returns.ipynb"))
    return root


def test_the_new_assignment_is_graded_without_touching_the_engine(course, tmp_path):
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", "submitted", "--format", "json",
                           "--output", str(report), "--no-cache", "--jobs", "1"], cwd=course, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(report.read_text())
    assert data["assignment"] == "returns_hw"
    graded = {s["student"]: s for s in data["submissions"]}
    assert graded["correct"]["score"] == graded["correct"]["max_score"] == 10.0, graded["correct"]
    (check,) = graded["mistaken"]["checks"]
    assert (check["score"], check["diagnosis"]) == (0.0, "returns-not-discounted"), check["feedback"]
    assert "Likely mistake [returns-not-discounted]: your return ignores gamma" in check["feedback"]
    assert "Part 1 (discounted returns)" in check["feedback"]
    assert not (REPO / "assignments" / "returns_hw").exists()
    # the class summary (on stderr, with the progress) ranks its code with the plug-in's re-teach line
    assert "   1  returns-not-discounted, in returns.discounted (1)" in done.stderr
    assert "Re-teach: Discounting: G_t sums gamma^k R_(t+k+1)." in done.stderr


def test_its_checks_run_under_pytest_on_their_own(course):
    done = subprocess.run([sys.executable, "-m", "pytest", "assignments/returns_hw/checks", "--submission",
                           "submitted/mistaken", "-q", "-p", "no:cacheprovider"], cwd=course, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 1, done.stdout[-3000:]  # the mistaken submission fails its one check
    assert "1 failed" in done.stdout and "returns-not-discounted" in done.stdout
    # the failure reads as the student's feedback, without a traceback through the check's code
    assert "Likely mistake [returns-not-discounted]" in done.stdout and "Traceback" not in done.stdout
    assert "ctx.grade(" not in done.stdout and "raise CheckFailed" not in done.stdout, done.stdout[-3000:]
