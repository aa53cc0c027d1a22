"""Part 3: REINFORCE, Monte-Carlo policy gradient (Sutton & Barto §13.3).

By the policy gradient theorem (§13.2) the return G_t times ∇ln π(A_t|S_t, θ)
is an unbiased sample of the gradient of J(θ) (eq. 13.8). The book's box
updates θ ← θ + α γ^t G_t ∇ln π(A_t|S_t, θ) for each step of an episode; here
the steps are summed into one update, all evaluated at the episode's θ.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn

from .policies import action_probabilities, as_input, log_probs, sample_action
from .returns import discounted_returns


def reinforce_loss(log_probs: torch.Tensor, returns, gamma: float) -> torch.Tensor:
    """−Σ_t γ^t G_t ln π(A_t|S_t, θ), in ``log_probs``' dtype: its gradient is
    minus the REINFORCE direction Σ_t γ^t G_t ∇ln π (§13.3), so a descent step
    on it is the book's ascent step on J(θ).

    The returns are constants (detached): only ln π depends on θ.
    """
    G = torch.as_tensor(returns).detach().to(log_probs)
    t = torch.arange(log_probs.shape[0], dtype=log_probs.dtype, device=log_probs.device)
    discount = gamma ** t  # γ^t: a step t steps into the episode counts γ^t as much (§13.3)
    return -(discount * G * log_probs).sum()


def reinforce_update(
    policy: nn.Module,
    optimizer: torch.optim.Optimizer,
    states,
    actions,
    rewards,
    gamma: float,
) -> float:
    """One REINFORCE update from one episode (§13.3); returns the loss before
    the step. With SGD(lr=α): Δθ = α Σ_t γ^t G_t ∇ln π(A_t|S_t, θ)."""
    rewards = as_input(rewards, policy)  # the returns in the policy's dtype, not float32
    G = discounted_returns(rewards, gamma)
    optimizer.zero_grad()  # otherwise backward() adds to the last episode's gradients
    loss = reinforce_loss(log_probs(policy, states, actions), G, gamma)
    loss.backward()
    optimizer.step()
    return loss.item()


def generate_episode(
    env: gym.Env, policy: nn.Module, rng: np.random.Generator, seed: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """One episode S_0, A_0, R_1, …, S_{T−1}, A_{T−1}, R_T following π(·|·, θ).

    ``env.reset(seed=seed)`` starts it; each action costs exactly one
    ``rng.random()``. The episode ends when it terminates or is truncated; the
    update treats both alike (no bootstrapping in a Monte-Carlo method).
    Returns ``states (T, d)`` and ``actions (T,)`` on the policy's device and
    the rewards as Python floats.
    """
    observation, _ = env.reset(seed=seed)
    states, actions, rewards = [], [], []
    done = False
    while not done:
        state = as_input(observation, policy)
        with torch.no_grad():  # acting needs no graph; the update rebuilds it
            action = sample_action(action_probabilities(policy, state), rng)
        observation, reward, terminated, truncated, _ = env.step(action)
        states.append(state)
        actions.append(action)
        rewards.append(float(reward))
        done = terminated or truncated
    actions = torch.tensor(actions, dtype=torch.long, device=states[0].device)
    return torch.stack(states), actions, rewards


def run_reinforce(
    env: gym.Env,
    policy: nn.Module,
    optimizer: torch.optim.Optimizer,
    n_episodes: int,
    gamma: float,
    seed: int,
) -> list[float]:
    """REINFORCE (§13.3) for ``n_episodes`` episodes, one update after each.
    Returns every episode's undiscounted return.

    ``np.random.default_rng(seed)`` is the only randomness besides the
    environment, which is seeded on its first reset only.
    """
    rng = np.random.default_rng(seed)
    episode_returns = []
    for episode in range(n_episodes):
        states, actions, rewards = generate_episode(env, policy, rng, seed if episode == 0 else None)
        reinforce_update(policy, optimizer, states, actions, rewards, gamma)
        episode_returns.append(float(sum(rewards)))
    return episode_returns
