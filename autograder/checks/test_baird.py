"""Part 6 — Baird's counterexample (20 points). Features are exact; a single
gradient is FLOAT32_STEP; sweeps and runs compound rounding: FLOAT32_RUN."""

import torch

from autograder.checks.framework import Case, call, check
from autograder.compare import EXACT, FLOAT32_RUN, FLOAT32_STEP

BOOK_W0 = torch.tensor([1.0, 1, 1, 1, 1, 1, 10, 1])
ALPHA, GAMMA = 0.01, 0.99


@check("baird.features", group="baird", points=4, function="baird_features")
def test_baird_features(ctx):
    ctx.grade([Case("baird_features", {}, "baird_features()", EXACT)])


@check("baird.semi_gradient", group="baird", points=6, function="baird_semi_gradient")
def test_baird_semi_gradient(ctx):
    w = torch.randn(8, generator=torch.Generator().manual_seed(ctx.seed))
    moves = [(0, 6, 1), (3, 6, 1), (6, 6, 1), (6, 2, 0), (5, 1, 0)]
    ctx.grade([Case("baird_semi_gradient", {"w": w, "state": s, "next_state": s2, "action": a, "gamma": GAMMA,
                                            "device": ctx.device},
                    call("baird_semi_gradient", w, s, s2, a, GAMMA), FLOAT32_STEP) for s, s2, a in moves])


@check("baird.expected_td", group="baird", points=5, function="baird_expected_td")
def test_baird_expected_td(ctx):
    w = torch.randn(8, generator=torch.Generator().manual_seed(ctx.seed))
    ctx.grade([Case("baird_expected_td", {"w0": w0, "n_sweeps": n, "alpha": ALPHA, "gamma": GAMMA,
                                          "device": ctx.device},
                    call("baird_expected_td", w0, n, ALPHA, GAMMA), FLOAT32_RUN)
               for w0, n in ((BOOK_W0, 100), (w, 30))])


def divergence_diagnosis(ctx, cases, got, expected):
    """A run whose weights stay near where they started did not diverge."""
    run = got[0]
    if run.kind == "ok" and hasattr(run.value, "values") and run.value.values.dim() == 2:
        weights = run.value.values.double()
        if weights[-1].norm() < 2 * weights[0].norm():
            return "no-divergence"
    return None


@check("baird.run_td", group="baird", points=5, function="run_baird_td", time_limit=30)
def test_run_baird_td(ctx):
    seed = ctx.seed % 10_000
    ctx.grade([Case("run_baird_td", {"w0": BOOK_W0, "n_steps": 1000, "alpha": ALPHA, "gamma": GAMMA, "seed": seed,
                                     "device": ctx.device},
                    call("run_baird_td", BOOK_W0, 1000, ALPHA, GAMMA, seed), FLOAT32_RUN)],
              diagnose=divergence_diagnosis)
