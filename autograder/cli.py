"""``autograder grade``: the command line. Thin wiring over grading and reports.

Exit status: 0 when grading ran (whatever the scores), 2 for a usage error,
1 for an internal failure.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from autograder import spec
from autograder.worker.host import ZygoteHost
from autograder.worker.sandbox import Limits, choose_mode

# What imports torch, pytest and nbformat (seconds) is imported in grade(),
# once the worker host is warming up on another core.
COURSE_ROOT = spec.COURSE_ROOT

USAGE_ERROR, INTERNAL_ERROR = 2, 1
FORMATS = ("table", "json", "csv", "gradescope")


class UsageError(ValueError):
    """A command line that cannot be carried out; the message says how to fix it."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograder", description="Grade pytorch_vfa submissions.")
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="grade notebooks, student folders or an nbgrader submitted/ tree")
    grade.add_argument("paths", nargs="+", metavar="PATH",
                       help="a notebook, a student's assignment folder, or a submitted/ folder")
    grade.add_argument("--assignment", default=spec.ASSIGNMENT, help=f"the assignment (only {spec.ASSIGNMENT})")
    grade.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                       help="where student code and the reference run (default: cuda if available)")
    grade.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                       help="submissions graded in parallel (default: the number of cores)")
    grade.add_argument("--timeout", type=float, default=60.0,
                       help="seconds one notebook cell, or one check, may run (default 60)")
    grade.add_argument("--format", choices=FORMATS, default=None,
                       help="report format (default: table on a terminal, json otherwise)")
    grade.add_argument("--output", type=Path, help="write the report to this file instead of stdout")
    grade.add_argument("--seed", type=int, default=20251, help="base seed of every check (default 20251)")
    grade.add_argument("--sandbox", choices=("auto", "bwrap", "process"), default="auto",
                       help="how student code is confined: bwrap (bubblewrap namespaces), process "
                            "(resource limits only; see the README), auto: bwrap where it works")
    grade.add_argument("--memory-limit", type=float, default=4.0, metavar="GIB",
                       help="address-space limit of each student process, in GiB (default 4)")
    grade.add_argument("--cache", type=Path, default=Path(".autograder-cache"), metavar="DIR",
                       help="where each finished submission is saved at once; a re-run of the same batch "
                            "grades only what is missing (default: .autograder-cache)")
    grade.add_argument("--no-cache", action="store_true", help="grade everything again, save nothing")
    grade.add_argument("--course-root", type=Path, default=COURSE_ROOT,
                       help="the course directory (with source/) the experiment cells are read from")
    grade.add_argument("--gradebook", type=Path, metavar="FILE",
                       help="also record the scores in this nbgrader gradebook (e.g. a course's gradebook.db; "
                            "created if missing, the assignment recorded from --course-root's source/ if it "
                            "lacks it) and write autograded/<student>/ notebooks beside it, for "
                            "`nbgrader export` and `nbgrader generate_feedback`")
    return parser


def resolve_device(choice: str) -> str:
    import torch

    if choice == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: CUDA is not available on this machine "
                         "(torch.cuda.is_available() is False). Use --device cpu or auto.")
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return choice


def _progress(done: int, total: int, started: float, student: str) -> None:
    if total <= 1:
        return
    elapsed = time.perf_counter() - started
    eta = elapsed / done * (total - done)
    width = 30
    bar = "#" * (width * done // total) + "-" * (width - width * done // total)
    text = f"[{bar}] {done}/{total} graded, {elapsed:.0f}s elapsed, ETA {eta:.0f}s ({student})"
    if sys.stderr.isatty():
        print("\r" + text.ljust(100), end="" if done < total else "\n", file=sys.stderr, flush=True)
    else:
        print(text, file=sys.stderr, flush=True)


def grade(args: argparse.Namespace) -> int:
    if args.assignment != spec.ASSIGNMENT:
        raise UsageError(f"unknown assignment {args.assignment!r}: this grader knows {spec.ASSIGNMENT!r}")
    missing = [str(p) for p in args.paths if not Path(p).exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    if args.memory_limit <= 0:
        raise UsageError(f"--memory-limit must be positive, got {args.memory_limit}")
    try:
        sandbox = choose_mode(args.sandbox)
    except RuntimeError as exc:
        raise UsageError(str(exc)) from None
    limits = Limits(memory_bytes=int(args.memory_limit * 2**30))
    host = ZygoteHost(sandbox, limits)  # warms up (imports torch) while this process does the same
    try:
        return _grade(args, sandbox, limits, host)
    finally:
        host.close()  # a no-op when the batch closed it


def _grade(args: argparse.Namespace, sandbox: str, limits: Limits, host: ZygoteHost) -> int:
    from autograder import reports
    from autograder.cache import ResultCache
    from autograder.grading import Options, grade_batch
    from autograder.submission import find_submissions

    device = resolve_device(args.device)
    submissions = find_submissions([Path(p) for p in args.paths])
    if not submissions:
        raise UsageError(f"no submissions found under {', '.join(args.paths)}")
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    if fmt == "gradescope" and len(submissions) != 1:
        raise UsageError(f"--format gradescope writes one submission's results.json; got {len(submissions)}")
    options = Options(seed=args.seed, device=device, cell_timeout=args.timeout, course_root=args.course_root,
                      sandbox=sandbox, limits=limits)
    print(f"autograder: grading {len(submissions)} submission(s) on {device}, seed {args.seed}, "
          f"{min(args.jobs, len(submissions))} job(s), sandbox: {sandbox}", file=sys.stderr)
    cache = None if args.no_cache else ResultCache(args.cache, {
        "seed": args.seed, "device": device, "timeout": args.timeout, "sandbox": sandbox,
        "memory": options.limits.memory_bytes, "course_root": str(args.course_root.resolve())})
    done = {str(s.path): cache.load(s) for s in submissions} if cache else {}
    todo = [s for s in submissions if done.get(str(s.path)) is None]
    if len(todo) < len(submissions):
        print(f"autograder: {len(submissions) - len(todo)} submission(s) already graded in {args.cache}, "
              f"{len(todo)} to go", file=sys.stderr)
    started = time.perf_counter()
    by_path = {str(s.path): s for s in todo}
    for count, result in enumerate(grade_batch(todo, options, args.jobs, host), start=1):
        if cache:
            cache.store(by_path[result.path], result)  # at once: a killed batch loses nothing finished
        done[result.path] = result
        _progress(count, len(todo), started, result.student)
    results = [done[str(s.path)] for s in submissions]
    if args.gradebook:  # nbgrader's gradebook and autograded notebooks (autograder/gradebook.py)
        from autograder.gradebook import record_results
        record_results(results, args.gradebook, course_root=args.course_root)
    text = {
        "json": lambda: reports.to_json(results, device, args.seed, sandbox),
        "csv": lambda: reports.to_csv(results),
        "gradescope": lambda: reports.to_gradescope(results[0]),
        "table": lambda: reports.to_table(results, device, args.seed, sandbox, details=True),
    }[fmt]()
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    # Asking whether CUDA is there must not start it: the grading processes are forked afterwards,
    # and a CUDA started before a fork is unusable in the child.
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    args = build_parser().parse_args(argv)
    try:
        return grade(args)
    except UsageError as exc:
        print(f"autograder: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except Exception as exc:  # noqa: BLE001 - say so, and exit 1 rather than a traceback
        import traceback

        traceback.print_exc()
        print(f"autograder: internal error: {exc}", file=sys.stderr)
        return INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
