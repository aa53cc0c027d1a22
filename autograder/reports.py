"""Reports in the spec's formats: table, json, csv, Gradescope's results.json."""

from __future__ import annotations

import csv
import io
import json

from autograder import __version__
from autograder.assignment import Assignment
from autograder.results import SubmissionResult
from autograder.series import compact_json


def to_json(results: list[SubmissionResult], assignment: Assignment, device: str, seed: int, sandbox: str) -> str:
    """The spec's JSON shape (``assignment``, ``device``, ``submissions``), plus extra fields
    (each check's ``series``: lists of numbers, one line each)."""
    return compact_json(json.dumps({
        "assignment": assignment.name,
        "device": device,
        "seed": seed,
        "grader_version": __version__,
        "sandbox": sandbox,
        "submissions": [r.to_dict() for r in results],
    }, indent=2))


def to_csv(results: list[SubmissionResult], assignment: Assignment) -> str:
    """One row per student: student, score, the assignment's groups."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", "score", *assignment.groups])
    for r in results:
        writer.writerow([r.student, f"{r.score:g}", *(f"{r.groups.get(g, 0.0):g}" for g in assignment.groups)])
    return out.getvalue()


def to_gradescope(result: SubmissionResult) -> str:
    """Gradescope's results.json for one submission (its published schema)."""
    tests = [{
        "name": check.name,
        "score": check.score,
        "max_score": check.max_score,
        "status": "passed" if check.status == "passed" else "failed",
        "output": check.feedback,
        "visibility": "visible",
    } for check in result.checks]
    data = {
        "score": result.score,
        "execution_time": result.duration_s,
        "output": result.error or "",
        "tests": tests,
    }
    return json.dumps(data, indent=2)


def to_table(results: list[SubmissionResult], assignment: Assignment, device: str, seed: int, sandbox: str,
             details: bool) -> str:
    """A plain-text table; with ``details``, the feedback of every check not passed."""
    groups = list(assignment.groups)
    header = ["student", "score", *groups, "status"]
    rows = [[r.student, f"{r.score:g}/{r.max_score:g}", *(f"{r.groups.get(g, 0.0):g}" for g in groups), r.status]
            for r in results]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = lambda row: "  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip()  # noqa: E731
    out = [f"{assignment.name}: {len(results)} submission(s), device {device}, seed {seed}, sandbox {sandbox}",
           line(header), line(["-" * w for w in widths]), *map(line, rows)]
    if details:
        for r in results:
            failed = [c for c in r.checks if c.status != "passed"]
            if failed or r.error:
                out.append(f"\n== {r.student} ({r.path}) ==")
            if r.error:
                out.append(f"Note: {r.error}")
            for check in failed:
                out.append("")
                out.append(check.feedback)
    return "\n".join(out) + "\n"
