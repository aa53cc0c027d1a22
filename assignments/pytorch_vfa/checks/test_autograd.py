"""Part 3 — autograd and optimisation (10 points). Gradients computed by
autograd in possibly another order: FLOAT32_STEP."""

import torch

from autograder.checks import Case, FLOAT32_STEP, call, check


@check("autograd.logistic_gradients", group="autograd", points=4, function="logistic_gradients")
def test_logistic_gradients(ctx):
    g = torch.Generator().manual_seed(ctx.seed)
    cases = []
    for batch in ((), (4,)):
        x = torch.randn(*batch, 5, generator=g)
        y = torch.randint(0, 2, (*batch, 3), generator=g).float()
        w, b = torch.randn(5, 3, generator=g), torch.randn(3, generator=g)
        cases.append(Case("logistic_gradients", {"x": x, "y": y, "w": w, "b": b, "device": ctx.device},
                          call("logistic_gradients", x, y, w, b) + ", called twice", FLOAT32_STEP))
    ctx.grade(cases)


@check("autograd.train_step", group="autograd", points=4, function="train_step")
def test_train_step(ctx):
    g = torch.Generator().manual_seed(ctx.seed)
    x, target = torch.randn(4, 3, generator=g), torch.randn(4, 2, generator=g)
    ctx.grade([Case("train_step", {"x": x, "target": target, "seed": ctx.seed, "lr": 0.1, "device": ctx.device},
                    "train_step(a seeded 3→6→2 network with stale gradients, SGD(lr=0.1), nn.MSELoss(), "
                    f"x={call('', x)[1:-1]}, target={call('', target)[1:-1]})", FLOAT32_STEP)])


@check("autograd.predict_no_grad", group="autograd", points=2, function="predict_no_grad")
def test_predict_no_grad(ctx):
    g = torch.Generator().manual_seed(ctx.seed)
    x = torch.randn(2, 4, generator=g)
    ctx.grade([Case("predict_no_grad", {"x": x, "seed": ctx.seed, "device": ctx.device},
                    f"predict_no_grad(a seeded 4→6→3 network, {call('', x)[1:-1]})", FLOAT32_STEP)])
