"""Benchmark: a class of N submissions on one machine, hangs, crashes and broken notebooks included.

    python scripts/bench_scale.py                   # 500 submissions, 3 runs of each mix (about 30 minutes)
    python scripts/bench_scale.py -n 100 --runs 1   # a quick look
    python scripts/bench_scale.py --single-only     # only one submission alone, against nbgrader

What is graded
    N submissions of ``pytorch_vfa`` in a mix drawn with ``--seed``: correct ones in several styles (the
    ``style-*`` fixtures, the instructor's notebooks), the example students (one with full marks, the
    others with the course notebook's slips), every known mistake (each fixture of
    tests/fixtures/submissions/pytorch_vfa at least once), 5% whose functions hang (a busy
    loop, a blocking call, a loop that catches the time limit's signal and carries on), 2% that crash
    their worker and 2% with a malformed notebook. The same mix without its hanging 5% is graded too:
    the ratio of the two is what hangs cost.

How
    ``autograder grade TREE --jobs J --sandbox bwrap --device cpu --no-cache --format json`` (``--timeout``
    as given), the two mixes alternately, ``--runs`` times each; medians are printed. While a batch runs,
    its progress lines (one per result) are timed as they arrive, and the proportional set size (PSS,
    /proc/PID/smaps_rollup) of the command and every process under it (grading processes, sandboxes,
    worker hosts, zygotes, workers) is summed twice a second and at the 50th and the last result.

What is printed, per mix
    wall time, submissions per minute, per-submission p50/p90/max of ``duration_s``, time to the first
    and the last result and from the 99th-percentile result to the last, the share of
    submission-seconds spent on the hanging submissions, the mean ``duration_s`` of each kind, and PSS
    after 50 results, after the last and at its peak. The best case for the 500-class target: 500
    copies of the instructor's notebooks, each taking this run's median for them (the reference's
    first runs in a process aside), ``--jobs`` at a time. Then one submission alone from the command
    line (start-up included) against ``nbgrader autograde`` of the same submission, and the floor:
    ``import torch`` (and ``torch._dynamo``, which a first optimizer step pulls in).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.bench_grading import (BenchError, environment, kill_tree, make_course,  # noqa: E402
                                   nbgrader_autograde, run, _tree)
from scripts.build_submissions import Edits, build, notebooks_of, read_edits  # noqa: E402

ASSIGNMENT = "pytorch_vfa"
NOTEBOOKS = notebooks_of(ASSIGNMENT)
FIXTURES = ROOT / "tests" / "fixtures" / "submissions" / ASSIGNMENT
EXAMPLES = ROOT / "examples" / "students" / ASSIGNMENT
#: fixtures that are not a mistake to include at random: a hang (the mix has its own) and a missing notebook
NOT_MISTAKES = {"timeout"}
HANG_SHARE, CRASH_SHARE, MALFORMED_SHARE = 0.05, 0.02, 0.02
#: what a submission of the mix is
KINDS = ("correct", "example", "mistake", "hang", "crash", "malformed")

#: functions that hang, three ways; each replaces a function that graded code calls (or is graded itself)
HANGS = {
    "hang-busy": "# %% replaces: td_target\ndef td_target(reward, next_value, terminated, gamma):\n"
                 "    while True:\n        pass\n",
    "hang-blocking": "# %% replaces: semi_gradient_td0_update\n"
                     "def semi_gradient_td0_update(v, optimizer, state, reward, next_state, terminated, gamma):\n"
                     "    import os\n    read_end, write_end = os.pipe()\n"
                     "    os.read(read_end, 1)  # nobody ever writes: blocks in the kernel\n",
    "hang-catches": "# %% replaces: flat_view\ndef flat_view(x):\n    while True:\n        try:\n"
                    "            while True:\n                pass\n"
                    "        except BaseException:  # the time limit's exception, too: and on it goes\n"
                    "            pass\n",
}
#: functions that take their worker down with them
CRASHES = {
    "crash-exit": "# %% replaces: baird_features\ndef baird_features():\n    import os\n    os._exit(3)\n",
    "crash-segfault": "# %% replaces: add_axis\ndef add_axis(x, dim):\n    import ctypes\n"
                      "    return ctypes.string_at(0)  # reads address 0: SIGSEGV\n",
}
#: ways a notebook file is broken, applied to one of the submission's notebooks
MALFORMED = ("truncated", "not-utf8", "empty")


@dataclass
class Entry:
    student: str
    kind: str  #: one of KINDS
    edits: Path | str | None  #: an edit file, edit text, or None (the instructor's notebooks)
    breakage: str | None = None


def mix(n: int, seed: int) -> list[Entry]:
    """``n`` submissions, seeded: hangs, crashes and malformed notebooks at their shares, every known
    mistake at least once, the rest correct ones, example students and mistakes at random."""
    rng = random.Random(seed)
    fixtures = sorted(p for p in FIXTURES.glob("*.py") if p.stem not in NOT_MISTAKES)
    styles = [p for p in fixtures if p.stem.startswith("style-")] + sorted(EXAMPLES.glob("*.py"))
    mistakes = [p for p in fixtures if not p.stem.startswith("style-")]
    counts = {kind: max(1, round(share * n)) for kind, share in
              (("hang", HANG_SHARE), ("crash", CRASH_SHARE), ("malformed", MALFORMED_SHARE))}
    entries: list[Entry] = []
    for i in range(counts["hang"]):
        kind = sorted(HANGS)[i % len(HANGS)]
        entries.append(Entry(kind, "hang", HANGS[kind]))
    for i in range(counts["crash"]):
        kind = sorted(CRASHES)[i % len(CRASHES)]
        entries.append(Entry(kind, "crash", CRASHES[kind]))
    for i in range(counts["malformed"]):
        entries.append(Entry("malformed", "malformed", None, MALFORMED[i % len(MALFORMED)]))
    rest = n - len(entries)
    if rest < len(mistakes):
        raise BenchError(f"{n} submissions cannot hold every known mistake ({len(mistakes)}) beside the hangs, "
                         "crashes and malformed notebooks: ask for more")
    entries += [Entry(p.stem, "mistake", p) for p in mistakes]
    while len(entries) < n:
        pick = rng.random()
        if pick < 0.5:
            path = rng.choice(styles)
            entries.append(Entry(path.stem, "example" if path.parent == EXAMPLES else "correct", path))
        elif pick < 0.6:
            entries.append(Entry("instructor", "correct", None))
        else:
            path = rng.choice(mistakes)
            entries.append(Entry(path.stem, "mistake", path))
    rng.shuffle(entries)
    for i, entry in enumerate(entries):
        entry.student = f"s{i:04d}-{entry.student}"
    return entries


def build_tree(entries: list[Entry], dest: Path, seed: int) -> None:
    rng = random.Random(seed)
    for entry in entries:
        if entry.edits is None or isinstance(entry.edits, str):
            edits = Edits(entry.student, ASSIGNMENT, NOTEBOOKS)
            if isinstance(entry.edits, str):
                scratch = dest.parent / "edits" / ASSIGNMENT / f"{entry.student}.py"
                scratch.parent.mkdir(parents=True, exist_ok=True)
                scratch.write_text(entry.edits)
                edits = read_edits(scratch)
        else:
            edits = read_edits(entry.edits)
        edits.name, edits.notebooks = entry.student, NOTEBOOKS
        folder = build(edits, dest)
        if entry.breakage:
            target = folder / rng.choice(NOTEBOOKS)
            data = target.read_bytes()
            target.write_bytes({"truncated": data[: len(data) // 2], "empty": b"",
                                "not-utf8": data[:200] + b"\xff\xfe\xfa" + data[200:]}[entry.breakage])


# --- one batch ----------------------------------------------------------------------------

def pss_kib(pids: list[int]) -> int:
    """Summed proportional set size of ``pids``, in KiB (a process gone meanwhile counts 0)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except (OSError, ValueError):
            pass
    return total


