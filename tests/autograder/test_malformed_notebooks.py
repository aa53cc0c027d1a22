"""Every way reading a notebook can fail: its own note, and the student's other notebook still graded.

Two batches are graded in this process (``autograder grade --jobs 1``), under
an alarm; a named pipe, which a careless read blocks on, is graded by the
command line in a process of its own, killed on a timeout. Each student hands in a correct ``pytorch_basics.ipynb`` (Part 1,
15 points) next to a broken ``value_approximation.ipynb``, or the other way
round; the second batch patches the loader (a small size limit, a parser that
fails) where the real cause would take a GiB to produce.

Memory: :func:`autograder.nbfile.read_notebook` holds one chunk of the file
and the notebook without its outputs, whatever the outputs' size:
:data:`MEMORY_BOUND` below is asserted with tracemalloc.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tracemalloc
from pathlib import Path

import nbformat
import pytest

from autograder import nbfile, submission
from autograder.cache import result_key
from autograder.cli import main
from autograder.submission import Submission, load_notebook
from tests.autograder.conftest import TENSORS_OK, write_notebook
from tests.course import PYTORCH_VFA, REPO

BASICS, VALUES = "pytorch_basics.ipynb", "value_approximation.ipynb"
#: what loading a notebook may hold at its peak, whatever the size of its outputs: one chunk
#: read from the file, and the small notebook that is left without them (a few kB here)
MEMORY_BOUND = nbfile.CHUNK_BYTES + 2 * 2**20
BATCH_TIMEOUT_S = 120
SMALL_LIMIT = 50_000  #: MAX_FILE_BYTES in the second batch
FAIL_MARK, MEMORY_MARK, RECURSION_MARK = "# make the grader fail", "# run out of memory", "# recurse"


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail (not hang) when the block takes longer: a blocked read of a pipe is interrupted."""
    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: something blocked")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def notebook_json(cells: list[str], **extra) -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    data = json.loads(nbformat.writes(nb))
    data.update(extra)
    return data


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def folder(sub: Path, student: str) -> Path:
    path = sub / student / "pytorch_vfa"
    path.mkdir(parents=True, exist_ok=True)
    return path


def good_basics(where: Path) -> None:
    write_notebook(where / BASICS, [TENSORS_OK])


def build_first(sub: Path) -> None:
    for student in ("deep", "not_utf8", "link_outside", "bad_shape"):
        good_basics(folder(sub, student))
    deep = notebook_json(["x = 1"])
    text = json.dumps(deep).replace('"metadata": {}', f'"metadata": {{"x": {nested(100_000)}}}', 1)
    (folder(sub, "deep") / VALUES).write_text(text)
    raw = json.dumps(notebook_json(["x = 'MARK'"])).encode().replace(b"MARK", b"caf\xe9")  # Latin-1, not UTF-8
    (folder(sub, "not_utf8") / VALUES).write_bytes(raw)
    outside = sub.parent / "elsewhere"
    outside.mkdir()
    write_notebook(outside / VALUES, ["x = 1"])
    os.symlink(outside / VALUES, folder(sub, "link_outside") / VALUES)
    (folder(sub, "bad_shape") / VALUES).write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5,
                                                                "metadata": {}, "cells": 5}))
    # graded as they are
    inside = folder(sub, "link_inside")
    write_notebook(inside / "drafts" / "mine.ipynb", [TENSORS_OK])
    os.symlink(Path("drafts") / "mine.ipynb", inside / BASICS)
    big = notebook_json([TENSORS_OK])
    big["cells"][0]["outputs"] = [{"output_type": "display_data", "metadata": {},
                                   "data": {"image/png": "@PNG@", "text/plain": ["<Figure>"]}},
                                  {"output_type": "display_data", "metadata": {},
                                   "data": {"application/json": {"deep": "@DEEP@"}}},
                                  {"output_type": "stream", "name": "stdout", "text": "@BYTES@"}]
    head, rest = json.dumps(big).split('"@PNG@"')
    middle, rest = rest.split('"@DEEP@"')
    middle2, tail = rest.split('"@BYTES@"')
    with open(folder(sub, "large_output") / BASICS, "wb") as out:
        out.write(head.encode() + b'"')
        block = b"iVBORw0KGgoAAAANSUhEUgAA" * (2**20 // 24)
        for _ in range(300):  # 300 MiB of a base64 PNG
            out.write(block)
        out.write(b'"' + middle.encode() + nested(100_000).encode() + middle2.encode()
                  + b'"\xff\xfe not UTF-8"' + tail.encode())


def build_second(sub: Path) -> None:
    for student in ("too_large", "no_memory", "parser_recursion"):
        good_basics(folder(sub, student))
    write_notebook(folder(sub, "too_large") / VALUES, ["x = 1", "# padding\n" * 8000])
    write_notebook(folder(sub, "no_memory") / VALUES, ["x = 1  " + MEMORY_MARK])
    write_notebook(folder(sub, "parser_recursion") / VALUES, ["x = 1  " + RECURSION_MARK])
    good_basics(folder(sub, "internal"))
    write_notebook(folder(sub, "internal") / VALUES, ["x = 1  " + FAIL_MARK])


def grade(sub: Path) -> dict:
    out, err = io.StringIO(), io.StringIO()
    with deadline(BATCH_TIMEOUT_S), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["grade", str(sub), "--assignment", "pytorch_vfa", "--format", "json", "--no-cache",
                     "--jobs", "1", "--timeout", "20"])
    assert code == 0, err.getvalue()
    return {s["student"]: s for s in json.loads(out.getvalue())["submissions"]}


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> tuple[dict, Path]:
    sub = tmp_path_factory.mktemp("malformed") / "submitted"
    build_first(sub)
    return grade(sub), sub


