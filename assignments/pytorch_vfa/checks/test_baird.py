"""Part 6 — Baird's counterexample (20 points). Features are exact; a single
gradient is FLOAT32_STEP; sweeps and runs compound rounding: FLOAT32_RUN."""

import torch

from autograder.checks import Case, EXACT, FLOAT32_RUN, FLOAT32_STEP, call, check
from autograder.series import against_expected

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


COMPONENTS = [f"w{i}" for i in range(1, 9)]


def weight_series(name: str, title: str, x_label: str):
    """The run's weights, row by row, against the reference's: from the book's w0 those diverge as
    Figure 11.2 shows."""
    def series(got, expected) -> list[dict]:
        return [against_expected(name, title, x_label, "weight", got, expected, components=COMPONENTS,
                                 expected_label="expected (the reference's run: Figure 11.2's divergence)")]

    return series


@check("baird.expected_td", group="baird", points=5, function="baird_expected_td")
def test_baird_expected_td(ctx):
    g = torch.Generator().manual_seed(ctx.seed)
    w = torch.randn(8, generator=g)
    near_book = BOOK_W0 + torch.rand(8, generator=g).round(decimals=2)  # off the book's start by the seed
    book = weight_series("sweep_weights", "Weights of expected TD from near the book's w0 (Figure 11.2, right)",
                         "sweep")
    ctx.grade([Case("baird_expected_td", {"w0": w0, "n_sweeps": n, "alpha": ALPHA, "gamma": GAMMA,
                                          "device": ctx.device},
                    call("baird_expected_td", w0, n, ALPHA, GAMMA), FLOAT32_RUN, series=series)
               for w0, n, series in ((near_book, 100, book), (w, 30, None))])


# Divergence, calibrated on the reference: over seeds 0-299, 1000 steps from the
# book's w0 grow ‖w‖ by 24.0x at least (median 42x, max 70x), so a correct run
# never falls below 10x (0/300). Without ρ the norm stays at 0.84x; with the
# course notebook's features it reaches only 3.2x.
DIVERGENCE_FACTOR = 10.0


def growth(run) -> float | None:
    """‖w_T‖ / ‖w_0‖ of a run's (T + 1, 8) weights, or None if it is not one."""
    if run.kind != "ok" or not hasattr(run.value, "values") or run.value.values.dim() != 2:
        return None
    if run.value.device == "meta" or run.value.shape[-1] != 8 or run.value.shape[0] < 2:
        return None
    weights = run.value.values.double()
    return float(weights[-1].norm() / weights[0].norm())


def divergence_diagnosis(ctx, cases, got, expected):
    """A run whose weights do not grow did not diverge."""
    factor = growth(got[0])
    return "no-divergence" if factor is not None and factor < DIVERGENCE_FACTOR else None


def divergence_behaviour(ctx, cases, got):
    """Half the points for a run that diverges from w0 but does not replay the
    spec's random draws (the other half is for following them)."""
    factor = growth(got[0])
    start = got[0].value.values[0] if factor is not None else None
    if factor is None or factor < DIVERGENCE_FACTOR or not bool((start == BOOK_W0).all()):
        return None
    return 0.5, (f"Your run diverges (‖w‖ grew {factor:.0f}x in 1000 steps), as Figure 11.2 shows, but it does "
                 "not replay the spec's random draws: one rng.integers(7) for the start state, then per step "
                 "one rng.random() and, for a dashed action, one rng.integers(6).")


@check("baird.run_td", group="baird", points=5, function="run_baird_td", time_limit=30)
def test_run_baird_td(ctx):
    seed = ctx.seed % 10_000
    ctx.grade([Case("run_baird_td", {"w0": BOOK_W0, "n_steps": 1000, "alpha": ALPHA, "gamma": GAMMA, "seed": seed,
                                     "device": ctx.device},
                    call("run_baird_td", BOOK_W0, 1000, ALPHA, GAMMA, seed), FLOAT32_RUN,
                    series=weight_series("run_weights", "Weights of off-policy semi-gradient TD from the book's w0 "
                                         "(Figure 11.2, left)", "step"))],
              diagnose=divergence_diagnosis, behaviour=divergence_behaviour)
