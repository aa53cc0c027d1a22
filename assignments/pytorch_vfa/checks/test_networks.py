"""Part 2 — networks (15 points). Forward passes with given weights: one float32
computation in possibly another order (fused or not), hence FLOAT32_STEP."""

import torch

from autograder.checks import Case, FLOAT32_STEP, call, check


def forward_cases(ctx, cls: str, args: list[int], layers: list[str]) -> list[Case]:
    g = torch.Generator().manual_seed(ctx.seed)
    inputs = [torch.randn(args[0], generator=g), torch.randn(5, args[0], generator=g)]
    return [Case("network_forward", {"cls": cls, "args": args, "layers": layers, "x": x, "seed": ctx.seed,
                                     "device": ctx.device},
                 f"{cls}({', '.join(map(str, args))}) with seeded weights, called on {call('', x)[1:-1]}",
                 FLOAT32_STEP) for x in inputs]


@check("networks.neural_network", group="networks", points=6, function="NeuralNetwork")
def test_neural_network(ctx):
    ctx.grade(forward_cases(ctx, "NeuralNetwork", [4, 3, 8], ["linear1", "linear2", "linear3"]))


@check("networks.predict_class", group="networks", points=3, function="predict_class")
def test_predict_class(ctx):
    g = torch.Generator().manual_seed(ctx.seed)
    xs = [torch.randn(4, generator=g) * 3 for _ in range(4)]
    ctx.grade([Case("predict_class", {"x": x, "seed": ctx.seed + i, "device": ctx.device},
                    f"predict_class(a seeded 4→8→5 network, {call('', x)[1:-1]})") for i, x in enumerate(xs)])


@check("networks.value_function", group="networks", points=6, function="ValueFunction")
def test_value_function(ctx):
    ctx.grade(forward_cases(ctx, "ValueFunction", [4, 8], ["linear1", "linear2", "linear3", "linear4"]))
