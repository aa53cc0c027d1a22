"""Part 1 of policy_gradient (softmax policies, Sutton & Barto §13.1-13.2).

* ``SoftmaxPolicy``: its layers, and ``forward`` = linear2(relu(linear1(x)))
  written out by hand: preferences, not probabilities.
* ``action_probabilities`` against a softmax computed in numpy.
* ``log_probs`` and its gradient for a linear softmax policy (an ``nn.Linear``
  as the policy) against the closed form ∇_W ln π(a|s) = (e_a − π) sᵀ,
  ∇_b ln π(a|s) = e_a − π; finite in float32 with preferences 200 apart.
* ``sample_action`` against inverse-CDF draws made here from a generator with
  the same seed: the same actions, one draw per call, the rounding edge case.

Tolerance of the float64 checks: the closed form and autograd do a few dozen
operations in another order, so they agree to a few ulps; rtol 1e-10 /
atol 1e-12 leaves room for that and rejects any real mistake (a softmax over
the wrong axis, a missing −π term), which is O(1).
"""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from pg_closed_forms import grad_ln_pi, inverse_cdf, linear_policy, ln_pi, numpy_params, pi_of, softmax
from solutions.policy_gradient import SoftmaxPolicy, action_probabilities, log_probs, sample_action

TIGHT = dict(rtol=1e-10, atol=1e-12)


# --- SoftmaxPolicy ------------------------------------------------------------------------


def test_softmax_policy_layers():
    policy = SoftmaxPolicy(5, 3, 8)
    assert isinstance(policy, nn.Module)
    assert isinstance(policy.linear1, nn.Linear) and isinstance(policy.linear2, nn.Linear)
    assert policy.linear1.weight.shape == (8, 5) and policy.linear2.weight.shape == (3, 8)
    assert sum(p.numel() for p in policy.parameters()) == 8 * 5 + 8 + 3 * 8 + 3


@pytest.mark.parametrize("batch", [(), (1,), (7,)])
def test_softmax_policy_forward_is_the_preferences(batch):
    torch.manual_seed(0)
    policy = SoftmaxPolicy(4, 3, 6).double()
    x = torch.randn(*batch, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    W1, b1, W2, b2 = numpy_params(policy)
    expected = np.maximum(x.numpy() @ W1.T + b1, 0.0) @ W2.T + b2
    out = policy(x)
    assert out.shape == (*batch, 3)
    torch.testing.assert_close(out, torch.from_numpy(expected), **TIGHT)


def test_softmax_policy_outputs_are_not_probabilities():
    policy = SoftmaxPolicy(2, 3, 4)
    with torch.no_grad():
        policy.linear2.bias.copy_(torch.tensor([-5.0, 2.0, 7.0]))
        policy.linear2.weight.zero_()
    torch.testing.assert_close(policy(torch.ones(2)), torch.tensor([-5.0, 2.0, 7.0]))


# --- action_probabilities --------------------------------------------------------------


@pytest.mark.parametrize("batch", [(), (5,)])
def test_action_probabilities_are_the_softmax_of_the_preferences(batch):
    policy = linear_policy(3, 4, seed=2)
    s = np.random.default_rng(3).normal(size=(*batch, 3))
    W, b = numpy_params(policy)
    probs = action_probabilities(policy, torch.from_numpy(s))
    assert probs.shape == (*batch, 4) and probs.dtype == torch.float64
    torch.testing.assert_close(probs, torch.from_numpy(pi_of(W, b, s)), **TIGHT)
    torch.testing.assert_close(probs.sum(-1), torch.ones(batch, dtype=torch.float64), **TIGHT)


def test_action_probabilities_of_an_observation_array():
    # What an environment hands over: a float32 array, converted to the policy's dtype.
    policy = linear_policy(4, 2, seed=4)
    obs = np.array([0.1, -0.2, 0.3, 0.05], dtype=np.float32)
    W, b = numpy_params(policy)
    probs = action_probabilities(policy, obs)
    assert probs.dtype == torch.float64
    torch.testing.assert_close(probs, torch.from_numpy(pi_of(W, b, obs.astype(np.float64))), **TIGHT)


# --- log_probs ---------------------------------------------------------------------------


def episode(T=6, d=3, seed=5, n_actions=3):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.normal(size=(T, d))), torch.from_numpy(rng.integers(n_actions, size=T))


def test_log_probs_values():
    policy = linear_policy(3, 3, seed=6)
    states, actions = episode()
    W, b = numpy_params(policy)
    out = log_probs(policy, states, actions)
    assert out.shape == (6,) and out.dtype == torch.float64
    expected = [ln_pi(W, b, s, int(a)) for s, a in zip(states.numpy(), actions)]
    torch.testing.assert_close(out, torch.tensor(expected, dtype=torch.float64), **TIGHT)


def test_log_probs_gradient_is_the_closed_form():
    """∇_θ Σ_i c_i ln π(a_i|s_i) = Σ_i c_i (e_a − π) sᵀ, and Σ_i c_i (e_a − π) for b."""
    policy = linear_policy(3, 3, seed=7)
    states, actions = episode(seed=8)
    c = np.random.default_rng(9).normal(size=6)
    W, b = numpy_params(policy)
    (torch.from_numpy(c) * log_probs(policy, states, actions)).sum().backward()
    grad_W, grad_b = np.zeros_like(W), np.zeros_like(b)
    for c_i, s, a in zip(c, states.numpy(), actions):
        g_W, g_b = grad_ln_pi(W, b, s, int(a))
        grad_W += c_i * g_W
        grad_b += c_i * g_b
    torch.testing.assert_close(policy.weight.grad, torch.from_numpy(grad_W), **TIGHT)
    torch.testing.assert_close(policy.bias.grad, torch.from_numpy(grad_b), **TIGHT)


