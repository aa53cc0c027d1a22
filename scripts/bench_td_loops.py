"""How fast are the TD loops? Environment transitions per second, side by side.

Every row trains a fresh, identically seeded ``ValueFunction(·, 64)`` with
``Adam(lr=1e-4)`` on ``CartPole-v1`` for the same number of transitions:

(a) the course notebook's TD(0) loop (its "In [33]") and (b) its Q loop
    ("In [38]"), reproduced exactly as written there: they are the baseline;
(c) ``solutions.run_td0`` and (d) ``solutions.run_sarsa`` (ε = 0.1), the
    reference's one-update-per-transition loops;
(e) the notebook's vectorised runners ``td0_vectorised`` and
    ``sarsa_vectorised``, loaded by cell id from the source notebook and run on
    ``gymnasium.make_vec`` with N environments: one vector step is N
    transitions and one batched update.

Why: a loop that makes one update per transition is bound by per-call
overhead (Python, autograd, optimiser), not arithmetic; the reference must be
no slower than the course loops, and batching N transitions per update should
buy at least an order of magnitude. Repeats are interleaved across rows and the
best time is kept, so that a noisy shared machine penalises every row alike.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the course's reference, `solutions.pytorch_vfa`
import solutions.pytorch_vfa as solutions  # noqa: E402
from solutions.pytorch_vfa import ValueFunction  # noqa: E402

NOTEBOOK = ROOT / "source" / "pytorch_vfa" / "value_approximation.ipynb"
TD0_CELL, SARSA_CELL = "td0-vectorised-runner", "sarsa-vectorised-runner"
ENV_ID, HIDDEN, LR, GAMMA, EPSILON = "CartPole-v1", 64, 1e-4, 0.95, 0.1
COURSE_TD0, COURSE_Q = "course TD(0) loop", "course Q loop"

# Row-name prefix -> (baseline row, least acceptable speed-up over it).
TARGETS = {
    "solutions.run_td0": (COURSE_TD0, 1.0),
    "solutions.run_sarsa": (COURSE_Q, 1.0),
    "notebook td0_vectorised": (COURSE_TD0, 10.0),
    "notebook sarsa_vectorised": (COURSE_Q, 10.0),
}
Runner = Callable[[int], object]  # runs n loop steps on an already built setup


# --- The course notebook's loops --------------------------------------------
# Reproduced exactly as written in the course notebook (In [33] and In [38]),
# bugs included (unsquared loss, gradient through the target, no update on
# terminal steps): they are the baseline. Only `tqdm(range(N))` became
# `range(n_steps)`; the seeded reset before the loop stands for In [28]/[36].

def course_td0_loop(env: gym.Env, model: nn.Module, optim: torch.optim.Optimizer,
                    n_steps: int, seed: int) -> None:
    device, alpha, gamma = next(model.parameters()).device, 0.8, 0.95
    state, info = env.reset(seed=seed)
    env.action_space.seed(seed)
    for _ in range(n_steps):
        action = env.action_space.sample()
        next_state, reward, terminated, truncated, info = env.step(action)

        optim.zero_grad()
        output = model(torch.tensor(state).to(device))
        loss = (alpha * (reward + gamma * model(torch.tensor(next_state).to(device)) - output))
        loss.backward()
        optim.step()

        if terminated or truncated:
            state, info = env.reset()
        else:
            state = next_state


def course_q_loop(env: gym.Env, Q: nn.Module, optim: torch.optim.Optimizer,
                  n_steps: int, seed: int) -> None:
    device, alpha, gamma = next(Q.parameters()).device, 0.8, 0.95
    state, info = env.reset(seed=seed)
    for _ in range(n_steps):
        with torch.no_grad():
            action = torch.argmax(torch.cat((
                    Q(torch.cat((torch.tensor(state).to(device), torch.tensor([0.]).to(device)))),
                    Q(torch.cat((torch.tensor(state).to(device), torch.tensor([1.]).to(device))))))).item()
        next_state, reward, terminated, truncated, info = env.step(action)

        if terminated or truncated:
            state, info = env.reset()
            continue

        with torch.no_grad():
            next_action = torch.argmax(torch.cat((
                            Q(torch.cat((torch.tensor(next_state).to(device), torch.tensor([0.]).to(device)))),
                            Q(torch.cat((torch.tensor(next_state).to(device), torch.tensor([1.]).to(device))))))).item()

        optim.zero_grad()
        output = Q(torch.cat((torch.tensor(state).to(device), torch.tensor([action], dtype=torch.float).to(device))))
        loss = (alpha * (reward + gamma *  Q(torch.cat((torch.tensor(next_state).to(device), torch.tensor([next_action], dtype=torch.float).to(device)))) - output))
        loss.backward()
        optim.step()

        state = next_state


# --- The notebook's vectorised runners ----------------------------------------

def notebook_function(notebook: Path, cell_id: str, name: str) -> Callable | str:
    """``name`` as defined by the notebook's cell ``cell_id``, executed as
    written in the reference's namespace; a sentence saying why not otherwise."""
    if not notebook.exists():
        return f"skipped: {notebook} does not exist yet"
    cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    cell = next((c for c in cells if c.get("id") == cell_id), None)
    if cell is None:
        return f"skipped: cell {cell_id} not found in {notebook}"
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    namespace = {name_: getattr(solutions, name_) for name_ in solutions.__all__}
    namespace.update(torch=torch, np=np, gym=gym, gymnasium=gym, nn=nn, F=F)
    try:
        exec(compile(source, f"<{notebook.name}:{cell_id}>", "exec"), namespace)
    except Exception as error:  # the notebook is someone else's work in progress
        return f"skipped: cell {cell_id} raised {type(error).__name__}: {error}"
    if not callable(namespace.get(name)):
        return f"skipped: cell {cell_id} does not define {name}()"
    return namespace[name]


