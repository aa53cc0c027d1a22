"""Nothing that holds answers reaches student code, whichever way the engine is installed.

* What a sandbox shows of the grader: a worker walks its whole filesystem
  (with the guard switched off, so that only the sandbox holds) and finds the
  staged worker code and the probes, and nothing else of the engine, the
  plug-in (checks, known mistakes, feedback), the reference, the notebooks or
  the install's records: in an editable checkout and in a non-editable install.
* The attacks on the grader's files, graded by a non-editable install's
  engine, in both sandbox modes: each gains nothing (the holes of ``--sandbox
  process`` with the guard switched off are strict xfails), and tampering is named.
  The editable checkout's batches (test_sandboxed_batch, test_process_mode)
  run the same attacks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.worker.sandbox import bwrap_available
from tests.adversarial.attacks import BY_NAME, Attack
from tests.adversarial.conftest import Batch, build_batch, needs_bwrap, remove_marked
from tests.course import REPO

GRADER_ATTACKS = ["read-the-grader", "run-a-known-mistake", "read-solution-files", "import-solutions",
                  "patch-the-worker", "patch-a-probe-class"]

#: A worker's cell: every file of the sandbox that belongs to the grader, the staged code aside.
LOOK = r'''
import gc, json, os, sys
for obj in gc.get_objects():  # the guard off: the sandbox alone must hold
    if type(obj).__name__ == "Guard":
        type(obj)._HANDLERS = {}
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_ClosedPackages"]
import autograder
stage = os.path.dirname(os.path.dirname(autograder.__file__))
staged, grader = [], []
for dirpath, dirnames, filenames in os.walk("/", onerror=lambda error: None):
    dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in ("/proc", "/sys", "/dev")]
    for name in filenames:
        path = os.path.join(dirpath, name)
        installed, _, inside = path.partition("/site-packages/")
        if inside:  # a library's own notebooks and folders are not the grader's; what the engine installed is
            top = inside.split("/")[0]
            ours = top in ("autograder", "solutions", "assignments") or top.startswith(("__editable__",
                                                                                        "pytorch_vfa_autograder"))
        else:
            parts = path.split("/")
            ours = name.endswith(".ipynb") or bool({"solutions", "assignments", "autograder"} & set(parts))
        if ours and os.path.isfile(path):  # a masked file is /dev/null: its name is left, nothing to read
            (staged if path.startswith(stage + "/") else grader).append(path)
print(json.dumps({"staged": sorted(os.path.relpath(p, stage) for p in staged), "grader": sorted(grader)[:10],
                  "grader_files": len(grader)}), file=sys.stderr)
'''

#: Runs LOOK in a sandboxed worker of the engine that `python` imports (argv: the course root, the cell).
WORKER = r'''
import sys
from pathlib import Path
from autograder.course import find_course
from autograder.worker.client import NotebookSession, Zygote
import autograder
zygote = Zygote(find_course(Path(sys.argv[1])).assignment("pytorch_vfa").worker_code(), "bwrap")
session = NotebookSession(zygote, [{"index": 0, "id": None, "source": sys.argv[2]}], 120)
try:
    session.start()
    print(autograder.__file__)
    print(session.reports[0].stderr.strip().splitlines()[-1])
finally:
    session.close()
    zygote.close()
'''


def what_a_sandbox_shows(python: Path, cwd: Path) -> tuple[str, dict]:
    done = subprocess.run([str(python), "-c", WORKER, str(REPO), LOOK], cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    engine, seen = done.stdout.strip().splitlines()[-2:]
    return engine, json.loads(seen)


EXPECTED_STAGE = {"autograder/__init__.py", "assignments/__init__.py", "assignments/pytorch_vfa/__init__.py",
                  "assignments/pytorch_vfa/probes.py"}


@needs_bwrap
@pytest.mark.parametrize("install", ["editable", "non-editable"])
def test_a_sandbox_shows_the_worker_code_and_the_probes_only(install, request, tmp_path):
    python = Path(sys.executable) if install == "editable" else request.getfixturevalue("installed_python")
    engine, seen = what_a_sandbox_shows(python, tmp_path)
    assert ("site-packages" in engine) == (install == "non-editable"), engine
    assert (seen["grader_files"], seen["grader"]) == (0, []), seen
    staged = set(seen["staged"])
    assert EXPECTED_STAGE <= staged
    others = staged - EXPECTED_STAGE
    assert others and all(p.startswith("autograder/worker/") for p in others), sorted(others)
    assert not {"autograder/worker/client.py", "autograder/worker/host.py"} & staged  # the grader's side stays out


def hole(attack: Attack, mode: str):
    if mode == "process" and "points" in attack.process_holes:
        return pytest.mark.xfail(strict=True, reason=f"--sandbox process: {attack.name} gets through (points)")
    return ()


MODES = ["bwrap", "process"] if bwrap_available() else ["process"]


@pytest.fixture(scope="module", params=MODES)
def installed_batch(request, installed_python, tmp_path_factory) -> Batch:
    attacks = [BY_NAME[name] for name in GRADER_ATTACKS]
    result = build_batch(tmp_path_factory.mktemp(f"installed-{request.param}"), request.param, attacks,
                         python=installed_python)
    yield result
    remove_marked(result.left_files, result.marker)


@pytest.mark.parametrize("name", GRADER_ATTACKS)
def test_an_attack_on_the_graders_files_gains_nothing_in_an_installed_engine(installed_batch, name, request):
    attack = BY_NAME[name]
    for mark in [hole(attack, installed_batch.mode)] if hole(attack, installed_batch.mode) else []:
        request.node.add_marker(mark)
    submission = installed_batch.student(name)
    assert submission["status"] == "graded", submission["error"]
    assert submission["groups"] == attack.groups, json.dumps(submission["groups"])


@pytest.mark.parametrize("name", GRADER_ATTACKS)
def test_the_attack_is_named_as_tampering_in_an_installed_engine(installed_batch, name):
    submission = installed_batch.student(name)
    assert bool(submission["tampering"]) or any(c["diagnosis"] == "tampering" for c in submission["checks"])


def test_the_installed_batch_was_graded_by_the_installed_engine(installed_batch, installed_python):
    assert installed_batch.run.report["sandbox"] == installed_batch.mode
    assert not str(installed_python).startswith(str(REPO))
