"""How a course and its assignments are found (autograder/course.py), as the README writes it down.

The course directory: ``--course-root``, else ``CourseDirectory.root`` of
``./nbgrader_config.py``, else the working directory. The assignment:
``--assignment``, else the submissions' paths, else their notebooks' nbgrader
cell ids, else the course's ``CourseDirectory.assignment_id``, else a usage
error naming the choices. A grading process serves one course, so the made-up
courses here are resolved in a subprocess each.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course import assignments_of, find_course, nbgrader_setting
from autograder.options import UsageError
from tests.autograder.conftest import TENSORS_OK, checks_by_name, grade_json
from tests.course import COURSE, PYTORCH_VFA, REPO

DECLARATION = '''from autograder.assignment import Assignment, Part
ASSIGNMENT = Assignment(name={name!r}, title="made up", reference="solutions.{name}",
                        parts=(Part(1, "{name}_part", "a part", {notebook!r}),))
'''


def made_up_course(root: Path, names: dict[str, str], config: str | None = None) -> Path:
    """A course whose assignments (name -> notebook) are declared, each source notebook with graded cell ids."""
    (root / "assignments").mkdir(parents=True)
    (root / "assignments" / "__init__.py").write_text("")
    for name, notebook in names.items():
        (root / "assignments" / name).mkdir()
        (root / "assignments" / name / "__init__.py").write_text(DECLARATION.format(name=name, notebook=notebook))
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            "def f():\n    pass", metadata={"nbgrader": {"grade_id": f"{name}-solution", "solution": True}})])
        (root / "source" / name).mkdir(parents=True)
        nbformat.write(nb, str(root / "source" / name / notebook))
    if config is not None:
        (root / "nbgrader_config.py").write_text(config)
    return root


RESOLVE = """
import json, sys
from pathlib import Path
from autograder.course import find_course
from autograder.options import UsageError
root, name, *paths = sys.argv[1:]
try:
    course = find_course(Path(root) if root != "-" else None)
    print(json.dumps({"root": str(course.root), "assignment": course.resolve(name or None, [Path(p) for p in paths]).name}))
except UsageError as exc:
    print(json.dumps({"error": str(exc)}))