@pytest.fixture(scope="module")
def second(tmp_path_factory) -> tuple[dict, Path]:
    sub = tmp_path_factory.mktemp("patched") / "submitted"
    build_second(sub)
    real_loads, real_classify = nbfile.json.loads, submission.classify_cells

    def loads(text, *args, **kwargs):
        if MEMORY_MARK in text:
            raise MemoryError
        if RECURSION_MARK in text:
            raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")
        return real_loads(text, *args, **kwargs)

    def classify(cells, *args, **kwargs):
        if any(FAIL_MARK in "".join(cell.get("source", "")) for cell in cells):
            raise KeyError("a bug in the grader")
        return real_classify(cells, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nbfile, "MAX_FILE_BYTES", SMALL_LIMIT)
        patch.setattr(nbfile, "json", type("json", (), {"loads": staticmethod(loads)}))
        patch.setattr(submission, "classify_cells", classify)
        return grade(sub), sub


def assert_other_graded(student: dict, note: str) -> None:
    """The note is the broken notebook's whole feedback; Part 1, in the other notebook, has its 15 points."""
    assert student["status"] == "graded"
    assert student["notes"] == [note]
    assert student["groups"]["tensors"] == 15.0
    assert {c["status"] for c in student["checks"] if c["group"] in ("td0", "q", "baird")} == {"missing"}


def test_json_nested_too_deep(first):
    report, _ = first
    assert_other_graded(report["deep"], (
        "value_approximation.ipynb nests its JSON more than 64 levels deep outside the cell outputs, too deep to "
        "read safely: its parts score 0. Re-download it from Jupyter (File → Download), or copy your code into a "
        "fresh copy of the release notebook."))


def test_not_utf8(first):
    report, _ = first
    assert_other_graded(report["not_utf8"], (
        "value_approximation.ipynb is not valid UTF-8 text (it has bytes that are not UTF-8 in cell 0): its parts "
        "score 0. Open it in Jupyter, retype the characters there that show as garbage, save it and submit it "
        "again."))


