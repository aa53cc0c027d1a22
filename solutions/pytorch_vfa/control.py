"""Part 5: action values and semi-gradient control (Sutton & Barto §10.1-10.2).

The action-value network is a ``ValueFunction(d + 1, hidden)`` that reads
``concat(state, [float(action)])``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn

from .td import as_input, semi_gradient_step, semi_gradient_td0_update, td_target


def state_action(state: torch.Tensor, action) -> torch.Tensor:
    """``concat(state, [float(action)])`` for one pair or a batch of them."""
    action = as_input(action, state)
    return torch.cat([state, action.unsqueeze(-1)], dim=-1)


def q_values(q: nn.Module, state, n_actions: int) -> torch.Tensor:
    """q̂(s, a, w) for every action: ``(n_actions,)`` for one state ``(d,)``,
    ``(B, n_actions)`` for a batch ``(B, d)``."""
    state = as_input(state, q)
    actions = torch.arange(n_actions, dtype=state.dtype, device=state.device)
    # Pair every state with every action: (..., n_actions, d + 1).
    states = state.unsqueeze(-2).expand(*state.shape[:-1], n_actions, state.shape[-1])
    actions = actions.expand(*state.shape[:-1], n_actions)
    return q(state_action(states, actions)).squeeze(-1)


def epsilon_greedy(q_values: torch.Tensor, epsilon: float, rng: np.random.Generator) -> int:
    """ε-greedy action selection (§2.2): with probability ε a uniformly random
    action (the greedy one included), otherwise the greedy one (lowest index on
    ties). Draws one ``rng.random()``, and ``rng.integers`` only when exploring."""
    n_actions = q_values.shape[-1]
    if rng.random() < epsilon:
        return int(rng.integers(n_actions))
    return int(torch.as_tensor(q_values).argmax())  # argmax returns the first maximum


def semi_gradient_sarsa_update(
    q: nn.Module,
    optimizer: torch.optim.Optimizer,
    state,
    action,
    reward,
    next_state,
    next_action,
    terminated,
    gamma: float,
) -> torch.Tensor:
    """One episodic semi-gradient SARSA step (§10.1):
    ``w ← w + α[R + γ q̂(S′,A′,w) − q̂(S,A,w)] ∇q̂(S,A,w)``, with the target
    ``R`` alone on termination. Returns δ.

    SARSA is semi-gradient TD(0) whose "states" are the state-action pairs.
    """
    state, next_state = as_input(state, q), as_input(next_state, q)
    return semi_gradient_td0_update(q, optimizer, state_action(state, action), reward,
                                    state_action(next_state, next_action), terminated, gamma)


def semi_gradient_q_learning_update(
    q: nn.Module,
    optimizer: torch.optim.Optimizer,
    state,
    action,
    reward,
    next_state,
    terminated,
    gamma: float,
    n_actions: int,
) -> torch.Tensor:
    """One semi-gradient Q-learning step (§6.5 with §10.1's function
    approximation): as SARSA, with the target ``R + γ max_a q̂(S′,a,w)``."""
    state = as_input(state, q)
    with torch.no_grad():
        next_q = q_values(q, next_state, n_actions).max(dim=-1).values
        target = td_target(reward, next_q, terminated, gamma)
    return semi_gradient_step(optimizer, q(state_action(state, action)).squeeze(-1), target)


def run_sarsa(
    env: gym.Env,
    q: nn.Module,
    optimizer: torch.optim.Optimizer,
    n_steps: int,
    gamma: float,
    epsilon: float,
    seed: int,
) -> list[float]:
    """Episodic semi-gradient SARSA (§10.1, in the order of the book's
    pseudocode) for ``n_steps`` environment steps. Returns the undiscounted
    return of every finished episode.

    ``rng`` is the only source of randomness besides the seeded environment.
    A′ is drawn only when S′ is not terminal. A truncated episode bootstraps
    from the A′ it drew, then restarts with a fresh first action.
    """
    rng = np.random.default_rng(seed)
    n_actions = int(env.action_space.n)

    def policy(state) -> int:
        with torch.no_grad():
            return epsilon_greedy(q_values(q, state, n_actions), epsilon, rng)

    state = as_input(env.reset(seed=seed)[0], q)  # the updates take tensors
    action = policy(state)
    returns, episode_return = [], 0.0
    for _ in range(n_steps):
        next_state, reward, terminated, truncated, _ = env.step(action)
        next_state = as_input(next_state, q)
        episode_return += float(reward)
        # On termination the target is R alone, so A' is never used: pass A.
        next_action = action if terminated else policy(next_state)
        semi_gradient_sarsa_update(
            q, optimizer, state, action, reward, next_state, next_action, terminated, gamma
        )
        if terminated or truncated:
            returns.append(episode_return)
            episode_return = 0.0
            state = as_input(env.reset()[0], q)
            action = policy(state)
        else:
            state, action = next_state, next_action
    return returns
