"""The reports, built from results without grading: Gradescope's results.json, the CSV, the table."""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path

import jsonschema
import markdown_it
import pytest

from autograder import reports
from autograder.assignment import Assignment, Part
from autograder.checks.registry import all_checks
from autograder.options import UsageError
from autograder.results import CheckResult, SubmissionResult
from tests.course import COURSE, PYTORCH_VFA

#: Gradescope's published results.json format (the file cites the page and the date it was read)
SCHEMA = json.loads((Path(__file__).parent / "gradescope_results.schema.json").read_text())
HOSTILE = "x <script>alert(1)</script> *em* [link](http://evil.example) `code` # heading\n1. list\n<img src=x>"


def validate(results_json: str) -> dict:
    data = json.loads(results_json)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    return data


def result_of(assignment: Assignment, student: str = "alice", feedback: dict[str, str] | None = None,
              diagnoses: dict[str, list[str]] | None = None) -> SubmissionResult:
    """Every check of ``assignment`` passed with full marks, but those given ``diagnoses``, which fail."""
    diagnoses, feedback = diagnoses or {}, feedback or {}
    checks = []
    for spec, _ in all_checks(assignment):
        codes = diagnoses.get(spec.name, [])
        checks.append(CheckResult(spec.name, spec.group, 0.0 if codes else spec.points, spec.points,
                                  "failed" if codes else "passed", codes[0] if codes else None,
                                  feedback.get(spec.name, f"{spec.name}: passed"), codes))
    # in report order, as grading sorts them: the parts' order, then the name
    order = {group: i for i, group in enumerate(assignment.groups)}
    checks.sort(key=lambda c: (order[c.group], c.name))
    return SubmissionResult(student, f"submitted/{student}", score=sum(c.score for c in checks),
                            checks=checks, seed=1234, groups={g: 0.0 for g in assignment.groups})


# --- Gradescope -----------------------------------------------------------------------------------

