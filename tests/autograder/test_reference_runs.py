"""The reference's results are kept between grading processes (``framework.save_reference_runs``):
a batch of one does not compute them again, and what is read back is what was computed."""

from __future__ import annotations

import pytest
import torch

from autograder.checks import framework
from autograder.checks.framework import Case, Outcome, load_reference_runs, run_reference, save_reference_runs
from autograder.checks.reference import reference_of
from autograder.compare import compare
from autograder.worker import wire
from tests.course import PYTORCH_VFA

CASE = Case("td_target", {"reward": torch.tensor([1.0, 0.5]), "next_value": torch.tensor([2.0, -1.0]),
                          "terminated": torch.tensor([False, True]), "gamma": 0.9, "device": "cpu"}, "td_target(...)")


@pytest.fixture
def empty_runs(monkeypatch):
    monkeypatch.setattr(framework, "_REFERENCE_RUNS", {})
    return framework._REFERENCE_RUNS


def test_results_read_back_are_those_computed_and_none_is_computed_again(tmp_path, empty_runs, monkeypatch):
    reference = reference_of(PYTORCH_VFA)
    computed = run_reference(CASE, reference.api(), 7, reference)
    assert computed.kind == "ok" and len(empty_runs) == 1
    store = tmp_path / "reference.jsonl"
    save_reference_runs(store)
    empty_runs.clear()
    assert load_reference_runs(store) == 1
    monkeypatch.setattr(framework, "reference_outcome", lambda *a: pytest.fail("computed again"))
    again = run_reference(CASE, reference.api(), 7, reference)
    assert again.kind == computed.kind and again.seconds == computed.seconds
    assert compare(again.value, computed.value).ok
    assert again.value.dtype == computed.value.dtype and again.value.device == computed.value.device


def test_what_is_true_of_a_tensor_survives_the_file(tmp_path, empty_runs):
    value = wire.loads(wire.dumps({"meta": torch.empty(2, 3, device="meta"),
                                   "graph": torch.ones(2, requires_grad=True) * 2}))
    empty_runs[(("a", "reference"), "probe", b"\x01" * 16, 3)] = Outcome("ok", value, seconds=0.5)
    empty_runs[(("a", "mistake", "f", 0), "probe", b"\x02" * 16, 3)] = Outcome("error", error={"type": "E"})
    with_overrides = (("a", "reference-with", ("a", "mistake", "f", 0)), "probe", b"\x03" * 16, 3)  # nested
    empty_runs[with_overrides] = Outcome("ok", 2.0)
    store = tmp_path / "reference.jsonl"
    save_reference_runs(store)
    empty_runs.clear()
    assert load_reference_runs(store) == 3 and empty_runs[with_overrides].value == 2.0
    back = empty_runs[(("a", "reference"), "probe", b"\x01" * 16, 3)].value
    assert back["meta"].device == "meta" and tuple(back["meta"].shape) == (2, 3)
    assert back["graph"].requires_grad and back["graph"].has_grad_fn
    assert empty_runs[(("a", "mistake", "f", 0), "probe", b"\x02" * 16, 3)].error == {"type": "E"}


def test_a_damaged_file_costs_only_its_damaged_lines(tmp_path, empty_runs):
    empty_runs[(("a", "reference"), "probe", b"\x01" * 16, 3)] = Outcome("ok", 1.5, seconds=0.1)
    store = tmp_path / "reference.jsonl"
    save_reference_runs(store)
    store.write_bytes(store.read_bytes() + b"\n{not json\n" + b'{"key": 3}\n')
    empty_runs.clear()
    assert load_reference_runs(store) == 1 and empty_runs[(("a", "reference"), "probe", b"\x01" * 16, 3)].value == 1.5
    assert load_reference_runs(tmp_path / "absent.jsonl") == 0


def test_a_reference_run_leaves_the_case_as_it_was(empty_runs):
    """A probe that changes its arguments in place (``w.to('cpu')`` is ``w`` itself, and
    ``requires_grad_()`` marks it) changes a copy, as in the worker: the case's next run, its key
    in the kept results and the student's run all see the arguments the check wrote."""
    reference = reference_of(PYTORCH_VFA)
    w = torch.randn(8, generator=torch.Generator().manual_seed(3))
    case = Case("baird_semi_gradient", {"w": w, "state": 0, "next_state": 6, "action": 1, "gamma": 0.99,
                                        "device": "cpu"}, "baird_semi_gradient(...)")
    before = wire.dumps(case.args)
    first = run_reference(case, reference.api(), 7, reference)
    assert first.kind == "ok"
    assert not w.requires_grad and w.grad is None and wire.dumps(case.args) == before
    run_reference(case, reference.api(), 7, reference)
    assert len(empty_runs) == 1, "the same case was kept twice, under two keys"
