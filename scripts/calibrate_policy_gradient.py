"""Calibrate the behavioural check of ``policy_gradient``: learning on the
short corridor (Sutton & Barto Example 13.1, Figure 13.1).

The setting is the one the spec's grading notes pin: ``SoftmaxPolicy(1, 2, 1)``
started at p = π(right) ≈ 0.05 (``probes.set_corridor_start``), SGD on
``linear2.bias`` only with lr 2⁻¹¹, γ = 1, 200 episodes, then p read from the
final policy. Every run goes through the check's own probe and measure
(``corridor_run``, ``corridor_measure`` of ``checks/test_reinforce.py``), so
the figures are the check's. This script measures, over seeds, how often correct code (the
reference ``run_reinforce`` and ``run_reinforce_baseline``) ends outside the
bar, and how often each known broken run (``MISTAKES`` of
``assignments/policy_gradient/mistakes.py``) ends inside it::

    python scripts/calibrate_policy_gradient.py              # 300 seeds, every run
    python scripts/calibrate_policy_gradient.py --seeds 40 --workers 2 --only reinforce

The baseline is v̂(s) = w·s + c with the corridor's single observation s = 1,
i.e. a constant, started at 0 and trained by SGD on c only with
α^w = 2⁻⁹ (``VALUE_LR``). The value step sums over the episode, so its size is
about α^w·T·δ: with T up to 200 an α^w of 2⁻⁶ (the book's per-step figure)
would overshoot (α^w·T > 2 diverges); 2⁻⁹ keeps α^w·T < 0.4.

Every loop is bounded by ``--seeds``; one run takes 0.2-0.5 s on one core
(a broken run that never reaches the goal steps 200 × 200 times: 1.5-3 s). The
full table (300 seeds, 22 runs) took 65 minutes wall with ``--workers 2`` on
two shared cores (7 800 s of runs).

Measured with 300 seeds (seeds 0-299):

* The references: the final p stayed in [0.250, 0.654] (REINFORCE; median
  0.430, logit of p 4.0 standard deviations above the bar's 0.2) and in
  [0.338, 0.619] (with baseline; 6.1 sd); 0 of 300 outside (0.2, 0.9) for
  either. The mean logged return of the last 50 episodes was −13.4 (median),
  −23.6 at worst, 13 standard deviations above −40.
* Broken runs inside the bar: mean-not-sum, sign-flipped, no update, greedy
  actions (REINFORCE), a wrong-shape δ: 0 of 300. grad-accumulation 11/300,
  8/300 with the return bar below (REINFORCE; it ends at p = 0 or 1
  otherwise), 0/300 (baseline). returns-wrong-direction 55/300, 52/300 with
  the return bar (REINFORCE), 19/300 (baseline): on the corridor it still
  pushes p up, only weakly (median 0.083, 0.061). The greedy sampler
  with a baseline ends at p = 0.662 on every seed, inside (0.2, 0.9), while
  its episodes all time out at −200: the return bar catches it (0/300).
* Learning by design, as the spec says (named by the deterministic probes):
  episode-return-everywhere (296/300, 300/300), baseline-not-detached and
  delta-after-value-step (300/300), and a correct run with other randomness
  (unpinned-randomness, 300/300: a run that does not replay must still pass).
  The γ-mistakes are the reference itself at γ = 1 and are not run.

Recommended bar (``passes`` below): 0.2 < p < 0.9 for the final policy AND the
mean of the environment's own logged returns over the last 50 episodes
above −40 (the log, not the run's return value, so that a run cannot report
returns it did not get).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `assignments` is not an installed package

from assignments.policy_gradient.checks.test_baseline import CORRIDOR_LR_W  # noqa: E402
from assignments.policy_gradient.checks.test_reinforce import CORRIDOR, CORRIDOR_LAST, CORRIDOR_P, \
    CORRIDOR_RETURN_BAR, corridor_case, corridor_measure  # noqa: E402
from assignments.policy_gradient.mistakes import MISTAKES  # noqa: E402
from autograder.checks import framework  # noqa: E402
from autograder.checks.reference import reference_of  # noqa: E402
from autograder.course import find_course  # noqa: E402
from autograder.worker.api import Api  # noqa: E402
from solutions.policy_gradient import run_reinforce, run_reinforce_baseline  # noqa: E402

REFERENCE = reference_of(find_course(ROOT).assignment("policy_gradient"))
EPISODES, GAMMA = CORRIDOR["n_episodes"], CORRIDOR["gamma"]
POLICY_LR, VALUE_LR = CORRIDOR["lr_theta"], CORRIDOR_LR_W
P_BAR, RETURN_BAR, LAST = CORRIDOR_P, CORRIDOR_RETURN_BAR, CORRIDOR_LAST  #: the check's own bars


def corridor_run(run: Callable, baseline: bool, seed: int) -> tuple[float, float]:
    """One learning run on the corridor through the check's own probe (``corridor_run``, with the same
    data encoding as a worker's) and measure: the final p = π(right), and the mean return of the last
    ``LAST`` episodes in the environment's own log (NaN, NaN if the run fails or is not one)."""
    name = "run_reinforce_baseline" if baseline else "run_reinforce"
    api = Api({**vars(REFERENCE.module), name: run})
    outcome = framework.run_reference(corridor_case(seed, VALUE_LR if baseline else None), api, seed, REFERENCE)
    measured = corridor_measure(outcome.value) if outcome.kind == "ok" else None
    return measured if measured is not None else (math.nan, math.nan)