def test_the_schema_refuses_what_gradescope_does_not_know():
    good = {"score": 1.0, "tests": [{"name": "a", "score": 1.0, "visibility": "visible"}]}
    jsonschema.validate(good, SCHEMA)
    for bad in ({"tests": [{"name": "a"}]},  # no score anywhere
                {"score": 1, "tests": [{"score": 1, "visibility": "secret"}]},
                {"score": 1, "tests": [{"score": 1, "output_format": "markdown"}]},
                {"score": 1, "tests": [{"score": 1, "number": 1.1}]},
                {"score": 1, "tests": [{"score": 1, "tag": ["x"]}]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, SCHEMA)


@pytest.mark.parametrize("assignment", COURSE.assignments(), ids=lambda a: a.name)
def test_results_json_follows_the_schema_with_tags_numbers_and_visibility(assignment):
    first = all_checks(assignment)[0][0].name
    result = result_of(assignment, diagnoses={first: ["double-step", "sign-flipped"]})
    data = validate(reports.to_gradescope(result, assignment, reports.gradescope_visibility(assignment)))
    tests = {t["name"]: t for t in data["tests"]}
    assert tests[first]["tags"] == ["double-step", "sign-flipped"] and tests[first]["status"] == "failed"
    assert tests[first]["extra_data"] == {"check": first, "status": "failed", "diagnosis": "double-step",
                                          "diagnoses": ["double-step", "sign-flipped"], "seed": 1234}
    assert all(t["tags"] == [] for name, t in tests.items() if name != first)
    assert {t["output_format"] for t in data["tests"]} == {"md"}
    # numbered <part>.<k>, in the parts' order, k counting within the part
    numbers = [tuple(map(int, t["number"].split("."))) for t in data["tests"]]
    assert numbers == sorted(numbers) and numbers[0] == (1, 1)
    parts = {p.group: p.number for p in assignment.parts}
    assert all(n[0] == parts[t["name"].split(".")[0]] for n, t in zip(numbers, data["tests"]))
    # as the plug-in declares: its whole runs after the due date, the rest visible, at least one hidden
    assert {t["visibility"] for t in data["tests"]} == {"visible", "after_due_date"}
    assert {name for name, t in tests.items() if t["visibility"] != "visible"} == dict(assignment.visibility).keys()
    assert data["stdout_visibility"] == "hidden"
    assert data["extra_data"]["seed"] == 1234 and data["extra_data"]["assignment"] == assignment.name


def test_the_command_line_overrides_the_plugins_visibility():
    declared = reports.gradescope_visibility(PYTORCH_VFA)
    assert declared["td0.run"] == "after_due_date" and declared["td0.update"] == "visible"
    changed = reports.gradescope_visibility(PYTORCH_VFA, ["hidden", "td0.update=after_published"])
    assert changed["td0.update"] == "after_published" and changed["td0.run"] == changed["tensors.column"] == "hidden"
    assert reports.gradescope_visibility(PYTORCH_VFA, ["td0.run=visible"])["td0.run"] == "visible"


@pytest.mark.parametrize("given, says", [(["td0.nope=hidden"], "no check 'td0.nope'"),
                                         (["td0.run=secret"], "'secret' is not one of"),
                                         (["later"], "'later' is not one of")])
def test_a_wrong_visibility_override_is_a_usage_error(given, says):
    with pytest.raises(UsageError, match=says):
        reports.gradescope_visibility(PYTORCH_VFA, given)


def test_a_plugin_declares_only_gradescopes_visibilities_of_its_own_checks():
    with pytest.raises(ValueError, match="'secret' of td0.run is not one of Gradescope's"):
        Assignment("x", "x", (Part(1, "td0", "t", "n.ipynb"),), "solutions.x", visibility={"td0.run": "secret"})
    with pytest.raises(ValueError, match="default_visibility"):
        Assignment("x", "x", (Part(1, "td0", "t", "n.ipynb"),), "solutions.x", default_visibility="never")
    import dataclasses

    unknown = dataclasses.replace(PYTORCH_VFA, visibility={"td0.runs": "hidden"})
    with pytest.raises(UsageError, match="declares a visibility for td0.runs"):
        reports.gradescope_visibility(unknown)


def test_markdown_shows_feedback_as_written_and_renders_nothing_of_a_students():
    body = f"Got: {HOSTILE}\n    indented\n```\nnot the end of the block ````"
    rendered = markdown_it.MarkdownIt("commonmark").render(reports.markdown(f"td0.update (0/10 points): failed\n{body}"))
    assert rendered.startswith("<p><strong>td0.update (0/10 points): failed</strong></p>\n")
    assert rendered.count("<pre><code>") == 1  # one block, fenced longer than any run of backticks in it
    shown = rendered[rendered.index("<pre><code>") + len("<pre><code>"):rendered.index("</code></pre>")]
    assert shown == html.escape(body, quote=False) + "\n"  # as written, indentation and all
    assert "<script" not in rendered and "<img" not in rendered and "<a " not in rendered and "<em>" not in rendered
    assert "<h1>" not in rendered and "<ol>" not in rendered


def test_a_hidden_checks_feedback_is_nowhere_else():
    secret = "td0.run (0/6 points): failed\nExpected vs got: the weights, expected 0.123456"
    result = result_of(PYTORCH_VFA, feedback={"td0.run": secret}, diagnoses={"td0.run": ["terminal-bootstrap"]})
    data = validate(reports.to_gradescope(result, PYTORCH_VFA, reports.gradescope_visibility(PYTORCH_VFA)))
    shown = [t for t in data["tests"] if t["visibility"] == "visible"]
    assert "0.123456" in next(t["output"] for t in data["tests"] if t["name"] == "td0.run")
    assert not any("123456" in json.dumps(t) for t in shown) and "123456" not in data["output"]


# --- CSV ----------------------------------------------------------------------------------------------

FORMULAS = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"]


def test_csv_guards_ids_that_a_spreadsheet_would_run_and_json_keeps_them():
    results = [result_of(PYTORCH_VFA, student) for student in [*FORMULAS, "plain", "a=b"]]
    rows = list(csv.reader(io.StringIO(reports.to_csv(results, PYTORCH_VFA))))
    assert [row[0] for row in rows[1:]] == [f"'{s}" for s in FORMULAS] + ["plain", "a=b"]
    report = json.loads(reports.to_json(results, PYTORCH_VFA, "cpu", 1, "bwrap"))
    assert [s["student"] for s in report["submissions"]] == [*FORMULAS, "plain", "a=b"]


def test_csv_has_a_column_per_check_when_asked():
    names = [spec.name for spec, _ in all_checks(PYTORCH_VFA)]
    result = result_of(PYTORCH_VFA, diagnoses={"td0.update": ["double-step"]})
    result.checks = [c for c in result.checks if c.name != "q.values"]  # a check that did not report: 0
    result.score = sum(c.score for c in result.checks)
    rows = list(csv.reader(io.StringIO(reports.to_csv([result], PYTORCH_VFA, columns="checks"))))
    assert rows[0] == ["student", "score", *names]
    scores = dict(zip(rows[0], rows[1]))
    assert scores["td0.update"] == "0" and scores["q.values"] == "0" and scores["td0.target"] == "4"
    assert sum(float(scores[n]) for n in names) == float(scores["score"])


def test_the_table_shows_a_students_name_as_text():
    result = result_of(PYTORCH_VFA, "[bold]mallory[/x]\x1b[2J")
    table = reports.to_table([result], PYTORCH_VFA, "cpu", 1, "bwrap", details=False)
    assert "[bold]mallory[/x]\\x1b[2J" in table and "\x1b" not in table
    header = next(line for line in table.splitlines() if line.startswith("student"))
    assert header.split() == ["student", "score", *PYTORCH_VFA.groups, "status"]
