"""Part 4 of policy_gradient (REINFORCE with baseline, Sutton & Barto §13.4).

* ``reinforce_baseline_update`` with SGD, a linear softmax policy and a linear
  baseline v̂(s) = s·w + c, against the per-step sums of the book's box:
  δ_t = G_t − v̂(S_t, w) with the weights before the update,
  Δw = α^w Σ_t δ_t ∇v̂(S_t, w) (no γ^t) and Δθ = α^θ Σ_t γ^t δ_t ∇ln π(A_t|S_t, θ);
  the losses ½ Σ δ² and −Σ γ^t δ_t ln π returned before the steps; and the
  gradients left in ``.grad``: the value's holds −Σ δ_t ∇v̂ only (no gradient of
  the policy loss), the policy's −Σ γ^t δ_t ∇ln π.
* A ``ValueFunction``-shaped network (output ``(T, 1)``) is handled: δ is ``(T,)``.
* ``run_reinforce_baseline`` replayed by an independent loop on CartPole.

Tolerance as in test_pg_reinforce.py: float64 throughout, a few ulps of
reordering apart; rtol 1e-10 / atol 1e-12 for one update, 1e-9 for a replay
of 8 updates.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn as nn

from pg_closed_forms import (
    SEPARATING_GAMMA,
    SEPARATING_REWARDS,
    LinearBaseline,
    grad_ln_pi,
    inverse_cdf,
    linear_policy,
    ln_pi,
    numpy_params,
    pi_of,
    random_episode,
    returns_by_definition,
)
from assignments.policy_gradient.probes import ShortCorridor
from solutions.policy_gradient import SoftmaxPolicy, reinforce_baseline_update, run_reinforce_baseline

TIGHT = dict(rtol=1e-10, atol=1e-12)


def expected_baseline_update(policy, value, states, actions, rewards, gamma, alpha_theta, alpha_w):
    """Everything one update of REINFORCE with baseline must give, by hand."""
    W, b = numpy_params(policy)
    w, c = numpy_params(value)
    S = states.numpy()
    delta = returns_by_definition(rewards, gamma) - (S @ w + c)
    grad_w, grad_c = -(delta @ S), -delta.sum()  # ∇ of ½ Σ δ²
    grad_W, grad_b, policy_loss = np.zeros_like(W), np.zeros_like(b), 0.0
    for t, (s, a) in enumerate(zip(S, actions.tolist())):
        g_W, g_b = grad_ln_pi(W, b, s, a)
        grad_W -= gamma**t * delta[t] * g_W
        grad_b -= gamma**t * delta[t] * g_b
        policy_loss -= gamma**t * delta[t] * ln_pi(W, b, s, a)
    return dict(
        policy_loss=policy_loss, value_loss=0.5 * float(delta @ delta),
        W=W - alpha_theta * grad_W, b=b - alpha_theta * grad_b, w=w - alpha_w * grad_w, c=c - alpha_w * grad_c,
        grad_W=grad_W, grad_b=grad_b, grad_w=grad_w, grad_c=grad_c,
    )


def check_update(T, gamma, seed, stale=False):
    policy, value = linear_policy(3, 3, seed=seed), LinearBaseline(3, seed=seed + 1)
    states, actions = random_episode(T, 3, 3, seed=seed + 2)
    rewards = list(SEPARATING_REWARDS) if T == 4 else np.random.default_rng(seed).normal(size=T).tolist()
    alpha_theta, alpha_w = 0.05, 0.02
    expected = expected_baseline_update(policy, value, states, actions, rewards, gamma, alpha_theta, alpha_w)
    if stale:
        for p in [*policy.parameters(), *value.parameters()]:
            p.grad = torch.full_like(p, 40.0)
    out = reinforce_baseline_update(
        policy, value, torch.optim.SGD(policy.parameters(), lr=alpha_theta),
        torch.optim.SGD(value.parameters(), lr=alpha_w), states, actions, rewards, gamma)
    assert isinstance(out, tuple) and len(out) == 2 and all(type(x) is float for x in out)
    assert out[0] == pytest.approx(expected["policy_loss"], rel=1e-10, abs=1e-12)
    assert out[1] == pytest.approx(expected["value_loss"], rel=1e-10, abs=1e-12)
    for name, tensor in [("W", policy.weight), ("b", policy.bias), ("w", value.w), ("c", value.c),
                         ("grad_W", policy.weight.grad), ("grad_b", policy.bias.grad),
                         ("grad_w", value.w.grad), ("grad_c", value.c.grad)]:
        torch.testing.assert_close(tensor.detach(), torch.as_tensor(expected[name]), **TIGHT, msg=name)


@pytest.mark.parametrize("T, gamma", [(1, 0.9), (4, SEPARATING_GAMMA), (10, 0.9), (30, 0.99), (6, 1.0), (5, 0.0)])
def test_baseline_update_is_the_closed_form(T, gamma):
    check_update(T, gamma, seed=T)


def test_baseline_update_ignores_stale_gradients():
    check_update(4, SEPARATING_GAMMA, seed=20, stale=True)


def test_baseline_update_leaves_no_policy_gradient_in_the_value():
    """Large returns make the policy loss's gradient through an undetached δ large;
    the value's .grad must still be that of ½ Σ δ² alone. The learning rates are
    0, so that a mistake cannot hide in the steps: only .grad is looked at."""
    policy, value = linear_policy(2, 2, seed=30), LinearBaseline(2, seed=31)
    states, actions = random_episode(6, 2, 2, seed=32)
    rewards = [100.0, -50.0, 80.0, 0.0, 30.0, -10.0]
    expected = expected_baseline_update(policy, value, states, actions, rewards, 0.9, 0.0, 0.0)
    reinforce_baseline_update(policy, value, torch.optim.SGD(policy.parameters(), lr=0.0),
                              torch.optim.SGD(value.parameters(), lr=0.0), states, actions, rewards, 0.9)
    torch.testing.assert_close(value.w.grad, torch.from_numpy(expected["grad_w"]), **TIGHT)
    torch.testing.assert_close(value.c.grad, torch.as_tensor(expected["grad_c"]), **TIGHT)


class MLPValue(nn.Module):
    """A small non-linear v̂ with output (…, 1), like pytorch_vfa's ValueFunction."""

    def __init__(self, d):
        super().__init__()
        torch.manual_seed(33)
        self.body = nn.Sequential(nn.Linear(d, 8), nn.Tanh(), nn.Linear(8, 1)).double()

    def forward(self, x):
        return self.body(x)


