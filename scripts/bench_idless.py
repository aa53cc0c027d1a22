"""Benchmark: the same answers saved with cell ids (JupyterLab 4) and without (Colab, VS Code), graded side by side.

    python scripts/bench_idless.py                 # every assignment, 3 rounds (about 2 minutes here)
    python scripts/bench_idless.py --rounds 1 --assignment policy_gradient
    python scripts/bench_idless.py --engine /tmp/old-checkout   # another checkout's engine, this course

What is graded
    For each assignment of the course, its instructor notebooks (complete
    answers) as a student hands them in (``scripts/resave_notebooks.py``:
    some cells reordered, each experiment's hyperparameter changed), saved
    three ways: ``jupyterlab`` (nbformat 4.5, with the release's ids),
    ``colab`` (4.0, no ids, no nbgrader metadata) and ``vscode`` (4.4, no
    ids), outputs and widget state included. A fourth copy, ``0-warm-up``,
    is graded first in each batch and not counted: the first submission of a
    batch waits for the worker host.

What is measured
    ``duration_s`` of each submission in the JSON report of the real command
    line, ``autograder grade <tree> --format json --no-cache --jobs 1``, one
    batch per assignment and round; per saver the median over rounds, and
    its ratio to ``jupyterlab``'s (target: at most 1.2). When cells are told
    apart only by id, an id-less notebook runs its experiments and test
    cells while grading (seconds); the score must be the same either way.

Every command has a timeout, and its process tree is killed on a timeout or Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.bench_grading import BenchError, autograder_batch, environment  # noqa: E402
from scripts.resave_notebooks import SAVERS, as_colab, as_jupyterlab, as_vscode, save, student_copy  # noqa: E402

TARGET_RATIO = 1.2
WARM_UP = "0-warm-up"
_SAVE = {"jupyterlab": as_jupyterlab, "colab": as_colab, "vscode": as_vscode}


def build(assignment: str, dest: Path) -> None:
    """``dest/<saver>/<assignment>/<notebook>`` for every saver, and the warm-up copy."""
    for path in sorted((ROOT / "source" / assignment).glob("*.ipynb")):
        answers = student_copy(nbformat.read(path, as_version=4))
        for saver in (*SAVERS, WARM_UP):
            save(_SAVE.get(saver, as_jupyterlab)(answers), dest / saver / assignment / path.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="batches per assignment (default 3)")
    parser.add_argument("--assignment", action="append", help="only this assignment (repeatable; default: all)")
    parser.add_argument("--engine", type=Path, help="grade with the engine of this checkout (its autograder/)")
    parser.add_argument("--sandbox", default="process", help="--sandbox of the batches (default process)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    from autograder.course import find_course

    assignments = args.assignment or find_course(ROOT).names()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    env = environment()
    if args.engine:
        env["PYTHONPATH"] = str(args.engine.resolve())
    tmp = Path(tempfile.mkdtemp(prefix="bench-idless-"))
    started = time.perf_counter()
    try:
        rows, worst = [], 0.0
        for assignment in assignments:
            tree = tmp / f"submitted-{assignment}"  # not named as the assignment: that is a student's folder
            build(assignment, tree)
            durations: dict[str, list[float]] = {saver: [] for saver in SAVERS}
            scores: dict[str, set[float]] = {saver: set() for saver in SAVERS}
            for round_ in range(args.rounds):
                print(f"[{time.perf_counter() - started:5.0f}s] {assignment}: round {round_ + 1}/{args.rounds}",
                      file=sys.stderr, flush=True)
                batch = autograder_batch(tree, tmp, env, 1, args.sandbox, 600,
                                         course=["--course-root", str(ROOT), "--assignment", assignment])
                for saver in SAVERS:
                    durations[saver].append(batch["durations"][saver])
                    scores[saver].add(batch["scores"][saver])
            base = statistics.median(durations["jupyterlab"])
            for saver in SAVERS:
                median = statistics.median(durations[saver])
                worst = max(worst, median / base)
                rows.append((assignment, saver, median, min(durations[saver]), max(durations[saver]), median / base,
                             ", ".join(f"{s:g}" for s in sorted(scores[saver]))))
        print(f"\nduration_s per submission, {args.rounds} round(s), --jobs 1 --no-cache --sandbox {args.sandbox}"
              f"{f', engine {args.engine}' if args.engine else ''}; load average {os.getloadavg()[0]:.1f}")
        print(f"{'assignment':<17} {'saved as':<11} {'median':>7} {'min':>6} {'max':>6} {'ratio':>6}  score")
        for assignment, saver, median, low, high, ratio, score in rows:
            print(f"{assignment:<17} {saver:<11} {median:7.2f} {low:6.2f} {high:6.2f} {ratio:5.2f}x  {score}")
        print(f"worst ratio to the same answers saved with ids: {worst:.2f}x (target: at most {TARGET_RATIO}x)")
        return 0
    except BenchError as exc:
        print(f"bench_idless: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