def labelled(entries: list[tuple[str | tuple[str, ...], Callable]]) -> list[tuple[str, Callable]]:
    """Codes as labels: several codes joined by '+', a second mistake with the same code gets ' #2'."""
    seen: dict[str, int] = {}
    out = []
    for codes, fn in entries:
        code = "+".join(codes) if isinstance(codes, tuple) else codes
        seen[code] = seen.get(code, 0) + 1
        out.append((code if seen[code] == 1 else f"{code} #{seen[code]}", fn))
    return out


#: Broken runs that are the reference itself on the corridor, so not run unless --all.
SAME_AS_ANOTHER = {
    "returns-not-discounted": "γ = 1: the same run as the reference",
    "missing-discount-weight": "γ = 1: the same run as the reference",
    "returns-not-discounted+missing-discount-weight": "γ = 1: the same run as the reference",
    "discounted-value-step": "γ = 1: the same run as the reference",
    "returns-wrong-direction #2": "constant rewards: the same run as returns-wrong-direction",
}


def variants(only: str | None, everything: bool, references: bool = False
             ) -> tuple[list[tuple[str, str, bool, Callable]], list[str]]:
    """(group, label, uses a baseline, run) for each run to measure (``references``: the correct
    runs alone), and notes on those left out."""
    groups = {"reinforce": (False, run_reinforce, "run_reinforce"),
              "baseline": (True, run_reinforce_baseline, "run_reinforce_baseline")}
    out, notes = [], []
    for group, (baseline, reference, name) in groups.items():
        if only not in (None, group):
            continue
        out.append((group, "reference", baseline, reference))
        for label, fn in [] if references else labelled(MISTAKES[name]):
            if label in SAME_AS_ANOTHER and not everything:
                notes.append(f"{group}: {label}: not run ({SAME_AS_ANOTHER[label]})")
            else:
                out.append((group, label, baseline, fn))
    return out, notes


VARIANTS: list[tuple[str, str, bool, Callable]] = []


def _work(task: tuple[int, list[int]]) -> tuple[int, list[tuple[float, float]], float]:
    torch.set_num_threads(1)
    index, seeds = task
    _, _, baseline, run = VARIANTS[index]
    start = time.perf_counter()
    outcomes = [corridor_run(run, baseline, seed) for seed in seeds]
    return index, outcomes, time.perf_counter() - start


def passes(p: float, last_return: float, p_bar: tuple[float, float], return_bar: float | None) -> bool:
    """The learning check: p inside the bar (and, with a return bar, the logged returns above it)."""
    ok = p_bar[0] < p < p_bar[1]  # False for NaN
    return ok and (return_bar is None or last_return > return_bar)


def quantiles(values: list[float]) -> str:
    finite = sorted(v for v in values if not math.isnan(v))
    if not finite:
        return " ".join(f"{'nan':>7s}" for _ in range(5))
    at = lambda q: finite[min(len(finite) - 1, int(q * len(finite)))]  # noqa: E731
    return " ".join(f"{v:7.3f}" for v in (finite[0], at(0.01), statistics.median(finite), at(0.99), finite[-1]))


