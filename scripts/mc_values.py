#!/usr/bin/env python
"""Monte-Carlo ground truth for the TD(0) prediction test.

Estimates the discounted value v_π(s) = E_π[Σ_t γ^t R_{t+1} | S_0 = s] of the
uniform random policy π on gymnasium's ``CartPole-v1`` at the reset states of
``env.reset(seed=k)`` for k = 0..n_states-1: states the random policy really
visits (every episode starts near them), unlike hand-picked ones such as
``[0, 2, -0.1, -1]``.

For every state it runs ``--rollouts`` independent episodes: ``env.reset()``,
then ``env.unwrapped.state`` is overwritten with the stored (float64) physical
state, and the episode is played with actions from one seeded
``numpy.random.Generator`` until termination or the 500-step time limit of the
``TimeLimit`` wrapper (random play never gets near it; a truncated return would
simply be cut there). Rewards are CartPole's +1 per step, the terminating step
included, so a rollout of length T is worth (1 − γ^T)/(1 − γ).

It writes the values, their standard errors (sample std / sqrt(n)), the
states, γ, the number of rollouts, the seed and the command line to a JSON
file (by default ``tests/data/cartpole_mc_values.json``). The output is
deterministic: same arguments, same file.

Usage (from the repository root)::

    python scripts/mc_values.py                     # the stored data file
    python scripts/mc_values.py --rollouts 500 --output /tmp/mc.json
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

ENV_ID = "CartPole-v1"
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "cartpole_mc_values.json"


def reset_states(n_states: int) -> list[list[float]]:
    """The physical (float64) states after ``env.reset(seed=k)``, k = 0..n_states-1."""
    env = gym.make(ENV_ID)
    states = []
    for k in range(n_states):
        env.reset(seed=k)
        states.append([float(v) for v in env.unwrapped.state])
    env.close()
    return states


def discounted_returns(
    env: gym.Env, state: list[float], n_rollouts: int, gamma: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Discounted returns and lengths of ``n_rollouts`` random-policy episodes from ``state``."""
    max_steps = env.spec.max_episode_steps  # 500 for CartPole-v1: a hard bound on the loop
    returns = np.empty(n_rollouts)
    lengths = np.empty(n_rollouts, dtype=np.int64)
    for i in range(n_rollouts):
        env.reset()
        env.unwrapped.state = np.array(state, dtype=np.float64)
        g, discount, t = 0.0, 1.0, 0
        for t in range(1, max_steps + 1):
            _, reward, terminated, truncated, _ = env.step(int(rng.integers(2)))
            g += discount * float(reward)
            discount *= gamma
            if terminated or truncated:
                break
        returns[i], lengths[i] = g, t
    return returns, lengths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-states", type=int, default=5, help="reset states env.reset(seed=k), k < n")
    parser.add_argument("--rollouts", type=int, default=20000, help="episodes per state")
    parser.add_argument("--gamma", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=12345, help="seed of the action generator")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    states = reset_states(args.n_states)
    env = gym.make(ENV_ID)
    rng = np.random.default_rng(args.seed)
    values, standard_errors, mean_lengths, max_lengths = [], [], [], []
    for k, state in enumerate(states):
        returns, lengths = discounted_returns(env, state, args.rollouts, args.gamma, rng)
        values.append(float(returns.mean()))
        standard_errors.append(float(returns.std(ddof=1) / math.sqrt(args.rollouts)))
        mean_lengths.append(float(lengths.mean()))
        max_lengths.append(int(lengths.max()))
        print(
            f"reset seed {k}: v = {values[-1]:.4f} ± {standard_errors[-1]:.4f} (SE), "
            f"mean length {mean_lengths[-1]:.2f}, longest {max_lengths[-1]}",
            file=sys.stderr,
        )
    env.close()

    command = "python scripts/mc_values.py" + "".join(
        f" {shlex.quote(a)}" for a in (sys.argv[1:] if argv is None else argv)
    )
    data = {
        "description": (
            "Monte-Carlo discounted values of the uniform random policy on CartPole-v1 "
            "at the reset states of env.reset(seed=k); made by scripts/mc_values.py"
        ),
        "env_id": ENV_ID,
        "gamma": args.gamma,
        "rollouts": args.rollouts,
        "seed": args.seed,
        "reset_seeds": list(range(args.n_states)),
        "states": states,
        "values": values,
        "standard_errors": standard_errors,
        "mean_episode_lengths": mean_lengths,
        "max_episode_lengths": max_lengths,
        "command": command,
        "gymnasium_version": gym.__version__,
        "numpy_version": np.__version__,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {args.output} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
