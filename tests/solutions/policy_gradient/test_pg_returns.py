"""Part 2 of policy_gradient (returns, Sutton & Barto §3.3).

``discounted_returns`` against returns worked out by hand for small episodes
and against the definition G_t = Σ_{k≥t} γ^{k−t} R_{k+1} (a double sum, not the
recursion) for longer ones; the empty episode; the dtype and device rules of
the spec (a floating tensor keeps its dtype and device; a list, an array or an
integer tensor gives float32).

Tolerance: the hand values below are exact in binary (sums of powers of 2), so
float64 must match them to rounding (rtol 1e-12); the double sum and the
recursion add the same terms in another order, ~1e-15 apart (rtol 1e-10).
"""

import numpy as np
import pytest
import torch

from pg_closed_forms import returns_by_definition
from solutions.policy_gradient import discounted_returns

REWARDS = [1.0, -2.0, 3.0, 0.5]


@pytest.mark.parametrize("gamma, expected", [
    (0.5, [0.8125, -0.375, 3.25, 0.5]),   # G_3 = 0.5, G_2 = 3 + 0.25, G_1 = −2 + 1.625, G_0 = 1 − 0.1875
    (1.0, [2.5, 1.5, 3.5, 0.5]),           # plain sums of what follows
    (0.0, REWARDS),                         # only the next reward
    (0.25, [0.6953125, -1.21875, 3.125, 0.5]),  # G_2 = 3 + 0.125, G_1 = −2 + 0.78125, G_0 = 1 − 0.3046875
])
def test_returns_by_hand(gamma, expected):
    out = discounted_returns(torch.tensor(REWARDS, dtype=torch.float64), gamma)
    assert out.shape == (4,) and out.dtype == torch.float64
    torch.testing.assert_close(out, torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=0)


@pytest.mark.parametrize("gamma", [0.0, 0.3, 0.9, 0.99, 1.0])
@pytest.mark.parametrize("T", [1, 2, 7, 50])
def test_returns_match_the_definition(T, gamma):
    rewards = np.random.default_rng(T).normal(size=T)
    out = discounted_returns(torch.from_numpy(rewards), gamma)
    torch.testing.assert_close(out, torch.from_numpy(returns_by_definition(rewards, gamma)), rtol=1e-10, atol=1e-12)


def test_single_step_episode():
    torch.testing.assert_close(discounted_returns(torch.tensor([-3.0]), 0.9), torch.tensor([-3.0]))


@pytest.mark.parametrize("rewards, dtype", [
    ([], torch.float32),
    (np.zeros(0), torch.float32),
    (torch.zeros(0, dtype=torch.float64), torch.float64),
    (torch.zeros(0, dtype=torch.long), torch.float32),
])
def test_empty_episode(rewards, dtype):
    out = discounted_returns(rewards, 0.9)
    assert out.shape == (0,) and out.dtype == dtype


@pytest.mark.parametrize("rewards, dtype", [
    (REWARDS, torch.float32),                                   # a list
    ([1, -2, 3, 0], torch.float32),                             # a list of ints
    (np.array(REWARDS), torch.float32),                         # a float64 array still gives float32
    (np.array([1, -2, 3, 0], dtype=np.int64), torch.float32),
    (torch.tensor([1, -2, 3, 0]), torch.float32),               # an integer tensor
    (torch.tensor(REWARDS, dtype=torch.float32), torch.float32),
    (torch.tensor(REWARDS, dtype=torch.float64), torch.float64),  # a floating tensor keeps its dtype
    (torch.tensor(REWARDS, dtype=torch.float16), torch.float16),
])
def test_dtype_rules(rewards, dtype):
    out = discounted_returns(rewards, 0.5)
    assert out.dtype == dtype and out.device.type == "cpu"
    expected = returns_by_definition(np.asarray(torch.as_tensor(rewards).double()), 0.5)
    np.testing.assert_allclose(out.double().numpy(), expected, rtol=1e-2 if dtype == torch.float16 else 1e-6)


@pytest.mark.parametrize("dtype, out_dtype", [(torch.float64, torch.float64), (torch.long, torch.float32)])
def test_device_is_kept(dtype, out_dtype):
    out = discounted_returns(torch.ones(5, dtype=dtype, device="meta"), 0.9)
    assert out.device.type == "meta" and out.dtype == out_dtype and out.shape == (5,)


def test_rewards_are_not_modified():
    rewards = torch.tensor(REWARDS, dtype=torch.float64)
    discounted_returns(rewards, 0.5)
    assert rewards.tolist() == REWARDS