@dataclass
class Batch:
    wall: float = 0.0
    arrivals: list[float] = field(default_factory=list)  #: seconds from launch to each result
    durations: dict[str, float] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    pss_at: dict[int, int] = field(default_factory=dict)  #: results so far -> KiB
    pss_peak: int = 0
    load: float = 0.0


def grade_batch(tree: Path, tmp: Path, env: dict, args, marks: tuple[int, ...]) -> Batch:
    """One ``autograder grade`` batch, its results timed as they arrive and its memory sampled."""
    cmd = [sys.executable, "-m", "autograder", "grade", str(tree), "--format", "json", "--no-cache",
           "--jobs", str(args.jobs), "--sandbox", args.sandbox, "--device", "cpu", "--timeout", f"{args.timeout:g}",
           "--course-root", str(ROOT), "--assignment", ASSIGNMENT, "--output", str(tmp / "report.json")]
    batch = Batch()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            batch.pss_peak = max(batch.pss_peak, pss_kib([proc.pid, *_tree(proc.pid)]))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    timer = threading.Timer(args.batch_timeout, kill_tree, [proc.pid])
    timer.start()
    tail: list[str] = []
    try:
        for line in proc.stderr:  # non-terminal progress: one line per result, "... k/N graded ..."
            tail = [*tail[-40:], line]
            if " graded, " in line:
                batch.arrivals.append(time.perf_counter() - started)
                if len(batch.arrivals) in marks:
                    batch.pss_at[len(batch.arrivals)] = pss_kib([proc.pid, *_tree(proc.pid)])
        proc.wait()
    finally:
        timer.cancel()
        stop.set()
        if proc.poll() is None or _tree(proc.pid):
            kill_tree(proc.pid)
            proc.wait()
    batch.wall = time.perf_counter() - started
    batch.load = os.getloadavg()[0]
    if proc.returncode != 0:
        raise BenchError(f"autograder grade exited {proc.returncode} after {batch.wall:.0f} s:\n{''.join(tail)}")
    report = json.loads((tmp / "report.json").read_text())
    batch.durations = {s["student"]: s["duration_s"] for s in report["submissions"]}
    batch.status = {s["student"]: s["status"] for s in report["submissions"]}
    return batch


