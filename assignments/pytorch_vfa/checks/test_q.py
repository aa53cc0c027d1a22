"""Part 5 — action values (20 points). Same rules as Part 4; ε-greedy's
randomness is pinned by the spec, so its actions are compared exactly."""

import torch

from autograder.checks import Case, FLOAT32_RUN, FLOAT32_STEP, call, check
from autograder.series import against_expected

from assignments.pytorch_vfa.checks.test_td0 import BEHAVIOUR_DEVICE, GAMMA, update_cases

SIZES = [5, 8, 8, 1]


def q_transitions(ctx, with_next_action: bool) -> list[tuple[str, list]]:
    g = torch.Generator().manual_seed(ctx.seed)
    s, s2 = torch.randn(4, generator=g), torch.randn(4, generator=g)
    bs, bs2 = torch.randn(4, 4, generator=g), torch.randn(4, 4, generator=g)
    actions, next_actions = torch.tensor([0, 1, 1, 0]), torch.tensor([1, 1, 0, 0])
    rewards, done = torch.tensor([1.0, 0.5, -1.0, 2.0]), torch.tensor([False, True, False, False])
    if with_next_action:
        return [("one transition", [s, 1, 1.0, s2, 0, False, GAMMA]),
                ("a terminal transition", [s, 0, 1.0, s2, 1, True, GAMMA]),
                ("a batch", [bs, actions, rewards, bs2, next_actions, done, GAMMA])]
    return [("one transition", [s, 1, 1.0, s2, False, GAMMA, 2]),
            ("another transition", [s2, 0, 0.5, s, False, GAMMA, 2]),
            ("a terminal transition", [s, 0, 1.0, s2, True, GAMMA, 2]),
            ("a batch", [bs, actions, rewards, bs2, done, GAMMA, 2])]


@check("q.values", group="q", points=3, function="q_values")
def test_q_values(ctx):
    g = torch.Generator().manual_seed(ctx.seed)
    states = [torch.randn(4, generator=g), torch.randn(3, 4, generator=g)]
    cases = [Case("q_values", {"state": s, "n_actions": n, "seed": ctx.seed, "device": device},
                  f"q_values(a seeded 5→8→1 network, {call('', s)[1:-1]}, {n})" +
                  (" with tensors on the meta device" if device == "meta" else ""), FLOAT32_STEP,
                  weight=0.5 if device == "meta" else 1.0)
             for s, n, device in ((states[0], 2, ctx.device), (states[1], 2, ctx.device), (states[1], 3, "meta"))]
    ctx.grade(cases)


def greedy_diagnosis(ctx, cases, got, expected):
    """ε = 1 must explore; ε = 0 must never: name which of the two is broken."""
    explore, exploit = got[2], got[1]
    if explore.kind == "ok" and set(explore.value["actions"]) == {1}:
        return "no-exploration"
    if exploit.kind == "ok" and set(exploit.value["actions"]) != {1}:
        return "always-random"
    return None


@check("q.epsilon_greedy", group="q", points=3, function="epsilon_greedy")
def test_epsilon_greedy(ctx):
    settings = [([0.1, 0.5, 0.2], 0.3, 200), ([0.2, 0.9, 0.1], 0.0, 20), ([0.0, 2.0], 1.0, 200),
                ([1.0, 1.0, 0.0], 0.0, 5)]
    ctx.grade([Case("epsilon_greedy", {"q_values": torch.tensor(q), "epsilon": eps, "seed": ctx.seed, "calls": n},
                    f"epsilon_greedy(torch.tensor({q}), {eps}, np.random.default_rng({ctx.seed})), "
                    f"{n} times with that one generator") for q, eps, n in settings], diagnose=greedy_diagnosis)


@check("q.sarsa_update", group="q", points=6, function="semi_gradient_sarsa_update")
def test_sarsa_update(ctx):
    names = ["state", "action", "reward", "next_state", "next_action", "terminated", "gamma"]
    ctx.grade(update_cases(ctx, "sarsa_update", "semi_gradient_sarsa_update", SIZES, q_transitions(ctx, True), names))


def next_action_diagnosis(ctx, cases, got, expected):
    """A sampled next action gives, transition by transition, either the max
    target or another action's: every δ is one of the two, and some are not the max's."""
    other = ctx.variant_outcomes("q-learning-uses-next-action", cases)
    seen_other = False
    for g, e, o in zip(got, expected, other):
        if g.kind != "ok" or o.kind != "ok" or not isinstance(g.value, dict) or e.value["delta"].device == "meta":
            continue
        mine = g.value.get("delta")
        if not hasattr(mine, "values") or mine.shape != e.value["delta"].shape:
            return None
        m, best, rest = mine.values.double(), e.value["delta"].values.double(), o.value["delta"].values.double()
        near_best, near_rest = (m - best).abs() < 1e-5, (m - rest).abs() < 1e-5
        if not bool((near_best | near_rest).all()):
            return None
        seen_other |= bool((near_rest & ~near_best).any())
    return "q-learning-uses-next-action" if seen_other else None


@check("q.q_learning_update", group="q", points=4, function="semi_gradient_q_learning_update")
def test_q_learning_update(ctx):
    names = ["state", "action", "reward", "next_state", "terminated", "gamma", "n_actions"]
    ctx.grade(update_cases(ctx, "q_learning_update", "semi_gradient_q_learning_update", SIZES,
                           q_transitions(ctx, False), names), diagnose=next_action_diagnosis)


