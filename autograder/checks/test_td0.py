"""Part 4 — semi-gradient TD(0) prediction (20 points).

An SGD step is deterministic: compared with the reference step to FLOAT32_STEP
(only the order of float32 operations may differ). ``run_td0`` pins its
randomness, so a correct run replays the reference's TD errors and weights.
"""

import torch

from autograder.checks.framework import Case, call, check
from autograder.compare import FLOAT32_RUN, FLOAT32_STEP

GAMMA = 0.9
SIZES = [4, 8, 8, 1]


def transitions(ctx, batch: int = 4) -> list[tuple[str, list]]:
    """(label, arguments after (v, optimizer)) for single, terminal and batched transitions."""
    g = torch.Generator().manual_seed(ctx.seed)
    s, s2 = torch.randn(4, generator=g), torch.randn(4, generator=g)
    bs, bs2 = torch.randn(batch, 4, generator=g), torch.randn(batch, 4, generator=g)
    rewards = torch.tensor([1.0, 0.5, -1.0, 2.0][:batch])
    done = torch.tensor([False, True, False, True][:batch])
    return [
        ("one transition", [s, 1.0, s2, False, GAMMA]),
        ("a terminal transition", [s, 1.0, s2, True, GAMMA]),
        ("a batch", [bs, rewards, bs2, done, GAMMA]),
    ]


def update_cases(ctx, probe: str, function: str, sizes: list[int], batch_args: list[tuple[str, list]],
                 names: list[str]) -> list[Case]:
    cases = []
    for device in (ctx.device, "meta"):
        for label, args in batch_args:
            if device == "meta" and label != "a batch":
                continue  # the meta device only checks that nothing is created on the CPU
            where = " (inputs on the meta device)" if device == "meta" else ""
            cases.append(Case(probe, {"sizes": sizes, "seed": ctx.seed, "lr": 0.1, "args": args, "device": device},
                              f"{call(function, 'v', 'SGD(lr=0.1)', **dict(zip(names, args)))} on {label}{where}"
                              .replace("'v'", "v").replace("'SGD(lr=0.1)'", "SGD(lr=0.1)"),
                              FLOAT32_STEP, weight=0.5 if device == "meta" else 1.0, mistake_key="step"))
    return cases


@check("td0.target", group="td0", points=4, function="td_target")
def test_td_target(ctx):
    g = torch.Generator().manual_seed(ctx.seed)
    values = torch.randn(4, generator=g)
    rewards, done = torch.tensor([1.0, 0.0, -1.0, 0.5]), torch.tensor([False, True, False, True])
    args = [(1.0, values[0], False, GAMMA), (1.0, values[0], True, GAMMA), (rewards, values, done, GAMMA)]
    cases = [Case("td_target", {"reward": r, "next_value": v, "terminated": t, "gamma": gm, "device": ctx.device},
                  call("td_target", r, v, t, gm), FLOAT32_STEP) for r, v, t, gm in args]
    cases.append(Case("td_target", {"reward": rewards, "next_value": values, "terminated": done, "gamma": GAMMA,
                                    "device": "meta"},
                      call("td_target", rewards, values, done, GAMMA) + " with tensors on the meta device",
                      weight=0.5))
    ctx.grade(cases)


@check("td0.update", group="td0", points=10, function="semi_gradient_td0_update")
def test_semi_gradient_td0_update(ctx):
    names = ["state", "reward", "next_state", "terminated", "gamma"]
    ctx.grade(update_cases(ctx, "td0_update", "semi_gradient_td0_update", SIZES, transitions(ctx), names))


@check("td0.run", group="td0", points=6, function="run_td0", time_limit=30)
def test_run_td0(ctx):
    args = {"n_steps": 150, "gamma": 0.95, "seed": ctx.seed % 10_000, "lr": 0.01, "max_episode_steps": 20,
            "device": ctx.device}
    ctx.grade([Case("run_td0", args,
                    f"run_td0(CartPole-v1 truncated at 20 steps, a seeded 4→16→16→1 network, SGD(lr=0.01), "
                    f"n_steps=150, gamma=0.95, seed={args['seed']})", FLOAT32_RUN, mistake_key="parameters")])
