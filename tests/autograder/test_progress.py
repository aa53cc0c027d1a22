"""The progress of a batch on stderr: plain lines in a log, rich's live bar on a terminal."""

from __future__ import annotations

import io
import os
import re
import select
import sys
import threading

from autograder.progress import Progress

PLAIN = re.compile(r"^(\d+)/3 graded, \d+s elapsed, \d+\.\d/min, ETA \d+s \((.*)\)$")


def test_a_log_gets_one_plain_line_per_result_with_rate_and_eta():
    log = io.StringIO()
    with Progress(3, log) as progress:
        for student in ("alice", "bob", "eve\x1b[2J"):
            progress.advance(student)
    lines = log.getvalue().splitlines()
    assert [PLAIN.match(line).groups() for line in lines] == [("1", "alice"), ("2", "bob"), ("3", "eve\\x1b[2J")]


def test_one_submission_shows_no_progress():
    log = io.StringIO()
    with Progress(1, log) as progress:
        progress.advance("alice")
    assert log.getvalue() == ""


def test_a_terminal_gets_a_live_bar_with_rate_and_eta():
    controller, terminal = os.openpty()
    threads, stdout, stderr = threading.active_count(), sys.stdout, sys.stderr
    with os.fdopen(terminal, "w") as stream:
        with Progress(3, stream) as progress:
            for student in ("alice", "bob", "carol"):
                progress.advance(student)
            # no thread that a fork of the grading processes would copy mid-write; the report's streams untouched
            assert (threading.active_count(), sys.stdout, sys.stderr) == (threads, stdout, stderr)
    shown = b""
    while select.select([controller], [], [], 0.5)[0]:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode(errors="replace"))
    assert "3/3" in text and "/min, ETA" in text and "carol" in text
    assert "━" in text or "█" in text  # the bar itself, not a plain line
    assert not PLAIN.search(text.splitlines()[-1] if text.splitlines() else "")
