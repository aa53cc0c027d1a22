"""Benchmark: grading on a Dask cluster (``--dask local:2``) against ``--jobs 2``, on the same submissions.

    python scripts/bench_dask.py                  # 100 submissions, 2 rounds of each (tens of minutes here)
    python scripts/bench_dask.py -n 40 --rounds 1 # a shorter run

What is graded
    N submissions of pytorch_vfa (default 100), a seeded mix (``--seed``) of
    the fixtures in tests/fixtures/submissions/pytorch_vfa, each built with
    both notebooks (the one a fixture does not touch is the instructor's).
    ``timeout.py`` is never used: it sits in a cell for the whole cell limit
    and measures nothing but that limit.

What is measured
    Each batch is ``autograder grade <tree> --format json --no-cache
    --sandbox auto --device cpu`` with ``--jobs W`` or ``--dask local:W``
    (default W = 2), run alternately, ``--rounds`` times each, each with a
    cache folder of its own (none reuses the reference's results another
    kept). Per mode: the batch's wall time (start-up included: the
    LocalCluster, the workers' grading processes), and over every submission
    of every round the mean and median of ``duration_s`` (the time one
    submission's grading takes, where it is graded). The ratio dask / jobs of
    those is the cost the scheduler and the shipping add per submission
    (target: at most 1.10). The scores must be the same in both modes. Every
    batch has a timeout; the load average is printed (timings on a small
    shared machine are noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.bench_grading import BenchError, environment, run  # noqa: E402
from scripts.build_submissions import build, notebooks_of, read_edits  # noqa: E402

ASSIGNMENT = "pytorch_vfa"
FIXTURES = ROOT / "tests" / "fixtures" / "submissions" / ASSIGNMENT
NEVER = {"timeout"}  # spends the whole cell limit: measures the limit, not the grader
TARGET_RATIO = 1.10


def build_tree(dest: Path, count: int, seed: int) -> list[str]:
    """``count`` submissions, a seeded mix of the fixtures (each used about as often), in ``dest``."""
    fixtures = sorted(p for p in FIXTURES.glob("*.py") if p.stem not in NEVER)
    rng = random.Random(seed)
    chosen = [fixtures[i % len(fixtures)] for i in range(count)]
    rng.shuffle(chosen)
    students = []
    for i, path in enumerate(chosen):
        edits = read_edits(path)
        edits.name = f"s{i:03d}-{path.stem}"
        edits.notebooks = notebooks_of(ASSIGNMENT)  # both notebooks, the untouched one as the instructor's
        build(edits, dest)
        students.append(edits.name)
    return students


def batch(tree: Path, tmp: Path, env: dict, mode: str, workers: int, timeout: float, round_: int) -> dict:
    output = tmp / f"report-{mode}.json"
    # a fresh cache folder each: no batch starts with the reference's results a batch before it kept there
    cache = tmp / f"cache-{mode}-{round_}"
    where = ["--jobs", str(workers)] if mode == "jobs" else ["--dask", f"local:{workers}"]
    cmd = [sys.executable, "-m", "autograder", "grade", str(tree), "--format", "json", "--no-cache",
           "--sandbox", "auto", "--device", "cpu", "--course-root", str(ROOT), "--assignment", ASSIGNMENT,
           "--output", str(output), "--cache", str(cache), *where]
    _, wall, _ = run(cmd, cwd=tmp, env=env, timeout=timeout, what=f"autograder grade {' '.join(where)}")
    report = json.loads(output.read_text())
    return {"wall": wall, "sandbox": report["sandbox"],
            "durations": {s["student"]: s["duration_s"] for s in report["submissions"]},
            "scores": {s["student"]: (s["status"], s["score"]) for s in report["submissions"]}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=100, help="submissions (default 100)")
    parser.add_argument("--rounds", type=int, default=2, help="batches of each mode (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="--jobs W and --dask local:W (default 2)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the mix of fixtures (default 7)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one batch may take (default 3600)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.rounds < 1 or args.workers < 1:
        parser.error("-n, --rounds and --workers must be at least 1")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    tmp = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    load_before = os.getloadavg()
    started = time.perf_counter()
    try:
        tree = tmp / "submitted"
        students = build_tree(tree, args.n, args.seed)
        env = environment()
        results: dict[str, list[dict]] = {"jobs": [], "dask": []}
        for round_ in range(args.rounds):
            for mode in (("jobs", "dask") if round_ % 2 == 0 else ("dask", "jobs")):  # alternately: ABBA...
                print(f"[{time.perf_counter() - started:5.0f}s] round {round_ + 1}/{args.rounds}: {mode}",
                      file=sys.stderr, flush=True)
                results[mode].append(batch(tree, tmp, env, mode, args.workers, args.timeout, round_))
        scores = {mode: {json.dumps(r["scores"], sort_keys=True) for r in runs} for mode, runs in results.items()}
        if len(scores["jobs"] | scores["dask"]) != 1:
            raise BenchError("the two modes (or two rounds) gave different scores: compare their reports")
        print(f"\n{args.n} submissions of {ASSIGNMENT} ({len({s.split('-', 1)[1] for s in students})} fixtures "
              f"mixed, seed {args.seed}), {args.rounds} round(s) of each, --no-cache --sandbox "
              f"{results['jobs'][0]['sandbox']} --device cpu, load average {load_before[0]:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after")
        print(f"{'mode':<16} {'wall (s)':>18} {'mean duration_s':>16} {'median duration_s':>18}")
        figures = {}
        for mode, label in (("jobs", f"--jobs {args.workers}"), ("dask", f"--dask local:{args.workers}")):
            durations = [d for r in results[mode] for d in r["durations"].values()]
            figures[mode] = statistics.mean(durations), statistics.median(durations)
            walls = ", ".join(f"{r['wall']:.0f}" for r in results[mode])
            print(f"{label:<16} {walls:>18} {figures[mode][0]:16.2f} {figures[mode][1]:18.2f}")
        mean_ratio, median_ratio = (figures["dask"][i] / figures["jobs"][i] for i in (0, 1))
        wall_ratio = statistics.mean(r["wall"] for r in results["dask"]) / \
            statistics.mean(r["wall"] for r in results["jobs"])
        print(f"dask / jobs: per submission {mean_ratio:.2f} (mean), {median_ratio:.2f} (median); wall "
              f"{wall_ratio:.2f} (target: at most {TARGET_RATIO:.2f} per submission)")
        return 0
    except BenchError as exc:
        print(f"bench_dask: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
