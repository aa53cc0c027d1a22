"""The class summary of a batch, from its JSON report: what the instructor reads after grading.

Score distributions per group, each check's passed/partial/failed rates, the
diagnosis codes ranked by how many students they hit (each with its checks
and a line on what to re-teach: the plug-in's ``feedback.RETEACH``, the
engine's :data:`autograder.feedback.RETEACH`), the submissions that could not
be graded and those that tampered. :func:`summarize` reads the report's plain
data (``autograder report REPORT.json`` has nothing else); :func:`summary_text`
prints it at the end of a terminal batch.
"""

from __future__ import annotations

import json
import statistics
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from autograder import feedback
from autograder.assignment import Assignment

FAILED_STATUSES = ("failed", "error", "timeout", "missing")  #: a check's statuses counted as failed
CHECKS_SHOWN = 4  #: checks named per diagnosis in the text summary (a missing notebook hits them all)


class ReportError(ValueError):
    """A report that is not the JSON of ``autograder grade --format json``; the message says what is wrong."""


@dataclass
class GroupScores:
    """The scores of one group (or the total) over the graded submissions."""

    group: str
    title: str
    max_score: float
    scores: list[float]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores) if self.scores else 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.scores) if self.scores else 0.0

    @property
    def full(self) -> int:
        return sum(score >= self.max_score > 0 for score in self.scores)

    @property
    def zero(self) -> int:
        return sum(score <= 0 for score in self.scores)


@dataclass
class CheckRates:
    """How a check went over the graded submissions that have it."""

    name: str
    group: str
    max_score: float
    counts: Counter = field(default_factory=Counter)  #: passed, partial, failed (failed, error, timeout, missing)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def rate(self, status: str) -> float:
        return self.counts[status] / self.total if self.total else 0.0


@dataclass
class CodeHits:
    """A diagnosis code, the students it hit and in which checks."""

    code: str
    students: int
    checks: list[tuple[str, int]]  #: (check, students hit there), most first
    reteach: str | None  #: the line on what to re-teach; None where none is declared


@dataclass
class ClassSummary:
    assignment: str
    submissions: int
    groups: list[GroupScores]  #: the assignment's groups, then the total
    checks: list[CheckRates]
    codes: list[CodeHits]  #: ranked by students hit
    ungraded: list[tuple[str, str]]  #: (student, why) of the submissions that could not be graded
    tampering: list[tuple[str, list[str]]]  #: (student, what it did)

    @property
    def graded(self) -> int:
        return self.submissions - len(self.ungraded)


