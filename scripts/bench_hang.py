"""Benchmark: what a hanging function costs a submission's grading, against the same answers fixed.

    python scripts/bench_hang.py                       # 2 rounds, --timeout 10 (about 3 minutes here)
    python scripts/bench_hang.py --engine /tmp/old     # another checkout's engine and course, for a before figure

What is graded
    pytorch_vfa's instructor notebooks (``fixed``), and three copies with one
    function broken: ``hang-leaf`` (``drop_singleton_axes`` never returns;
    nothing graded calls it), ``hang-callee`` (``td_target`` never returns:
    the TD(0), Q-learning and SARSA updates and runs call it) and
    ``hang-terminal`` (``td_target`` hangs on terminal transitions only: the
    cases it answers keep their points), and ``hang-terminal-slow``, the same
    with a right TD(0) update that does its work ten times over (it must
    score as ``hang-terminal`` does: its cases run with the short limit).
    ``--load N`` runs N busy processes meanwhile. A ``0-warm-up`` copy goes first in
    each batch and is not counted: the first submission waits for the worker host.

What is measured
    ``duration_s`` of each submission in the JSON report of ``autograder
    grade <tree> --format json --no-cache --jobs 1 --timeout T``, per round;
    per submission the median, and its excess over ``fixed``'s. The target
    (issue: a hang costs one time limit) is an excess of at most T plus a few
    seconds (``SLACK_S``). Every command has a timeout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.bench_grading import BenchError, autograder_batch, environment  # noqa: E402
from scripts.build_submissions import build, read_edits  # noqa: E402

ASSIGNMENT, SLACK_S = "pytorch_vfa", 5.0
FIXED, WARM_UP = "fixed", "0-warm-up"
#: each broken copy, as an edit file (scripts/build_submissions.py)
BROKEN = {
    "hang-leaf": "# %% replaces: drop_singleton_axes\ndef drop_singleton_axes(x):\n    while True:\n"
                 "        x = x.squeeze()\n",
    "hang-callee": "# %% replaces: td_target\ndef td_target(reward, next_value, terminated, gamma):\n"
                   "    while True:\n        pass\n",
    "hang-terminal": "# %% replaces: td_target\ndef td_target(reward, next_value, terminated, gamma):\n"
                     "    while bool(torch.as_tensor(terminated).any()):\n        pass\n"
                     "    return reward + gamma * next_value\n",
}
#: hang-terminal with a right TD(0) update that does its work ten times over: it must keep every
#: case hang-terminal keeps, though its cases run with the short limit (its callee hung)
BROKEN["hang-terminal-slow"] = BROKEN["hang-terminal"] + """# %% replaces: semi_gradient_td0_update
def semi_gradient_td0_update(v, optimizer, state, reward, next_state, terminated, gamma):
    state, next_state = as_input(state, v), as_input(next_state, v)
    for _ in range(9):  # nine times the work, thrown away
        with torch.no_grad():
            td_target(reward, v(next_state).squeeze(-1), terminated, gamma) - v(state).squeeze(-1)
    with torch.no_grad():
        target = td_target(reward, v(next_state).squeeze(-1), terminated, gamma)
    delta = target - v(state).squeeze(-1)
    optimizer.zero_grad()
    (0.5 * delta.pow(2).mean()).backward()
    optimizer.step()
    return delta.detach()
"""


def build_tree(course: Path, dest: Path, edits_dir: Path) -> None:
    for name in (FIXED, WARM_UP):
        (dest / name / ASSIGNMENT).mkdir(parents=True)
        for notebook in sorted((course / "source" / ASSIGNMENT).glob("*.ipynb")):
            shutil.copy(notebook, dest / name / ASSIGNMENT / notebook.name)
    (edits_dir / ASSIGNMENT).mkdir(parents=True)
    for name, text in BROKEN.items():
        path = edits_dir / ASSIGNMENT / f"{name}.py"
        path.write_text(text)
        build(read_edits(path), dest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="batches (default 2)")
    parser.add_argument("--timeout", type=float, default=10.0, help="the batches' --timeout, T (default 10)")
    parser.add_argument("--engine", type=Path, help="grade with this checkout's engine and course")
    parser.add_argument("--sandbox", default="process", help="--sandbox of the batches (default process)")
    parser.add_argument("--load", type=int, default=0, help="busy processes to run meanwhile (default 0)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    course = (args.engine or ROOT).resolve()
    env = environment()
    env["PYTHONPATH"] = str(course)
    tmp = Path(tempfile.mkdtemp(prefix="bench-hang-"))
    started = time.perf_counter()
    # a loaded machine: busy loops that end on their own after an hour, or when this script ends them
    busy = [subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 3600\n"
                              "while time.time() < end: pass"]) for _ in range(args.load)]
    try:
        tree = tmp / "submitted"
        build_tree(course, tree, tmp / "edits")
        durations: dict[str, list[float]] = {}
        scores: dict[str, set[float]] = {}
        for round_ in range(args.rounds):
            print(f"[{time.perf_counter() - started:5.0f}s] round {round_ + 1}/{args.rounds}", file=sys.stderr,
                  flush=True)
            batch = autograder_batch(tree, tmp, env, 1, args.sandbox, 1800, course=[
                "--course-root", str(course), "--assignment", ASSIGNMENT, "--timeout", f"{args.timeout:g}"])
            for student, seconds in batch["durations"].items():
                if student != WARM_UP:
                    durations.setdefault(student, []).append(seconds)
                    scores.setdefault(student, set()).add(batch["scores"][student])
        base = statistics.median(durations[FIXED])
        print(f"\nduration_s per submission, {args.rounds} round(s), --jobs 1 --no-cache --sandbox {args.sandbox} "
              f"--timeout {args.timeout:g}, {args.load} busy process(es), load average {os.getloadavg()[0]:.1f}, "
              f"engine {course}")
        print(f"{'submission':<18} {'median':>7} {'min':>6} {'max':>6} {'excess':>7}  score")
        worst = 0.0
        for student in [FIXED, *BROKEN]:
            median, excess = statistics.median(durations[student]), statistics.median(durations[student]) - base
            worst = max(worst, excess)
            print(f"{student:<18} {median:7.2f} {min(durations[student]):6.2f} {max(durations[student]):6.2f} "
                  f"{excess:7.2f}  {', '.join(f'{s:g}' for s in sorted(scores[student]))}")
        print(f"worst excess over the fixed answers: {worst:.1f} s (target: at most T + {SLACK_S:g} = "
              f"{args.timeout + SLACK_S:g} s)")
        return 0
    except BenchError as exc:
        print(f"bench_hang: {exc}", file=sys.stderr)
        return 1
    finally:
        for process in busy:
            process.kill()
            process.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