# --- q.run_sarsa: exact replay, else behaviour ---------------------------------------------
#
# A run that does not replay the spec's draws (its own generator for ε-greedy,
# a reseeded environment) gets half the points if it learns what SARSA must:
# on probes.RandomWalk with -1 at the left end and +1 at the right end (start in
# the middle, 0 per step, truncated at 20 steps), with a table of action values
# starting at 0 (so the greedy action starts as "left"), its last 50 finished
# episodes must return clearly more than a uniformly random policy. The returns
# are the environment's own log; the run must also report exactly those.
#
# The left terminal state's values start at 3.0: a correct run never reads
# them, a run that bootstraps from a terminal state is lured to the -1 end.
#
# Calibrated by scripts/calibrate_behaviour.py: after 1500 steps (ε = 0.1,
# γ = 0.9, SGD(lr=0.2); 0.6 s a run here on 2026-12-07) the reference's last 50 episodes return
# at least 0.96 on average over seeds 0-999 (median 1.00), so a correct run
# failed the 0.6 bar 0/1000 times. A uniformly random policy averages 0.00 (at
# most 0.44 over 1000 seeds, 99th percentile 0.32). Known broken runs passed
# 0/300 each: never updating, a sign-flipped update, bootstrapping from the
# terminal state, skipping the terminal update (the course notebook's loop) and
# δ as the loss all stay near -1; ε-greedy that never explores gets 0; SARSA
# with the max (Q-learning) at most -0.02. Accumulated gradients pass 56/300.
# Mistakes that do not stop learning pass (300/300): a double step, the
# residual gradient, truncation as termination; the exact replay (or the
# update checks) name those.
WALK_SARSA = {"n_steps": 1500, "gamma": 0.9, "epsilon": 0.1, "lr": 0.2, "max_episode_steps": 20,
              "left_reward": -1.0, "right_reward": 1.0, "step_reward": 0.0, "left_end_value": 3.0}
WALK_SARSA_EPISODES = 50
WALK_SARSA_BAR = 0.6


def sarsa_walk_case(ctx) -> Case:
    args = {**WALK_SARSA, "seed": ctx.seed % 10_000, "device": BEHAVIOUR_DEVICE}
    return Case("sarsa_random_walk", args,
                f"run_sarsa(a 5-state random walk truncated at {WALK_SARSA['max_episode_steps']} steps, a table of "
                f"action values, SGD(lr={WALK_SARSA['lr']}), n_steps={WALK_SARSA['n_steps']}, "
                f"gamma={WALK_SARSA['gamma']}, epsilon={WALK_SARSA['epsilon']}, seed={args['seed']})")


def sarsa_walk_score(value, settings: dict = WALK_SARSA, episodes: int = WALK_SARSA_EPISODES) -> float | None:
    """Mean return of a random-walk run's last ``episodes`` finished episodes,
    as the environment logged them; None when the run did not take
    ``n_steps`` steps, finished fewer episodes, reported other returns than the
    environment's, or its result is malformed."""
    try:
        returns = [float(r) for r in value["returns"]]
        reported = [float(r) for r in value["reported"]]
        if value["steps"] != settings["n_steps"] or len(returns) < episodes or len(reported) != len(returns):
            return None
        if any(abs(a - b) > 1e-6 for a, b in zip(reported, returns)):
            return None
    except (KeyError, TypeError, ValueError):
        return None
    return sum(returns[-episodes:]) / episodes


def sarsa_behaviour(ctx, cases, got):
    """Half the points for a run that learns to walk to the rewarding end but
    does not replay the spec's random draws (the other half is for following them)."""
    run = ctx.run(sarsa_walk_case(ctx))
    if run.kind != "ok" or run.tampering:
        return None
    score = sarsa_walk_score(run.value)
    if score is None or score < WALK_SARSA_BAR:
        return None
    return 0.5, (f"Your run learns what SARSA must: on a 5-state random walk that ends in -1 on the left and +1 on "
                 f"the right ({WALK_SARSA['n_steps']} steps, epsilon={WALK_SARSA['epsilon']}), its last "
                 f"{WALK_SARSA_EPISODES} episodes returned {score:.2f} on average (a random policy gets about 0; "
                 f"the bar is {WALK_SARSA_BAR:g}). But it does not replay the spec's random draws: "
                 "one np.random.default_rng(seed), made once, as the only source of random actions (through "
                 "epsilon_greedy), and env.reset(seed=seed) once at the start, env.reset() with no seed after "
                 "each episode. "
                 "Half the points are for learning; the other half is for following those draws.")


def return_series(got, expected) -> list[dict]:
    return [against_expected("episode_returns", "Episode returns along the run on CartPole", "episode", "return",
                             got["returns"], expected["returns"], start=1)]


@check("q.run_sarsa", group="q", points=4, function="run_sarsa", time_limit=30)
def test_run_sarsa(ctx):
    args = {"n_steps": 150, "gamma": 0.95, "epsilon": 0.2, "seed": ctx.seed % 10_000, "lr": 0.01,
            "max_episode_steps": 15, "device": ctx.device}
    ctx.grade([Case("run_sarsa", args,
                    f"run_sarsa(CartPole-v1 truncated at 15 steps, a seeded 5→16→16→1 network, SGD(lr=0.01), "
                    f"n_steps=150, gamma=0.95, epsilon=0.2, seed={args['seed']})", FLOAT32_RUN,
                    mistake_key="parameters", series=return_series)],
              behaviour=sarsa_behaviour)
