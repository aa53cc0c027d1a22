"""A batch killed with kill -9 half-way loses nothing: the same command,
run again, grades only what is missing and reports what an uninterrupted
run reports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.autograder.conftest import TENSORS_OK, write_notebook

STUDENTS = 6


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("crash") / "submitted"
    for i in range(STUDENTS):
        # each one a little different, and slow enough to be killed half-way
        code = TENSORS_OK if i % 2 else TENSORS_OK.replace("return x.view(-1)", "return x.reshape(-1).clone()")
        write_notebook(root / f"s{i}" / "pytorch_vfa" / "pytorch_basics.ipynb", [code, "import time\ntime.sleep(1.5)"])
    return root


def command(batch: Path, cache: Path, output: Path) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade", str(batch), "--format", "json", "--jobs", "2",
            "--cache", str(cache), "--output", str(output)]


def without_durations(report: dict) -> dict:
    for s in report["submissions"]:
        s.pop("duration_s")
    return report


def session_processes(session: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == session:
                    found.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                pass
    return found


def test_a_killed_batch_resumes_without_regrading_and_reports_the_same(batch, tmp_path):
    full = tmp_path / "full.json"
    subprocess.run(command(batch, tmp_path / "cache-full", full), check=True, timeout=600,
                   capture_output=True)

    cache, resumed = tmp_path / "cache", tmp_path / "resumed.json"
    first = subprocess.Popen(command(batch, cache, resumed), start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(list(cache.glob("*.json"))) < 2 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.1)
    os.kill(first.pid, signal.SIGKILL)  # the batch's main process, as a user would
    first.wait(timeout=30)
    finished = {p.name for p in cache.glob("*.json")}
    assert 2 <= len(finished) < STUDENTS, "kill the batch half-way"
    deadline = time.monotonic() + 30
    while session_processes(first.pid) and time.monotonic() < deadline:
        time.sleep(0.2)  # its pool processes and sandboxes die with it
    assert session_processes(first.pid) == []

    second = subprocess.run(command(batch, cache, resumed), check=True, timeout=600, capture_output=True, text=True)
    assert f"{len(finished)} submission(s) already graded" in second.stderr
    assert {p.name for p in cache.glob("*.json")} >= finished
    report, reference = json.loads(resumed.read_text()), json.loads(full.read_text())
    assert [s["student"] for s in report["submissions"]] == [f"s{i}" for i in range(STUDENTS)]
    assert without_durations(report) == without_durations(reference)


def test_a_changed_notebook_is_graded_again(batch, tmp_path):
    cache = tmp_path / "cache"
    subprocess.run(command(batch, cache, tmp_path / "a.json"), check=True, timeout=600, capture_output=True)
    notebook = batch / "s0" / "pytorch_vfa" / "pytorch_basics.ipynb"
    original = notebook.read_text()
    try:
        write_notebook(notebook, [TENSORS_OK])
        again = subprocess.run(command(batch, cache, tmp_path / "b.json"), check=True, timeout=600,
                               capture_output=True, text=True)
    finally:
        notebook.write_text(original)
    assert f"{STUDENTS - 1} submission(s) already graded" in again.stderr
    s0 = json.loads((tmp_path / "b.json").read_text())["submissions"][0]
    assert s0["groups"]["tensors"] == 15.0
