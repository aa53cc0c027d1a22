"""Part 4: semi-gradient TD(0) prediction (Sutton & Barto §9.3)."""

from __future__ import annotations

import gymnasium as gym
import torch
import torch.nn as nn


def as_input(x, like: nn.Module | torch.Tensor) -> torch.Tensor:
    """``x`` (an array, number or tensor) as a tensor with the dtype and device
    of ``like`` (a network's parameters, or a tensor)."""
    reference = next(like.parameters()) if isinstance(like, nn.Module) else like
    return torch.as_tensor(x, dtype=reference.dtype, device=reference.device)


def td_target(reward, next_value, terminated, gamma: float) -> torch.Tensor:
    """The one-step TD target ``R + γ v̂(S′)``, or ``R`` alone where the episode
    terminated: a terminal state is worth 0 (§3.3).

    ``torch.where`` rather than ``γ v̂(S′)(1 − terminated)``: a terminal
    ``v̂(S′)`` that is inf or NaN must not leak into the target.
    """
    next_value = torch.as_tensor(next_value)
    reward = as_input(reward, next_value)
    terminated = torch.as_tensor(terminated, dtype=torch.bool, device=next_value.device)
    return torch.where(terminated, reward, reward + gamma * next_value)


def semi_gradient_step(
    optimizer: torch.optim.Optimizer, estimate: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Move the estimate towards a target held constant; returns δ = target − estimate.

    The loss ``½ · mean δ²`` with the target detached has the gradient
    ``−mean δ ∇estimate``, so plain SGD with rate α makes exactly the
    semi-gradient update ``w ← w + α · mean δ ∇estimate`` of §9.3.
    """
    delta = target.detach() - estimate
    optimizer.zero_grad()
    # backward(g) adds g·∇estimate: with g = −δ/B that is ∇(½ mean δ²), without
    # building the loss's graph (about 10% faster for one transition at a time).
    estimate.backward(-delta.detach() / delta.numel())
    optimizer.step()
    return delta.detach()


def semi_gradient_td0_update(
    v: nn.Module,
    optimizer: torch.optim.Optimizer,
    state,
    reward,
    next_state,
    terminated,
    gamma: float,
) -> torch.Tensor:
    """One semi-gradient TD(0) step (§9.3):
    ``w ← w + α[R + γ v̂(S′,w) − v̂(S,w)] ∇v̂(S,w)``.

    Works on one transition (``state`` of shape ``(d,)``) or a batch
    (``(B, d)``, the mean of the per-transition updates). Returns the TD
    errors δ, computed before the step.
    """
    state, next_state = as_input(state, v), as_input(next_state, v)
    with torch.no_grad():  # the target is a constant: "semi"-gradient
        target = td_target(reward, v(next_state).squeeze(-1), terminated, gamma)
    return semi_gradient_step(optimizer, v(state).squeeze(-1), target)


def run_td0(
    env: gym.Env,
    v: nn.Module,
    optimizer: torch.optim.Optimizer,
    n_steps: int,
    gamma: float,
    seed: int,
) -> list[float]:
    """Semi-gradient TD(0) prediction of the uniform random policy (§9.3).

    Seeds the environment and its action space once, then takes ``n_steps``
    steps with one update each. A truncated episode (time limit) is cut short,
    not ended: its last transition still bootstraps from v̂(S′). Returns the
    TD error of every step.
    """
    state = as_input(env.reset(seed=seed)[0], v)  # the update takes tensors
    env.action_space.seed(seed)
    deltas = []
    for _ in range(n_steps):
        action = env.action_space.sample()
        next_state, reward, terminated, truncated, _ = env.step(action)
        next_state = as_input(next_state, v)
        delta = semi_gradient_td0_update(v, optimizer, state, reward, next_state, terminated, gamma)
        deltas.append(delta.item())
        state = as_input(env.reset()[0], v) if terminated or truncated else next_state
    return deltas
