"""The command line of the spec: paths, formats, exit codes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
import torch

from autograder.checks.registry import all_checks
from autograder.cli import main
from tests.autograder.conftest import TENSORS_OK, grade_json, write_notebook
from tests.autograder.test_reports import validate
from tests.course import COURSE, PYTORCH_VFA, REPO


@pytest.mark.parametrize("assignment", COURSE.assignments(), ids=lambda a: a.name)
def test_check_names_are_unique_and_prefixed_by_their_group(assignment):
    names = [meta.name for meta, _ in all_checks(assignment)]
    assert len(names) == len(set(names))
    assert all(meta.name.startswith(meta.group + ".") for meta, _ in all_checks(assignment))


def test_no_such_path_is_a_usage_error(capsys, tmp_path):
    assert main(["grade", str(tmp_path / "nope")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_an_unknown_assignment_is_a_usage_error_that_lists_the_assignments(capsys, tmp_path):
    assert main(["grade", str(tmp_path), "--assignment", "other"]) == 2
    err = capsys.readouterr().err
    assert "unknown assignment 'other'" in err
    assert all(repr(name) in err for name in COURSE.names()), err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_usage_error(capsys, tmp_path):
    assert main(["grade", str(tmp_path), "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


@pytest.fixture(scope="module")
def one_student(tmp_path_factory):
    folder = tmp_path_factory.mktemp("one") / "dana" / "pytorch_vfa"
    write_notebook(folder / "pytorch_basics.ipynb", [TENSORS_OK])
    return folder


def test_json_has_the_spec_shape(capsys, one_student):
    code, report, err = grade_json(capsys, str(one_student), "--jobs", "1")
    assert code == 0
    assert report["assignment"] == "pytorch_vfa" and report["device"] in ("cpu", "cuda")
    (s,) = report["submissions"]
    assert s["student"] == "dana" and s["status"] == "graded" and s["max_score"] == 100.0
    assert set(s["groups"]) == set(PYTORCH_VFA.groups)
    assert s["score"] == pytest.approx(sum(s["groups"].values()))
    for group, score in s["groups"].items():
        assert score == pytest.approx(sum(c["score"] for c in s["checks"] if c["group"] == group))
    assert {"name", "group", "score", "max_score", "status", "diagnosis", "feedback"} <= set(s["checks"][0])
    assert {c["status"] for c in s["checks"]} <= {"passed", "partial", "failed", "error", "timeout", "missing"}
    assert "seed 20251" in err and "sandbox" in err


def test_csv_has_one_row_per_student(capsys, one_student):
    assert main(["grade", str(one_student), "--format", "csv", "--jobs", "1"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["student", "score", "tensors", "networks", "autograd", "td0", "q", "baird"]
    assert rows[1] == ["dana", "15", "15", "0", "0", "0", "0", "0"]


def test_csv_has_a_column_per_check_when_asked(capsys, one_student):
    assert main(["grade", str(one_student), "--format", "csv", "--csv-columns", "checks", "--jobs", "1"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["student", "score", *(meta.name for meta, _ in all_checks(PYTORCH_VFA))]
    scores = dict(zip(*rows))
    assert scores["tensors.from_data"] == "3" and scores["td0.update"] == "0" and scores["score"] == "15"


def test_gradescope_results_follow_the_published_schema(capsys, one_student, tmp_path):
    out = tmp_path / "results.json"
    assert main(["grade", str(one_student), "--format", "gradescope", "--output", str(out), "--jobs", "1",
                 "--visibility", "td0.update=hidden", "--visibility", "td0.run=visible"]) == 0
    data = validate(out.read_text())
    assert data["score"] == 15.0 and isinstance(data["execution_time"], float)
    tests = {t["name"]: t for t in data["tests"]}
    assert tests["td0.update"]["tags"] == ["missing"] and tests["tensors.column"]["tags"] == []
    assert tests["td0.update"]["visibility"] == "hidden" and tests["td0.run"]["visibility"] == "visible"
    assert tests["q.run_sarsa"]["visibility"] == "after_due_date"  # as the plug-in declares
    assert {t["status"] for t in data["tests"]} == {"passed", "failed"}


def test_a_wrong_visibility_is_refused_before_grading(capsys, one_student):
    assert main(["grade", str(one_student), "--format", "gradescope", "--visibility", "td0.updat=hidden"]) == 2
    err = capsys.readouterr().err
    assert "no check 'td0.updat'" in err and "grading" not in err


def test_gradescope_takes_one_submission_only(capsys, one_student):
    assert main(["grade", str(one_student), str(one_student), "--format", "gradescope"]) == 2


def test_a_seed_reproduces_the_report(capsys, one_student):
    _, first, _ = grade_json(capsys, str(one_student), "--jobs", "1", "--seed", "7")
    _, second, _ = grade_json(capsys, str(one_student), "--jobs", "1", "--seed", "7")
    strip = lambda r: [{k: v for k, v in s.items() if k != "duration_s"} for s in r["submissions"]]  # noqa: E731
    assert strip(first) == strip(second)


def test_the_worker_host_starts_before_the_slow_imports(tmp_path):
    """The host imports torch on another core while this process imports torch, pytest and nbformat:
    started after any of them, the first submission waits for it (about a second)."""
    seen = tmp_path / "seen.json"
    script = f"""
import json, sys
import autograder.cli as cli
class Host:
    def __init__(self, *args, **kwargs):
        json.dump(sorted(m for m in ("torch", "pytest", "nbformat") if m in sys.modules), open({str(seen)!r}, "w"))
        raise SystemExit(0)
cli.ZygoteHost = Host
cli.main(["grade", {str(REPO / 'examples' / 'students')!r}, "--assignment", "pytorch_vfa", "--course-root",
          {str(REPO)!r}, "--sandbox", "process"])
"""
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, timeout=120, check=True)
    assert json.loads(seen.read_text()) == []


@pytest.mark.parametrize("args, says", [
    ([], "which assignment? pass --assignment NAME (one of policy_gradient, pytorch_vfa)"),
    (["--assignment", "pytorch_vfa", "--visibility", "td0.run=soon"], "'soon' is not one of"),
    (["--assignment", "pytorch_vfa", "--output", "/nonexistent/autograder.zip"], "no such folder /nonexistent"),
])
def test_a_bundle_asked_for_wrongly_is_a_usage_error(capsys, args, says):
    assert main(["gradescope-bundle", "--course-root", str(REPO), *args]) == 2
    assert says in capsys.readouterr().err
