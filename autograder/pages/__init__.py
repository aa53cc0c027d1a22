"""Pages for people: each student's feedback, and the instructor's class report, as self-contained HTML.

Built after grading from the JSON report's data (``reports.to_json``'s shape),
so ``autograder grade --html DIR`` and ``autograder report REPORT.json --html
FILE`` give the same pages. A page fetches nothing: its styles are inline and
its plots (:mod:`autograder.pages.plots`, of what the checks measured:
``CheckResult.series``) are embedded as ``data:`` URIs. Templates are jinja2
with autoescaping on: student ids, exception messages and source lines in the
feedback are text, never markup. File names made from student ids go through
:func:`~autograder.pages.naming.page_names`.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from autograder.assignment import Assignment
from autograder.pages import plots
from autograder.pages.naming import page_names
from autograder.pages.summary import CHECKS_SHOWN, ClassSummary, ReportError, group_maxima, read_report, \
    submissions_of, summarize, summary_text

TEMPLATES = Path(__file__).resolve().parent / "templates"
META_FIELDS = ("assignment", "device", "seed", "grader_version", "sandbox")  #: what the footer says, from the report


@dataclass
class Image:
    """A plot as a page embeds it."""

    uri: str
    title: str
    width: int
    height: int

    @classmethod
    def of(cls, png: bytes, title: str) -> "Image":
        width, height = struct.unpack(">II", png[16:24])  # the PNG header's IHDR chunk
        return cls(plots.data_uri(png), title, width, height)


@functools.cache
def _environment() -> Environment:  # one for all pages: each template is compiled once
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)
    environment.filters["code_spans"] = code_spans
    return environment


def code_spans(text: str) -> Markup:
    """A line with `code` in backticks (the plug-ins' re-teach lines) as HTML: every part escaped, the
    backticked ones set as code."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: all of it is text
        return escape(text)
    return Markup("").join(Markup("<code>{}</code>").format(part) if i % 2 else escape(part)
                           for i, part in enumerate(parts))


def _meta(report: dict) -> dict:
    return {key: report.get(key, "") for key in META_FIELDS}


def check_plots(check: dict) -> list[tuple[str, bytes]]:
    """(title, PNG) of each plot of what a check measured, where they say more than its feedback: none
    for a check that passed (its run matched the expected one, which a plot would only repeat)."""
    if check.get("status") == "passed":
        return []
    return [(p["title"], plots.series_png(p)) for p in check.get("series", [])]


def figures(check: dict) -> list[Image]:
    return [Image.of(png, title) for title, png in check_plots(check)]


def student_page(submission: dict, assignment: Assignment, meta: dict, maxima: dict[str, float] | None = None) -> str:
    """One student's page: the score per part, every check's feedback and the plots of what it measured."""
    maxima = maxima if maxima is not None else group_maxima([submission])
    checks = submission.get("checks", [])
    groups = []
    parts = {part.group: f"Part {part.number}: {part.title}" for part in assignment.parts}
    for group in [*parts, *sorted({c.get("group") for c in checks} - set(parts))]:
        score, top = float(submission.get("groups", {}).get(group, 0.0)), maxima.get(group, 0.0)
        groups.append({"title": parts.get(group, str(group)), "score": score, "max_score": top,
                       "percent": round(100 * score / top, 1) if top > 0 else 0,
                       "checks": [{**c, "figures": figures(c)} for c in checks if c.get("group") == group]})
    return _environment().get_template("student.html.j2").render(
        s=submission, title=assignment.title, groups=groups, meta=meta)


def class_page(summary: ClassSummary, assignment: Assignment, meta: dict) -> str:
    """The instructor's class report."""
    panels = [(g.group, g.max_score, g.scores) for g in summary.groups]
    histograms = Image.of(plots.histograms_png(panels), "score distributions") if summary.graded else None
    return _environment().get_template("class.html.j2").render(c=summary, title=assignment.title,
                                                               histograms=histograms, meta=meta,
                                                               shown=CHECKS_SHOWN)


def write_student_pages(report: dict, assignment: Assignment, folder: Path) -> dict[str, Path]:
    """A page per student of the JSON ``report`` in ``folder`` (created); student id -> its page."""
    submissions = submissions_of(report, assignment)
    folder.mkdir(parents=True, exist_ok=True)
    names = page_names(s["student"] for s in submissions)
    meta, maxima = _meta(report), group_maxima(submissions)
    written = {}
    for submission in submissions:
        path = folder / names[submission["student"]]
        path.write_text(student_page(submission, assignment, meta, maxima), encoding="utf-8")
        written[submission["student"]] = path
    return written


def write_class_page(report: dict, assignment: Assignment, path: Path) -> ClassSummary:
    """The class report of the JSON ``report`` at ``path``; the summary it shows."""
    summary = summarize(report, assignment)
    path.write_text(class_page(summary, assignment, _meta(report)), encoding="utf-8")
    return summary


__all__ = ["ClassSummary", "ReportError", "check_plots", "class_page", "code_spans", "figures", "read_report",
           "student_page", "summarize", "summary_text", "write_class_page", "write_student_pages"]
