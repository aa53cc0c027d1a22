"""A throw-away nbgrader course, built from this repository.

``nbgrader_course`` copies ``nbgrader_config.py``, ``source/`` and the
plug-ins and reference into a temporary course root and runs ``nbgrader
generate_assignment`` there for every assignment, so tests never touch the
repository's own ``release/`` or gradebook. Every nbgrader call
is a subprocess with a timeout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENTS = ("pytorch_vfa", "policy_gradient")  #: every assignment of the course, each with its notebooks
ASSIGNMENT = "pytorch_vfa"  #: the one whose behaviour under nbgrader the tests of this folder go into
COURSE_ID = "rldmuu"  # c.CourseDirectory.course_id in nbgrader_config.py
NOTEBOOKS = ("pytorch_basics", "value_approximation")


def notebooks_of(assignment: str) -> tuple[str, ...]:
    """The notebooks of an assignment, by name without ``.ipynb``."""
    return tuple(sorted(p.stem for p in (REPO / "source" / assignment).glob("*.ipynb")))


#: (assignment, notebook) for every notebook of the course
ASSIGNMENT_NOTEBOOKS = tuple((a, n) for a in ASSIGNMENTS for n in notebooks_of(a))
NBGRADER = Path(sys.executable).with_name("nbgrader")
GENERATE_TIMEOUT_S = 120
AUTOGRADE_TIMEOUT_S = 900  # every student of a course, both notebooks each


def run_nbgrader(course: Path, *args: str, timeout: float) -> subprocess.CompletedProcess:
    """``nbgrader ARGS`` in the course root; fails the test with nbgrader's log on error."""
    env = dict(os.environ)
    # The nbgrader process and the kernels import `autograder` (installed); the kernels' checks find the
    # course's plug-ins and reference in the course root, from its nbgrader_config.py.
    env.setdefault("OMP_NUM_THREADS", "1")
    process = subprocess.run([str(NBGRADER), *args], cwd=course, env=env, capture_output=True,
                             text=True, timeout=timeout)
    assert process.returncode == 0, (
        f"nbgrader {' '.join(args)} exited with {process.returncode}\n"
        f"--- stdout\n{process.stdout[-4000:]}\n--- stderr\n{process.stderr[-4000:]}")
    return process


def make_course(root: Path) -> Path:
    """A course root with this repository's config, source notebooks, plug-ins
    and reference (what a course holds), the assignment generated."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    for folder in ("source", "assignments", "solutions"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for assignment in ASSIGNMENTS:
        run_nbgrader(root, "generate_assignment", assignment, "--force", timeout=GENERATE_TIMEOUT_S)
    return root


def read_notebook(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def source_notebook(name: str, assignment: str = ASSIGNMENT) -> nbformat.NotebookNode:
    return read_notebook(REPO / "source" / assignment / f"{name}.ipynb")


def release_notebook(name: str, assignment: str = ASSIGNMENT) -> nbformat.NotebookNode:
    return read_notebook(REPO / "release" / assignment / f"{name}.ipynb")

