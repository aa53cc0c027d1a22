"""Part 4: REINFORCE with baseline (Sutton & Barto §13.4).

Subtracting a baseline b(S_t) = v̂(S_t, w) from the return leaves the expected
update unchanged (eq. 13.10) and can shrink its variance. With
δ_t = G_t − v̂(S_t, w), the book's box updates

    w ← w + α^w δ_t ∇v̂(S_t, w)
    θ ← θ + α^θ γ^t δ_t ∇ln π(A_t|S_t, θ)

for each step; here each is summed over the episode into one update, with
every δ_t from the weights before either step.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn

from .policies import as_input, log_probs
from .reinforce import generate_episode, reinforce_loss
from .returns import discounted_returns


def reinforce_baseline_update(
    policy: nn.Module,
    value: nn.Module,
    policy_optimizer: torch.optim.Optimizer,
    value_optimizer: torch.optim.Optimizer,
    states,
    actions,
    rewards,
    gamma: float,
) -> tuple[float, float]:
    """One update of REINFORCE with baseline from one episode (§13.4).
    Returns (policy loss, value loss) before the steps.

    Value loss ½ Σ_t δ_t² (no γ^t: it weighs the θ step only), so SGD makes
    Δw = α^w Σ_t δ_t ∇v̂(S_t, w). Policy loss −Σ_t γ^t δ_t ln π(A_t|S_t, θ)
    with δ a constant, so Δθ = α^θ Σ_t γ^t δ_t ∇ln π and no gradient of it
    reaches w (its ``.grad`` holds the value loss's gradient only).
    """
    G = discounted_returns(as_input(rewards, value), gamma)
    delta = G - value(as_input(states, value)).squeeze(-1)  # (T,): v̂ is (T, 1)
    value_loss = 0.5 * delta.pow(2).sum()
    policy_loss = reinforce_loss(log_probs(policy, states, actions), delta.detach(), gamma)

    policy_optimizer.zero_grad()
    value_optimizer.zero_grad()
    value_loss.backward()
    policy_loss.backward()
    policy_optimizer.step()
    value_optimizer.step()
    return policy_loss.item(), value_loss.item()


def run_reinforce_baseline(
    env: gym.Env,
    policy: nn.Module,
    value: nn.Module,
    policy_optimizer: torch.optim.Optimizer,
    value_optimizer: torch.optim.Optimizer,
    n_episodes: int,
    gamma: float,
    seed: int,
) -> list[float]:
    """REINFORCE with baseline (§13.4) for ``n_episodes`` episodes, with the
    randomness of ``run_reinforce``. Returns every episode's undiscounted return."""
    rng = np.random.default_rng(seed)
    episode_returns = []
    for episode in range(n_episodes):
        states, actions, rewards = generate_episode(env, policy, rng, seed if episode == 0 else None)
        reinforce_baseline_update(policy, value, policy_optimizer, value_optimizer,
                                  states, actions, rewards, gamma)
        episode_returns.append(float(sum(rewards)))
    return episode_returns
