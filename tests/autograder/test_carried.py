"""Error carried forward, its two halves on hand-made functions: recording a
graded function's calls to the student's other graded functions (in the
worker: autograder/worker/recording.py), and replaying them to the reference
(on the grader's side: autograder/checks/carried.py).

The whole path, over real submissions, is in the fixtures (``action-before-state``,
``nan-target``, ``nothing-update``, ``zeros-gradient``, ``log-probs-other-action``).
"""

from __future__ import annotations

import pytest
import torch

from autograder.checks.carried import NotCarried, Replay
from autograder.compare import FLOAT32_STEP
from autograder.worker import wire
from autograder.worker.recording import CallRecorder


STUDENT = """
import torch

def target(reward, value, gamma=0.9):
    torch.rand(1)  # moves the global generator: the replay leaves it where this call did
    return 2 * (reward + gamma * value)  # the student's mistake

def update(net, optimizer, reward):
    optimizer.zero_grad()
    value = net(torch.ones(2)).squeeze()
    loss = 0.5 * (target(reward, value.detach()) - value) ** 2
    loss.backward()
    optimizer.step()
    return float(loss.detach())
"""
#: the reference: the same update, a right target that draws nothing
REFERENCE = STUDENT.replace("    torch.rand(1)", "    pass").replace("2 * (reward", "(reward")


def namespace_of(code: str) -> dict:
    namespace: dict = {}
    exec(compile(code, "<cell>", "exec"), namespace)  # as a worker runs a notebook's cells
    return namespace


def network(seed: int = 0) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    net = torch.nn.Linear(2, 1)
    return net, torch.optim.SGD(net.parameters(), lr=0.1)


def recorded(namespace: dict, function: str, *args) -> tuple[object, list[dict]]:
    with CallRecorder(namespace, function, [n for n in namespace if n != function]) as recorder:
        result = namespace[function](*args)
    assert recorder.complete
    return result, wire.loads(wire.dumps(recorder.calls))  # as the grader receives them


def replayed(calls: list[dict]) -> tuple[dict, Replay]:
    """The reference, its callees replaced by the replay's stand-ins."""
    reference, replay = namespace_of(REFERENCE), Replay(calls, FLOAT32_STEP)
    reference.update(replay.stand_ins(reference))
    return reference, replay


def test_only_the_graded_functions_own_calls_are_recorded_with_their_arguments_by_position():
    student = namespace_of(STUDENT)
    student["target"](1.0, torch.tensor(0.5))  # a call outside the graded function: not recorded
    _, calls = recorded(student, "update", *network(), 1.0)
    assert [call["name"] for call in calls] == ["target"]
    reward, value, gamma = calls[0]["args"]
    assert reward == 1.0 and gamma == 0.9  # the default, filled in
    assert torch.equal(calls[0]["result"].values, 2 * (1.0 + 0.9 * value.values))
    assert set(calls[0]["rng"]) == {"torch"}  # the generator it moved


def test_the_reference_given_the_students_callee_replays_the_students_result():
    net, optimizer = network()
    loss, calls = recorded(namespace_of(STUDENT), "update", net, optimizer, 1.0)
    after = torch.get_rng_state()
    reference, replay = replayed(calls)
    ref_net, ref_optimizer = network()
    assert reference["update"](ref_net, ref_optimizer, 1.0) == pytest.approx(loss)
    assert replay.finished() and not replay.differentiated()
    assert torch.allclose(ref_net.weight, net.weight) and torch.allclose(ref_net.bias, net.bias)
    assert torch.equal(torch.get_rng_state(), after)  # as the student's callee left it


def test_the_right_reference_is_not_the_students_result():
    """The replay is what makes them agree: the reference on its own differs."""
    net, optimizer = network()
    loss = namespace_of(STUDENT)["update"](net, optimizer, 1.0)
    assert namespace_of(REFERENCE)["update"](*network(), 1.0) != pytest.approx(loss)


def test_other_arguments_carry_nothing():
    """A caller whose callee is called with other inputs than the reference's is not right "given" it:
    without that check, a do-nothing update would make every loop right."""
    _, calls = recorded(namespace_of(STUDENT), "update", *network(seed=0), 1.0)
    reference, replay = replayed(calls)
    with pytest.raises(NotCarried, match="other arguments"):
        reference["update"](*network(seed=1), 1.0)  # other weights: another value
    assert not replay.finished()


def test_a_call_the_student_never_made_carries_nothing():
    _, calls = recorded(namespace_of(STUDENT), "update", *network(), 1.0)
    reference, replay = replayed(calls)
    reference["update"](*network(), 1.0)
    with pytest.raises(NotCarried, match="more often"):
        reference["target"](1.0, torch.tensor(0.0))
    assert not replay.finished()


def test_a_recorded_result_differentiated_through_says_it_cannot_be_told():
    code = """
import torch

def log_pi(theta):
    return torch.log_softmax(theta, -1) * 2  # a mistake; its result has a graph

def loss_of(theta):
    return -log_pi(theta).sum()
"""
    theta = torch.zeros(3, requires_grad=True)
    _, calls = recorded(namespace_of(code), "loss_of", theta)
    assert calls[0]["graph"] is True
    reference = namespace_of(code.replace(" * 2", ""))
    replay = Replay(calls, FLOAT32_STEP)
    reference.update(replay.stand_ins(reference))
    reference["loss_of"](torch.zeros(3, requires_grad=True)).backward()
    assert replay.differentiated()
