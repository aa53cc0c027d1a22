"""Part 4 — semi-gradient TD(0) prediction (20 points).

An SGD step is deterministic: compared with the reference step to FLOAT32_STEP
(only the order of float32 operations may differ). ``run_td0`` pins its
randomness, so a correct run replays the reference's TD errors and weights.
"""

import torch

from autograder.checks import Case, FLOAT32_RUN, FLOAT32_STEP, call, check
from autograder.series import against_expected, curve, numbers, plot

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


# --- td0.run: exact replay, else behaviour -----------------------------------------------
#
# A run that does not replay the spec's draws (it reseeds every episode, or
# draws actions its own way) cannot be compared step by step. It gets half the
# points if it learns what TD(0) must: the values of the random walk of
# Example 6.2 (probes.RandomWalk: 5 states, start in the middle, +1 on the right
# end; true values i/6 for γ = 1, the limit of Monte-Carlo averages), from a
# linear one-hot value network starting at 0.5 (the book's start) with 1.0 on
# the terminal states, which a correct run never reads. Episodes are truncated
# at 6 steps, so a run must bootstrap on truncation as well.
#
# Calibrated by scripts/calibrate_behaviour.py on the reference: after 3000
# steps with SGD(lr=0.02) the RMS error over the 5 states is at most 0.074 over
# seeds 0-999 (median 0.021, 99th percentile 0.055; 0.7 s a run here on 2026-12-07), so a correct
# run failed the 0.1 limit 0/1000 times. Known broken runs passed 0/300 each:
# never updating (0.236 always), truncation as termination (≥ 0.18),
# bootstrapping from the terminal state (≥ 0.70), the residual gradient (target
# not detached, ≥ 0.11, the closest), the course notebook's δ as the loss
# (≥ 3.6); a sign-flipped update and accumulated gradients diverge. A double
# step (the rate doubled) still learns (300/300, max 0.099): td0.update names it.
WALK_TD0 = {"n_steps": 3000, "gamma": 1.0, "lr": 0.02, "max_episode_steps": 6, "start_value": 0.5,
            "terminal_value": 1.0}
WALK_TD0_RMS_LIMIT = 0.1
# A behavioural run measures learning, not device handling (the exact replay
# and the update checks run on the grading device), so it runs on the CPU:
# thousands of one-sample steps are launch-bound on a GPU. Graded on an H200
# with a 5 s limit, these runs earned nothing where the CPU's gave half credit.
BEHAVIOUR_DEVICE = "cpu"


def walk_values(n_states: int, gamma: float, left: float = 0.0, right: float = 1.0) -> torch.Tensor:
    """The uniform random policy's values of the random walk's non-terminal
    states (what Monte-Carlo averages converge to): v = P(r + γ v), solved."""
    p = torch.zeros(n_states, n_states, dtype=torch.float64)
    r = torch.zeros(n_states, dtype=torch.float64)
    for i in range(n_states):
        for j, end in ((i - 1, left), (i + 1, right)):
            if 0 <= j < n_states:
                p[i, j] = 0.5
            else:
                r[i] += 0.5 * end
    return torch.linalg.solve(torch.eye(n_states, dtype=torch.float64) - gamma * p, r)


def td0_walk_case(ctx) -> Case:
    args = {**WALK_TD0, "seed": ctx.seed % 10_000, "device": BEHAVIOUR_DEVICE}
    return Case("td0_random_walk", args,
                f"run_td0(a 5-state random walk truncated at {WALK_TD0['max_episode_steps']} steps, a linear "
                f"value network, SGD(lr={WALK_TD0['lr']}), n_steps={WALK_TD0['n_steps']}, "
                f"gamma={WALK_TD0['gamma']}, seed={args['seed']})")


def td0_walk_error(value, settings: dict = WALK_TD0) -> float | None:
    """RMS error of a random-walk run's values over the 5 non-terminal states,
    or None when the run is not one of ``n_steps`` steps with as many finite TD
    errors (or its result is malformed)."""
    try:
        n_steps = settings["n_steps"]
        if value["steps"] != n_steps or value["n_deltas"] != n_steps or value["deltas_finite"] is not True:
            return None
        values = torch.tensor([float(x) for x in value["values"]], dtype=torch.float64)
        if values.shape != (7,) or min(value["visits"][1:-1]) < 1:
            return None
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    error = (values[1:-1] - walk_values(5, settings["gamma"])).pow(2).mean().sqrt()
    return float(error) if bool(error.isfinite()) else None


def walk_series(value, settings: dict = WALK_TD0) -> list[dict]:
    """The learned values of the random walk's 5 states against the true ones, i/6 (Example 6.2's figure)."""
    learned = numbers(value["values"])[1:-1]
    states = range(1, 6)
    return [plot("random_walk_values", f"Values learned on the 5-state random walk ({settings['n_steps']} steps) "
                 "against the true ones", "state", "value",
                 [curve("your run's values", "got", learned, states),
                  curve("true values i/6", "expected", walk_values(5, settings["gamma"]), states)])]


def td0_behaviour(ctx, cases, got):
    """Half the points for a run that learns the random walk's values but does
    not replay the spec's random draws (the other half is for following them)."""
    run = ctx.run(td0_walk_case(ctx))
    if run.kind != "ok" or run.tampering:
        return None
    ctx.measured(walk_series, run.value)
    error = td0_walk_error(run.value)
    if error is None or error > WALK_TD0_RMS_LIMIT:
        return None
    return 0.5, (f"Your run learns what TD(0) must: on a 5-state random walk (Sutton & Barto's Example 6.2, "
                 f"{WALK_TD0['n_steps']} steps) its values are within {error:.3f} (RMS) of the true ones i/6 "
                 f"(limit {WALK_TD0_RMS_LIMIT:g}). But it does not replay the spec's random draws: "
                 "env.reset(seed=seed) and env.action_space.seed with that same seed, once at the start, then one "
                 "env.action_space.sample() per step and env.reset() with no seed after each episode. "
                 "Half the points are for learning; the other half is for following those draws.")


def td_error_series(got, expected) -> list[dict]:
    return [against_expected("td_errors", "TD errors along the run on CartPole", "step", "TD error δ",
                             got["deltas"], expected["deltas"], start=1)]


@check("td0.run", group="td0", points=6, function="run_td0", time_limit=30)
def test_run_td0(ctx):
    args = {"n_steps": 150, "gamma": 0.95, "seed": ctx.seed % 10_000, "lr": 0.01, "max_episode_steps": 20,
            "device": ctx.device}
    ctx.grade([Case("run_td0", args,
                    f"run_td0(CartPole-v1 truncated at 20 steps, a seeded 4→16→16→1 network, SGD(lr=0.01), "
                    f"n_steps=150, gamma=0.95, seed={args['seed']})", FLOAT32_RUN, mistake_key="parameters",
                    series=td_error_series)],
              behaviour=td0_behaviour)
