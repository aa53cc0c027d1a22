"""The behavioural fallbacks of ``td0.run`` and ``q.run_sarsa``: half the
points for a run that learns as the algorithm must without replaying the
spec's draws, none for a broken one.

A handful of seeds each (the heavy calibration, 300 seeds, is
``scripts/calibrate_behaviour.py``). Runs go through the checks' own probes and
judgements, here in the grader's process (``framework.run_reference``).
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import solutions.pytorch_vfa as solutions
from assignments.pytorch_vfa.checks.test_q import WALK_SARSA, WALK_SARSA_BAR, sarsa_behaviour, sarsa_walk_case, \
    sarsa_walk_score
from assignments.pytorch_vfa.checks.test_td0 import WALK_TD0, WALK_TD0_RMS_LIMIT, td0_behaviour, td0_walk_case, \
    td0_walk_error, walk_values
from assignments.pytorch_vfa.mistakes import MISTAKES
from assignments.pytorch_vfa.probes import RandomWalk
from autograder.checks import framework
from autograder.checks.framework import derive_seed
from autograder.checks.reference import reference_of
from autograder.worker.api import Api
from scripts.calibrate_behaviour import _sarsa_never_updating, _td0_never_updating
from solutions.pytorch_vfa.control import q_values
from solutions.pytorch_vfa.td import as_input
from tests.course import PYTORCH_VFA

REFERENCE = reference_of(PYTORCH_VFA)


def run_reference(case, api, seed):
    return framework.run_reference(case, api, seed, REFERENCE)

SEEDS = [derive_seed(20251, "td0.run"), 1, 2]


class Ctx:
    """What a behaviour function reads of a check's context: the student's worker
    (here: a namespace run in this process), the seed, the device."""

    def __init__(self, namespace: dict, seed: int):
        self.seed, self.device = seed, "cpu"
        api = Api({**vars(solutions), **namespace})
        self.run = lambda case: run_reference(case, api, seed)
        self.plots: dict[str, dict] = {}  # what the check recorded for plots (CheckContext.measured)

    def measured(self, make, *args) -> None:
        self.plots.update((p["name"], p) for p in make(*args))


def wrong(name: str, code: str):
    return next(version for c, version in MISTAKES[name] if c == code)


# --- correct runs that draw their own randomness ------------------------------------------


def td0_own_draws(update=solutions.semi_gradient_td0_update, truncation_ends=False):
    def run_td0(env, v, optimizer, n_steps, gamma, seed):
        rng = random.Random(seed)
        state = as_input(env.reset(seed=seed)[0], v)
        deltas = []
        for episode in range(1, n_steps + 1):
            while True:
                next_state, reward, terminated, truncated, _ = env.step(rng.randrange(env.action_space.n))
                next_state = as_input(next_state, v)
                ends = terminated or (truncated and truncation_ends)
                deltas.append(float(update(v, optimizer, state, reward, next_state, ends, gamma)))
                if len(deltas) == n_steps:
                    return deltas
                if terminated or truncated:
                    break
                state = next_state
            state = as_input(env.reset(seed=seed + episode)[0], v)
        return deltas

    return run_td0


def sarsa_own_draws(update=solutions.semi_gradient_sarsa_update, discount_returns=False):
    def run_sarsa(env, q, optimizer, n_steps, gamma, epsilon, seed):
        generator = torch.Generator().manual_seed(seed)
        n = int(env.action_space.n)

        def policy(state):
            if torch.rand((), generator=generator) < epsilon:
                return int(torch.randint(n, (), generator=generator))
            with torch.no_grad():
                return int(q_values(q, state, n).argmax())

        state = as_input(env.reset(seed=seed)[0], q)
        action, returns, total, k = policy(state), [], 0.0, 0
        for _ in range(n_steps):
            next_state, reward, terminated, truncated, _ = env.step(action)
            next_state = as_input(next_state, q)
            total += gamma ** k * float(reward) if discount_returns else float(reward)
            k += 1
            next_action = action if terminated else policy(next_state)
            update(q, optimizer, state, action, reward, next_state, next_action, terminated, gamma)
            if terminated or truncated:
                returns.append(total)
                total, k = 0.0, 0
                state = as_input(env.reset(seed=seed + len(returns))[0], q)
                action = policy(state)
            else:
                state, action = next_state, next_action
        return returns

    return run_sarsa


# --- the environment and the truth --------------------------------------------------------


def test_true_values_of_the_walk_are_i_over_6():
    assert torch.allclose(walk_values(5, 1.0), torch.arange(1, 6, dtype=torch.float64) / 6)


def test_the_walk_terminates_truncates_and_logs():
    env = RandomWalk(5, left_reward=-1.0, max_episode_steps=4)
    state, _ = env.reset(seed=0)
    assert state.tolist() == [0, 0, 0, 1, 0, 0, 0] and state.dtype == np.float32
    outcomes = [env.step(1)[1:4] for _ in range(3)]
    assert outcomes == [(0.0, False, False), (0.0, False, False), (1.0, True, False)]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset()
    outcomes = [env.step(a)[1:4] for a in (0, 1, 0, 1)]
    assert outcomes[-1] == (0.0, False, True)
    env.reset()
    assert [env.step(0)[1:4] for _ in range(3)][-1] == (-1.0, True, False)
    assert env.episode_returns == [1.0, 0.0, -1.0] and env.steps == 10


# --- TD(0) --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_a_correct_td0_run_with_its_own_draws_gets_half(seed):
    share, note = td0_behaviour(Ctx({"run_td0": td0_own_draws()}, seed), [], [])
    assert share == 0.5
    assert "learns what TD(0) must" in note and "the other half is for following those draws" in note


def test_the_learned_random_walk_values_are_kept_for_a_plot_against_i_over_6():
    ctx = Ctx({"run_td0": td0_own_draws()}, SEEDS[0])
    note = td0_behaviour(ctx, [], [])[1]
    got, expected = ctx.plots["random_walk_values"]["curves"]
    assert got["x"] == expected["x"] == [1, 2, 3, 4, 5]
    assert expected["y"] == pytest.approx([i / 6 for i in range(1, 6)], abs=1e-5)
    error = (sum((g - e) ** 2 for g, e in zip(got["y"], expected["y"])) / 5) ** 0.5
    assert f"within {error:.3f} (RMS)" in note  # the plot shows what the feedback measured


def test_a_broken_td0_run_is_plotted_too():
    ctx = Ctx({"run_td0": _td0_never_updating}, SEEDS[0])
    assert td0_behaviour(ctx, [], []) is None
    assert ctx.plots["random_walk_values"]["curves"][0]["y"] == [0.5] * 5  # never left the book's start


def test_the_reference_is_well_inside_the_td0_limit():
    for seed in SEEDS:
        error = td0_walk_error(run_reference(td0_walk_case(Ctx({}, seed)), Api(vars(solutions)), seed).value)
        assert error < WALK_TD0_RMS_LIMIT * 0.8, (seed, error)


@pytest.mark.parametrize("namespace", [
    {"run_td0": _td0_never_updating},
    {"run_td0": lambda env, v, optimizer, n_steps, gamma, seed: [0.0] * n_steps},  # no steps, no learning
    {"run_td0": td0_own_draws(truncation_ends=True)},
    {"run_td0": td0_own_draws(update=wrong("semi_gradient_td0_update", "sign-flipped"))},
    {"run_td0": td0_own_draws(update=wrong("semi_gradient_td0_update", "terminal-bootstrap"))},
], ids=["never-updates", "always-zero", "truncation-as-termination", "sign-flipped", "terminal-bootstrap"])
def test_a_broken_td0_run_gets_nothing(namespace):
    assert td0_behaviour(Ctx(namespace, SEEDS[0]), [], []) is None


def test_a_td0_run_of_the_wrong_length_gets_nothing():
    run = td0_own_draws()
    short = lambda env, v, optimizer, n_steps, gamma, seed: run(env, v, optimizer, n_steps - 1, gamma, seed)
    assert td0_behaviour(Ctx({"run_td0": short}, SEEDS[0]), [], []) is None
    hides = lambda env, v, optimizer, n_steps, gamma, seed: run(env, v, optimizer, n_steps, gamma, seed)[:-1]
    assert td0_behaviour(Ctx({"run_td0": hides}, SEEDS[0]), [], []) is None


def test_a_crashing_td0_run_gets_nothing():
    def run_td0(env, v, optimizer, n_steps, gamma, seed):
        raise ValueError("no")

    assert td0_behaviour(Ctx({"run_td0": run_td0}, SEEDS[0]), [], []) is None


def test_malformed_td0_results_get_nothing():
    good = {"values": [1.0, 1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0], "n_deltas": WALK_TD0["n_steps"],
            "deltas_finite": True, "steps": WALK_TD0["n_steps"], "visits": [0, 9, 9, 9, 9, 9, 0]}
    assert td0_walk_error(good) == pytest.approx(0.0, abs=1e-12)
    for bad in ({**good, "values": good["values"][:5]}, {**good, "deltas_finite": False},
                {**good, "values": [float("nan")] * 7}, {**good, "visits": [0, 0, 9, 9, 9, 9, 0]},
                {**good, "steps": "3000"}, None, [], {"values": None}):
        assert td0_walk_error(bad) is None, bad


# --- SARSA --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_a_correct_sarsa_run_with_its_own_draws_gets_half(seed):
    share, note = sarsa_behaviour(Ctx({"run_sarsa": sarsa_own_draws()}, seed), [], [])
    assert share == 0.5
    assert "learns what SARSA must" in note and "the other half is for following those draws" in note


def test_the_reference_clears_the_sarsa_bar():
    for seed in SEEDS:
        score = sarsa_walk_score(run_reference(sarsa_walk_case(Ctx({}, seed)), Api(vars(solutions)), seed).value)
        assert score > WALK_SARSA_BAR + 0.3, (seed, score)


@pytest.mark.parametrize("namespace", [
    {"run_sarsa": _sarsa_never_updating},
    {"run_sarsa": lambda env, q, optimizer, n_steps, gamma, epsilon, seed: [1.0] * 100},  # claims, never acts
    {"run_sarsa": REFERENCE.with_overrides({"epsilon_greedy": wrong("epsilon_greedy", "always-random")}).run_sarsa},
    {"run_sarsa": sarsa_own_draws(update=wrong("semi_gradient_sarsa_update", "sign-flipped"))},
    {"run_sarsa": sarsa_own_draws(update=wrong("semi_gradient_sarsa_update", "terminal-bootstrap"))},
    {"run_sarsa": wrong("run_sarsa", "terminal-update-skipped")},
    {"run_sarsa": sarsa_own_draws(discount_returns=True)},  # learns, but reports other returns
], ids=["never-updates", "claims-returns", "random-policy", "sign-flipped", "terminal-bootstrap",
        "terminal-update-skipped", "discounted-returns"])
def test_a_broken_sarsa_run_gets_nothing(namespace):
    assert sarsa_behaviour(Ctx(namespace, SEEDS[0]), [], []) is None
