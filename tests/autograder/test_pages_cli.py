"""``autograder grade --html DIR --class-html FILE``, the class summary at the end of a batch, and
``autograder report REPORT.json``."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys

import pytest

from autograder.cli import main
from tests.autograder.conftest import TENSORS_OK, write_notebook

COPYING_VIEW = TENSORS_OK.replace("return x.view(-1)", "return x.reshape(-1).clone()")
ODD_ID = "<b>zoe"


@pytest.fixture(scope="module")
def submitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("class") / "submitted"
    write_notebook(root / "dana" / "pytorch_vfa" / "pytorch_basics.ipynb", [TENSORS_OK])
    write_notebook(root / ODD_ID / "pytorch_vfa" / "pytorch_basics.ipynb", [COPYING_VIEW])
    return root


@pytest.fixture(scope="module")
def graded(submitted, tmp_path_factory):
    """One batch with every page; (its stdout, its stderr, where the pages are)."""
    out = tmp_path_factory.mktemp("out")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["grade", str(submitted), "--format", "json", "--jobs", "2", "--no-cache",
                     "--html", str(out / "pages"), "--class-html", str(out / "class.html")])
    assert code == 0, stderr.getvalue()[-3000:]
    return stdout.getvalue(), stderr.getvalue(), out


def test_the_report_stays_on_stdout_and_the_class_summary_goes_to_stderr(graded):
    stdout, stderr, _ = graded
    report = json.loads(stdout)  # nothing else there
    assert [s["student"] for s in report["submissions"]] == [ODD_ID, "dana"]
    assert "Class summary of pytorch_vfa: 2 submission(s), 2 graded" in stderr
    assert "   1  copy-not-view, in tensors.flat_view (1)" in stderr
    assert "Re-teach: Views against copies" in stderr


def test_every_student_gets_a_page_and_the_class_its_report(graded):
    _, stderr, out = graded
    pages = sorted(p.name for p in (out / "pages").iterdir())
    assert len(pages) == 2 and "dana.html" in pages and pages[0].startswith("b_zoe-")
    odd = (out / "pages" / pages[0]).read_text(encoding="utf-8")
    assert "&lt;b&gt;zoe" in odd and "<b>zoe" not in odd
    assert "tensors.flat_view (0/2 points): failed" in odd
    assert "copy-not-view" in (out / "class.html").read_text(encoding="utf-8")
    assert f"2 student page(s) in {out / 'pages'}" in stderr


def test_the_report_command_prints_the_same_summary_and_writes_the_class_page(graded, tmp_path, capsys):
    stdout, stderr, _ = graded
    (tmp_path / "report.json").write_text(stdout)
    assert main(["report", str(tmp_path / "report.json"), "--html", str(tmp_path / "class.html")]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Class summary of pytorch_vfa") and printed in stderr
    assert "copy-not-view" in (tmp_path / "class.html").read_text(encoding="utf-8")


def test_the_command_leaves_fast_with_all_its_output_and_main_s_status(graded, tmp_path, capsys):
    """``python -m autograder`` skips the interpreter's teardown (cli.run): what main printed into
    a pipe (block-buffered) still arrives whole, and its exit status is main's."""
    stdout, _, _ = graded
    (tmp_path / "report.json").write_text(stdout)
    assert main(["report", str(tmp_path / "report.json")]) == 0
    expected = capsys.readouterr().out
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}

    def report(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "autograder", "report", *args], capture_output=True, text=True,
                              timeout=300, stdin=subprocess.DEVNULL, env=buffered)

    done = report(str(tmp_path / "report.json"))
    assert done.returncode == 0 and done.stdout == expected and len(expected) > 200, done.stderr[-2000:]
    wrong = report(str(tmp_path / "absent.json"))
    assert wrong.returncode == 2 and "cannot read the report" in wrong.stderr
    asked = report("--no-such-option")
    assert asked.returncode == 2 and "usage: autograder report" in asked.stderr


def test_with_the_report_in_a_file_stdout_stays_empty_and_the_summary_is_on_stderr(submitted, tmp_path, capsys):
    assert main(["grade", str(submitted), "--format", "csv", "--output", str(tmp_path / "grades.csv"), "--jobs",
                 "2", "--no-cache"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "Class summary of pytorch_vfa" in err


def test_one_submission_gets_no_class_summary(submitted, capsys):
    assert main(["grade", str(submitted / "dana"), "--format", "csv", "--jobs", "1", "--no-cache"]) == 0
    assert "Class summary" not in capsys.readouterr().err


def a_file(path):
    path.write_text("x")
    return path


def a_folder(path):
    path.mkdir()
    return path


@pytest.mark.parametrize("option, make, message", [
    ("--html", a_file, "that is a file; pass a folder"),
    ("--class-html", lambda path: path / "missing" / "class.html", "does not exist"),
    ("--class-html", a_folder, "is a folder; pass the file"),
])
def test_pages_that_cannot_be_written_are_refused_before_grading(submitted, tmp_path, capsys, option, make, message):
    target = make(tmp_path / "target")
    assert main(["grade", str(submitted), option, str(target), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert message in err and "grading" not in err  # nothing was graded for nothing


@pytest.mark.parametrize("content, message", [
    (None, "cannot read the report"),
    ("{not json", "is not JSON"),
    ('{"submissions": []}', "names no assignment"),
    ('{"assignment": "nope", "submissions": []}', "which the course at"),
    ('{"assignment": "pytorch_vfa", "submissions": [{"student": 3}]}', "submission 0 of the report"),
])
def test_the_report_command_says_what_is_wrong_with_its_input(tmp_path, capsys, content, message):
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