def test_baseline_update_with_a_network_value_matches_per_step_gradients():
    """Δw = α^w Σ_t δ_t ∇v̂(S_t) with each ∇v̂ by autograd; δ must be (T,), not (T, 1) broadcast to (T, T)."""
    policy, value = linear_policy(3, 2, seed=34), MLPValue(3)
    states, actions = random_episode(5, 3, 2, seed=35)
    rewards = np.random.default_rng(36).normal(size=5)
    gamma, alpha_theta, alpha_w = 0.9, 0.05, 0.03
    params = list(value.parameters())
    before = [p.detach().clone() for p in params]
    with torch.no_grad():
        delta = torch.from_numpy(returns_by_definition(rewards, gamma)) - value(states).squeeze(-1)
    step = [torch.zeros_like(p) for p in params]
    for t in range(5):
        for acc, grad in zip(step, torch.autograd.grad(value(states[t]).squeeze(), params)):
            acc += alpha_w * delta[t] * grad
    _, value_loss = reinforce_baseline_update(
        policy, value, torch.optim.SGD(policy.parameters(), lr=alpha_theta),
        torch.optim.SGD(params, lr=alpha_w), states, actions, rewards.tolist(), gamma)
    assert value_loss == pytest.approx(0.5 * float(delta @ delta), rel=1e-10)
    for p, p0, d in zip(params, before, step):
        torch.testing.assert_close(p.detach() - p0, d, **TIGHT)


# --- run_reinforce_baseline: replay -----------------------------------------------------------


def replay_baseline(env, W, b, w, c, n_episodes, gamma, alpha_theta, alpha_w, seed):
    rng = np.random.default_rng(seed)
    episode_returns, endings = [], []
    for episode in range(n_episodes):
        obs, _ = env.reset(seed=seed if episode == 0 else None)
        states, actions, rewards, done = [], [], [], False
        while not done:
            s = np.asarray(obs, dtype=np.float64)
            a = inverse_cdf(pi_of(W, b, s), rng.random())
            obs, r, terminated, truncated, _ = env.step(a)
            states.append(s), actions.append(a), rewards.append(float(r))
            done = terminated or truncated
        endings.append("terminated" if terminated else "truncated")
        S = np.array(states)
        delta = returns_by_definition(rewards, gamma) - (S @ w + c)
        step_W, step_b = np.zeros_like(W), np.zeros_like(b)
        for t, (s, a) in enumerate(zip(states, actions)):
            g_W, g_b = grad_ln_pi(W, b, s, a)
            step_W += gamma**t * delta[t] * g_W
            step_b += gamma**t * delta[t] * g_b
        W, b = W + alpha_theta * step_W, b + alpha_theta * step_b
        w, c = w + alpha_w * (delta @ S), c + alpha_w * delta.sum()
        episode_returns.append(sum(rewards))
    return episode_returns, (W, b, w, c), endings


def test_run_reinforce_baseline_replays_exactly_on_cartpole():
    n_episodes, gamma, alpha_theta, alpha_w, seed = 8, 0.9, 0.05, 0.01, 4
    policy, value = linear_policy(4, 2, seed=40, scale=0.5), LinearBaseline(4, seed=41, scale=0.1)
    start = [*numpy_params(policy), *numpy_params(value)]
    returns = run_reinforce_baseline(
        gym.make("CartPole-v1", max_episode_steps=20), policy, value,
        torch.optim.SGD(policy.parameters(), lr=alpha_theta), torch.optim.SGD(value.parameters(), lr=alpha_w),
        n_episodes, gamma, seed)
    expected, params, endings = replay_baseline(gym.make("CartPole-v1", max_episode_steps=20), *start,
                                                n_episodes, gamma, alpha_theta, alpha_w, seed)
    assert {"terminated", "truncated"} <= set(endings)
    assert isinstance(returns, list) and all(type(g) is float for g in returns)
    assert returns == expected
    for tensor, array in zip([policy.weight, policy.bias, value.w, value.c], params):
        torch.testing.assert_close(tensor.detach(), torch.as_tensor(array), rtol=1e-9, atol=1e-12)


def test_run_reinforce_baseline_on_the_corridor_logs_every_episode():
    env = ShortCorridor()
    torch.manual_seed(0)
    policy, value = SoftmaxPolicy(1, 2, 4), nn.Linear(1, 1)
    returns = run_reinforce_baseline(env, policy, value, torch.optim.SGD(policy.parameters(), lr=0.001),
                                     torch.optim.SGD(value.parameters(), lr=0.001), 6, 1.0, seed=5)
    assert returns == env.episode_returns and len(returns) == 6
