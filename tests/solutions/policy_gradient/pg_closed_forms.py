"""Networks whose gradients can be written down, and the closed forms the
policy-gradient tests compare against (no reference code is used here).

* A linear softmax policy is an ``nn.Linear(d, n)`` in float64: preferences
  h = W s + b, π = softmax(h), ∇_W ln π(a|s) = (e_a − π) sᵀ, ∇_b ln π(a|s) = e_a − π.
* ``LinearBaseline(d)``: v̂(s) = s·w + c with output ``(..., 1)``, so ∇_w v̂ = s, ∇_c v̂ = 1.
* Returns by their definition (eq. 3.8), a double sum, not the recursion.
* ``SeparatingEpisode``: an environment whose every episode is the spec's
  separating example (T = 4, rewards 1, −2, 3, 0.5), whatever the actions.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn

SEPARATING_REWARDS = (1.0, -2.0, 3.0, 0.5)
SEPARATING_GAMMA = 0.5


def random_episode(T: int, d: int, n_actions: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded float64 states ``(T, d)`` and int64 actions ``(T,)``."""
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.normal(size=(T, d))), torch.from_numpy(rng.integers(n_actions, size=T))


def linear_policy(d: int, n_actions: int, seed: int, scale: float = 1.0) -> nn.Linear:
    g = torch.Generator().manual_seed(seed)
    policy = nn.Linear(d, n_actions).double()
    with torch.no_grad():
        policy.weight.copy_(scale * torch.randn(n_actions, d, generator=g, dtype=torch.float64))
        policy.bias.copy_(scale * torch.randn(n_actions, generator=g, dtype=torch.float64))
    return policy


class LinearBaseline(nn.Module):
    def __init__(self, d: int, seed: int = 0, scale: float = 1.0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(scale * torch.randn(d, generator=g, dtype=torch.float64))
        self.c = nn.Parameter(scale * torch.randn((), generator=g, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x @ self.w + self.c).unsqueeze(-1)


def numpy_params(module: nn.Module) -> list[np.ndarray]:
    return [p.detach().cpu().numpy().astype(np.float64).copy() for p in module.parameters()]


def softmax(h: np.ndarray) -> np.ndarray:
    z = np.exp(h - h.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def pi_of(W: np.ndarray, b: np.ndarray, s: np.ndarray) -> np.ndarray:
    return softmax(s @ W.T + b)


def ln_pi(W: np.ndarray, b: np.ndarray, s: np.ndarray, a: int) -> float:
    h = W @ s + b
    return float(h[a] - h.max() - np.log(np.exp(h - h.max()).sum()))


def grad_ln_pi(W: np.ndarray, b: np.ndarray, s: np.ndarray, a: int) -> tuple[np.ndarray, np.ndarray]:
    """(∇_W, ∇_b) of ln π(a|s) for the linear softmax policy."""
    e_minus_pi = np.eye(len(b))[a] - pi_of(W, b, s)
    return np.outer(e_minus_pi, s), e_minus_pi


def returns_by_definition(rewards, gamma: float) -> np.ndarray:
    """G_t = Σ_{k=t}^{T−1} γ^{k−t} R_{k+1} (eq. 3.8)."""
    r = np.asarray(rewards, dtype=np.float64)
    T = len(r)
    return np.array([sum(gamma ** (k - t) * r[k] for k in range(t, T)) for t in range(T)])


def inverse_cdf(probs, u: float) -> int:
    """The smallest a with u < p_0 + … + p_a, summed in float64; the last action if none."""
    total = 0.0
    for a, p in enumerate(np.asarray(probs, dtype=np.float64)):
        total += float(p)
        if u < total:
            return a
    return len(probs) - 1


class SeparatingEpisode(gym.Env):
    """Every episode: 4 steps with rewards (1, −2, 3, 0.5), then termination.
    The observation is (1, t, t², (−1)^t)/(t + 1), distinct at every step."""

    metadata = {"render_modes": []}

    def __init__(self):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float64)
        self.action_space = gym.spaces.Discrete(2)
        self.t = 0

    def observe(self) -> np.ndarray:
        t = self.t
        return np.array([1.0, t, t * t, (-1.0) ** t]) / (t + 1)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observe(), {}

    def step(self, action):
        reward = SEPARATING_REWARDS[self.t]
        self.t += 1
        return self.observe(), reward, self.t == len(SEPARATING_REWARDS), False, {}
