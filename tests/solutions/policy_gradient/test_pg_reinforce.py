"""Part 3 of policy_gradient (REINFORCE, Sutton & Barto §13.3).

* ``reinforce_loss`` = −Σ_t γ^t G_t ln π(A_t|S_t) by hand; the returns are constants.
* ``reinforce_update`` with ``torch.optim.SGD(lr=α)``: the parameter change is
  α Σ_t γ^t G_t ∇ln π(A_t|S_t, θ), with ∇ln π in closed form for a linear
  softmax policy, and by per-step autograd for a ``SoftmaxPolicy``; the
  returned loss is the one before the step; stale gradients are ignored.
* ``run_reinforce`` replayed by an independent loop (numpy policy, inverse CDF,
  closed-form updates) with the same pinned randomness, on CartPole truncated
  at 20 steps so that both terminations and truncations happen; its resets,
  its acting without a graph and its one update per episode.

Tolerance: everything exact is float64. The closed form does the same few
hundred products and sums as autograd + SGD in another order, ~1e-15 relative
apart; rtol 1e-10 / atol 1e-12 leaves ample room while any weighting mistake
(no γ^t, a mean over T, a wrong return) changes Δθ by O(α G ∇ln π), orders of
magnitude more. The replay runs 8 updates, each adding rounding of the same
size, so it keeps rtol 1e-9.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch

from pg_closed_forms import (
    SEPARATING_GAMMA,
    SEPARATING_REWARDS,
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
from solutions.policy_gradient import SoftmaxPolicy, log_probs, reinforce_loss, reinforce_update, run_reinforce

TIGHT = dict(rtol=1e-10, atol=1e-12)


# --- reinforce_loss ----------------------------------------------------------------------


def test_reinforce_loss_by_hand():
    # −Σ γ^t G_t ln π with γ = 0.5: −(1·2·(−1) + 0.5·(−4)·(−0.5) + 0.25·8·(−2) + 0.125·1·(−0.25)).
    log_pi = torch.tensor([-1.0, -0.5, -2.0, -0.25], dtype=torch.float64)
    G = torch.tensor([2.0, -4.0, 8.0, 1.0], dtype=torch.float64)
    loss = reinforce_loss(log_pi, G, 0.5)
    assert loss.shape == () and loss.dtype == torch.float64
    assert float(loss) == -(-2.0 + 1.0 - 4.0 - 0.03125)


def test_reinforce_loss_treats_the_returns_as_constants():
    log_pi = torch.tensor([-1.0, -0.5, -2.0], dtype=torch.float64, requires_grad=True)
    G = torch.tensor([2.0, -4.0, 8.0], dtype=torch.float64, requires_grad=True)
    reinforce_loss(log_pi, G, 0.9).backward()
    assert G.grad is None or torch.all(G.grad == 0)
    torch.testing.assert_close(log_pi.grad, -torch.tensor([2.0, -0.9 * 4.0, 0.81 * 8.0], dtype=torch.float64), **TIGHT)


def test_reinforce_loss_in_the_dtype_of_the_log_probs():
    log_pi = torch.tensor([-1.0, -0.5], dtype=torch.float32)
    loss = reinforce_loss(log_pi, torch.tensor([2.0, 1.0], dtype=torch.float64), 0.5)
    assert loss.dtype == torch.float32
    assert reinforce_loss(log_pi, [2.0, 1.0], 0.5).dtype == torch.float32


# --- reinforce_update: the closed form ----------------------------------------------------


def expected_linear_update(policy, states, actions, rewards, gamma, alpha):
    """(loss, W, b) after one REINFORCE update of a linear softmax policy, by hand."""
    W, b = numpy_params(policy)
    G = returns_by_definition(rewards, gamma)
    loss, step_W, step_b = 0.0, np.zeros_like(W), np.zeros_like(b)
    for t, (s, a) in enumerate(zip(states.numpy(), actions.tolist())):
        g_W, g_b = grad_ln_pi(W, b, s, a)
        loss -= gamma**t * G[t] * ln_pi(W, b, s, a)
        step_W += gamma**t * G[t] * g_W
        step_b += gamma**t * G[t] * g_b
    return loss, W + alpha * step_W, b + alpha * step_b


@pytest.mark.parametrize("T, gamma", [(1, 0.9), (4, SEPARATING_GAMMA), (9, 0.9), (25, 0.99), (6, 1.0), (5, 0.0)])
def test_reinforce_update_is_the_closed_form(T, gamma):
    policy = linear_policy(3, 4, seed=T)
    states, actions = random_episode(T, 3, 4, seed=100 + T)
    rewards = list(SEPARATING_REWARDS) if T == 4 else np.random.default_rng(T).normal(size=T).tolist()
    alpha = 0.05
    loss_expected, W_expected, b_expected = expected_linear_update(policy, states, actions, rewards, gamma, alpha)
    loss = reinforce_update(policy, torch.optim.SGD(policy.parameters(), lr=alpha), states, actions, rewards, gamma)
    assert type(loss) is float
    assert loss == pytest.approx(loss_expected, rel=1e-10, abs=1e-12)  # before the step
    torch.testing.assert_close(policy.weight.detach(), torch.from_numpy(W_expected), **TIGHT)
    torch.testing.assert_close(policy.bias.detach(), torch.from_numpy(b_expected), **TIGHT)


def test_reinforce_update_ignores_stale_gradients():
    policy = linear_policy(3, 2, seed=1)
    states, actions = random_episode(4, 3, 2, seed=2)
    _, W_expected, b_expected = expected_linear_update(policy, states, actions, SEPARATING_REWARDS, 0.5, 0.1)
    policy.weight.grad = torch.full_like(policy.weight, 30.0)
    policy.bias.grad = torch.full_like(policy.bias, -30.0)
    reinforce_update(policy, torch.optim.SGD(policy.parameters(), lr=0.1), states, actions, SEPARATING_REWARDS, 0.5)
    torch.testing.assert_close(policy.weight.detach(), torch.from_numpy(W_expected), **TIGHT)
    torch.testing.assert_close(policy.bias.detach(), torch.from_numpy(b_expected), **TIGHT)


def test_reinforce_update_accepts_tensor_rewards_and_list_actions():
    policy = linear_policy(3, 2, seed=3)
    states, actions = random_episode(4, 3, 2, seed=4)
    _, W_expected, _ = expected_linear_update(policy, states, actions, SEPARATING_REWARDS, 0.5, 0.1)
    reinforce_update(policy, torch.optim.SGD(policy.parameters(), lr=0.1), states, actions.tolist(),
                     torch.tensor(SEPARATING_REWARDS, dtype=torch.float64), 0.5)
    torch.testing.assert_close(policy.weight.detach(), torch.from_numpy(W_expected), **TIGHT)


def test_reinforce_update_on_a_softmax_policy_matches_per_step_gradients():
    """A non-linear policy: Δθ = α Σ_t γ^t G_t ∇ln π(A_t|S_t) with each ∇ln π by autograd, one step at a time."""
    torch.manual_seed(5)
    policy = SoftmaxPolicy(3, 3, 8).double()
    states, actions = random_episode(7, 3, 3, seed=6)
    rewards = np.random.default_rng(7).normal(size=7)
    gamma, alpha = 0.8, 0.02
    params = list(policy.parameters())
    before = [p.detach().clone() for p in params]
    G = returns_by_definition(rewards, gamma)
    step = [torch.zeros_like(p) for p in params]
    for t in range(7):
        h = policy(states[t])
        ln_pi_t = h[actions[t]] - torch.logsumexp(h, 0)
        for acc, grad in zip(step, torch.autograd.grad(ln_pi_t, params)):
            acc += alpha * gamma**t * G[t] * grad
    reinforce_update(policy, torch.optim.SGD(params, lr=alpha), states, actions, rewards.tolist(), gamma)
    for p, p0, d in zip(params, before, step):
        torch.testing.assert_close(p.detach() - p0, d, **TIGHT)


def test_reinforce_update_in_float32_stays_float32():
    policy = SoftmaxPolicy(3, 2, 4)
    states, actions = random_episode(5, 3, 2, seed=8)
    loss = reinforce_update(policy, torch.optim.SGD(policy.parameters(), lr=0.1), states.float(), actions,
                            [1.0, 0.0, -1.0, 2.0, 0.5], 0.9)
    assert type(loss) is float
    assert all(p.dtype == torch.float32 for p in policy.parameters())
    assert log_probs(policy, states.float(), actions).dtype == torch.float32


# --- run_reinforce: replay the pinned randomness --------------------------------------------


def replay_reinforce(env, W, b, n_episodes, gamma, alpha, seed):
    """The spec's run, written out with numpy: a linear softmax policy, inverse-CDF
    actions from one draw each, one closed-form update per episode."""
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
        G = returns_by_definition(rewards, gamma)
        step_W, step_b = np.zeros_like(W), np.zeros_like(b)
        for t, (s, a) in enumerate(zip(states, actions)):
            g_W, g_b = grad_ln_pi(W, b, s, a)
            step_W += gamma**t * G[t] * g_W
            step_b += gamma**t * G[t] * g_b
        W, b = W + alpha * step_W, b + alpha * step_b
        episode_returns.append(sum(rewards))
    return episode_returns, W, b, endings


def test_run_reinforce_replays_exactly_on_cartpole():
    n_episodes, gamma, alpha, seed = 8, 0.9, 0.05, 3
    policy = linear_policy(4, 2, seed=9, scale=0.5)
    W0, b0 = numpy_params(policy)
    returns = run_reinforce(gym.make("CartPole-v1", max_episode_steps=20), policy,
                            torch.optim.SGD(policy.parameters(), lr=alpha), n_episodes, gamma, seed)
    expected, W, b, endings = replay_reinforce(gym.make("CartPole-v1", max_episode_steps=20), W0, b0,
                                               n_episodes, gamma, alpha, seed)
    assert {"terminated", "truncated"} <= set(endings)  # both endings were exercised
    assert isinstance(returns, list) and all(type(g) is float for g in returns)
    assert returns == expected
    torch.testing.assert_close(policy.weight.detach(), torch.from_numpy(W), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(policy.bias.detach(), torch.from_numpy(b), rtol=1e-9, atol=1e-12)


class Spy(gym.Wrapper):
    """Records the seed of every reset."""

    def __init__(self, env):
        super().__init__(env)
        self.reset_seeds = []

    def reset(self, *, seed=None, options=None):
        self.reset_seeds.append(seed)
        return self.env.reset(seed=seed, options=options)


class CountingSGD(torch.optim.SGD):
    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.steps = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


class GradRecordingPolicy(SoftmaxPolicy):
    """Records, for each forward on a single state (acting), whether a graph was recorded."""

    def __init__(self, *args):
        super().__init__(*args)
        self.acting_with_grad = []

    def forward(self, x):
        if x.dim() == 1:
            self.acting_with_grad.append(torch.is_grad_enabled())
        return super().forward(x)


def test_run_reinforce_resets_updates_and_acts_as_pinned():
    env = Spy(ShortCorridor())
    torch.manual_seed(0)
    policy = GradRecordingPolicy(1, 2, 4)
    optimizer = CountingSGD(policy.parameters(), lr=0.01)
    returns = run_reinforce(env, policy, optimizer, 5, 0.9, seed=11)
    assert env.reset_seeds == [11, None, None, None, None]
    assert optimizer.steps == 5  # one update per episode
    assert returns == env.unwrapped.episode_returns
    assert len(policy.acting_with_grad) == env.unwrapped.steps  # one action per step
    assert not any(policy.acting_with_grad)


def test_run_reinforce_ends_truncated_episodes():
    # Always left: every episode is truncated at 200 steps in state 0.
    policy = torch.nn.Linear(1, 2)
    with torch.no_grad():
        policy.weight.zero_()
        policy.bias.copy_(torch.tensor([50.0, -50.0]))
    env = ShortCorridor()
    returns = run_reinforce(env, policy, torch.optim.SGD(policy.parameters(), lr=0.0), 3, 1.0, seed=0)
    assert returns == [-200.0, -200.0, -200.0] and env.episode_lengths == [200, 200, 200]