# --- one submission alone ---------------------------------------------------------------

def single_submission(tmp: Path, env: dict, args) -> dict:
    """One correct submission from the command line, start-up included, against nbgrader autograde."""
    student = "alone"
    submitted = tmp / "single" / "submitted"
    build(Edits(student, ASSIGNMENT, NOTEBOOKS), submitted)
    cmd = [sys.executable, "-m", "autograder", "grade", str(submitted / student / ASSIGNMENT), "--format", "json",
           "--no-cache", "--sandbox", args.sandbox, "--device", "cpu", "--course-root", str(ROOT),
           "--assignment", ASSIGNMENT]
    floor = {"import torch": "import torch",
             "import torch, torch._dynamo": "import torch, torch._dynamo",
             "python -c pass": "pass"}
    figures: dict[str, list[float]] = {"autograder": [], "nbgrader": [], **{k: [] for k in floor}}
    make_course(tmp / "single" / "course", submitted, student, env)
    for i in range(args.single_runs):
        figures["autograder"].append(run(cmd, cwd=tmp, env=env, timeout=300, what="one submission")[1])
        figures["nbgrader"].append(nbgrader_autograde(tmp / "single" / "course", env, ASSIGNMENT, 600,
                                                      student=student, force=True)["wall"])
        for label, code in floor.items():
            figures[label].append(run([sys.executable, "-c", code], cwd=tmp, env=env, timeout=120, what=label)[1])
    return {k: statistics.median(v) for k, v in figures.items()}


# --- figures -----------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summary(batch: Batch, entries: list[Entry], n: int, mark: int) -> dict:
    kinds = {e.student: e.kind for e in entries}
    by_kind: dict[str, list[float]] = {}
    for student, seconds in batch.durations.items():
        by_kind.setdefault(kinds.get(student, "?"), []).append(seconds)
    #: the instructor's notebooks handed in as they are: the best case for the class
    instructor = [batch.durations[e.student] for e in entries
                  if e.kind == "correct" and e.edits is None and e.student in batch.durations]
    spent = sum(batch.durations.values())
    hung = sum(by_kind.get("hang", []))
    p99 = percentile(batch.arrivals, 0.99)
    return {"wall s": batch.wall, "submissions/min": 60 * n / batch.wall,
            "p50 s": percentile(list(batch.durations.values()), 0.5),
            "p90 s": percentile(list(batch.durations.values()), 0.9),
            "max s": max(batch.durations.values()),
            "first result s": batch.arrivals[0], "last result s": batch.arrivals[-1],
            "p99 result to last s": batch.arrivals[-1] - p99,
            "hang share of submission-s": hung / spent if spent else 0.0,
            **{f"{kind} mean s": statistics.mean(by_kind[kind]) for kind in KINDS if kind in by_kind},
            **({"instructor's median s": statistics.median(instructor)} if instructor else {}),
            f"PSS after {mark} MiB": batch.pss_at.get(mark, 0) / 1024,
            "PSS after the last MiB": batch.pss_at.get(n, 0) / 1024,
            "PSS peak MiB": batch.pss_peak / 1024, "load": batch.load}


