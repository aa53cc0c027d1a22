"""Part 2: networks as ``nn.Module``s."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class NeuralNetwork(nn.Module):
    """A two-hidden-layer perceptron: ``linear3(relu(linear2(relu(linear1(x)))))``.

    The output layer is linear: a classifier's softmax belongs to the loss or
    to the prediction, not to the network.
    """

    def __init__(self, input_size: int, output_size: int, hidden_dim: int):
        super().__init__()
        self.linear1 = nn.Linear(input_size, hidden_dim)
        self.linear2 = nn.Linear(hidden_dim, hidden_dim)
        self.linear3 = nn.Linear(hidden_dim, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.linear1(x))
        x = F.relu(self.linear2(x))
        return self.linear3(x)


def predict_class(model: nn.Module, x: torch.Tensor) -> int:
    """The index of the largest softmax probability of ``model(x)`` for one input."""
    with torch.no_grad():
        probabilities = torch.softmax(model(x), dim=-1)
    return int(probabilities.argmax())


class ValueFunction(nn.Module):
    """A state-value approximator v̂(s, w) (Sutton & Barto §9.7): three ReLU
    hidden layers and a linear scalar output of shape ``(..., 1)``."""

    def __init__(self, input_size: int, hidden_dim: int):
        super().__init__()
        self.linear1 = nn.Linear(input_size, hidden_dim)
        self.linear2 = nn.Linear(hidden_dim, hidden_dim)
        self.linear3 = nn.Linear(hidden_dim, hidden_dim)
        self.linear4 = nn.Linear(hidden_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.linear1(x))
        x = F.relu(self.linear2(x))
        x = F.relu(self.linear3(x))
        return self.linear4(x)
