"""What the diagnosis tests of every assignment share: grade its fixture submissions
(and the instructor's and the untouched release notebooks) in one batch, and the
rules a fixture's result must follow."""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import shutil
from pathlib import Path

from autograder.assignment import Assignment
from autograder.cli import main
from scripts.build_submissions import Edits, build, read_edits
from tests.course import FIXTURES

INSTRUCTOR, UNTOUCHED = "instructor", "untouched"


def fixtures_of(assignment: Assignment) -> list[Edits]:
    return [read_edits(path) for path in sorted((FIXTURES / assignment.name).glob("*.py"))]


def grade_fixtures(assignment: Assignment, batch: Path, timeout: float = 5) -> dict[str, dict]:
    """Every fixture, the instructor notebooks and the untouched release in one ``autograder grade``
    batch (``--jobs 2``); student -> its submission in the JSON report."""
    for fixture in fixtures_of(assignment):
        build(fixture, batch)
    for student, folder in ((INSTRUCTOR, assignment.source_dir), (UNTOUCHED, assignment.release_dir)):
        (batch / student / assignment.name).mkdir(parents=True)
        for notebook in assignment.notebooks:
            shutil.copy(folder / notebook, batch / student / assignment.name / notebook)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["grade", str(batch), "--format", "json", "--jobs", "2", "--timeout", str(timeout),
                     "--no-cache"])
    assert code == 0, err.getvalue()
    report = json.loads(out.getvalue())
    assert report["assignment"] == assignment.name
    return {s["student"]: s for s in report["submissions"]}


def assert_loses_points_only_where_its_mistake_is(submission: dict, fixture: Edits, assignment: Assignment) -> None:
    """The fixture's expected code in each check it names (``partial``: half credit by behaviour, no code;
    ``failed``: no points, no code), full marks in every other check of its notebooks."""
    groups = {p.group for p in assignment.parts if p.notebook in fixture.notebooks}
    for check in submission["checks"]:
        if check["group"] not in groups:
            continue
        expected = fixture.expect.get(check["name"])
        if expected == "partial":  # partial credit for behaviour, no mistake named
            assert check["status"] == "partial" and check["diagnosis"] is None, check["feedback"]
            assert check["score"] == check["max_score"] / 2
        elif expected == "failed":  # no mistake named, no behavioural credit either
            assert check["status"] == "failed" and check["diagnosis"] is None, check["feedback"]
            assert check["score"] == 0 and "does not replay" not in check["feedback"]
        elif expected is not None:
            assert check["diagnosis"] == expected, check["feedback"]
            assert check["score"] < check["max_score"]
        else:
            assert check["status"] == "passed", check["feedback"]


def series_of(submission: dict, check: str) -> dict[str, dict]:
    """What a check of a submission kept for plots: plot name -> plot."""
    return {p["name"]: p for c in submission["checks"] if c["name"] == check for p in c["series"]}


def assert_class_summary_ranks_every_code_with_what_to_reteach(report: dict[str, dict], assignment: Assignment) -> None:
    """The class report of the fixture batch: every fixture's code ranked, by students hit, each with its line."""
    from autograder.pages import summarize

    summary = summarize({"assignment": assignment.name, "submissions": list(report.values())}, assignment)
    hits = {h.code: h for h in summary.codes}
    assert covered_codes(assignment) <= set(hits)
    assert all(h.reteach for h in summary.codes), [h.code for h in summary.codes if not h.reteach]
    assert [h.students for h in summary.codes] == sorted((h.students for h in summary.codes), reverse=True)
    for fixture in fixtures_of(assignment):
        for check, code in fixture.expect.items():
            if code not in ("partial", "failed"):
                assert check in dict(hits[code].checks), (fixture.name, check, code)
    assert summary.ungraded == [] and summary.graded == len(report)


def covered_codes(assignment: Assignment) -> set[str]:
    return {code for fixture in fixtures_of(assignment) for code in fixture.expect.values()} - {"partial", "failed"}


def reference_lines(assignment: Assignment) -> set[str]:
    """Lines of the reference's code worth hiding (not blank, not trivial)."""
    lines = set()
    for path in assignment.reference_folder().glob("*.py"):
        for line in path.read_text().splitlines():
            line = line.strip()
            if len(line) > 25 and not line.startswith(("#", '"""', "def ", "class ", "from ", "import ")) \
                    and not line.endswith(("(", ",")):  # a bare call opening is a name, not code
                lines.add(line)
    return lines


def leaked_reference(report: dict[str, dict], assignment: Assignment) -> list[tuple]:
    secret = reference_lines(assignment)
    assert len(secret) > 20
    return [(s["student"], c["name"], line) for s in report.values() for c in s["checks"]
            for line in secret if line in c["feedback"]]


# A decimal number as feedback prints it (6 significant digits, maybe an exponent).
_DECIMAL = re.compile(r"(-?\d+\.\d+(?:e[-+]?\d+)?)")


def same_feedback(got: str, expected: str, rel: float = 1e-4) -> bool:
    """The same text, with decimal numbers equal to ``rel``: a float32 run of a few hundred steps differs in the
    6th or 7th digit between CPUs (the vector units torch dispatches to), which is not a different answer. Every
    other character, integers included (points, seeds, indices), must be equal."""
    got_parts, expected_parts = _DECIMAL.split(got), _DECIMAL.split(expected)
    if len(got_parts) != len(expected_parts):
        return False
    for i, (g, e) in enumerate(zip(got_parts, expected_parts)):
        if i % 2 == 0 and g != e:
            return False
        if i % 2 == 1 and not math.isclose(float(g), float(e), rel_tol=rel, abs_tol=1e-9):
            return False
    return True