def show(table: dict[str, dict[str, float]]) -> str:
    names = list(next(iter(table.values())))
    width = max(map(len, names))
    lines = [f"{'':<{width}}  " + "  ".join(f"{k:>14}" for k in table)]
    for name in names:
        # "-": a figure one mix lacks (the mean of its hangs)
        cells = (f"{figures[name]:>14.2f}" if name in figures else f"{'-':>14}" for figures in table.values())
        lines.append(f"{name:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--submissions", type=int, default=500, help="class size (default 500)")
    parser.add_argument("--runs", type=int, default=3, help="batches of each mix, alternating (default 3)")
    parser.add_argument("--jobs", type=int, default=2, help="autograder grade --jobs (default 2)")
    parser.add_argument("--timeout", type=float, default=60.0, help="autograder grade --timeout (default 60)")
    parser.add_argument("--sandbox", default="bwrap", help="autograder grade --sandbox (default bwrap)")
    parser.add_argument("--seed", type=int, default=11, help="the mix's seed (default 11)")
    parser.add_argument("--single-runs", type=int, default=3, help="runs of one submission alone (default 3; 0: none)")
    parser.add_argument("--single-only", action="store_true", help="only one submission alone")
    parser.add_argument("--json", type=Path, help="also write every submission's figures to this file")
    parser.add_argument("--batch-timeout", type=float, default=1800.0, help="seconds a batch may take (default 1800)")
    args = parser.parse_args(argv)
    if args.submissions < 60 or args.runs < 1 or args.jobs < 1:
        parser.error("-n must be at least 60 (every known mistake, and a mark at 50), --runs and --jobs at least 1")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    env = environment()
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    started = time.perf_counter()

    def step(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f}s] {text}", file=sys.stderr, flush=True)

    try:
        n, mark = args.submissions, 50
        entries = mix(n, args.seed)
        without = [e for e in entries if e.kind != "hang"]
        trees = {"with hangs": (tmp / "with" / "submitted", entries), "without hangs": (tmp / "without" / "submitted",
                                                                                      without)}
        results: dict[str, list[dict]] = {name: [] for name in trees}
        raw: dict[str, list[dict]] = {}

        def dump() -> None:  # after every batch: a bench stopped part-way keeps what it measured
            if args.json:
                args.json.write_text(json.dumps({"kinds": {e.student: e.kind for e in entries}, "runs": raw,
                                                 "summaries": results}, indent=1))

        if not args.single_only:
            step(f"building {n} submissions in {tmp}")
            for tree, chosen in trees.values():
                build_tree(chosen, tree, args.seed)
            for i in range(args.runs):
                for name in (list(trees) if i % 2 == 0 else list(trees)[::-1]):
                    tree, chosen = trees[name]
                    step(f"{name}: run {i + 1}/{args.runs} ({len(chosen)} submissions)")
                    batch = grade_batch(tree, tree.parent, env, args, marks=(mark, len(chosen)))
                    results[name].append(summary(batch, chosen, len(chosen), mark))
                    raw.setdefault(name, []).append({"durations": batch.durations, "status": batch.status,
                                                     "arrivals": batch.arrivals, "pss_at": batch.pss_at})
                    dump()
                    step(f"{name}: {batch.wall:.0f} s, load {batch.load:.1f}; statuses "
                         f"{dict(sorted({s: list(batch.status.values()).count(s) for s in batch.status.values()}.items()))}")
        single = single_submission(tmp, env, args) if args.single_runs else None
        kinds = {k: sum(e.kind == k for e in entries) for k in KINDS}
        print(f"bench_scale {time.strftime('%Y-%m-%d')}: {n} submissions of {ASSIGNMENT} ({kinds}), seed {args.seed}, "
              f"--jobs {args.jobs} --sandbox {args.sandbox} --device cpu --timeout {args.timeout:g}, "
              f"{os.cpu_count()} cores; median of {args.runs} run(s) each")
        if not args.single_only:
            medians = {name: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                       for name, runs in results.items()}
            mediansd = {f"{name} ({len(trees[name][1])})": figures for name, figures in medians.items()}
            print(show(mediansd))
            w, wo = medians["with hangs"], medians["without hangs"]
            print(f"hangs cost: wall {w['wall s'] / wo['wall s']:.2f}x the mix without them (target at most 1.5x)")
            print(f"500-class target: at most 180 s; with hangs: {w['wall s'] * 500 / n:.0f} s scaled to 500")
            if "instructor's median s" in w:  # a small mix may hold none
                best = w["instructor's median s"]
                print(f"best case: 500 copies of the instructor's notebooks at this run's median for them "
                      f"({best:.2f} s), {args.jobs} at a time: {500 * best / args.jobs:.0f} s, start-up aside")
            print(f"tail: last result {w['p99 result to last s']:.1f} s after the 99th-percentile one "
                  f"(target at most --timeout, {args.timeout:g} s)")
            print(f"memory: PSS after {n} / after {mark}: {w['PSS after the last MiB'] / w[f'PSS after {mark} MiB']:.2f}x "
                  "(target at most 1.2x)")
        if single:
            print(f"one submission alone, start-up included (median of {args.single_runs}): autograder "
                  f"{single['autograder']:.2f} s, nbgrader autograde {single['nbgrader']:.2f} s "
                  f"({single['nbgrader'] / single['autograder']:.1f}x slower); floor: import torch "
                  f"{single['import torch']:.2f} s, with torch._dynamo {single['import torch, torch._dynamo']:.2f} s, "
                  f"python alone {single['python -c pass']:.2f} s (target at most 3 s)")
        return 0
    except BenchError as exc:
        print(f"bench_scale: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