def test_a_named_pipe_is_refused_without_blocking_and_not_reported_missing(tmp_path):
    """Graded by the command line in a process of its own, killed if it blocks: the pipe has no writer."""
    mine = folder(tmp_path, "fifo")
    good_basics(mine)
    os.mkfifo(mine / VALUES)
    command = [sys.executable, "-m", "autograder", "grade", str(mine), "--assignment", "pytorch_vfa",
               "--format", "json", "--no-cache", "--jobs", "1", "--timeout", "20"]
    out, err = tmp_path / "out.json", tmp_path / "err.txt"  # files: a stuck worker cannot hold them open
    with open(out, "w") as stdout, open(err, "w") as stderr:
        grader = subprocess.Popen(command, cwd=REPO, stdout=stdout, stderr=stderr, start_new_session=True)
        try:
            grader.wait(timeout=BATCH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(grader.pid, signal.SIGKILL)
            grader.wait()
            pytest.fail(f"grading a named pipe still ran after {BATCH_TIMEOUT_S} s: it blocked")
    assert grader.returncode == 0, err.read_text()
    out = out.read_text()
    assert_other_graded(json.loads(out)["submissions"][0], (
        f"value_approximation.ipynb in {mine} is a named pipe, not a notebook file, so it was not "
        "read: its parts score 0. Submit the notebook file itself."))


def test_a_link_out_of_the_submission_is_refused(first):
    report, sub = first
    assert_other_graded(report["link_outside"], (
        f"value_approximation.ipynb in {folder(sub, 'link_outside')} is a symbolic link to a file outside the "
        "submission folder, so it was not read: its parts score 0. Submit the notebook file itself, not a link "
        "to it."))


def test_json_that_is_not_a_notebook(first):
    report, _ = first
    assert_other_graded(report["bad_shape"], (
        "value_approximation.ipynb is not a valid notebook file (it has no list of cells): its parts score 0. "
        "Re-download it from Jupyter (File → Download)."))


def test_a_link_inside_the_submission_is_followed(first):
    report, sub = first
    student = report["link_inside"]
    assert student["groups"]["tensors"] == 15.0
    assert student["notes"] == [f"value_approximation.ipynb was not found in {folder(sub, 'link_inside')}: its "
                                "parts score 0. Submit it under exactly that name."]


def test_a_300_mb_output_is_graded_right(first):
    """300 MiB of PNG, JSON nested 100,000 deep and bytes that are not UTF-8, all in outputs: none is read."""
    report, sub = first
    assert (folder(sub, "large_output") / BASICS).stat().st_size > 300 * 2**20
    student = report["large_output"]
    assert student["groups"]["tensors"] == 15.0
    assert student["notes"] == [f"value_approximation.ipynb was not found in {folder(sub, 'large_output')}: its "
                                "parts score 0. Submit it under exactly that name."]


def test_too_large(second):
    report, _ = second
    assert_other_graded(report["too_large"], (
        "value_approximation.ipynb is too large to grade (148 kB, over the limit of 48 kB): its parts score 0. "
        "Clear its outputs (Edit → Clear Outputs of All Cells), remove any large data pasted into its cells, "
        "save it and submit it again."))


def test_the_parser_running_out_of_memory(second):
    report, _ = second
    assert_other_graded(report["no_memory"], (
        "value_approximation.ipynb needed more memory to read than the grader had: its parts score 0. Clear its "
        "outputs (Edit → Clear Outputs of All Cells), save it and submit it again; if it is refused again, tell "
        "your instructor."))


def test_the_parser_recursing_too_deep(second):
    report, _ = second
    assert_other_graded(report["parser_recursion"], (
        "value_approximation.ipynb nests its JSON more than 64 levels deep outside the cell outputs, too deep to "
        "read safely: its parts score 0. Re-download it from Jupyter (File → Download), or copy your code into a "
        "fresh copy of the release notebook."))


def test_a_failure_of_the_grader_is_an_error_with_a_message_not_a_zero(second):
    report, _ = second
    student = report["internal"]
    note = ("value_approximation.ipynb could not be loaded because the grader failed (KeyError: 'a bug in the "
            "grader'): its parts were not graded. This is not your mistake: tell your instructor.")
    assert student["status"] == "error"
    assert student["error"] == note and student["notes"] == [note]
    assert student["groups"]["tensors"] == 15.0  # the other notebook was graded all the same


def test_a_file_that_cannot_be_opened(tmp_path):
    path = tmp_path / ("x" * 300)  # longer than a file name may be: lstat fails with ENAMETOOLONG
    loaded = load_notebook(VALUES, path, PYTORCH_VFA)
    assert loaded.error == (f"{VALUES} in {tmp_path} could not be opened (File name too long): its parts score 0. "
                            "Check that the file can be read and submit it again.")
    assert not loaded.internal


def test_the_cache_key_reads_no_pipe_and_no_link_out(tmp_path):
    mine, elsewhere = tmp_path / "student" / "pytorch_vfa", tmp_path / "elsewhere"
    mine.mkdir(parents=True)
    elsewhere.mkdir()
    os.mkfifo(mine / BASICS)
    os.mkfifo(elsewhere / "pipe.ipynb")  # reading the link's target would block
    os.symlink(elsewhere / "pipe.ipynb", mine / VALUES)
    handed_in = Submission("student", mine, {BASICS: mine / BASICS, VALUES: mine / VALUES})
    with deadline(20):
        key = result_key(handed_in, PYTORCH_VFA, {}, grader="g")
        assert nbfile.file_digest(mine / BASICS, mine) == b"<not-regular>"
        assert nbfile.file_digest(mine / VALUES, mine) == b"<link-outside>"
        (mine / VALUES).unlink()
        write_notebook(elsewhere / "real.ipynb", ["x = 1"])
        os.symlink(elsewhere / "real.ipynb", mine / VALUES)
        assert result_key(handed_in, PYTORCH_VFA, {}, grader="g") == key  # the target's bytes do not count


@pytest.mark.parametrize("mib", [8, 64])
def test_loading_memory_does_not_grow_with_the_outputs(tmp_path, mib):
    data = notebook_json([TENSORS_OK])
    data["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "@"}]
    head, tail = json.dumps(data).split('"@"')
    path = tmp_path / BASICS
    with open(path, "wb") as out:
        out.write(head.encode() + b"[")
        line = b'"epoch 1: loss 0.25\\n", '
        for _ in range(mib):
            out.write(line * (2**20 // len(line)))
        out.write(b'"done\\n"]' + tail.encode())
    tracemalloc.start()
    try:
        read = nbfile.read_notebook(path, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert read.notebook.cells[0].source == TENSORS_OK and read.notebook.cells[0].outputs == []
    assert peak < MEMORY_BOUND, f"{peak / 2**20:.1f} MiB for {mib} MiB of outputs"
