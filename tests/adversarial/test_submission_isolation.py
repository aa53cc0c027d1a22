"""Submissions graded by one worker host see nothing of each other.

One warm host per grading process forks every submission's zygote; in bwrap
mode each zygote enters namespaces of its own. While submission A is open (its
worker alive, a file in its /tmp), submission B, forked by the same host, must
see neither A's processes nor the host's nor A's file; closing A must end every
process of A and leave the host serving.
"""

from __future__ import annotations

import ast
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from autograder.worker.client import NotebookSession, ZygoteHost
from tests.adversarial.conftest import needs_bwrap
from tests.course import PYTORCH_VFA

pytestmark = needs_bwrap

LEAVE_A_FILE = "open('/tmp/secret-of-a', 'w').write('answers')\n"
LOOK_AROUND = """import os
raise RuntimeError(repr((sorted(int(p) for p in os.listdir('/proc') if p.isdigit()), sorted(os.listdir('/tmp')))))
"""


def look_around(zygote) -> tuple[list[int], list[str]]:
    """The pids and the /tmp a new worker of this submission sees."""
    session = NotebookSession(zygote, [{"index": 0, "id": None, "source": LOOK_AROUND}], 30)
    try:
        session.start()
        return ast.literal_eval(session.reports[0].error["message"])
    finally:
        session.close()


def grading_processes() -> list[int]:
    """Processes on this machine started from the zygote's program (host, zygotes, workers)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if b"autograder.worker.zygote" in open(f"/proc/{pid}/cmdline", "rb").read():
                found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.fixture
def host():
    host = ZygoteHost(PYTORCH_VFA.worker_code(), "bwrap")
    host.wait_ready()
    yield host
    host.close()


def test_a_submission_sees_no_process_or_file_of_another(host):
    assert host.isolated, "the bwrap host could not give submissions namespaces of their own"
    a = host.zygote()
    a_session = NotebookSession(a, [{"index": 0, "id": None, "source": LEAVE_A_FILE}], 30)
    try:
        a_session.start()
        assert a_session.reports[0].status == "ok", a_session.reports[0]
        a_pids, a_tmp = look_around(a)
        assert "secret-of-a" in a_tmp and len(a_pids) == 3, (a_pids, a_tmp)  # A's zygote, A's two workers
        b = host.zygote()
        try:
            b_pids, b_tmp = look_around(b)
        finally:
            b.close()
    finally:
        a_session.close()
        a.close()
    assert b_pids == [1, 2], b_pids  # B's zygote (PID 1 of its namespace) and B's worker: not A's, not the host
    assert "secret-of-a" not in b_tmp, b_tmp


def test_closing_a_submission_ends_its_processes_and_not_the_host(host):
    before = grading_processes()
    a = host.zygote()
    session = NotebookSession(a, [{"index": 0, "id": None, "source": LEAVE_A_FILE}], 30)
    session.start()
    assert len(grading_processes()) == len(before) + 2  # A's zygote and worker
    session.close()
    a.close()
    deadline = time.monotonic() + 5
    while grading_processes() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert grading_processes() == before
    b = host.zygote()  # the host goes on serving, with a fresh /tmp
    try:
        _, tmp = look_around(b)
    finally:
        b.close()
    assert "secret-of-a" not in tmp


def test_a_checkout_under_tmp_stays_visible_read_only(monkeypatch, tmp_path):
    """The sandbox binds Python and the staged worker code read-only; when they
    live under /tmp (a CI clone's venv; the staged code always), a submission's
    fresh /tmp must show them again."""
    from autograder.worker import sandbox

    shown = Path(tempfile.mkdtemp(prefix="checkout-", dir="/tmp"))  # like a clone there, readable by all
    os.chmod(shown, 0o755)
    (shown / "marker.txt").write_text("visible")
    original = sandbox.readable_paths
    monkeypatch.setattr(sandbox, "readable_paths", lambda stage: [*original(stage), shown])
    host = ZygoteHost(PYTORCH_VFA.worker_code(), "bwrap")
    zygote = host.zygote()
    source = (f"import os\nraise RuntimeError(repr((open({str(shown / 'marker.txt')!r}).read(), "
              f"os.access({str(shown)!r}, os.W_OK))))")
    session = NotebookSession(zygote, [{"index": 0, "id": None, "source": source}], 30)
    try:
        session.start()
        assert ast.literal_eval(session.reports[0].error["message"]) == ("visible", False)
    finally:
        session.close()
        zygote.close()
        host.close()
        shutil.rmtree(shown)
