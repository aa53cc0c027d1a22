"""Part 2: returns (Sutton & Barto §3.3, used by REINFORCE in §13.3).

The return from step t is G_t = R_{t+1} + γ R_{t+2} + γ² R_{t+3} + … (eq. 3.8),
computed backwards with G_t = R_{t+1} + γ G_{t+1} (eq. 3.9) and G_T = 0.
"""

from __future__ import annotations

import torch


def as_rewards(rewards) -> torch.Tensor:
    """A floating tensor as it is; a list, an array or an integer tensor as float32."""
    if isinstance(rewards, torch.Tensor):
        return rewards if rewards.is_floating_point() else rewards.to(torch.float32)
    return torch.as_tensor(rewards, dtype=torch.float32)


def discounted_returns(rewards, gamma: float) -> torch.Tensor:
    """G_0, …, G_{T−1} for one episode, shape ``(T,)``; ``rewards[t]`` is R_{t+1}.

    One pass from the end of the episode (eq. 3.9): each return reuses the
    next one. ``T = 0`` gives an empty tensor.
    """
    rewards = as_rewards(rewards)
    G = torch.zeros_like(rewards)
    following = 0.0  # G_T = 0: nothing follows the last step
    for t in reversed(range(rewards.shape[0])):
        following = rewards[t] + gamma * following
        G[t] = following
    return G
