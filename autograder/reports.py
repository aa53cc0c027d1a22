"""Reports in the spec's formats: table, json, csv, Gradescope's results.json."""

from __future__ import annotations

import csv
import html
import io
import json
import re

from autograder import __version__
from autograder.assignment import VISIBILITIES, Assignment
from autograder.options import UsageError, visibility_overrides
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


# --- csv --------------------------------------------------------------------------------------

#: what a spreadsheet takes for a formula at the start of a cell (OWASP, "CSV Injection")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """``text`` as a spreadsheet shows it, never as a formula: a leading ``'`` where it could start one."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def check_names(assignment: Assignment) -> list[str]:
    """Every check of the assignment, in report order (its parts', then file order)."""
    from autograder.checks.registry import all_checks  # imports the plug-in's checks

    return [spec.name for spec, _ in all_checks(assignment)]


def to_csv(results: list[SubmissionResult], assignment: Assignment, columns: str = "groups") -> str:
    """One row per student: student, score, then each group's score (``columns="groups"``) or each
    check's (``"checks"``). The student id is guarded against formula injection (the JSON keeps it raw)."""
    names = list(assignment.groups) if columns == "groups" else check_names(assignment)
    out = io.StringIO()
    # RFC 4180's line ends: a field holding either line-end character is then quoted, not taken for a new row
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["student", "score", *names])
    for r in results:
        scores = r.groups if columns == "groups" else {c.name: c.score for c in r.checks}
        writer.writerow([spreadsheet_safe(r.student), f"{r.score:g}", *(f"{scores.get(n, 0.0):g}" for n in names)])
    return out.getvalue()


# --- Gradescope -------------------------------------------------------------------------------

_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def markdown(text: str, title: bool = True) -> str:
    """Plain feedback as Markdown that shows it as written: with ``title``, the first line (the
    grader's own: the check, its points and status) in bold, escaped; the rest in a code block fenced
    with more backticks than any run of them in it, so that nothing of what feedback quotes
    (students' code, names, error messages) is read as Markdown or HTML."""
    lines = text.splitlines()
    head = ""
    if title and lines:
        first = _MARKDOWN_PUNCTUATION.sub(r"\\\1", html.escape(lines.pop(0), quote=False))
        head = f"**{first}**" if first else ""
    if not any(line.strip() for line in lines):
        return head
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return (head + "\n\n" if head else "") + f"{fence}\n" + "\n".join(lines) + f"\n{fence}"


def gradescope_visibility(assignment: Assignment, overrides: list[str] | None = None) -> dict[str, str]:
    """When students see each check on Gradescope: the plug-in's declaration, then ``--visibility``.

    Raises:
        UsageError: the plug-in or ``overrides`` name a check the assignment does not have, or a
            value that is not Gradescope's.
    """
    names = check_names(assignment)
    unknown = [name for name, _ in assignment.visibility if name not in names]
    if unknown:
        raise UsageError(f"the plug-in of {assignment.name} declares a visibility for {', '.join(unknown)}, which it "
                         f"has no check of (its checks: {', '.join(names)}): fix its __init__.py")
    declared = {name: assignment.visibility_of(name) for name in names}
    return declared | visibility_overrides(overrides, names, VISIBILITIES)


def to_gradescope(result: SubmissionResult, assignment: Assignment, visibility: dict[str, str]) -> str:
    """Gradescope's results.json for one submission (its published schema, see
    ``tests/autograder/gradescope_results.schema.json``): each check a test numbered
    ``<part>.<k>`` in the parts' order, its diagnosis codes as tags, its feedback as Markdown,
    shown to students as ``visibility`` says; the code and the seed in ``extra_data``."""
    numbers: dict[str, int] = {}
    tests = []
    for check in result.checks:
        numbers[check.group] = numbers.get(check.group, 0) + 1
        part = assignment.part(check.group).number
        codes = check.diagnoses or ([check.diagnosis] if check.diagnosis else [])
        tests.append({
            "name": check.name,
            "number": f"{part}.{numbers[check.group]}",
            "score": check.score,
            "max_score": check.max_score,
            "status": "passed" if check.status == "passed" else "failed",
            "output": markdown(check.feedback),
            "output_format": "md",
            "tags": codes,
            "visibility": visibility.get(check.name, assignment.default_visibility),
            "extra_data": {"check": check.name, "status": check.status, "diagnosis": check.diagnosis,
                           "diagnoses": codes, "seed": result.seed},
        })
    data = {
        "score": result.score,
        "execution_time": result.duration_s,
        "output": markdown(result.error or "", title=False),
        "output_format": "md",
        "stdout_visibility": "hidden",  # the grader's log is for instructors
        "extra_data": {"assignment": assignment.name, "status": result.status, "seed": result.seed,
                       "grader_version": __version__, "tampering": result.tampering_found()},
        "tests": tests,
    }
    return json.dumps(data, indent=2)


# --- table ------------------------------------------------------------------------------------

def to_table(results: list[SubmissionResult], assignment: Assignment, device: str, seed: int, sandbox: str,
             details: bool) -> str:
    """A table of scores (rich's, plain text); with ``details``, the feedback of every check not passed."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left",
                  title=f"{assignment.name}: {len(results)} submission(s), device {device}, seed {seed}, "
                        f"sandbox {sandbox}")
    table.add_column("student", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    for group in assignment.groups:
        table.add_column(group, justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for r in results:  # Text, not markup: a student's name is theirs to choose, "[bold]" included
        table.add_row(Text(printable(r.student)), f"{r.score:g}/{r.max_score:g}",
                      *(f"{r.groups.get(g, 0.0):g}" for g in assignment.groups), r.status)
    out = io.StringIO()
    Console(file=out, width=10_000, color_system=None, highlight=False, emoji=False, legacy_windows=False).print(table)
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    if details:
        for r in results:
            failed = [c for c in r.checks if c.status != "passed"]
            if failed or r.error:
                lines.append(f"\n== {printable(r.student)} ({printable(r.path)}) ==")
            if r.error:
                lines.append(f"Note: {r.error}")
            for check in failed:
                lines.append("")
                lines.append(check.feedback)
    return "\n".join(lines) + "\n"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` without control characters (a terminal escape in a folder name moves no cursor)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
