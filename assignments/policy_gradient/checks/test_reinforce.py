"""Part 3 — REINFORCE (35 points). A loss and one SGD step are deterministic:
FLOAT32_STEP. ``run_reinforce`` pins its randomness, so a correct run replays
the reference's returns and weights over a short run (FLOAT32_RUN: rounding
compounds along it); a run that does not replay them is judged by what it
learns on the short corridor (see the comments at CORRIDOR)."""

import math

import torch

from autograder.checks import FLOAT32_RUN, FLOAT32_STEP, Case, call, check
from autograder.series import against_expected, curve, numbers, plot

from assignments.policy_gradient.checks.episodes import POLICY_SIZES, SPEC_GAMMA, describe, random_episode, \
    spec_episode
from assignments.policy_gradient.probes import J_STAR, P_STAR, START_PREFERENCE, corridor_objective

LR = 0.1


@check("reinforce.loss", group="reinforce", points=12, function="reinforce_loss")
def test_reinforce_loss(ctx):
    g = torch.Generator().manual_seed(ctx.seed)
    spec_returns = torch.tensor([0.8125, -0.375, 3.25, 0.5])  # G_t of the spec's rewards (1, −2, 3, 0.5), γ = 0.5
    log_pi = -torch.rand(6, generator=g) * 2
    returns = torch.randn(6, generator=g) * 2
    spec_log_pi = -torch.rand(4, generator=g) * 2 - 0.1  # drawn after those: the seed's, with the spec's returns
    settings = [(spec_log_pi, spec_returns, SPEC_GAMMA, ctx.device, 1.0, ""),
                (log_pi, returns, 0.9, ctx.device, 1.0, ""),
                (log_pi.double(), returns, 0.9, ctx.device, 1.0, " (float64 log-probabilities: the loss's dtype)"),
                (spec_log_pi, spec_returns, SPEC_GAMMA, "meta", 0.5, " on the meta device")]
    ctx.grade([Case("reinforce_loss", {"log_probs": lp, "returns": G, "gamma": gamma, "device": device},
                    f"{call('reinforce_loss', lp, G, gamma)}{note}, returns requiring grad, then its gradient",
                    FLOAT32_STEP, weight=weight) for lp, G, gamma, device, weight, note in settings])


def update_cases(ctx, probe: str, function: str, extra: dict, reads: str) -> list[Case]:
    """One update on the spec's episode and a random one; the rewards as a list; float64 networks.
    (No meta-device case: an update returns its loss as a number, which a meta tensor has not.)"""
    settings = [(spec_episode(ctx.seed), "float32", "tensor", ""), (random_episode(ctx.seed), "float32", "tensor", ""),
                (spec_episode(ctx.seed), "float32", "list", " (the rewards as a list)"),
                (random_episode(ctx.seed), "float64", "tensor", " (float64 networks)")]
    return [Case(probe, {**extra, **episode, "seed": ctx.seed, "device": ctx.device, "dtype": dtype,
                         "rewards_as": rewards_as},
                 f"{function}({reads}, {describe(episode)}){note}", FLOAT32_STEP)
            for episode, dtype, rewards_as, note in settings]


@check("reinforce.update", group="reinforce", points=13, function="reinforce_update")
def test_reinforce_update(ctx):
    ctx.grade(update_cases(ctx, "reinforce_update", "reinforce_update", {"sizes": POLICY_SIZES, "lr": LR},
                           f"a seeded 4→8→2 policy with stale gradients, SGD(lr={LR})"))


# --- runs: exact replay, else behaviour on the short corridor ----------------------------
#
# A run that does not replay the spec's draws (its own generator, a reseeded
# environment, an update of its own making) cannot be compared step by step.
# It gets half the points if it learns what REINFORCE must: on the short
# corridor of Example 13.1 (probes.ShortCorridor), from the book's start
# p = π(right) ≈ 0.05 (J ≈ −82), with SGD on linear2.bias only, lr 2⁻¹¹, γ = 1
# and 200 episodes, as the spec's grading notes pin it, p read from the final
# policy must lie in CORRIDOR_P (J(p) within reach of J* ≈ −11.66), and the
# environment's own log of the last 50 episodes must average above
# CORRIDOR_RETURN_BAR (a run cannot claim returns it did not get; a greedy
# baseline run ends at p = 0.66 with every episode timing out at −200).
#
# Calibrated by scripts/calibrate_policy_gradient.py, through this probe and
# this judgement, over seeds 0-299: the reference's REINFORCE ended with p in
# (0.250, 0.654), median 0.430, and with baseline in (0.338, 0.619), median
# 0.434; the worst last-50 mean was −23.6. Correct runs failed 0/300 each.
# Broken runs passed 0/300: no update, sign-flipped, mean-not-sum (p stays near
# 0.05), greedy-not-sampled, and for the baseline wrong-shape (NaN) and
# grad-accumulation. Some pass sometimes: grad-accumulation (REINFORCE) 8/300,
# returns-wrong-direction 52/300 (REINFORCE) and 19/300 (baseline); the exact
# replay and the update checks name those. Mistakes that still learn pass
# (episode-return-everywhere at γ = 1, baseline-not-detached,
# delta-after-value-step, unpinned-randomness): the deterministic checks name them.
CORRIDOR = {"n_episodes": 200, "lr_theta": 2**-11, "gamma": 1.0, "max_episode_steps": 200}
CORRIDOR_P = (0.2, 0.9)
CORRIDOR_RETURN_BAR, CORRIDOR_LAST = -40.0, 50
IMPROVED_P = 0.1  #: a run that ends below this never left the start (p ≈ 0.05): no-improvement
CORRIDOR_START_P = 1 / (1 + math.exp(2 * START_PREFERENCE))  #: p(right) where every run starts, ≈ 0.050


