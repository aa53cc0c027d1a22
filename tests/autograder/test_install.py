"""The project installs as a package: after ``pip install .`` (not editable) into
a fresh environment, grading works from a course directory elsewhere on disk,
and the package holds the engine and nothing of the course."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import importlib.metadata

from tests.course import PYTORCH_VFA, REPO

GRADE_TIMEOUT_S = 600
COURSE_FILES = ("nbgrader_config.py", "assignments", "solutions", "source", "release")


def course_elsewhere(root: Path) -> Path:
    """A copy of this repository's course (what an instructor keeps), without the engine."""
    root.mkdir(parents=True)
    for name in COURSE_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, root / name)
    assert not (root / "autograder").exists()
    return root


def run(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), *args], cwd=cwd, capture_output=True, text=True, timeout=GRADE_TIMEOUT_S)


def test_the_package_holds_the_engine_and_nothing_of_the_course(installed_python, tmp_path):
    done = run(installed_python, "-c", "import autograder, importlib.util as u; print(autograder.__file__); "
               "print(u.find_spec('solutions'), u.find_spec('assignments'))", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    where, specs = done.stdout.splitlines()
    assert "site-packages" in where and not where.startswith(str(REPO))
    assert specs == "None None"


def test_the_installed_engine_grades_a_course_kept_elsewhere(installed_python, tmp_path):
    course = course_elsewhere(tmp_path / "course")
    student = tmp_path / "submitted" / "instructor" / PYTORCH_VFA.name
    student.mkdir(parents=True)
    for notebook in PYTORCH_VFA.notebooks:
        shutil.copy(PYTORCH_VFA.source_dir / notebook, student / notebook)
    report = tmp_path / "report.json"
    args = ["-m", "autograder", "grade", str(tmp_path / "submitted"), "--format", "json", "--output", str(report),
            "--no-cache", "--jobs", "1"]
    pages = ["--html", str(tmp_path / "pages"), "--class-html", str(tmp_path / "class.html")]
    done = run(installed_python, *args, *pages, cwd=course)  # the course is the working directory
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(report.read_text())
    assert data["assignment"] == "pytorch_vfa" and data["submissions"][0]["score"] == 100.0, done.stderr[-3000:]
    # the pages' templates are in the package
    assert "instructor" in (tmp_path / "pages" / "instructor.html").read_text(encoding="utf-8")
    assert "class report" in (tmp_path / "class.html").read_text(encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run(installed_python, *args, "--course-root", str(course), cwd=elsewhere)
    assert done.returncode == 0 and json.loads(report.read_text())["submissions"][0]["score"] == 100.0, done.stderr
    done = run(installed_python, *args, cwd=elsewhere)  # no course there: a usage error that says what to do
    assert done.returncode == 2 and "--course-root" in done.stderr


#: engine packages that may import an optional extra's packages (only they: nothing else imports them)
EXTRAS = {"cluster": REPO / "autograder" / "cluster"}


def _requirement_names(extra: str | None = None) -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    dependencies = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return {re.split(r"[<>=!~ \[;]", d, maxsplit=1)[0].lower().replace("_", "-") for d in dependencies}


def _third_party_imports(paths) -> set[str]:
    imported = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.partition(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.partition(".")[0])
    return {name for name in imported if name not in sys.stdlib_module_names and name != "autograder"}


def _not_required(imported: set[str], required: set[str]) -> dict:
    distributions = importlib.metadata.packages_distributions()
    return {name: distributions.get(name) for name in imported
            if not {d.lower() for d in distributions.get(name, [])} & required}


def test_everything_grading_imports_is_a_runtime_dependency():
    in_extras = {p for folder in EXTRAS.values() for p in folder.rglob("*.py")}
    third_party = _third_party_imports(set((REPO / "autograder").rglob("*.py")) - in_extras)
    assert {"torch", "pytest", "nbformat"} <= third_party
    required = _requirement_names()
    missing = _not_required(third_party, required)
    assert not missing, f"imported by the engine but not in pyproject.toml's dependencies: {missing}"
    assert "pytest" in required and "pytest-timeout" in required  # grading runs the checks as a pytest suite
    for extra, folder in EXTRAS.items():
        missing = _not_required(_third_party_imports(folder.rglob("*.py")), required | _requirement_names(extra))
        assert not missing, f"imported by {folder} but in neither the dependencies nor the {extra} extra: {missing}"
