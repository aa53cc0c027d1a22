"""A value network whose gradient can be written down, for exact update checks.

``LinearValue(d)`` computes v̂(s) = s @ w + b with output shape ``(..., 1)``
(like ``ValueFunction``), in float64, so ∇_w v̂(s) = s and ∇_b v̂(s) = 1. As an
action-value network ``LinearValue(d + 1)`` reads ``concat(state, [action])``,
so q̂(s, a) = s @ w[:d] + a w[d] + b and ∇q̂(s, a) = (s, a, 1).
"""

import torch
import torch.nn as nn


class LinearValue(nn.Module):
    def __init__(self, d: int, seed: int = 0, scale: float = 1.0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(scale * torch.randn(d, generator=g, dtype=torch.float64))
        self.b = nn.Parameter(scale * torch.randn((), generator=g, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x @ self.w + self.b).unsqueeze(-1)

    def values(self, x) -> torch.Tensor:
        """v̂ without a graph, from anything array-like."""
        with torch.no_grad():
            return self(torch.as_tensor(x, dtype=torch.float64)).squeeze(-1)

    def snapshot(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.w.detach().clone(), self.b.detach().clone()
