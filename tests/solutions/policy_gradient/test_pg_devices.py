"""Devices and dtypes of policy_gradient: what a function creates goes on the
device of its inputs or of the network's parameters, with the network's dtype.

The ``meta`` device stands for any device but the CPU (a tensor there has a
shape, a dtype and a device but no data): a function that builds a tensor on
the CPU by default, or mixes devices, fails there. Functions that must read
numbers (``sample_action``, the ``.item()`` of the updates, the runs) cannot
run on it; they are checked in float64 instead, where a silent float32 would
show as a changed dtype.
"""

import numpy as np
import pytest
import torch
import torch.nn as nn

from pg_closed_forms import SEPARATING_REWARDS, LinearBaseline
from assignments.policy_gradient.probes import ShortCorridor
from solutions.policy_gradient import (
    SoftmaxPolicy,
    action_probabilities,
    discounted_returns,
    log_probs,
    reinforce_baseline_update,
    reinforce_loss,
    reinforce_update,
    run_reinforce,
    run_reinforce_baseline,
)

META = torch.device("meta")


def meta_policy():
    return SoftmaxPolicy(3, 2, 4).to(META)


# --- meta -------------------------------------------------------------------------------------


def test_forward_on_meta():
    out = meta_policy()(torch.ones(5, 3, device=META))
    assert out.device == META and out.shape == (5, 2)


@pytest.mark.parametrize("state", [torch.ones(3, device=META), torch.ones(3), np.ones(3, dtype=np.float32),
                                   torch.ones(4, 3, device=META)])
def test_action_probabilities_on_meta(state):
    # An observation from the CPU is moved to the policy's device.
    out = action_probabilities(meta_policy(), state)
    assert out.device == META and out.dtype == torch.float32 and out.shape == (*np.shape(state)[:-1], 2)


@pytest.mark.parametrize("actions", [torch.tensor([0, 1, 1, 0], device=META), [0, 1, 1, 0], torch.tensor([0, 1, 1, 0])])
def test_log_probs_on_meta(actions):
    out = log_probs(meta_policy(), torch.ones(4, 3, device=META), actions)
    assert out.device == META and out.shape == (4,) and out.requires_grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_reinforce_loss_on_meta(dtype):
    log_pi = torch.ones(4, device=META, dtype=dtype, requires_grad=True)
    loss = reinforce_loss(log_pi, torch.ones(4, device=META, dtype=torch.float64), 0.5)
    assert loss.device == META and loss.dtype == dtype and loss.shape == ()
    loss.backward()
    assert log_pi.grad.device == META


def test_discounted_returns_on_meta():
    out = discounted_returns(torch.ones(4, device=META, dtype=torch.float64), 0.5)
    assert out.device == META and out.dtype == torch.float64


# --- float64 ----------------------------------------------------------------------------------


class DtypeSpy(nn.Module):
    """Wraps a network; records the dtype and device of every input."""

    def __init__(self, net):
        super().__init__()
        self.net, self.seen = net, set()

    def forward(self, x):
        self.seen.add((x.dtype, x.device.type))
        return self.net(x)


def float64_episode():
    rng = np.random.default_rng(0)
    return rng.normal(size=(4, 3)).astype(np.float32), [0, 1, 1, 0], SEPARATING_REWARDS  # as from an environment


def test_float64_policy_functions():
    policy = SoftmaxPolicy(3, 2, 4).double()
    states, actions, _ = float64_episode()
    assert policy(torch.ones(3, dtype=torch.float64)).dtype == torch.float64
    assert action_probabilities(policy, states[0]).dtype == torch.float64
    assert log_probs(policy, states, actions).dtype == torch.float64
    assert discounted_returns(torch.tensor(SEPARATING_REWARDS, dtype=torch.float64), 0.5).dtype == torch.float64


def test_float64_reinforce_update():
    policy = DtypeSpy(SoftmaxPolicy(3, 2, 4).double())
    states, actions, rewards = float64_episode()
    loss = reinforce_update(policy, torch.optim.SGD(policy.parameters(), lr=0.1), states, actions, rewards, 0.5)
    assert type(loss) is float and policy.seen == {(torch.float64, "cpu")}
    assert all(p.dtype == torch.float64 and p.grad.dtype == torch.float64 for p in policy.parameters())


def test_mixed_dtype_baseline_update():
    # A float64 policy with a float32 value: each network gets inputs of its own dtype.
    policy, value = DtypeSpy(SoftmaxPolicy(3, 2, 4).double()), DtypeSpy(nn.Linear(3, 1))
    states, actions, rewards = float64_episode()
    out = reinforce_baseline_update(policy, value, torch.optim.SGD(policy.parameters(), lr=0.1),
                                    torch.optim.SGD(value.parameters(), lr=0.1), states, actions, rewards, 0.5)
    assert all(type(x) is float for x in out)
    assert policy.seen == {(torch.float64, "cpu")} and value.seen == {(torch.float32, "cpu")}
    assert all(p.dtype == torch.float64 for p in policy.parameters())
    assert all(p.dtype == torch.float32 for p in value.parameters())


def test_float64_runs_convert_observations_to_the_policy_dtype():
    policy, value = DtypeSpy(SoftmaxPolicy(1, 2, 4).double()), DtypeSpy(LinearBaseline(1))
    run_reinforce(ShortCorridor(), policy, torch.optim.SGD(policy.parameters(), lr=0.01), 3, 0.9, seed=0)
    assert policy.seen == {(torch.float64, "cpu")}
    run_reinforce_baseline(ShortCorridor(), policy, value, torch.optim.SGD(policy.parameters(), lr=0.01),
                           torch.optim.SGD(value.parameters(), lr=0.01), 3, 0.9, seed=0)
    assert policy.seen == {(torch.float64, "cpu")} and value.seen == {(torch.float64, "cpu")}
