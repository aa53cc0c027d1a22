"""The same attacks with ``--sandbox process`` (no bubblewrap): what still holds.

Without the sandbox the workers run as the grading user, see its files and its
network. What protects then: the data-only channel (nothing a worker sends is
run or unpickled), comparisons on the grader's side, the worker's guard
(refusing the plain Python ways of reading the reference, notebooks or the
network, and putting back what was patched), the kill of daemons, and the
resource limits. What does not: code that switches the guard off, or starts a
program of its own, reads and connects as the grading user. Those holes are
marked ``xfail(strict=True)``: each test says which attack gets through, and
fails the day it no longer does.

The fork bomb, ``kill -1`` and the startup files are not run here: as root,
without the sandbox, nothing would bound them.
"""

from __future__ import annotations

import json

import pytest

from tests.adversarial.attacks import ATTACKS, Attack
from tests.adversarial.conftest import CLASSMATE, HONEST_STUDENT, Batch, build_batch, remove_marked

SLOW = {"hang-in-a-cell", "hang-in-a-function", "memory-list", "memory-tensor", "flood-output", "sys-exit",
        "abort", "exit-in-a-function", "experiment-ids", "edit-hidden-tests"}  # no different without the sandbox
RUN = [a for a in ATTACKS if not a.bwrap_only and a.name not in SLOW]


def hole(attack: Attack, kind: str):
    if kind in attack.process_holes:
        return pytest.param(attack, id=attack.name, marks=pytest.mark.xfail(
            strict=True, reason=f"--sandbox process: {attack.name} gets through ({kind})"))
    return pytest.param(attack, id=attack.name)


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Batch:
    result = build_batch(tmp_path_factory.mktemp("process"), "process", RUN)
    yield result
    remove_marked(result.left_files, result.marker)


@pytest.mark.parametrize("attack", [hole(a, "points") for a in RUN])
def test_an_attack_gains_nothing(batch, attack: Attack):
    submission = batch.student(attack.name)
    assert submission["groups"] == attack.groups, json.dumps(submission["groups"])
    for name, diagnosis in attack.checks.items():
        check = next(c for c in submission["checks"] if c["name"] == name)
        assert (check["score"], check["diagnosis"]) == (0.0, diagnosis), check["feedback"]


@pytest.mark.parametrize("attack", RUN, ids=[a.name for a in RUN])
def test_tampering_is_named(batch, attack: Attack):
    submission = batch.student(attack.name)
    named = bool(submission["tampering"]) or any(c["diagnosis"] == "tampering" for c in submission["checks"])
    assert named == attack.tampering, (submission["tampering"], submission["notes"])


@pytest.mark.parametrize("student", [CLASSMATE, HONEST_STUDENT])
def test_honest_students_score_as_when_graded_alone(batch, student):
    together, alone = batch.student(student), batch.alone[student].student(student)
    assert together["groups"] == alone["groups"]
    assert [(c["name"], c["score"]) for c in together["checks"]] == [(c["name"], c["score"]) for c in alone["checks"]]


def test_the_report_is_the_graders_own(batch):
    assert batch.output_after == batch.run.output_bytes


@pytest.mark.xfail(strict=True, reason="--sandbox process: a program the student starts reaches the network")
def test_nothing_reached_the_network(batch):
    assert batch.heard == []


def test_no_process_is_left_behind(batch):
    assert batch.left_processes == {}, batch.left_processes


def test_no_file_is_left_behind(batch):
    assert batch.left_files == []
