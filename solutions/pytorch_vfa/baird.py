"""Part 6: Baird's counterexample (Sutton & Barto §11.2, Figures 11.1-11.2).

States 0-5 are the book's upper states 1-6, state 6 its lower state 7. Action
0 (dashed) goes to one of states 0-5 uniformly, action 1 (solid) to state 6.
All rewards are 0, so the true values are 0 and any w with ``X w = 0`` is exact.
The behaviour policy b takes dashed with probability 6/7; the target policy π
always takes solid, so the importance-sampling ratio ρ = π(a|s)/b(a|s) is 7
for solid and 0 for dashed.
"""

from __future__ import annotations

import numpy as np
import torch

N_STATES = 7
DASHED, SOLID = 0, 1
LOWER_STATE = 6
P_DASHED = 6 / 7  # b(dashed | s)


def importance_ratio(action: int) -> float:
    """ρ = π(a|s) / b(a|s): 1 / (1/7) for solid, 0 / (6/7) for dashed."""
    return 7.0 if action == SOLID else 0.0


def baird_features() -> torch.Tensor:
    """The book's features (Figure 11.1), one row per state:
    ``x(s_i) = 2e_i + e_8`` for the upper states, ``x(s_7) = e_7 + 2e_8``."""
    x = torch.zeros(N_STATES, 8)
    for i in range(6):
        x[i, i] = 2.0
        x[i, 7] = 1.0
    x[LOWER_STATE, 6] = 1.0
    x[LOWER_STATE, 7] = 2.0
    return x


def baird_semi_gradient(
    w: torch.Tensor, state: int, next_state: int, action: int, gamma: float
) -> torch.Tensor:
    """The gradient of the off-policy semi-gradient TD(0) loss ``½ ρ δ²``
    (§11.1, eq. 11.2), with ``δ = γ v̂(S′) − v̂(S)`` and the target held
    constant: ``−ρ δ x(S)``. Computed with autograd from ``w``; neither ``w``
    nor ``w.grad`` changes. The update is ``w ← w − α · gradient``."""
    x = baird_features().to(w)
    rho = importance_ratio(action)
    target = gamma * (x[next_state] @ w).detach()  # reward 0; the target is a constant
    delta = target - x[state] @ w
    (gradient,) = torch.autograd.grad(0.5 * rho * delta**2, w)
    return gradient


def baird_expected_td(
    w0: torch.Tensor, n_sweeps: int, alpha: float, gamma: float
) -> torch.Tensor:
    """Semi-gradient expected TD / DP (Figure 11.2, right): every sweep updates
    all states at once,
    ``w ← w + α/7 Σ_s (E_π[R + γ v̂(S′) | s] − v̂(s)) x(s)``.
    Under π every state goes to the lower state, so ``E_π[...] = γ v̂(s_7)``.
    Returns the ``(n_sweeps + 1, 8)`` weights, row 0 being ``w0``."""
    x = baird_features().to(w0)
    w = w0.detach().clone()
    history = [w]
    for _ in range(n_sweeps):
        v = x @ w
        delta = gamma * v[LOWER_STATE] - v  # one δ per state
        w = w + alpha / N_STATES * (delta @ x)
        history.append(w)
    return torch.stack(history)


def run_baird_td(
    w0: torch.Tensor, n_steps: int, alpha: float, gamma: float, seed: int
) -> torch.Tensor:
    """Off-policy semi-gradient TD(0) under the behaviour policy (Figure 11.2,
    left): ``w ← w + α ρ δ x(S)``. All randomness comes from
    ``np.random.default_rng(seed)``: the start state, then per step one
    ``rng.random()`` for the action and, when dashed, ``rng.integers(6)`` for
    the next state. Returns the ``(n_steps + 1, 8)`` weights."""
    rng = np.random.default_rng(seed)
    w = w0.detach().clone()
    history = [w]
    state = int(rng.integers(N_STATES))
    for _ in range(n_steps):
        if rng.random() < P_DASHED:
            action, next_state = DASHED, int(rng.integers(6))
        else:
            action, next_state = SOLID, LOWER_STATE
        leaf = w.clone().requires_grad_()  # a fresh leaf, so history keeps no graph
        w = w - alpha * baird_semi_gradient(leaf, state, next_state, action, gamma)
        history.append(w)
        state = next_state
    return torch.stack(history)
