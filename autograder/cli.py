"""``autograder grade`` and ``autograder selfcheck``: the command line. Thin wiring over the course,
grading, reports and the students' self-check.

Exit status: 0 when grading ran (whatever the scores), 2 for a usage error,
1 for an internal failure.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from autograder import options
from autograder.course import find_course
from autograder.options import UsageError
from autograder.worker.host import ZygoteHost
from autograder.worker.sandbox import Limits, choose_mode, gpu_device_nodes

# What imports torch, pytest and nbformat (seconds) is imported once the worker
# host is warming up on another core.

USAGE_ERROR, INTERNAL_ERROR = 2, 1
FORMATS = ("table", "json", "csv", "gradescope")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograder", description="Grade notebook assignments against their "
                                     "reference, naming each mistake.")
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="grade notebooks, student folders or an nbgrader submitted/ tree")
    grade.add_argument("paths", nargs="+", metavar="PATH",
                       help="a notebook, a student's assignment folder, or a submitted/ folder")
    options.add_to_argparse(grade)
    grade.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                       help="submissions graded in parallel (default: the number of cores)")
    grade.add_argument("--dask", metavar="ADDRESS",
                       help="grade on the Dask cluster whose scheduler is at ADDRESS (tcp://HOST:8786; needs "
                            "pip install '.[cluster]'), or on local:N, a LocalCluster of N worker processes "
                            "started here (the cluster's threads grade: --jobs does not apply)")
    grade.add_argument("--format", choices=FORMATS, default=None,
                       help="report format (default: table on a terminal, json otherwise)")
    grade.add_argument("--output", type=Path, help="write the report to this file instead of stdout")
    grade.add_argument("--cache", type=Path, default=Path(".autograder-cache"), metavar="DIR",
                       help="where each finished submission is saved at once; a re-run of the same batch "
                            "grades only what is missing (default: .autograder-cache)")
    grade.add_argument("--no-cache", action="store_true", help="grade everything again and save no results "
                       "(the reference's own results are still kept there: they are the same for every batch)")
    grade.add_argument("--gradebook", type=Path, metavar="FILE",
                       help="also record the scores in this nbgrader gradebook (e.g. a course's gradebook.db; "
                            "created if missing, the assignment recorded from the course's source/ if it "
                            "lacks it) and write autograded/<student>/ notebooks beside it, for "
                            "`nbgrader export` and `nbgrader generate_feedback`")
    selfcheck = commands.add_parser(
        "selfcheck", help="write an assignment's self-check (its checks on public cases, for the students' "
                          "notebooks) into source/<assignment>/selfcheck/, which nbgrader copies into the release; "
                          "`make release` runs it")
    selfcheck.add_argument("name", metavar="ASSIGNMENT", help="the assignment")
    selfcheck.add_argument(options.COURSE_ROOT.flag, **options.COURSE_ROOT.kwargs())
    selfcheck.add_argument("--output", type=Path, metavar="DIR",
                           help="write it there instead (default: source/<assignment>/selfcheck)")
    return parser


def selfcheck(args: argparse.Namespace) -> int:
    from autograder.selfcheck import build

    assignment = find_course(args.course_root).assignment(args.name)
    try:
        return build.main(assignment, args.output)
    except build.BuildError as exc:
        raise UsageError(str(exc)) from None


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
    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    limits = Limits(memory_bytes=options.memory_bytes(args.memory_limit))
    # no NVIDIA device at all: --device cuda is refused before torch is imported (on a cluster, the workers tell)
    if not gpu_device_nodes() and not args.dask:
        options.resolve_device(args.device, cuda_available=lambda: False)
    course = find_course(args.course_root)
    assignment = course.resolve(args.assignment, paths)
    # the submissions and the grader's outputs are no more student code's to read than the course is
    denied = tuple(str(p.resolve()) for p in [*paths, args.cache, *([args.output] if args.output else []),
                                              *([args.gradebook.parent] if args.gradebook else [])])
    if args.dask:  # the workers grade, each in its own sandbox: nothing of it starts here
        from autograder.cluster.shipping import sandbox_of

        sandbox, host = sandbox_of(args.sandbox), None
    else:
        try:
            sandbox = choose_mode(args.sandbox)
        except RuntimeError as exc:
            raise UsageError(str(exc)) from None
        # started before anything imports nbformat (its schema validator: ~0.9 s), torch or pytest
        host = ZygoteHost(assignment.worker_code(denied), sandbox, limits)
    try:
        from autograder.submission import find_submissions

        submissions = find_submissions(paths, assignment, others=set(course.names()) - {assignment.name})
        if not submissions:
            raise UsageError(f"no submissions of {assignment.name} found under {', '.join(args.paths)}")
        if args.dask:
            from autograder.cluster.client import connect

            with connect(args.dask) as cluster:
                return _grade(args, assignment, submissions, sandbox, limits, denied, host, cluster)
        return _grade(args, assignment, submissions, sandbox, limits, denied, host)
    finally:
        if host is not None:
            host.close()  # a no-op when the batch closed it


def _grade(args, assignment, submissions, sandbox: str, limits: Limits, denied: tuple[str, ...],
           host: ZygoteHost | None, cluster=None) -> int:
    from autograder import reports
    from autograder.cache import ResultCache, reference_runs_file
    from autograder.grading import Options, grade_batch

    device = cluster.resolve_device(args.device) if cluster else options.resolve_device(args.device)
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    if fmt == "gradescope" and len(submissions) != 1:
        raise UsageError(f"--format gradescope writes one submission's results.json; got {len(submissions)}")
    grading = Options(assignment, seed=args.seed, device=device, cell_timeout=args.timeout, sandbox=sandbox,
                      limits=limits, denied=denied,
                      reference_runs=reference_runs_file(args.cache, assignment))
    jobs = cluster.describe() if cluster else f"{min(args.jobs, len(submissions))} job(s)"
    print(f"autograder: grading {len(submissions)} submission(s) of {assignment.name} on {device}, seed {args.seed}, "
          f"{jobs}, sandbox: {sandbox}", file=sys.stderr)
    cache = None if args.no_cache else ResultCache(args.cache, assignment, {
        "seed": args.seed, "device": device, "timeout": args.timeout, "sandbox": sandbox,
        "memory": limits.memory_bytes, "course_root": str(assignment.course_root)})
    done = {str(s.path): cache.load(s) for s in submissions} if cache else {}
    todo = [s for s in submissions if done.get(str(s.path)) is None]
    if len(todo) < len(submissions):
        print(f"autograder: {len(submissions) - len(todo)} submission(s) already graded in {args.cache}, "
              f"{len(todo)} to go", file=sys.stderr)
    started = time.perf_counter()
    by_path = {str(s.path): s for s in todo}
    batch = cluster.grade(todo, grading) if cluster else grade_batch(todo, grading, args.jobs, host)
    for count, result in enumerate(batch, start=1):
        if cache:
            cache.store(by_path[result.path], result)  # at once: a killed batch loses nothing finished
        done[result.path] = result
        _progress(count, len(todo), started, result.student)
    results = [done[str(s.path)] for s in submissions]
    if args.gradebook:  # nbgrader's gradebook and autograded notebooks (autograder/gradebook.py)
        from autograder.gradebook import record_results
        record_results(results, args.gradebook, assignment)
    text = {
        "json": lambda: reports.to_json(results, assignment, device, args.seed, sandbox),
        "csv": lambda: reports.to_csv(results, assignment),
        "gradescope": lambda: reports.to_gradescope(results[0]),
        "table": lambda: reports.to_table(results, assignment, device, args.seed, sandbox, details=True),
    }[fmt]()
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    # jsonschema, under nbformat, builds an IRI grammar when rfc3987-syntax is installed: seconds of
    # every start-up. A notebook's schema checks no IRI, so the grader does without it.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    # Asking whether CUDA is there must not start it: the grading processes are forked afterwards,
    # and a CUDA started before a fork is unusable in the child.
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    args = build_parser().parse_args(argv)
    try:
        return selfcheck(args) if args.command == "selfcheck" else grade(args)
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