# --- Rows and the one timing helper -------------------------------------------

@dataclass
class Row:
    """One measured loop."""

    name: str
    build: Callable[[], Runner]  # fresh seeded env, network and optimiser
    transitions_per_step: int = 1  # N for a vector step, else 1
    control: bool = False  # compared with the course Q loop too
    threads: int | None = None  # torch threads for this row; None: --threads
    best_s: float = float("inf")
    transitions: int = 0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def network_and_optimizer(input_size: int, device: torch.device, seed: int):
    seed_everything(seed)
    net = ValueFunction(input_size, HIDDEN).to(device)
    return net, torch.optim.Adam(net.parameters(), lr=LR)


def make_row(name: str, loop: Callable, input_size: int, loop_args: tuple, device: torch.device,
             seed: int, *, num_envs: int | None = None, control: bool = False,
             threads: int | None = None) -> Row:
    """A row running ``loop(env, net, optimizer, n, *loop_args)`` on one ``CartPole-v1``,
    or on ``num_envs`` of them in a same-step-autoreset vector env."""
    def build() -> Runner:
        if num_envs is None:
            env = gym.make(ENV_ID)
        else:
            env = gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="sync", vector_kwargs={
                "autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
        net, optimizer = network_and_optimizer(input_size, device, seed)
        return lambda n: loop(env, net, optimizer, n, *loop_args)
    return Row(name, build, num_envs or 1, control, threads)


def synchronize() -> None:
    """Wait for queued CUDA work, so that it is timed where it was queued."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def time_row(row: Row, transitions: int, warmup: int, default_threads: int) -> None:
    """Build the row afresh, warm it up, then time ``transitions`` transitions;
    keeps the best time over calls."""
    torch.set_num_threads(row.threads or default_threads)
    steps = max(1, -(-transitions // row.transitions_per_step))  # ceil
    run = row.build()
    run(max(1, warmup // row.transitions_per_step))
    synchronize()
    start = time.perf_counter()
    run(steps)
    synchronize()
    row.best_s = min(row.best_s, time.perf_counter() - start)
    row.transitions = steps * row.transitions_per_step


def print_table(rows: list[Row]) -> None:
    """The table, then each row that has a speed target against it."""
    rate = {row.name: row.transitions / row.best_s for row in rows}

    def ratio(row: Row, baseline: str) -> str:
        return f"{rate[row.name] / rate[baseline]:.2f}x" if baseline in rate else "-"

    header = (f"{'loop':<38} {'transitions':>11} {'seconds':>8} {'steps/s':>8} "
              f"{'vs course TD':>12} {'vs course Q':>11}")
    print(header, "-" * len(header), sep="\n")
    for row in rows:
        print(f"{row.name:<38} {row.transitions:>11} {row.best_s:>8.3f} {rate[row.name]:>8.0f} "
              f"{ratio(row, COURSE_TD0):>12} {ratio(row, COURSE_Q) if row.control else '':>11}")
    print()
    for row in rows:
        for prefix, (baseline, minimum) in TARGETS.items():
            if row.name.startswith(prefix) and baseline in rate:
                speedup = rate[row.name] / rate[baseline]
                verdict = "ok" if speedup >= minimum else "BELOW TARGET"
                print(f"target {row.name}: {speedup:.2f}x the {baseline} "
                      f"(want >= {minimum:g}x): {verdict}")


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not in [{low}, {high}]")
        return value
    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=bounded_int(100, 200_000), default=3000,
                        help="environment transitions timed per loop (default 3000)")
    parser.add_argument("--warmup", type=bounded_int(0, 10_000), default=200,
                        help="transitions run before timing (default 200)")
    parser.add_argument("--repeats", type=bounded_int(1, 20), default=3,
                        help="timed runs per loop, interleaved; the best is kept (default 3)")
    parser.add_argument("--num-envs", type=bounded_int(1, 1024), nargs="+", default=[16, 64],
                        help="vector sizes N for the vectorised runners (default 16 64)")
    parser.add_argument("--threads", type=bounded_int(1, 64), default=1,
                        help="torch.set_num_threads for every row (default 1)")
    parser.add_argument("--compare-threads", action="store_true",
                        help="also time the course TD(0) loop with 1 and with 2 threads")
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK,
                        help="where the vectorised runners' cells are (default %(default)s)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but CUDA is not available")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device, seed = torch.device(args.device), args.seed
    print(f"torch {torch.__version__}, gymnasium {gym.__version__}, device {device}, "
          f"torch threads {args.threads}, seed {seed}")
    print(f"{ENV_ID}, ValueFunction(., {HIDDEN}), Adam lr={LR}, gamma {GAMMA}; best of "
          f"{args.repeats} interleaved runs after {args.warmup} warm-up transitions")

    rows = [
        make_row(COURSE_TD0, course_td0_loop, 4, (seed,), device, seed),
        make_row(COURSE_Q, course_q_loop, 5, (seed,), device, seed, control=True),
        make_row("solutions.run_td0", solutions.run_td0, 4, (GAMMA, seed), device, seed),
        make_row(f"solutions.run_sarsa (eps {EPSILON})", solutions.run_sarsa, 5,
                 (GAMMA, EPSILON, seed), device, seed, control=True),
    ]
    if args.compare_threads:
        rows += [make_row(f"{COURSE_TD0}, {n} thread{'s' * (n > 1)}", course_td0_loop, 4,
                          (seed,), device, seed, threads=n) for n in (1, 2)]
    skipped = []
    for cell_id, name, input_size, extra_args, control in [
        (TD0_CELL, "td0_vectorised", 4, (GAMMA, seed), False),
        (SARSA_CELL, "sarsa_vectorised", 5, (GAMMA, EPSILON, seed), True),
    ]:
        runner = notebook_function(args.notebook, cell_id, name)
        if isinstance(runner, str):
            skipped.append(f"({name}) {runner}")
            continue
        rows += [make_row(f"notebook {name}, N={n}", runner, input_size, extra_args, device,
                          seed, num_envs=n, control=control) for n in args.num_envs]

    for _ in range(args.repeats):  # interleaved: machine noise hits every row alike
        for row in list(rows):
            try:
                time_row(row, args.steps, args.warmup, args.threads)
            except Exception as error:  # a broken notebook runner must not hide the rest
                skipped.append(f"({row.name}) skipped: raised {type(error).__name__}: {error}")
                rows.remove(row)
    print()
    print_table(rows)
    for line in skipped:
        print(line)


if __name__ == "__main__":
    main()