def row(label: str, outcomes: list[tuple[float, float]], seconds: float, p_bar, return_bar) -> str:
    n = len(outcomes)
    correct = label.endswith(": reference")
    ps, lasts = [p for p, _ in outcomes], [g for _, g in outcomes]
    a = sum(passes(p, g, p_bar, None) != correct for p, g in outcomes)
    b = sum(passes(p, g, p_bar, return_bar) != correct for p, g in outcomes)
    finite_lasts = [g for g in lasts if not math.isnan(g)]
    median_last = statistics.median(finite_lasts) if finite_lasts else math.nan
    nan = sum(math.isnan(p) for p in ps)
    return (f"{label:50s} {a:4d} {a / n:6.1%} {b:4d} {b / n:6.1%}  {quantiles(ps)}  {nan:3d}  "
            f"{median_last:7.1f} {min(finite_lasts, default=math.nan):7.1f}  {seconds / n:5.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=300, help="learning runs per variant (seeds 0 … N − 1)")
    parser.add_argument("--workers", type=int, default=1, help="processes (one torch thread each)")
    parser.add_argument("--only", choices=["reinforce", "baseline"], help="only one of the two runs")
    parser.add_argument("--all", action="store_true", help="also the broken runs that equal another run here")
    parser.add_argument("--references", action="store_true", help="only the correct runs (a quick look)")
    parser.add_argument("--p-bar", type=float, nargs=2, default=P_BAR, metavar=("LOW", "HIGH"))
    parser.add_argument("--return-bar", type=float, default=RETURN_BAR,
                        help=f"the mean logged return of the last {LAST} episodes must exceed it")
    parser.add_argument("--save", type=Path, help="write every run's (p, mean last return) to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    VARIANTS[:], notes = variants(args.only, args.all, args.references)
    seeds = list(range(args.seeds))
    chunks = [seeds[i:i + 25] for i in range(0, len(seeds), 25)]
    tasks = [(i, chunk) for i in range(len(VARIANTS)) for chunk in chunks]
    outcomes: dict[int, list[tuple[float, float]]] = {i: [] for i in range(len(VARIANTS))}
    seconds = {i: 0.0 for i in range(len(VARIANTS))}
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) if args.workers > 1 else nullcontext() as pool:
        for index, result, t in (pool.map(_work, tasks) if pool else map(_work, tasks)):
            outcomes[index] += result
            seconds[index] += t
    wall = time.perf_counter() - start

    p_bar, return_bar = tuple(args.p_bar), args.return_bar
    print(f"Short corridor: {EPISODES} episodes, γ = {GAMMA}, policy lr 2^{math.log2(POLICY_LR):.0f} on linear2.bias, "
          f"constant v̂ with lr 2^{math.log2(VALUE_LR):.0f}; {args.seeds} seeds (0 … {args.seeds - 1}).")
    print(f"Bar A: {p_bar[0]} < p < {p_bar[1]} (p = π(right) of the final policy). Bar B: A, and the mean logged "
          f"return of the last {LAST} episodes > {return_bar}.")
    print("Rates: runs failing the bar for the references, runs passing it for the broken runs. "
          "p quantiles: min, 1 %, median, 99 %, max. NaN: runs that failed. Last: mean logged return of the last "
          f"{LAST} episodes (median, min).")
    print(f"{'run':50s} {'bar A':>11s} {'bar B':>11s}  {'p: min':>7s} {'1%':>7s} {'median':>7s} {'99%':>7s} "
          f"{'max':>7s}  NaN  {'last':>7s} {'min':>7s}  s/run")
    for i, (group, label, _, _) in enumerate(VARIANTS):
        print(row(f"{group}: {label}", outcomes[i], seconds[i], p_bar, return_bar))
    for note in notes:
        print(note)
    print(f"Total {wall:.0f} s wall, {sum(seconds.values()):.0f} s of runs, {args.workers} worker(s).")
    if args.save:
        args.save.write_text(json.dumps({f"{g}: {label}": outcomes[i]
                                         for i, (g, label, _, _) in enumerate(VARIANTS)}))


if __name__ == "__main__":
    main()
