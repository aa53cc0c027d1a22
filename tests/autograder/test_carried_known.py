"""Error carried forward without a record, where a callee's mistake is a known one.

A run that calls a callee marked wrong is judged against the reference run with
the known wrong version in it (kept for the batch), and its calls are recorded in
a second run only when that does not settle it (``CheckContext.grade``). Both
ways must judge alike: same scores, statuses, codes and feedback as the recorded
replay alone gives (``_known_roots`` returning None is that old way).
"""

from __future__ import annotations

import pytest
import torch

from autograder.checks.framework import CheckContext, CheckFailed, derive_seed, shared_findings
from autograder.checks.reference import reference_of
from autograder.checks.registry import all_checks
from autograder.in_kernel import _in_process
from tests.course import PYTORCH_VFA

UPDATE = "semi_gradient_td0_update"
CALLEE_CHECKS = ["td0.target", "td0.update"]


def student_namespace(overrides: dict) -> dict:
    """The reference's functions, rebuilt over one namespace with ``overrides`` in it (as a
    student's notebook defines them all in one)."""
    api = reference_of(PYTORCH_VFA).with_overrides(overrides)
    return api._ns["run_td0"].__globals__  # the one namespace its functions call each other through


def grade(namespace: dict, names: list[str]) -> tuple[list, list[dict | None]]:
    """These checks in order on ``namespace``, sharing findings as a submission's checks do;
    their contexts and the ``record`` of every probe call."""
    records: list[dict | None] = []
    student = _in_process(reference_of(PYTORCH_VFA).probes, namespace, 30)

    def logged(case, seed, record=None, **kwargs):
        records.append(record)
        return student(case, seed, record=record, **kwargs)

    findings, checks, contexts = shared_findings(), dict((m.name, (m, c)) for m, c in all_checks(PYTORCH_VFA)), []
    for name in names:
        meta, check = checks[name]
        ctx = CheckContext(meta, PYTORCH_VFA, logged, derive_seed(20251, name), "cpu",
                           reaches=lambda f: {"run_td0": {UPDATE, "td_target"}, UPDATE: {"td_target"}}.get(f, ()),
                           **findings)
        try:
            check(ctx)
        except CheckFailed:
            pass
        contexts.append(ctx)
    return contexts, records


def judged(contexts) -> list[tuple]:
    return [(c.result.score, c.result.status, c.result.diagnoses, c.result.feedback) for c in contexts]


@pytest.fixture
def known_update():
    code, wrong = PYTORCH_VFA.mistakes_table[UPDATE][0]
    return code, wrong


def test_a_run_right_given_a_known_mistake_is_credited_without_recording_its_calls(known_update, monkeypatch):
    code, wrong = known_update
    namespace = student_namespace({UPDATE: wrong})
    contexts, records = grade(namespace, [*CALLEE_CHECKS, "td0.run"])
    update, run = contexts[1].result, contexts[2].result
    assert update.status == "failed" and code in update.diagnoses
    assert run.status == "passed" and f"`{UPDATE}` (which is marked wrong in td0.update [{code}])" in run.feedback
    assert all(record is None for record in records), "a known mistake needs no record of the run's calls"

    monkeypatch.setattr(CheckContext, "_known_roots", lambda self, wrong: None)  # the recorded replay alone
    again, records = grade(namespace, [*CALLEE_CHECKS, "td0.run"])
    assert any(record is not None for record in records)
    assert judged(again) == judged(contexts)


def test_a_run_with_a_mistake_of_its_own_is_recorded_and_judged_as_the_replay_judges_it(known_update, monkeypatch):
    code, wrong = known_update
    namespace = student_namespace({UPDATE: wrong})
    right_run = namespace["run_td0"]

    def run_td0(env, v, optimizer, n_steps, gamma, seed):  # its own mistake: it scales the weights first
        with torch.no_grad():
            for parameter in v.parameters():
                parameter.mul_(1.5)
        return right_run(env, v, optimizer, n_steps, gamma, seed)

    namespace["run_td0"] = run_td0
    contexts, records = grade(namespace, [*CALLEE_CHECKS, "td0.run"])
    assert contexts[2].result.status != "passed"
    assert any(record is not None for record in records), "what the known mistake cannot settle is recorded"

    monkeypatch.setattr(CheckContext, "_known_roots", lambda self, wrong: None)
    again, _ = grade(namespace, [*CALLEE_CHECKS, "td0.run"])
    assert judged(again) == judged(contexts)
