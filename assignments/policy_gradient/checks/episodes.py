"""The episodes the checks of Parts 2-4 give the student's functions.

The grading notes of the spec say which inputs tell the mistakes apart: on
some inputs they coincide with the right answer or with each other (T = 1
hides every weighting mistake, γ = 1 the discount's, γ = 0 the direction's, a
reward only on the last step the episode return's). So every case has T ≥ 4,
0 < γ < 1, rewards before the last step and distinct returns: the spec's
T = 4, γ = 0.5, r = (1, −2, 3, 0.5), and a seeded random one.
"""

from __future__ import annotations

import torch

SPEC_REWARDS, SPEC_GAMMA = torch.tensor([1.0, -2.0, 3.0, 0.5]), 0.5
SPEC_ACTIONS = torch.tensor([0, 1, 1, 0])
STATE_SIZE, N_ACTIONS = 4, 2
POLICY_SIZES, VALUE_SIZES, LINEAR_VALUE_SIZES = [STATE_SIZE, 8, N_ACTIONS], [STATE_SIZE, 8, 1], [STATE_SIZE, 1]


def spec_episode(seed: int) -> dict:
    """The spec's separating episode, with seeded states."""
    g = torch.Generator().manual_seed(seed)
    return {"states": torch.randn(4, STATE_SIZE, generator=g), "actions": SPEC_ACTIONS, "rewards": SPEC_REWARDS,
            "gamma": SPEC_GAMMA}


def random_episode(seed: int, length: int = 6, gamma: float = 0.9) -> dict:
    """A seeded episode: rewards in (−2, 2) on every step, actions of both kinds."""
    g = torch.Generator().manual_seed(seed + 1)
    actions = torch.randint(0, N_ACTIONS, (length,), generator=g)
    actions[:2] = torch.tensor([0, 1])
    return {"states": torch.randn(length, STATE_SIZE, generator=g), "actions": actions,
            "rewards": torch.rand(length, generator=g) * 4 - 2, "gamma": gamma}


def describe(episode: dict) -> str:
    """The episode as feedback names it."""
    rewards = ", ".join(f"{r:.3g}" for r in episode["rewards"].tolist())
    return (f"an episode of T={len(episode['actions'])} steps, rewards ({rewards}), "
            f"actions {episode['actions'].tolist()}, gamma={episode['gamma']}")
