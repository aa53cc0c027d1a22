"""Calibrate the behavioural fallbacks of ``td0.run`` and ``q.run_sarsa``.

A run that does not replay the spec's random draws gets half the points when
it behaves as the algorithm must on ``probes.RandomWalk`` (see the comments
next to ``WALK_TD0_RMS_LIMIT`` in ``assignments/pytorch_vfa/checks/test_td0.py``
and ``WALK_SARSA_BAR`` in ``assignments/pytorch_vfa/checks/test_q.py``). This script measures,
over seeds, how often correct code (the reference) fails those limits, and how
often known broken runs pass them, through the very probes and judgements the
checks use (``framework.run_reference``: the same data encoding as a worker)::

    python scripts/calibrate_behaviour.py                  # both checks, 300 seeds
    python scripts/calibrate_behaviour.py --only td0 --seeds 50 --broken-seeds 20

Every loop is bounded by ``--seeds`` / ``--broken-seeds``; the full run takes
about half an hour on one core (300 seeds each); `--broken-seeds 0 --seeds 1000`
measures only the reference (and the random policy) more closely.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the course's assignments/ and solutions/

import solutions.pytorch_vfa as solutions  # noqa: E402
from assignments.pytorch_vfa.checks.test_q import WALK_SARSA, WALK_SARSA_BAR, WALK_SARSA_EPISODES, \
    sarsa_walk_score  # noqa: E402
from assignments.pytorch_vfa.checks.test_td0 import WALK_TD0, WALK_TD0_RMS_LIMIT, td0_walk_error, \
    walk_values  # noqa: E402
from assignments.pytorch_vfa.mistakes import MISTAKES  # noqa: E402
from autograder.checks import framework  # noqa: E402
from autograder.checks.framework import Case  # noqa: E402
from autograder.checks.reference import reference_of  # noqa: E402
from autograder.course import find_course  # noqa: E402
from autograder.worker.api import Api  # noqa: E402
from solutions.pytorch_vfa.control import q_values  # noqa: E402
from solutions.pytorch_vfa.td import td_target  # noqa: E402

REFERENCE = reference_of(find_course(ROOT).assignment("pytorch_vfa"))
reference_api, reference_with, mistaken_apis = REFERENCE.api, REFERENCE.with_overrides, REFERENCE.mistaken_apis


def run_reference(case: Case, api: Api, seed: int):
    return framework.run_reference(case, api, seed, REFERENCE)


# --- broken runs that mistakes.py does not hold -----------------------------------------


def _td0_never_updating(env, v, optimizer, n_steps, gamma, seed):
    """Steps through the environment, returns zeros, never touches v."""
    env.reset(seed=seed)
    env.action_space.seed(seed)
    deltas = []
    for _ in range(n_steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        deltas.append(0.0)
        if terminated or truncated:
            env.reset()
    return deltas


def _sarsa_never_updating(env, q, optimizer, n_steps, gamma, epsilon, seed):
    """Acts ε-greedily on the initial q and never updates it."""
    rng = np.random.default_rng(seed)
    n = int(env.action_space.n)
    state, _ = env.reset(seed=seed)
    returns, total = [], 0.0
    for _ in range(n_steps):
        with torch.no_grad():
            action = solutions.epsilon_greedy(q_values(q, state, n), epsilon, rng)
        state, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        if terminated or truncated:
            returns.append(total)
            total = 0.0
            state, _ = env.reset()
    return returns


def _update(name: str, code: str, index: int = 0) -> Callable:
    return [wrong for c, wrong in MISTAKES[name] if c == code][index]


def td0_variants() -> dict[str, Api]:
    base = vars(solutions)
    variants = {
        "reference (correct)": reference_api(),
        "never updates": Api({**base, "run_td0": _td0_never_updating}),
        "terminal-bootstrap (td_target)": reference_with(
            {"td_target": lambda reward, next_value, terminated, gamma: td_target(reward, next_value, False, gamma)}),
    }
    variants.update({f"{code} (run)": api for code, _, api in mistaken_apis("run_td0")})
    for code in ("sign-flipped", "double-step", "target-not-detached", "grad-accumulation"):
        variants[f"{code} (update)"] = reference_with({"semi_gradient_td0_update": _update(
            "semi_gradient_td0_update", code)})
    variants["td-error-as-loss (update, course notebook's)"] = reference_with(
        {"semi_gradient_td0_update": _update("semi_gradient_td0_update", "td-error-as-loss")})
    return variants


def sarsa_variants() -> dict[str, Api]:
    base = vars(solutions)
    variants = {
        "reference (correct)": reference_api(),
        "uniformly random policy (always-random)": reference_with(
            {"epsilon_greedy": _update("epsilon_greedy", "always-random")}),
        "never updates": Api({**base, "run_sarsa": _sarsa_never_updating}),
    }
    variants.update({f"{code} (run)": api for code, _, api in mistaken_apis("run_sarsa")})
    variants["no-exploration (epsilon_greedy)"] = reference_with(
        {"epsilon_greedy": _update("epsilon_greedy", "no-exploration")})
    for code in ("sign-flipped", "double-step", "target-not-detached", "terminal-bootstrap", "sarsa-uses-max",
                 "grad-accumulation", "td-error-as-loss"):
        variants[f"{code} (update)"] = reference_with({"semi_gradient_sarsa_update": _update(
            "semi_gradient_sarsa_update", code)})
    return variants


# --- measuring --------------------------------------------------------------------------


def measure(probe: str, settings: dict, statistic: Callable, api: Api, seeds: int) -> tuple[list, list[float]]:
    """The statistic (None where the run is malformed) and the wall time of each seed's run."""
    values, times = [], []
    for seed in range(seeds):
        case = Case(probe, {**settings, "seed": seed, "device": "cpu"}, probe)
        start = time.perf_counter()
        outcome = run_reference(case, api, seed)
        times.append(time.perf_counter() - start)
        values.append(statistic(outcome.value) if outcome.kind == "ok" else None)
    return values, times


