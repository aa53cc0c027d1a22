"""Part 5 — action values (20 points). Same rules as Part 4; ε-greedy's
randomness is pinned by the spec, so its actions are compared exactly."""

import torch

from autograder.checks.framework import Case, call, check
from autograder.checks.test_td0 import GAMMA, update_cases
from autograder.compare import FLOAT32_RUN, FLOAT32_STEP

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


@check("q.run_sarsa", group="q", points=4, function="run_sarsa", time_limit=30)
def test_run_sarsa(ctx):
    args = {"n_steps": 150, "gamma": 0.95, "epsilon": 0.2, "seed": ctx.seed % 10_000, "lr": 0.01,
            "max_episode_steps": 15, "device": ctx.device}
    ctx.grade([Case("run_sarsa", args,
                    f"run_sarsa(CartPole-v1 truncated at 15 steps, a seeded 5→16→16→1 network, SGD(lr=0.01), "
                    f"n_steps=150, gamma=0.95, epsilon=0.2, seed={args['seed']})", FLOAT32_RUN,
                    mistake_key="parameters")])