def test_log_probs_accepts_lists_of_actions():
    policy = linear_policy(3, 3, seed=10)
    states, actions = episode(seed=11)
    torch.testing.assert_close(log_probs(policy, states, actions.tolist()), log_probs(policy, states, actions))


def test_log_probs_finite_in_float32_with_preferences_200_apart():
    """Preferences (100, −100): ln π(1|s) = −200 − ln(1 + e^−200) ≈ −200 exactly in
    float32, where log(softmax) gives ln 0 = −inf."""
    policy = nn.Linear(1, 2)
    with torch.no_grad():
        policy.weight.zero_()
        policy.bias.copy_(torch.tensor([100.0, -100.0]))
    states = torch.ones(3, 1)
    out = log_probs(policy, states, torch.tensor([0, 1, 1]))
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, torch.tensor([0.0, -200.0, -200.0]), rtol=1e-6, atol=1e-6)
    out.sum().backward()
    # ∇_b = Σ_i (e_{a_i} − π) with π = (1, e^−200) ≈ (1, 0): (1 − 1) + 2 (0 − 1), 2 (1 − 0).
    torch.testing.assert_close(policy.bias.grad, torch.tensor([-2.0, 2.0]))


# --- sample_action -----------------------------------------------------------------------


class Draws:
    """A stand-in generator: ``random()`` returns the given numbers in order."""

    def __init__(self, *values: float):
        self.values, self.calls = list(values), 0

    def random(self) -> float:
        self.calls += 1
        return self.values.pop(0)


@pytest.mark.parametrize("n_actions", [2, 3, 6])
def test_sample_action_is_inverse_cdf_with_one_draw_per_call(n_actions):
    rng, replay = np.random.default_rng(12), np.random.default_rng(12)
    dirichlet = np.random.default_rng(13)
    for _ in range(400):
        probs = torch.from_numpy(dirichlet.dirichlet(np.ones(n_actions))).float()
        action = sample_action(probs, rng)
        assert type(action) is int
        assert action == inverse_cdf(probs.double().numpy(), replay.random())
    assert rng.random() == replay.random()  # both generators consumed the same number of draws


def test_sample_action_frequencies():
    # 20 000 draws: each frequency within 4.5 binomial standard errors of π.
    probs = torch.tensor([0.1, 0.6, 0.3])
    rng = np.random.default_rng(14)
    counts = np.bincount([sample_action(probs, rng) for _ in range(20_000)], minlength=3)
    se = np.sqrt(probs.numpy() * (1 - probs.numpy()) / 20_000)
    assert np.all(np.abs(counts / 20_000 - probs.numpy()) < 4.5 * se)


def test_sample_action_boundaries_are_strict():
    """u < cumsum: a draw equal to a cumulative probability goes to the next action,
    and an action of probability 0 is never drawn, not even for u = 0."""
    probs = torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64)
    draws = Draws(0.0, 0.25, 0.4999, 0.5, 0.75, 0.9999)
    assert [sample_action(probs, draws) for _ in range(6)] == [0, 1, 1, 2, 2, 2]
    assert draws.calls == 6
    assert sample_action(torch.tensor([0.0, 0.5, 0.5]), Draws(0.0)) == 1


def test_sample_action_last_action_when_the_cumsum_ends_below_u():
    # A float32 softmax (of preferences 2.38, −0.04, −0.97) whose float64 sum is 1 − 1.1e-7.
    probs = torch.tensor([0.8899880051612854, 0.07893260568380356, 0.031079275533556938], dtype=torch.float32)
    total = float(np.cumsum(probs.double().numpy())[-1])
    assert total < 1.0 - 1e-7
    draws = Draws(1.0 - 5e-8)
    assert sample_action(probs, draws) == 2 and draws.calls == 1
    # Ten float64 0.1s sum to 1 − 2⁻⁵³, the largest u that random() returns: still the last action.
    assert sample_action([0.1] * 10, Draws(1.0 - 2.0**-53)) == 9
    assert sample_action([0.3, 0.3, 0.3], Draws(0.95)) == 2


def test_sample_action_sums_in_float64():
    # In float32, 0.1f + 0.2f rounds up to 0.3000000119; in float64 it is 0.30000000447.
    probs = torch.tensor([0.1, 0.2, 0.7], dtype=torch.float32)
    cumulative64 = float(probs[0].double() + probs[1].double())
    cumulative32 = float(probs[0] + probs[1])
    assert cumulative64 < cumulative32
    u = (cumulative64 + cumulative32) / 2  # between them: action 2 in float64, 1 in float32
    assert sample_action(probs, Draws(u)) == 2


def test_sample_action_does_not_need_a_graph_free_tensor():
    policy = linear_policy(2, 3, seed=15)
    probs = action_probabilities(policy, torch.ones(2, dtype=torch.float64))
    assert probs.requires_grad
    assert sample_action(probs, Draws(0.5)) == inverse_cdf(probs.detach().numpy(), 0.5)


def test_pi_closed_form_helper_is_a_distribution():
    # The helpers above are used as ground truth: check them against math.
    p = softmax(np.array([0.0, math.log(3.0)]))
    np.testing.assert_allclose(p, [0.25, 0.75], rtol=1e-15)
