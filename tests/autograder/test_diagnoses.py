"""Every known mistake is named, costs points only where it belongs, and reads
well; correct code written in other styles gets full marks.

All fixture submissions are graded in one batch (as a grader would), once.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import pytest

from autograder import spec
from autograder.cli import main
from autograder.feedback import DIAGNOSES
from scripts.build_submissions import ROOT, SOURCE, build, read_edits

FIXTURES = [read_edits(path) for path in sorted((ROOT / "tests" / "fixtures" / "submissions").glob("*.py"))]
SPEC_CODES = ["missing", "not-implemented", "error", "timeout", "wrong-shape", "wrong-dtype", "wrong-device",
              "copy-not-view", "activation-on-output", "grad-accumulation", "graph-recorded",
              "target-not-detached", "td-error-as-loss", "terminal-bootstrap", "truncation-as-termination",
              "double-step", "sign-flipped", "sarsa-uses-max", "q-learning-uses-next-action", "no-exploration",
              "always-random", "no-importance-ratio", "wrong-features", "no-divergence", "tampering"]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    batch = tmp_path_factory.mktemp("fixtures") / "submitted"
    for fixture in FIXTURES:
        build(fixture, batch)
    instructor = batch / "instructor" / "pytorch_vfa"
    instructor.mkdir(parents=True)
    for notebook in spec.NOTEBOOKS:
        shutil.copy(SOURCE / notebook, instructor / notebook)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["grade", str(batch), "--format", "json", "--jobs", "2", "--timeout", "5"])
    assert code == 0, err.getvalue()
    return {s["student"]: s for s in json.loads(out.getvalue())["submissions"]}


def test_every_spec_code_is_explained():
    assert set(SPEC_CODES) <= set(DIAGNOSES)


def test_every_diagnosis_code_has_a_fixture_except_tampering():
    covered = {code for fixture in FIXTURES for code in fixture.expect.values()} - {"partial"}
    assert set(SPEC_CODES) - covered == {"tampering"}  # tampering: the adversarial suite


def test_the_instructor_notebooks_get_full_marks(report):
    s = report["instructor"]
    assert s["score"] == 100.0, [c["feedback"] for c in s["checks"] if c["status"] != "passed"]


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_fixture_gets_its_diagnosis_and_loses_points_only_there(report, fixture):
    s = report[fixture.name]
    groups = {p.group for p in spec.PARTS if p.notebook in fixture.notebooks}
    for check in s["checks"]:
        if check["group"] not in groups:
            continue
        if fixture.expect.get(check["name"]) == "partial":  # partial credit for behaviour, no mistake named
            assert check["status"] == "partial" and check["diagnosis"] is None, check["feedback"]
            assert check["score"] == check["max_score"] / 2
        elif check["name"] in fixture.expect:
            assert check["diagnosis"] == fixture.expect[check["name"]], check["feedback"]
            assert check["score"] < check["max_score"]
        else:
            assert check["status"] == "passed", check["feedback"]
