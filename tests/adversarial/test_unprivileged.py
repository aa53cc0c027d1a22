"""Process mode as root (a container where bubblewrap cannot run, as on Gradescope): workers
drop to nobody where nobody can run them, and stay root, saying so, where it cannot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder.worker.sandbox import unprivileged_blocker
from tests.autograder.conftest import TENSORS_OK, write_notebook
from tests.course import PYTORCH_VFA, REPO
from tests.unprivileged import NOBODY, SEES_THIS_PYTHON, where_nobody_sees_python

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: only root can drop to another user")

UID_CELL = 'import os\nraise RuntimeError(f"worker uid={os.geteuid()}")'


def grade_uid(tmp_path: Path, tmpdir: Path, prefix: list[str] = ()) -> tuple[dict, str]:
    """A student with TENSORS_OK and a cell that names its uid, graded in process mode: the report, stderr."""
    folder = tmp_path / "alice"
    write_notebook(folder / "pytorch_basics.ipynb", [TENSORS_OK, UID_CELL])
    command = [*prefix, sys.executable, "-m", "autograder", "grade", str(folder), "--assignment", PYTORCH_VFA.name,
               "--course-root", str(REPO), "--sandbox", "process", "--format", "json", "--jobs", "1", "--no-cache",
               "--timeout", "30", "--output", str(tmp_path / "report.json")]
    done = subprocess.run(command, cwd=tmp_path, env={**os.environ, "TMPDIR": str(tmpdir)}, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    (student,) = json.loads((tmp_path / "report.json").read_text())["submissions"]
    assert student["groups"]["tensors"] == 15.0, student  # honest code runs alike as either user
    return student, done.stderr


def test_the_blocker_names_what_nobody_cannot_enter(tmp_path):
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    assert str(closed) in unprivileged_blocker(closed / "scratch")


def test_workers_run_as_nobody_where_nobody_can_run_them(tmp_path):
    prefix = where_nobody_sees_python(tmp_path, SEES_THIS_PYTHON)
    if prefix is None:
        pytest.skip(f"uid {NOBODY} cannot run this Python ({sys.executable}) here, even in a mount namespace")
    scratch = Path(tempfile.mkdtemp(prefix="autograder-open-"))  # pytest's tmp_path is root's alone
    try:
        scratch.chmod(0o711)
        student, err = grade_uid(tmp_path, scratch, prefix)
    finally:
        subprocess.run(["rm", "-rf", str(scratch)], check=True, timeout=60)
    assert any(f"worker uid={NOBODY}" in note for note in student["notes"]), (student["notes"], err)
    assert "sandbox: process (student code runs as nobody" in err
    # this checkout is readable by all: the command line says that nobody can read its answers
    assert f"who can read {PYTORCH_VFA.checks_dir.parent}" in err


def test_workers_stay_root_and_say_so_where_nobody_cannot_reach_their_scratch(tmp_path):
    closed = tmp_path / "closed"  # under pytest's tmp_path: root's alone
    closed.mkdir()
    student, err = grade_uid(tmp_path, closed)
    assert any("worker uid=0" in note for note in student["notes"]), student["notes"]
    assert f"student code runs as root: uid {NOBODY} cannot read or enter" in err and str(tmp_path) in err
