"""Part 3: autograd and optimisers."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F


def logistic_gradients(
    x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of the mean binary cross-entropy of the logits ``x @ w + b``
    against ``y``, with respect to ``w`` and ``b``.

    ``torch.autograd.grad`` returns the gradients instead of adding them to
    ``w.grad``/``b.grad``, so calling this twice gives the same answer.
    """
    loss = F.binary_cross_entropy_with_logits(x @ w + b, y)
    grad_w, grad_b = torch.autograd.grad(loss, (w, b))
    return grad_w, grad_b


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    target: torch.Tensor,
) -> float:
    """One optimisation step; returns the loss before the step."""
    optimizer.zero_grad()  # otherwise backward() adds to the last step's gradients
    loss = loss_fn(model(x), target)
    loss.backward()
    optimizer.step()
    return loss.item()


def predict_no_grad(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` without recording a graph for backpropagation."""
    with torch.no_grad():
        return model(x)
