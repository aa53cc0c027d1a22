"""Part 5 (action values and semi-gradient control).

* ``q_values`` pairs each state with each action, ``concat(state, [a])``.
* ``epsilon_greedy`` replayed against a twin generator: one ``rng.random()``
  per call, ``rng.integers(n)`` only when exploring, lowest index on ties.
* SARSA and Q-learning updates with ``torch.optim.SGD(lr=α)`` against the
  closed form ``α · mean_i δ_i ∇q̂(S_i, A_i)`` for a linear q̂ (∇q̂ = (s, a, 1)),
  SARSA's target with the given next action, Q-learning's with max_a,
  R alone on termination, δ detached and computed before the step.
* ``run_sarsa`` replayed step by step, with terminations and truncations.
* (slow) SARSA and Q-learning learn CartPole-v1.

Tolerance of the exact checks, as in test_td.py: float64 throughout, so the
closed form and autograd + SGD agree to a few ulps; rtol 1e-10 / atol 1e-12 is
far tighter than any real mistake (O(α δ)) and far looser than rounding.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch

from linear_vfa import LinearValue
from solutions.pytorch_vfa import (
    ValueFunction,
    epsilon_greedy,
    q_values,
    run_sarsa,
    semi_gradient_q_learning_update,
    semi_gradient_sarsa_update,
)

TIGHT = dict(rtol=1e-10, atol=1e-12)


def linear_q(q: LinearValue, s: torch.Tensor, a) -> torch.Tensor:
    """q̂(s, a) = s @ w[:d] + a w[d] + b, by hand (no graph)."""
    w, b = q.snapshot()
    a = torch.as_tensor(a, dtype=torch.float64)
    return s @ w[:-1] + a * w[-1] + b


# --- q_values --------------------------------------------------------------------


@pytest.mark.parametrize("n_actions", [2, 3])
def test_q_values_single_state(n_actions):
    q = LinearValue(5, seed=0)
    s = torch.tensor([0.1, -0.2, 0.3, 0.4], dtype=torch.float64)
    out = q_values(q, s, n_actions)
    assert out.shape == (n_actions,)
    torch.testing.assert_close(out, torch.stack([linear_q(q, s, a) for a in range(n_actions)]), **TIGHT)


@pytest.mark.parametrize("n_actions", [2, 3])
def test_q_values_batch_from_numpy(n_actions):
    q = LinearValue(5, seed=1)
    s = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    out = q_values(q, s, n_actions)
    assert out.shape == (6, n_actions)
    st = torch.as_tensor(s, dtype=torch.float64)
    expected = torch.stack([linear_q(q, st, a) for a in range(n_actions)], dim=-1)
    torch.testing.assert_close(out, expected, **TIGHT)


def test_q_values_on_a_value_function_network():
    torch.manual_seed(2)
    q = ValueFunction(5, 16)
    s = torch.randn(3, 4)
    out = q_values(q, s, 2)
    for i in range(3):
        for a in range(2):
            expected = q(torch.cat([s[i], torch.tensor([float(a)])]))
            torch.testing.assert_close(out[i, a], expected.squeeze())


# --- epsilon_greedy --------------------------------------------------------------


def replay_epsilon_greedy(qv, epsilon, twin: np.random.Generator) -> int:
    if twin.random() < epsilon:
        return int(twin.integers(len(qv)))
    return int(np.argmax(qv))  # np.argmax returns the first maximum


def test_epsilon_greedy_greedy_when_epsilon_is_zero():
    rng, twin = np.random.default_rng(0), np.random.default_rng(0)
    for qv in ([1.0, 2.0], [3.0, -1.0, 2.0], [0.0, 0.0, 5.0, 5.0]):
        action = epsilon_greedy(torch.tensor(qv), 0.0, rng)
        assert type(action) is int
        assert action == int(np.argmax(qv))
        twin.random()  # exactly one draw per call
    assert rng.random() == twin.random()


def test_epsilon_greedy_ties_go_to_the_lowest_index():
    rng = np.random.default_rng(1)
    assert epsilon_greedy(torch.tensor([1.0, 3.0, 3.0]), 0.0, rng) == 1
    assert epsilon_greedy(torch.tensor([2.0, 2.0]), 0.0, rng) == 0


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.3, 1.0])
def test_epsilon_greedy_replays_with_a_twin_generator(epsilon):
    rng, twin = np.random.default_rng(42), np.random.default_rng(42)
    values = np.random.default_rng(7).normal(size=(400, 3))
    for qv in values:
        assert epsilon_greedy(torch.tensor(qv), epsilon, rng) == replay_epsilon_greedy(qv, epsilon, twin)
    assert rng.random() == twin.random()  # the generators are still in step


def test_epsilon_greedy_explores_every_action_including_the_greedy_one():
    rng = np.random.default_rng(3)
    qv = torch.tensor([0.0, 10.0, 0.0])
    counts = np.bincount([epsilon_greedy(qv, 1.0, rng) for _ in range(3000)], minlength=3)
    # Uniform: 1000 each, sd ≈ 26; ±150 is > 5 sd.
    assert (np.abs(counts - 1000) < 150).all(), counts
    counts = np.bincount([epsilon_greedy(qv, 0.3, rng) for _ in range(3000)], minlength=3)
    # Greedy with probability 0.7 + 0.3/3 = 0.8 -> 2400 (sd ≈ 22); the others 300 each (sd ≈ 16).
    assert abs(counts[1] - 2400) < 120 and (np.abs(counts[[0, 2]] - 300) < 90).all(), counts


# --- exact SARSA / Q-learning updates ---------------------------------------------


def expected_linear_update(q, s, a, r, s2, a2, done, gamma, alpha, n_actions=None):
    """δ and the new (w, b) for a linear q̂; a2 = None means the Q-learning target max_a q̂(S′, a)."""
    s = torch.as_tensor(np.asarray(s), dtype=torch.float64)
    s2 = torch.as_tensor(np.asarray(s2), dtype=torch.float64)
    a = torch.as_tensor(np.asarray(a), dtype=torch.float64)
    r = torch.as_tensor(np.asarray(r), dtype=torch.float64)
    done = torch.as_tensor(np.asarray(done), dtype=torch.bool)
    if a2 is None:
        next_q = torch.stack([linear_q(q, s2, b) for b in range(n_actions)], dim=-1).max(-1).values
    else:
        next_q = linear_q(q, s2, np.asarray(a2, dtype=np.float64))
    delta = torch.where(done, r, r + gamma * next_q) - linear_q(q, s, a)
    w, b = q.snapshot()
    features = torch.cat([s, a.unsqueeze(-1)], dim=-1)  # ∇_w q̂ = (s, a); ∇_b q̂ = 1
    if s.dim() == 1:
        return delta, w + alpha * delta * features, b + alpha * delta
    return delta, w + alpha * (delta[:, None] * features).mean(0), b + alpha * delta.mean()


def check(q, delta, expected, shape):
    delta_expected, w_expected, b_expected = expected
    assert delta.shape == shape
    assert delta.grad_fn is None and not delta.requires_grad
    torch.testing.assert_close(delta, delta_expected, **TIGHT)
    torch.testing.assert_close(q.w.detach(), w_expected, **TIGHT)
    torch.testing.assert_close(q.b.detach(), b_expected, **TIGHT)


def transition(seed, batch=()):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(*batch, 4, generator=g, dtype=torch.float64)
    s2 = torch.randn(*batch, 4, generator=g, dtype=torch.float64)
    r = torch.rand(batch, generator=g, dtype=torch.float64)
    return s, r, s2


@pytest.mark.parametrize("terminated", [False, True])
def test_sarsa_single_transition_uses_the_given_next_action(terminated):
    q = LinearValue(5, seed=3)
    s, r, s2 = transition(3)
    # The next action is the non-greedy one, so its target differs from max_a's.
    greedy = int(torch.stack([linear_q(q, s2, b) for b in range(2)]).argmax())
    a2 = 1 - greedy
    expected = expected_linear_update(q, s, 1, r, s2, a2, terminated, 0.9, 0.05)
    delta = semi_gradient_sarsa_update(q, torch.optim.SGD(q.parameters(), lr=0.05), s, 1, r, s2, a2, terminated, 0.9)
    check(q, delta, expected, ())
    if not terminated:
        q2 = LinearValue(5, seed=3)
        with_max = expected_linear_update(q2, s, 1, r, s2, None, False, 0.9, 0.05, n_actions=2)
        assert abs(float(with_max[0] - expected[0])) > 1e-3  # the two targets really differ here


@pytest.mark.parametrize("batch", [1, 5, 12])
def test_sarsa_batch(batch):
    q = LinearValue(5, seed=batch)
    s, r, s2 = transition(batch, (batch,))
    a = torch.arange(batch) % 2
    a2 = (torch.arange(batch) // 2) % 2
    done = torch.arange(batch) % 4 == 3
    expected = expected_linear_update(q, s, a, r, s2, a2, done, 0.95, 0.1)
    q.w.grad = torch.ones_like(q.w)  # stale gradients must not leak in
    delta = semi_gradient_sarsa_update(q, torch.optim.SGD(q.parameters(), lr=0.1), s, a, r, s2, a2, done, 0.95)
    check(q, delta, expected, (batch,))


def test_sarsa_with_environment_types():
    q = LinearValue(5, seed=9)
    s = np.array([0.01, 0.2, -0.03, -0.3], dtype=np.float32)
    s2 = np.array([0.015, 0.4, -0.036, -0.6], dtype=np.float32)
    expected = expected_linear_update(q, s, 1, 1.0, s2, 0, False, 0.99, 0.01)
    delta = semi_gradient_sarsa_update(q, torch.optim.SGD(q.parameters(), lr=0.01), s, 1, 1.0, s2, 0, False, 0.99)
    check(q, delta, expected, ())


@pytest.mark.parametrize("n_actions", [2, 3])
@pytest.mark.parametrize("terminated", [False, True])
def test_q_learning_single_transition_uses_the_max(n_actions, terminated):
    q = LinearValue(5, seed=4)
    s, r, s2 = transition(4)
    expected = expected_linear_update(q, s, 0, r, s2, None, terminated, 0.9, 0.05, n_actions=n_actions)
    delta = semi_gradient_q_learning_update(
        q, torch.optim.SGD(q.parameters(), lr=0.05), s, 0, r, s2, terminated, 0.9, n_actions
    )
    check(q, delta, expected, ())


@pytest.mark.parametrize("batch", [1, 7])
def test_q_learning_batch(batch):
    q = LinearValue(5, seed=10 + batch)
    s, r, s2 = transition(10 + batch, (batch,))
    a = torch.arange(batch) % 2
    done = torch.arange(batch) % 3 == 2
    expected = expected_linear_update(q, s, a, r, s2, None, done, 0.9, 0.2, n_actions=2)
    delta = semi_gradient_q_learning_update(q, torch.optim.SGD(q.parameters(), lr=0.2), s, a, r, s2, done, 0.9, 2)
    check(q, delta, expected, (batch,))


def test_q_learning_on_a_network_matches_the_per_sample_semi_gradient():
    torch.manual_seed(5)
    q = ValueFunction(5, 16).double()
    s, r, s2 = transition(5, (4,))
    a = torch.tensor([0, 1, 1, 0])
    done = torch.tensor([False, False, True, False])
    params = list(q.parameters())
    before = [p.detach().clone() for p in params]
    with torch.no_grad():
        next_q = torch.stack([q(torch.cat([s2, torch.full((4, 1), float(b), dtype=torch.float64)], -1)).squeeze(-1)
                              for b in range(2)], -1).max(-1).values
        sa = torch.cat([s, a.double().unsqueeze(-1)], -1)
        delta_expected = torch.where(done, r, r + 0.9 * next_q) - q(sa).squeeze(-1)
    step = [torch.zeros_like(p) for p in params]
    for i in range(4):
        for acc, grad in zip(step, torch.autograd.grad(q(sa[i]).squeeze(), params)):
            acc += 0.05 * delta_expected[i] * grad / 4
    delta = semi_gradient_q_learning_update(q, torch.optim.SGD(params, lr=0.05), s, a, r, s2, done, 0.9, 2)
    torch.testing.assert_close(delta, delta_expected, **TIGHT)
    for p, p0, d in zip(params, before, step):
        torch.testing.assert_close(p.detach() - p0, d, **TIGHT)


# --- run_sarsa: replay ---------------------------------------------------------------


def test_run_sarsa_replays_exactly_with_truncations_and_terminations():
    n_steps, gamma, epsilon, alpha, seed, limit = 400, 0.9, 0.3, 0.01, 5, 15
    q = LinearValue(5, seed=2, scale=0.1)
    w, b = q.snapshot()
    returns = run_sarsa(
        gym.make("CartPole-v1", max_episode_steps=limit), q, torch.optim.SGD(q.parameters(), lr=alpha),
        n_steps, gamma, epsilon, seed,
    )

    # The book's pseudocode (§10.1) with the spec's pinned randomness, written out.
    env = gym.make("CartPole-v1", max_episode_steps=limit)
    rng = np.random.default_rng(seed)

    def value(state, action):
        return float(torch.as_tensor(state, dtype=torch.float64) @ w[:4] + action * w[4] + b)

    def policy(state):
        return replay_epsilon_greedy([value(state, 0), value(state, 1)], epsilon, rng)

    state, _ = env.reset(seed=seed)
    action = policy(state)
    expected, episode_return, n_terminated, n_truncated = [], 0.0, 0, 0
    for _ in range(n_steps):
        next_state, reward, terminated, truncated, _ = env.step(action)
        episode_return += reward
        if terminated:
            delta = reward - value(state, action)
        else:
            next_action = policy(next_state)
            delta = reward + gamma * value(next_state, next_action) - value(state, action)
        features = torch.cat([torch.as_tensor(state, dtype=torch.float64), torch.tensor([float(action)], dtype=torch.float64)])
        w, b = w + alpha * delta * features, b + alpha * delta
        n_terminated += terminated
        n_truncated += truncated and not terminated
        if terminated or truncated:
            expected.append(episode_return)
            episode_return = 0.0
            state, _ = env.reset()
            action = policy(state)
        else:
            state, action = next_state, next_action
    assert n_terminated > 0 and n_truncated > 0  # both endings were exercised
    assert returns == expected
    assert all(isinstance(x, float) for x in returns)
    torch.testing.assert_close(q.w.detach(), w, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(q.b.detach(), b, rtol=1e-9, atol=1e-12)


# --- (slow) control learns CartPole-v1 ----------------------------------------------
#
# Set-up for both algorithms: q̂ = ValueFunction(5, 64), Adam lr 1e-3, γ = 0.99,
# ε = 0.1, 15 000 environment steps, torch.manual_seed(seed) before building the
# network, environment and ε-greedy generator seeded with the same seed. The
# score of a run is the mean undiscounted return of its last 20 episodes; the
# uniform random policy scores ~22 (sd of a 20-episode mean ≈ 2.7).
#
# Calibration, seeds 0-49 (torch 2.13 CPU, one thread, 8-20 s a run; seeds 0-29
# re-measured bit-identical after solutions 2e530b2/71bfde5 refactored the step):
# SARSA (run_sarsa): 136.4 268.4 303.9 262.3 17.2 239.2 180.7 137.7 243.9 79.7
#   168.7 54.5 186.3 233.5 195.1 75.8 165.3 249.1 241.8 148.8 27.2 95.0 220.1
#   127.5 90.2 225.3 179.3 168.1 38.2 55.0 232.1 309.1 179.3 128.3 157.7 247.1
#   155.3 139.9 168.6 236.9 257.4 178.2 349.7 180.4 226.2 220.1 216.9 45.0
#   255.8 132.5  -> mean 175, 4/50 runs below 50 (online SARSA sometimes
#   collapses late), 3/50 below 40.
# Q-learning (the loop below): 114.2 280.9 145.7 180.9 192.4 205.0 178.2 166.9
#   115.5 242.5 97.0 108.2 109.0 152.7 284.4 88.2 122.5 141.1 222.2 256.6 127.8
#   168.6 193.4 149.3 179.8 247.3 172.8 283.8 199.2 72.0 149.7 198.8 125.7 118.8
#   83.7 161.3 197.3 117.1 153.8 163.8 74.7 221.0 327.2 309.4 171.2 194.1 147.9
#   219.7 217.8 245.4  -> mean 175, minimum 72.0: 50/50 runs above 50.
# Criterion: the mean score of 3 seeds must be at least 50 (> 2x random, 10 sd
# above it). Over all 50^3 triples of the measured scores that fails for
# 0.24 % of SARSA triples and none of the Q-learning ones, so a correct
# implementation that draws its randomness differently still passes > 99 % of
# the time (the runs here are seeded, so the reference passes deterministically:
# seeds 0-2 score SARSA 136.4 / 268.4 / 303.9, Q-learning 114.2 / 280.9 / 145.7).
# Broken updates score ~10 (seeds 0-2, both algorithms): a sign-flipped update
# 10.0, bootstrapping on termination 9.9.
CONTROL_SEEDS = [0, 1, 2]
CONTROL_STEPS = 15_000
CONTROL_MIN_MEAN_SCORE = 50.0


def make_q(seed):
    torch.manual_seed(seed)
    q = ValueFunction(5, 64)
    return q, torch.optim.Adam(q.parameters(), lr=1e-3)


def q_learning_returns(seed, n_steps, gamma=0.99, epsilon=0.1):
    """Semi-gradient Q-learning with ε-greedy behaviour, one update per step;
    bootstraps on truncation, not on termination."""
    q, optimizer = make_q(seed)
    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(seed)
    state, _ = env.reset(seed=seed)
    returns, episode_return = [], 0.0
    for _ in range(n_steps):
        with torch.no_grad():
            action = epsilon_greedy(q_values(q, state, 2), epsilon, rng)
        next_state, reward, terminated, truncated, _ = env.step(action)
        episode_return += reward
        semi_gradient_q_learning_update(q, optimizer, state, action, reward, next_state, terminated, gamma, 2)
        if terminated or truncated:
            returns.append(episode_return)
            episode_return = 0.0
            state, _ = env.reset()
        else:
            state = next_state
    return returns


def sarsa_returns(seed, n_steps, gamma=0.99, epsilon=0.1):
    q, optimizer = make_q(seed)
    return run_sarsa(gym.make("CartPole-v1"), q, optimizer, n_steps, gamma, epsilon, seed)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", [sarsa_returns, q_learning_returns], ids=["sarsa", "q_learning"])
def test_control_learns_cartpole(algorithm):
    scores = []
    for seed in CONTROL_SEEDS:
        returns = algorithm(seed, CONTROL_STEPS)
        assert len(returns) >= 20
        scores.append(float(np.mean(returns[-20:])))
    assert np.mean(scores) >= CONTROL_MIN_MEAN_SCORE, f"last-20-episode mean returns per seed: {scores}"