def read_report(path: Path) -> dict:
    """A JSON report of ``autograder grade --format json``, read from ``path``; a :class:`ReportError`
    that says what is wrong otherwise (its shape is checked by :func:`submissions_of`)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportError(f"cannot read the report {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ReportError(f"{path} is not JSON ({exc}): pass what `autograder grade --format json` wrote") from None
    if not isinstance(data, dict) or not isinstance(data.get("assignment"), str):
        raise ReportError(f"{path} is not a report of `autograder grade --format json`: it names no assignment")
    return data


def submissions_of(report: object, assignment: Assignment) -> list[dict]:
    """The submissions of a JSON report of ``assignment``.

    Raises:
        ReportError: the report is not one of ``autograder grade --format json``, or of another assignment.
    """
    if not isinstance(report, dict) or not isinstance(report.get("submissions"), list) \
            or not isinstance(report.get("assignment"), str):
        raise ReportError("not a report of `autograder grade --format json`: it needs \"assignment\" and a list "
                          "of \"submissions\"")
    for i, s in enumerate(report["submissions"]):
        if not (isinstance(s, dict) and isinstance(s.get("student"), str) and isinstance(s.get("checks", []), list)
                and isinstance(s.get("groups", {}), dict)):
            raise ReportError(f"submission {i} of the report is not one of `autograder grade --format json` "
                              "(a student, groups and checks)")
    if report["assignment"] != assignment.name:
        raise ReportError(f"the report is of {report['assignment']!r}, not of {assignment.name!r}")
    return report["submissions"]


def summarize(report: dict, assignment: Assignment) -> ClassSummary:
    """The class summary of a JSON report (``reports.to_json``'s shape) of ``assignment``
    (a :class:`ReportError` if it is not one, see :func:`submissions_of`)."""
    submissions = submissions_of(report, assignment)
    graded = [s for s in submissions if s.get("status") != "error"]
    return ClassSummary(
        assignment=assignment.name, submissions=len(submissions),
        groups=_group_scores(graded, assignment), checks=_check_rates(graded, assignment.groups),
        codes=_code_hits(graded, assignment),
        ungraded=[(s["student"], str(s.get("error") or "no reason given")) for s in submissions
                  if s.get("status") == "error"],
        tampering=[(s["student"], [str(t) for t in s["tampering"]]) for s in submissions if s.get("tampering")])


def group_maxima(submissions: list[dict]) -> dict[str, float]:
    """Each group's points: the sum of its checks' (a report holds them, not the groups')."""
    maxima: dict[str, float] = {}
    for s in submissions:
        sums: dict[str, float] = defaultdict(float)
        for check in s.get("checks", []):
            sums[check.get("group")] += float(check.get("max_score", 0))
        for group, total in sums.items():
            maxima[group] = max(maxima.get(group, 0.0), total)
    return maxima


def _group_scores(graded: list[dict], assignment: Assignment) -> list[GroupScores]:
    maxima = group_maxima(graded)
    groups = [GroupScores(part.group, f"Part {part.number}: {part.title}", maxima.get(part.group, 0.0),
                          [float(s.get("groups", {}).get(part.group, 0.0)) for s in graded])
              for part in assignment.parts]
    total_max = max((float(s.get("max_score", 0)) for s in graded), default=sum(g.max_score for g in groups))
    return groups + [GroupScores("total", "Total", total_max, [float(s.get("score", 0.0)) for s in graded])]


def _check_rates(graded: list[dict], groups: tuple[str, ...]) -> list[CheckRates]:
    """Each check's rates, in the order of the parts (then as the report lists them)."""
    rates: dict[str, CheckRates] = {}
    for s in graded:
        for check in s.get("checks", []):
            entry = rates.setdefault(check["name"], CheckRates(check["name"], check.get("group", ""),
                                                               float(check.get("max_score", 0))))
            status = check.get("status")
            entry.counts["failed" if status in FAILED_STATUSES else status] += 1
    order = {group: i for i, group in enumerate(groups)}
    return sorted(rates.values(), key=lambda r: order.get(r.group, len(order)))


def _code_hits(graded: list[dict], assignment: Assignment) -> list[CodeHits]:
    students: dict[str, set[str]] = defaultdict(set)
    by_check: dict[str, Counter] = defaultdict(Counter)
    for s in graded:
        for check in s.get("checks", []):
            codes = check.get("diagnoses") or ([check["diagnosis"]] if check.get("diagnosis") else [])
            for code in dict.fromkeys(codes):
                students[code].add(s["student"])
                by_check[code][check["name"]] += 1
    own = assignment.reteach
    hits = [CodeHits(code, len(who), by_check[code].most_common(), feedback.reteach(code, own))
            for code, who in students.items()]
    return sorted(hits, key=lambda h: (-h.students, h.code))


def _printable(text: str) -> str:
    """Student-controlled text for a terminal: control characters (escape sequences, carriage returns) shown
    as escapes, not obeyed."""
    return "".join(c if unicodedata.category(c) != "Cc" else ascii(c)[1:-1] for c in text)


def _percent(share: float) -> str:
    return f"{100 * share:.0f}%"


def summary_text(summary: ClassSummary) -> str:
    """The summary as text, for a terminal."""
    out = [f"Class summary of {summary.assignment}: {summary.submissions} submission(s), {summary.graded} graded"
           + (f", {len(summary.ungraded)} could not be graded" if summary.ungraded else "")]
    width = max(len(g.group) for g in summary.groups)
    out.append("")
    out.append(f"{'part'.ljust(width)}  {'max':>5}  {'mean':>6}  {'median':>6}  {'min':>6}  {'full':>4}  {'zero':>4}")
    for g in summary.groups:
        low = min(g.scores, default=0.0)
        out.append(f"{g.group.ljust(width)}  {g.max_score:>5g}  {g.mean:>6.1f}  {g.median:>6.1f}  {low:>6.1f}  "
                   f"{g.full:>4}  {g.zero:>4}")
    if summary.checks:
        width = max(len(c.name) for c in summary.checks)
        out += ["", f"{'check'.ljust(width)}  passed  partial  failed"]
        out += [f"{c.name.ljust(width)}  {_percent(c.rate('passed')):>6}  {_percent(c.rate('partial')):>7}  "
                f"{_percent(c.rate('failed')):>6}" for c in summary.checks]
    if summary.codes:
        out += ["", "Diagnoses, by students hit:"]
        for hit in summary.codes:
            where = ", ".join(f"{check} ({n})" for check, n in hit.checks[:CHECKS_SHOWN])
            if len(hit.checks) > CHECKS_SHOWN:
                where += f" and {len(hit.checks) - CHECKS_SHOWN} more checks"
            out.append(f"{hit.students:>4}  {hit.code}, in {where}")
            out.append(f"      Re-teach: {hit.reteach or 'no line declared for this code'}")
    if summary.ungraded:
        out += ["", "Could not be graded:"] + [f"  {student}: {why}" for student, why in summary.ungraded]
    if summary.tampering:
        out += ["", "Tampering:"] + [f"  {student}: {'; '.join(what)}" for student, what in summary.tampering]
    return "\n".join(_printable(line) for line in out) + "\n"
