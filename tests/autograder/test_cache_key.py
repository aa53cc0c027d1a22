"""The cache key covers what grades: an edited check, probe, known mistake, feedback
text, reference or source notebook of one assignment invalidates that
assignment's cached results, and no other assignment's.

A course with two assignments (pytorch_vfa and a renamed copy of it) is made in
a temporary folder; its fingerprints are read in a subprocess (a process grades
one course) after each edit.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.course import REPO

FINGERPRINTS = """
import json, sys
from pathlib import Path
from autograder.cache import grader_fingerprint
from autograder.course import find_course
course = find_course(Path(sys.argv[1]))
print(json.dumps({name: grader_fingerprint(course.assignment(name)) for name in course.names()}))
"""

EDITS = {  # what an instructor edits, relative to the course root, in the first assignment
    "a check": "assignments/pytorch_vfa/checks/test_td0.py",
    "a probe": "assignments/pytorch_vfa/probes.py",
    "a known mistake": "assignments/pytorch_vfa/mistakes.py",
    "a feedback text": "assignments/pytorch_vfa/feedback.py",
    "the declaration": "assignments/pytorch_vfa/__init__.py",
    "the reference": "solutions/pytorch_vfa/td.py",
    "a source notebook": "source/pytorch_vfa/value_approximation.ipynb",
    "a release notebook": "release/pytorch_vfa/value_approximation.ipynb",
}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cache-key") / "course"
    ignore = shutil.ignore_patterns("__pycache__")
    for folder in ("assignments/pytorch_vfa", "solutions/pytorch_vfa", "source/pytorch_vfa", "release/pytorch_vfa"):
        shutil.copytree(REPO / folder, root / folder, ignore=ignore)
        shutil.copytree(REPO / folder, root / folder.replace("pytorch_vfa", "second"), ignore=ignore)
    for package in ("assignments", "solutions"):
        shutil.copy(REPO / package / "__init__.py", root / package / "__init__.py")
    declaration = root / "assignments" / "second" / "__init__.py"
    declaration.write_text(declaration.read_text().replace('"pytorch_vfa"', '"second"')
                           .replace('"solutions.pytorch_vfa"', '"solutions.second"'))
    return root


def fingerprints(root: Path) -> dict[str, str]:
    done = subprocess.run([sys.executable, "-c", FINGERPRINTS, str(root)], capture_output=True, text=True,
                          timeout=120, cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_each_edit_invalidates_its_assignment_only(course):
    before = fingerprints(course)
    assert set(before) == {"pytorch_vfa", "second"}
    for what, relative in EDITS.items():
        path = course / relative
        original = path.read_bytes()
        path.write_bytes(original + (b"\n# edited\n" if path.suffix == ".py" else b"\n"))
        after = fingerprints(course)
        assert after["pytorch_vfa"] != before["pytorch_vfa"], f"editing {what} kept pytorch_vfa's cached results"
        assert after["second"] == before["second"], f"editing {what} of pytorch_vfa invalidated the other's"
        path.write_bytes(original)
    assert fingerprints(course) == before  # the same files, the same key


def test_the_engine_and_the_options_are_in_the_key_too(tmp_path):
    from autograder.cache import grader_fingerprint, result_key
    from autograder.submission import Submission
    from tests.course import PYTORCH_VFA

    submission = Submission("alice", tmp_path, {})
    key = result_key(submission, PYTORCH_VFA, {"seed": 1})
    assert key != result_key(submission, PYTORCH_VFA, {"seed": 2})
    assert key != result_key(submission, PYTORCH_VFA, {"seed": 1}, grader="another engine")
    assert grader_fingerprint(PYTORCH_VFA).startswith(__import__("autograder.cache").cache.engine_fingerprint())
