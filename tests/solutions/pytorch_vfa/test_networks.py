"""Part 2 (networks): layer names and shapes, the forward pass written out with
``F.linear``/``relu``, no activation on the output layer, ``predict_class``."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from solutions.pytorch_vfa import NeuralNetwork, ValueFunction, predict_class


def linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return x @ layer.weight.T + layer.bias


def test_neural_network_layers():
    torch.manual_seed(0)
    net = NeuralNetwork(input_size=16, output_size=4, hidden_dim=32)
    assert isinstance(net, nn.Module)
    layers = dict(net.named_children())
    assert list(layers) == ["linear1", "linear2", "linear3"]
    assert all(isinstance(layer, nn.Linear) for layer in layers.values())
    shapes = {name: tuple(p.shape) for name, p in net.named_parameters()}
    assert shapes == {
        "linear1.weight": (32, 16), "linear1.bias": (32,),
        "linear2.weight": (32, 32), "linear2.bias": (32,),
        "linear3.weight": (4, 32), "linear3.bias": (4,),
    }


@pytest.mark.parametrize("batch", [(), (5,), (2, 3)])
def test_neural_network_forward(batch):
    torch.manual_seed(1)
    net = NeuralNetwork(6, 3, 8)
    x = torch.randn(*batch, 6)
    h = torch.relu(linear(net.linear1, x))
    h = torch.relu(linear(net.linear2, h))
    expected = linear(net.linear3, h)
    out = net(x)
    assert out.shape == (*batch, 3)
    torch.testing.assert_close(out, expected)


def test_neural_network_has_no_activation_on_output():
    torch.manual_seed(2)
    net = NeuralNetwork(4, 3, 8)
    with torch.no_grad():
        net.linear3.bias.copy_(torch.tensor([-5.0, 0.0, 5.0]))
    out = net(torch.randn(10, 4))
    assert (out[:, 0] < 0).all()  # a ReLU on the output would clip this to 0
    assert not torch.allclose(out.sum(-1), torch.ones(10))  # nor is it a softmax


def test_neural_network_moves_to_float64():
    net = NeuralNetwork(3, 2, 4).double()
    assert net(torch.randn(3, dtype=torch.float64)).dtype == torch.float64


class FixedLogits(nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = torch.tensor(logits)

    def forward(self, x):
        return self.logits + 0 * x.sum()


@pytest.mark.parametrize("logits, expected", [([0.1, 3.0, -1.0], 1), ([-2.0, -3.0, -1.5, -9.0], 2), ([5.0, 1.0], 0)])
def test_predict_class(logits, expected):
    out = predict_class(FixedLogits(logits), torch.zeros(2))
    assert type(out) is int
    assert out == expected


def test_predict_class_on_a_network():
    torch.manual_seed(3)
    net = NeuralNetwork(16, 4, 32)
    for _ in range(20):
        x = torch.rand(16)
        out = predict_class(net, x)
        assert type(out) is int
        assert out == int(torch.argmax(net(x)))  # softmax is monotone: same argmax as the logits


def test_value_function_layers():
    vf = ValueFunction(4, 64)
    assert list(dict(vf.named_children())) == ["linear1", "linear2", "linear3", "linear4"]
    shapes = {name: tuple(p.shape) for name, p in vf.named_parameters()}
    assert shapes == {
        "linear1.weight": (64, 4), "linear1.bias": (64,),
        "linear2.weight": (64, 64), "linear2.bias": (64,),
        "linear3.weight": (64, 64), "linear3.bias": (64,),
        "linear4.weight": (1, 64), "linear4.bias": (1,),
    }


@pytest.mark.parametrize("batch", [(), (7,), (2, 3)])
def test_value_function_forward(batch):
    torch.manual_seed(4)
    vf = ValueFunction(5, 16)
    x = torch.randn(*batch, 5)
    h = x
    for layer in (vf.linear1, vf.linear2, vf.linear3):
        h = F.relu(linear(layer, h))
    expected = linear(vf.linear4, h)
    out = vf(x)
    assert out.shape == (*batch, 1)
    torch.testing.assert_close(out, expected)


def test_value_function_output_can_be_negative():
    torch.manual_seed(5)
    vf = ValueFunction(4, 8)
    with torch.no_grad():
        vf.linear4.bias.fill_(-10.0)
    assert (vf(torch.randn(20, 4)) < 0).all()
