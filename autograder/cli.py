"""``autograder grade`` and ``autograder selfcheck``: the command line. Thin wiring over the course,
grading, reports and the students' self-check.

Exit status: 0 when grading ran (whatever the scores), 2 for a usage error,
1 for an internal failure.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import sys
import threading
from pathlib import Path
from typing import NoReturn

from autograder import options
from autograder.course import find_course
from autograder.options import UsageError
from autograder.progress import Progress
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
    options.add_to_argparse(grade, options.REPORTS)
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
    _add_page_options(grade)
    bundle = commands.add_parser("gradescope-bundle", help="build the autograder.zip to upload to Gradescope for "
                                 "one assignment (see the README's Gradescope section)")
    options.add_to_argparse(bundle, (options.ASSIGNMENT, options.COURSE_ROOT, options.VISIBILITY))
    bundle.add_argument("--output", type=Path, default=Path("autograder.zip"),
                        help="where to write the zip (default: autograder.zip)")
    report = commands.add_parser("report", help="the class summary of a `grade --format json` report: printed, "
                                 "and with --html as a page")
    report.add_argument("report", type=Path, metavar="REPORT.json", help="what `autograder grade --format json` "
                        "wrote")
    report.add_argument("--html", type=Path, metavar="FILE", help="also write the class report as one "
                        "self-contained HTML page")
    options.add_to_argparse(report, (options.COURSE_ROOT,))
    selfcheck = commands.add_parser(
        "selfcheck", help="write an assignment's self-check (its checks on public cases, for the students' "
                          "notebooks) into source/<assignment>/selfcheck/, which nbgrader copies into the release; "
                          "`make release` runs it")
    selfcheck.add_argument("name", metavar="ASSIGNMENT", help="the assignment")
    selfcheck.add_argument(options.COURSE_ROOT.flag, **options.COURSE_ROOT.kwargs())
    selfcheck.add_argument("--output", type=Path, metavar="DIR",
                           help="write it there instead (default: source/<assignment>/selfcheck)")
    return parser


def _add_page_options(grade: argparse.ArgumentParser) -> None:
    grade.add_argument("--html", type=Path, metavar="DIR", help="also write one self-contained HTML page per "
                       "student in DIR: the score per part, every check's feedback, plots of what was measured")
    grade.add_argument("--class-html", type=Path, metavar="FILE", help="also write the class report (score "
                       "distributions, check rates, diagnoses ranked with what to re-teach) as an HTML page")


def gradescope_bundle(args: argparse.Namespace) -> int:
    """Build the bundle of one assignment (:mod:`autograder.bundle`)."""
    from autograder import bundle, reports

    course = find_course(args.course_root)
    if not args.assignment:
        raise UsageError(f"which assignment? pass {options.ASSIGNMENT.flag} NAME (one of {', '.join(course.names())})")
    assignment = course.assignment(args.assignment)
    reports.gradescope_visibility(assignment, args.visibility)  # refused here, not on Gradescope
    if not args.output.parent.is_dir():
        raise UsageError(f"--output {args.output}: no such folder {args.output.parent}")
    names = bundle.build(assignment, args.output, args.visibility)
    print(f"autograder: wrote {args.output} ({len(names)} files) for {assignment.name}: upload it as the "
          "assignment's autograder on Gradescope", file=sys.stderr)
    return 0


def selfcheck(args: argparse.Namespace) -> int:
    from autograder.selfcheck import build

    assignment = find_course(args.course_root).assignment(args.name)
    try:
        return build.main(assignment, args.output)
    except build.BuildError as exc:
        raise UsageError(str(exc)) from None


def grade(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    _check_page_paths(args.html, args.class_html)
    limits = Limits(memory_bytes=options.memory_bytes(args.memory_limit))
    # no NVIDIA device at all: --device cuda is refused before torch is imported (on a cluster, the workers tell)
    if not gpu_device_nodes() and not args.dask:
        options.resolve_device(args.device, cuda_available=lambda: False)
    course = find_course(args.course_root)
    assignment = course.resolve(args.assignment, paths)
    # the submissions and the grader's outputs are no more student code's to read than the course is
    denied = tuple(str(p.resolve()) for p in [*paths, args.cache, *([args.output] if args.output else []),
                                              *([args.gradebook.parent] if args.gradebook else []),
                                              *(p for p in (args.html, args.class_html) if p)])
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
    visibility = reports.gradescope_visibility(assignment, args.visibility) if fmt == "gradescope" else {}
    jobs = cluster.describe() if cluster else f"{min(args.jobs, len(submissions))} job(s)"
    print(f"autograder: grading {len(submissions)} submission(s) of {assignment.name} on {device}, seed {args.seed}, "
          f"{jobs}, sandbox: {sandbox}{_student_user(sandbox, host, assignment)}", file=sys.stderr)
    cache = None if args.no_cache else ResultCache(args.cache, assignment, {
        "seed": args.seed, "device": device, "timeout": args.timeout, "sandbox": sandbox,
        "memory": limits.memory_bytes, "course_root": str(assignment.course_root)})
    done = {str(s.path): cache.load(s) for s in submissions} if cache else {}
    todo = [s for s in submissions if done.get(str(s.path)) is None]
    if len(todo) < len(submissions):
        print(f"autograder: {len(submissions) - len(todo)} submission(s) already graded in {args.cache}, "
              f"{len(todo)} to go", file=sys.stderr)
    by_path = {str(s.path): s for s in todo}
    batch = cluster.grade(todo, grading) if cluster else grade_batch(todo, grading, args.jobs, host)
    with Progress(len(todo)) as progress:
        for result in batch:
            if cache:
                cache.store(by_path[result.path], result)  # at once: a killed batch loses nothing finished
            done[result.path] = result
            progress.advance(result.student)
    results = [done[str(s.path)] for s in submissions]
    if args.gradebook:  # nbgrader's gradebook and autograded notebooks (autograder/gradebook.py)
        from autograder.gradebook import record_results
        record_results(results, args.gradebook, assignment)
    text = {
        "json": lambda: reports.to_json(results, assignment, device, args.seed, sandbox),
        "csv": lambda: reports.to_csv(results, assignment, args.csv_columns),
        "gradescope": lambda: reports.to_gradescope(results[0], assignment, visibility),
        "table": lambda: reports.to_table(results, assignment, device, args.seed, sandbox, details=True),
    }[fmt]()
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    # stdout holds the report alone (or nothing, with --output): the summary goes with the progress, to stderr
    _pages(args, json.loads(text) if fmt == "json" else json.loads(reports.to_json(results, assignment, device,
                                                                                     args.seed, sandbox)),
           assignment, sys.stderr)
    return 0


def _check_page_paths(folder: Path | None, page: Path | None) -> None:
    """Before grading: where the pages go can take them (a batch is not graded for nothing)."""
    if folder is not None and folder.exists() and not folder.is_dir():
        raise UsageError(f"--html {folder}: that is a file; pass a folder for the students' pages")
    if page is not None and not page.parent.is_dir():
        raise UsageError(f"{page}: the folder {page.parent} does not exist")
    if page is not None and page.is_dir():
        raise UsageError(f"{page} is a folder; pass the file to write the class report to")


def _pages(args: argparse.Namespace, report: dict, assignment, summary_to) -> None:
    """After grading, off its clock: the pages asked for, and the class summary of a batch."""
    if not (args.html or args.class_html or len(report["submissions"]) > 1):
        return
    from autograder import pages  # matplotlib and jinja2: only now

    if args.html:
        written = pages.write_student_pages(report, assignment, args.html)
        print(f"autograder: {len(written)} student page(s) in {args.html}", file=sys.stderr)
    summary = pages.write_class_page(report, assignment, args.class_html) if args.class_html else None
    if args.class_html:
        print(f"autograder: class report in {args.class_html}", file=sys.stderr)
    if len(report["submissions"]) > 1:
        summary_to.write("\n" + pages.summary_text(summary or pages.summarize(report, assignment)))


def report(args: argparse.Namespace) -> int:
    """``autograder report REPORT.json``: the class summary, printed (and with --html, as a page)."""
    from autograder import pages

    _check_page_paths(None, args.html)
    try:
        data = pages.read_report(args.report)
        course = find_course(args.course_root)
        if data["assignment"] not in course.names():
            raise UsageError(f"{args.report} is a report of {data['assignment']!r}, which the course at "
                             f"{course.root} does not have (it has {', '.join(course.names()) or 'none'}): pass "
                             "its course with --course-root")
        assignment = course.assignment(data["assignment"])
        summary = pages.write_class_page(data, assignment, args.html) if args.html else \
            pages.summarize(data, assignment)
    except pages.ReportError as exc:
        raise UsageError(str(exc)) from None
    sys.stdout.write(pages.summary_text(summary))
    return 0


def _student_user(sandbox: str, host: ZygoteHost | None, assignment) -> str:
    """Process mode as root: whom student code runs as, and what of the answers that user can read."""
    if sandbox != "process" or host is None or os.geteuid() != 0:
        return ""
    from autograder.worker.sandbox import UNPRIVILEGED_UID, readable_by, unprivileged_blocker

    blocker = unprivileged_blocker(host.scratch_root)
    if blocker:
        return f" (student code runs as root: {blocker})"
    exposed = readable_by(UNPRIVILEGED_UID, [str(assignment.checks_dir.parent), str(assignment.reference_folder())])
    return " (student code runs as nobody" + (f", who can read {', '.join(exposed)}: make them root-only, "
                                              "chmod -R go-rwx)" if exposed else ")")


def main(argv: list[str] | None = None) -> int:
    # jsonschema, under nbformat, builds an IRI grammar when rfc3987-syntax is installed: seconds of
    # every start-up. A notebook's schema checks no IRI, so the grader does without it.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    # Asking whether CUDA is there must not start it: the grading processes are forked afterwards,
    # and a CUDA started before a fork is unusable in the child.
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    args = build_parser().parse_args(argv)
    try:
        return {"grade": grade, "report": report, "gradescope-bundle": gradescope_bundle,
                "selfcheck": selfcheck}[args.command](args)
    except UsageError as exc:
        print(f"autograder: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except Exception as exc:  # noqa: BLE001 - say so, and exit 1 rather than a traceback
        import traceback

        traceback.print_exc()
        print(f"autograder: internal error: {exc}", file=sys.stderr)
        return INTERNAL_ERROR


def run() -> NoReturn:
    """The command (``autograder``, ``python -m autograder``): :func:`main`, then an exit that skips
    only the interpreter's teardown of its modules. With torch._dynamo loaded that teardown takes
    0.6-1 s of a 4 s grading of one submission (the Gradescope case) and does nothing the grader
    needs: what was registered to run at exit still runs, threads are joined and the output
    flushed first, as a normal exit does."""
    try:
        code = main()
    except SystemExit as done:  # argparse: --help, a bad option
        code = done.code
    if not isinstance(code, int):
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    shutdown = getattr(threading, "_shutdown", None)  # what the interpreter calls: joins non-daemon threads
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing left to tell
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