"""


def resolve(cwd: Path, *paths: Path, root: Path | None = None, name: str = "") -> dict:
    """``find_course(root).resolve(name, paths)`` in a fresh process with ``cwd`` as its working directory."""
    done = subprocess.run([sys.executable, "-c", RESOLVE, str(root) if root else "-", name, *map(str, paths)],
                          cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def student_folder(submitted: Path, student: str, assignment: str, notebook: str) -> Path:
    folder = submitted / student / assignment
    folder.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), str(folder / notebook))
    return folder


# --- the course directory -------------------------------------------------------------------


def test_the_course_root_option_comes_first(tmp_path):
    course = made_up_course(tmp_path / "course", {"hw1": "one.ipynb"})
    elsewhere = made_up_course(tmp_path / "cwd", {"hw2": "two.ipynb"}, config="c = get_config()\n")
    assert resolve(elsewhere, root=course) == {"root": str(course.resolve()), "assignment": "hw1"}


def test_then_the_root_that_nbgrader_config_sets(tmp_path):
    course = made_up_course(tmp_path / "course", {"hw1": "one.ipynb"})
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "nbgrader_config.py").write_text(f"c = get_config()\nc.CourseDirectory.root = {str(course)!r}\n")
    assert resolve(cwd)["root"] == str(course.resolve())
    (cwd / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.root = '../course'\n")
    assert resolve(cwd)["root"] == str(course.resolve())  # relative to the config's folder


def test_then_the_working_directory_never_the_install_path(tmp_path):
    course = made_up_course(tmp_path / "course", {"hw1": "one.ipynb"})
    assert resolve(course) == {"root": str(course.resolve()), "assignment": "hw1"}
    empty = tmp_path / "empty"
    empty.mkdir()
    error = resolve(empty)["error"]
    assert "has no assignment" in error and "--course-root" in error and str(empty.resolve()) in error


def test_a_missing_course_root_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such folder"):
        find_course(tmp_path / "nope")


def test_nbgrader_settings_are_read_without_running_the_config(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text(
        "raise SystemExit('the config was run')\nc = get_config()\nc.CourseDirectory.assignment_id = 'hw2'\n"
        "c.CourseDirectory.root = '/srv/course'\n")
    assert nbgrader_setting(tmp_path, "assignment_id") == "hw2"
    assert nbgrader_setting(tmp_path, "root") == "/srv/course"
    assert nbgrader_setting(tmp_path / "nowhere", "root") is None


# --- which assignment ---------------------------------------------------------------------------


@pytest.fixture
def two(tmp_path) -> Path:
    return made_up_course(tmp_path / "course", {"hw1": "one.ipynb", "hw2": "two.ipynb"})


def test_an_unknown_assignment_lists_those_that_exist(two):
    error = resolve(two, name="hw3")["error"]
    assert "unknown assignment 'hw3'" in error and "'hw1', 'hw2'" in error


def test_the_assignment_comes_from_the_submitted_tree(two, tmp_path):
    submitted = tmp_path / "submitted"
    folder = student_folder(submitted, "alice", "hw2", "whatever.ipynb")
    assert resolve(two, submitted)["assignment"] == "hw2"  # submitted/<student>/<assignment>/
    assert resolve(two, submitted / "alice")["assignment"] == "hw2"
    assert resolve(two, folder)["assignment"] == "hw2"
    assert resolve(two, folder / "whatever.ipynb")["assignment"] == "hw2"


def test_the_assignment_comes_from_a_notebook_name_or_its_nbgrader_cell_ids(two, tmp_path):
    named = tmp_path / "one.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), str(named))
    assert resolve(two, named)["assignment"] == "hw1"
    renamed = tmp_path / "alice.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "x = 1", metadata={"nbgrader": {"grade_id": "hw2-solution", "solution": True}})]), str(renamed))
    assert resolve(two, renamed)["assignment"] == "hw2"


def test_where_nothing_tells_the_configured_default_applies_else_a_usage_error(two, tmp_path):
    anonymous = tmp_path / "alice.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), str(anonymous))
    error = resolve(two, anonymous)["error"]
    assert "which assignment?" in error and "--assignment" in error and "hw1, hw2" in error
    (two / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.assignment_id = 'hw2'\n")
    assert resolve(two, anonymous)["assignment"] == "hw2"


def test_submissions_of_two_assignments_need_the_default_or_a_name(two, tmp_path):
    submitted = tmp_path / "submitted"
    student_folder(submitted, "alice", "hw1", "one.ipynb")
    student_folder(submitted, "bob", "hw2", "two.ipynb")
    assert "belong to hw1 and hw2" in resolve(two, submitted)["error"]
    assert resolve(two, submitted, name="hw1")["assignment"] == "hw1"


def test_a_course_with_one_assignment_needs_no_more(tmp_path):
    course = made_up_course(tmp_path / "course", {"hw1": "one.ipynb"})
    anonymous = tmp_path / "alice.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), str(anonymous))
    assert resolve(course, anonymous)["assignment"] == "hw1"


def test_this_repository_is_a_course():
    assert find_course(REPO).root == REPO.resolve()
    assert "pytorch_vfa" in COURSE.names()
    assert assignments_of(REPO / "source" / "pytorch_vfa" / "pytorch_basics.ipynb", COURSE) == {"pytorch_vfa"}


def test_grade_a_notebook_named_as_the_student_likes(capsys, tmp_path):
    """`autograder grade alice.ipynb`: a renamed release notebook is the one its nbgrader cell ids say it is."""
    from tests.adversarial.attacks import honest_release_notebook

    alice = tmp_path / "alice.ipynb"
    nbformat.write(honest_release_notebook(), str(alice))  # pytorch_basics with TENSORS_OK's answers in it
    code, report, err = grade_json(capsys, str(alice), "--jobs", "1", "--no-cache")
    assert code == 0, err
    assert report["assignment"] == PYTORCH_VFA.name
    (submission,) = report["submissions"]
    assert submission["groups"]["tensors"] == 15.0, checks_by_name(submission)
    assert "pytorch_basics.ipynb" not in (submission["error"] or "")  # found, not missing
    assert TENSORS_OK  # the answers of honest_release_notebook


def test_a_submitted_tree_of_two_assignments_gives_each_its_own_students(tmp_path):
    from autograder.submission import find_submissions
    from tests.course import POLICY_GRADIENT

    submitted = tmp_path / "submitted"
    student_folder(submitted, "alice", "pytorch_vfa", "pytorch_basics.ipynb")
    student_folder(submitted, "bob", "policy_gradient", "policy_gradient.ipynb")
    (submitted / "carol").mkdir()  # neither: graded as missing, so that nobody is lost
    for assignment, other, student in ((PYTORCH_VFA, POLICY_GRADIENT, "alice"), (POLICY_GRADIENT, PYTORCH_VFA, "bob")):
        found = find_submissions([submitted], assignment, others={other.name})
        assert [s.student for s in found] == [student, "carol"]