def corridor_case(seed: int, baseline_lr: float | None = None) -> Case:
    args = {**CORRIDOR, "seed": seed % 10_000, "device": "cpu"}
    what = "run_reinforce"
    if baseline_lr is not None:
        args["lr_w"], what = baseline_lr, "run_reinforce_baseline"
    return Case("corridor_run", args,
                f"{what}(the short corridor of Example 13.1 from p(right) = 0.05, SGD(lr=2**-11) on linear2.bias"
                f"{'' if baseline_lr is None else f', a constant baseline with SGD(lr={baseline_lr:g})'}, "
                f"n_episodes={CORRIDOR['n_episodes']}, gamma=1.0, seed={args['seed']})")


def corridor_measure(value) -> tuple[float, float] | None:
    """(p(right) at the end, the mean logged return of the last episodes) of a corridor run, or None
    when the run is not one (it did not report the returns the environment logged, or its result is
    malformed)."""
    try:
        returns, reported = [float(r) for r in value["returns"]], [float(r) for r in value["reported"]]
        if len(returns) != CORRIDOR["n_episodes"] or len(reported) != len(returns) or \
                any(abs(a - b) > 1e-6 for a, b in zip(returns, reported)):
            return None
        p = float(value["p_right"])
    except (KeyError, TypeError, ValueError):
        return None
    if not 0.0 <= p <= 1.0:
        return None
    return p, sum(returns[-CORRIDOR_LAST:]) / CORRIDOR_LAST


def corridor_learned(p: float, last_return: float) -> bool:
    return CORRIDOR_P[0] < p < CORRIDOR_P[1] and last_return > CORRIDOR_RETURN_BAR


def corridor_series(value) -> list[dict]:
    """Where the run ended on the corridor's objective J(p), against the start and the optimum p*; and the
    returns the environment logged, episode by episode, against J*."""
    p = float(value["p_right"])
    grid = [i / 100 for i in range(3, 98)]
    returns = numbers(value["returns"])
    return [plot("corridor_p_right", "p(right) at the end of the run on the short corridor (Example 13.1)",
                 "p = π(right)", "J(p), the expected return from the start",
                 [curve("J(p)", "context", [corridor_objective(x) for x in grid], grid)],
                 vlines={f"start p = {CORRIDOR_START_P:.2f}": CORRIDOR_START_P, f"your run's p = {p:.3f}": p,
                         f"best p* = {P_STAR:.3f}": P_STAR}),
            plot("corridor_returns", "Episode returns on the short corridor, as its environment logged them",
                 "episode", "return", [curve("your run", "got", returns, range(1, len(returns) + 1))],
                 hlines={f"J* = {J_STAR:.1f}, the best policy's mean": J_STAR,
                         f"the bar for the last {CORRIDOR_LAST} episodes' mean": CORRIDOR_RETURN_BAR})]


def corridor_run(ctx, baseline_lr: float | None = None) -> tuple[float, float] | None:
    run = ctx.run(corridor_case(ctx.seed, baseline_lr))
    if run.kind != "ok" or run.tampering:
        return None
    measured = corridor_measure(run.value)
    if measured is not None:
        ctx.measured(corridor_series, run.value)
    return measured


def corridor_behaviour(name: str, baseline_lr: float | None = None):
    def behaviour(ctx, cases, got):
        """Half the points for a run that learns the corridor but does not replay the spec's draws."""
        measured = corridor_run(ctx, baseline_lr)
        if measured is None or not corridor_learned(*measured):
            return None
        p, last = measured
        return 0.5, (f"Your run learns what {name} must: on the short corridor (Sutton & Barto's Example 13.1) it "
                     f"went from p(right) = 0.05 (J = -81.8) to p = {p:.3f} (J = {corridor_objective(p):.1f}; the "
                     f"best is p = 0.586, J = -11.7), its last {CORRIDOR_LAST} episodes returning {last:.1f} on "
                     f"average. But it does not replay the spec's random draws: one generator, "
                     "np.random.default_rng(seed), made once; env.reset(seed=seed) for the first episode and "
                     "env.reset() after; one rng.random() per step (through sample_action) and no other draw. Half "
                     "the points are for learning; the other half is for following those draws.")

    return behaviour


def corridor_diagnosis(baseline_lr: float | None = None):
    def diagnose(ctx, cases, got, expected):
        """A run that never leaves the corridor's start has not learned: no-improvement."""
        measured = corridor_run(ctx, baseline_lr)
        return "no-improvement" if measured is not None and measured[0] < IMPROVED_P else None

    return diagnose


RUN = {"n_episodes": 20, "gamma": 0.9, "lr": 0.01, "max_episode_steps": 20}


def return_series(got, expected) -> list[dict]:
    return [against_expected("episode_returns", "Episode returns along the run on CartPole", "episode", "return",
                             got["returns"], expected["returns"], start=1)]


@check("reinforce.run", group="reinforce", points=10, function="run_reinforce", time_limit=30)
def test_run_reinforce(ctx):
    args = {**RUN, "seed": ctx.seed % 10_000, "device": ctx.device}
    ctx.grade([Case("run_reinforce", args,
                    f"run_reinforce(CartPole-v1 truncated at {RUN['max_episode_steps']} steps, a seeded 4→16→2 "
                    f"policy, SGD(lr={RUN['lr']}), n_episodes={RUN['n_episodes']}, gamma={RUN['gamma']}, "
                    f"seed={args['seed']})", FLOAT32_RUN, mistake_key="parameters", series=return_series)],
              diagnose=corridor_diagnosis(), behaviour=corridor_behaviour("REINFORCE"))
