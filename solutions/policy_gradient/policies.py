"""Part 1: softmax policies (Sutton & Barto §13.1-13.2).

A policy network outputs the action preferences h(s, a, θ); the policy is
their softmax, π(a|s, θ) = exp h(s, a, θ) / Σ_b exp h(s, b, θ) (eq. 13.2).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def as_input(x, network: nn.Module) -> torch.Tensor:
    """``x`` (an array, a list, a number or a tensor) as a tensor with the dtype
    and device of ``network``'s parameters."""
    parameter = next(network.parameters())
    return torch.as_tensor(x, dtype=parameter.dtype, device=parameter.device)


class SoftmaxPolicy(nn.Module):
    """Action preferences h(s, ·, θ) (§13.1): ``linear2(relu(linear1(x)))``.

    The output is the preferences (logits), not the probabilities: the softmax
    belongs to ``action_probabilities`` and ``log_probs``. ``x`` is ``(d,)`` or
    ``(B, d)``.
    """

    def __init__(self, input_size: int, n_actions: int, hidden_dim: int):
        super().__init__()
        self.linear1 = nn.Linear(input_size, hidden_dim)
        self.linear2 = nn.Linear(hidden_dim, n_actions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(F.relu(self.linear1(x)))


def action_probabilities(policy: nn.Module, state) -> torch.Tensor:
    """π(·|s, θ), the softmax of the preferences over the actions (eq. 13.2):
    ``(n_actions,)`` for one state ``(d,)``, ``(B, n_actions)`` for a batch."""
    return torch.softmax(policy(as_input(state, policy)), dim=-1)


def log_probs(policy: nn.Module, states, actions) -> torch.Tensor:
    """ln π(A_i|S_i, θ) for each pair, shape ``(B,)``, differentiable in θ.

    ``log_softmax`` computes h_a − logsumexp(h) without forming the
    probabilities, so an action whose preference is 200 below another's gets
    about −200, not ln 0 = −inf, in float32 too.
    """
    preferences = policy(as_input(states, policy))
    actions = torch.as_tensor(actions, dtype=torch.long, device=preferences.device)
    log_pi = F.log_softmax(preferences, dim=-1)
    return log_pi.gather(-1, actions.unsqueeze(-1)).squeeze(-1)


def sample_action(probs, rng: np.random.Generator) -> int:
    """Draw A ~ π(·|s) by inverse-CDF sampling from one ``u = rng.random()``:
    the smallest a with ``u < Σ_{b ≤ a} π(b|s)``.

    The cumulative sum is taken in float64; if rounding leaves it below u at
    the end (the probabilities sum to a little less than 1), the last action.
    """
    if isinstance(probs, torch.Tensor):
        probs = probs.detach().to("cpu", torch.float64).numpy()
    cumulative = np.cumsum(np.asarray(probs, dtype=np.float64))
    u = rng.random()
    # side="right" counts the cumulative sums ≤ u: the first index whose sum exceeds u.
    action = int(np.searchsorted(cumulative, u, side="right"))
    return min(action, len(cumulative) - 1)