def summary(name: str, values: list, times: list[float], passes: Callable[[float], bool]) -> str:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    passed = sum(1 for v in values if v is not None and passes(v))
    spread = (f"min {min(finite):9.4g}  1% {np.quantile(finite, 0.01):9.4g}  median "
              f"{statistics.median(finite):9.4g}  99% {np.quantile(finite, 0.99):9.4g}  max {max(finite):9.4g}"
              if finite else "no finite value")
    return (f"  {name:46s} passes {passed:3d}/{len(values)}  {spread}  "
            f"({len(values) - len(finite)} malformed or infinite; {statistics.median(times):.2f} s a run, "
            f"max {max(times):.2f} s)")


def monte_carlo_walk_values(episodes: int, gamma: float, seed: int = 0) -> np.ndarray:
    """Every-visit Monte-Carlo values of the random walk under the random policy, by simulation."""
    rng = np.random.default_rng(seed)
    totals, counts = np.zeros(7), np.zeros(7)
    for _ in range(episodes):
        position, visited = 3, []
        while position not in (0, 6):
            visited.append(position)
            position += 1 if rng.random() < 0.5 else -1
        reward = 1.0 if position == 6 else 0.0
        for k, s in enumerate(visited):
            totals[s] += gamma ** (len(visited) - 1 - k) * reward
            counts[s] += 1
    return totals[1:6] / counts[1:6]


def calibrate_td0(seeds: int, broken_seeds: int) -> None:
    print(f"td0.run behaviour: {WALK_TD0}; credit when the RMS error ≤ {WALK_TD0_RMS_LIMIT:g}")
    exact = walk_values(5, WALK_TD0["gamma"]).numpy()
    mc = monte_carlo_walk_values(20_000, WALK_TD0["gamma"])
    print(f"  true values {np.round(exact, 4).tolist()}; Monte-Carlo (20000 episodes) {np.round(mc, 4).tolist()}")
    for name, api in td0_variants().items():
        n = seeds if name.startswith("reference") else broken_seeds
        if n <= 0:
            continue
        values, times = measure("td0_random_walk", WALK_TD0, td0_walk_error, api, n)
        print(summary(name, values, times, lambda e: e <= WALK_TD0_RMS_LIMIT), flush=True)


def calibrate_sarsa(seeds: int, broken_seeds: int) -> None:
    print(f"q.run_sarsa behaviour: {WALK_SARSA}; credit when the mean return of the last "
          f"{WALK_SARSA_EPISODES} episodes ≥ {WALK_SARSA_BAR:g}")
    for name, api in sarsa_variants().items():
        n = seeds if name.startswith(("reference", "uniformly random")) else broken_seeds
        if n <= 0:
            continue
        values, times = measure("sarsa_random_walk", WALK_SARSA, sarsa_walk_score, api, n)
        print(summary(name, values, times, lambda r: r >= WALK_SARSA_BAR), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=300, help="seeds for correct code (and the random policy)")
    parser.add_argument("--broken-seeds", type=int, default=300, help="seeds for each broken run")
    parser.add_argument("--only", choices=("td0", "sarsa"), help="calibrate one check only")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.only in (None, "td0"):
        calibrate_td0(args.seeds, args.broken_seeds)
    if args.only in (None, "sarsa"):
        calibrate_sarsa(args.seeds, args.broken_seeds)


if __name__ == "__main__":
    main()
