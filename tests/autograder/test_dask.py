"""Grading on a Dask cluster (``autograder grade --dask``): the report a local
``--jobs`` batch gives, whatever dies on the way; and the batches it refuses.

The submissions are pytorch_vfa's ``pytorch_basics.ipynb`` alone (the other
notebook missing: a note and zero), right or with one known mistake, so each
grades in seconds. The batches run as subprocesses of the command line
(bounded), against a LocalCluster of this process when the test must see its
workers (their pids, what they are running) or stand in for one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="dask is not installed (pip install '.[cluster]')")

from autograder.cli import main  # noqa: E402
from autograder.cluster import client as cluster_client  # noqa: E402
from autograder.worker.sandbox import bwrap_available  # noqa: E402
from scripts.build_submissions import build, read_edits  # noqa: E402
from tests.course import FIXTURES, PYTORCH_VFA, REPO  # noqa: E402
from tests.unprivileged import AS_NOBODY, NOBODY, where_nobody_sees_python  # noqa: E402

ASSIGNMENT = PYTORCH_VFA.name
MISTAKES = ("wrong-dtype", "copy-not-view", "wrong-shape")  #: fixtures of pytorch_basics.ipynb
#: the batches' sandbox: bubblewrap where it runs (on a cluster, auto means bwrap or nothing)
SANDBOX = "auto" if bwrap_available() else "process"
BATCH_TIMEOUT_S = 240


def build_tree(dest: Path, mistakes: tuple[str, ...], right: tuple[str, ...] = ("correct",)) -> Path:
    for name in mistakes:
        build(read_edits(FIXTURES / ASSIGNMENT / f"{name}.py"), dest)
    for name in right:  # the instructor's notebook: full marks for its parts
        (dest / name / ASSIGNMENT).mkdir(parents=True)
        shutil.copy(PYTORCH_VFA.source_dir / "pytorch_basics.ipynb", dest / name / ASSIGNMENT)
    return dest


def command(tree: Path, output: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade", str(tree), "--assignment", ASSIGNMENT, "--course-root",
            str(REPO), "--format", "json", "--output", str(output), "--timeout", "20", *extra]


def run_batch(tree: Path, output: Path, *extra: str) -> tuple[int, dict | None, str]:
    done = subprocess.run(command(tree, output, *extra), capture_output=True, text=True, timeout=BATCH_TIMEOUT_S,
                          cwd=REPO, stdin=subprocess.DEVNULL)
    report = json.loads(output.read_text()) if done.returncode == 0 else None
    return done.returncode, report, done.stderr


def by_student(report: dict, tree: Path | None = None) -> dict[str, dict]:
    """Each submission as reported, durations aside; the paths in it relative to ``tree``, if given."""
    if tree is not None:
        report = json.loads(json.dumps(report).replace(str(tree), "<tree>"))
    return {s["student"]: {k: v for k, v in s.items() if k != "duration_s"} for s in report["submissions"]}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return build_tree(tmp_path_factory.mktemp("dask") / "submitted", MISTAKES)


@pytest.fixture(scope="module")
def reference(tree, tmp_path_factory) -> dict:
    """The same batch graded here, with --jobs 2."""
    code, report, err = run_batch(tree, tmp_path_factory.mktemp("reference") / "local.json", "--jobs", "2",
                                  "--sandbox", SANDBOX, "--no-cache")
    assert code == 0, err[-3000:]
    return report


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of this process (2 workers, nannies restarting them), as ``--dask local:2`` starts."""
    with cluster_client.local_cluster(2) as local, distributed.Client(local, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=120)
        yield local, client


def _processing(dask_scheduler) -> dict[str, tuple[int, list[str]]]:
    """On the scheduler: worker address -> (its pid, the keys it is running)."""
    return {address: (ws.pid, [str(ts.key) for ts in ws.processing]) for address, ws in dask_scheduler.workers.items()}


def kill_workers_running(client, prefix: str, process: subprocess.Popen, most: int, after_s: float = 0.0) -> list:
    """Kill (SIGKILL, by pid) each worker seen running a task whose key starts with ``prefix``, once it has run
    ``after_s``, at most ``most`` times, while ``process`` (the batch) runs; the (key, address) of each kill."""
    killed, seen = [], {}
    while process.poll() is None and len(killed) < most:
        for address, (pid, keys) in client.run_on_scheduler(_processing).items():
            for key in keys:
                if key.startswith(prefix) and (key, address) not in killed:
                    started = seen.setdefault((key, address), time.monotonic())
                    if time.monotonic() - started >= after_s and len(killed) < most:
                        os.kill(pid, signal.SIGKILL)
                        killed.append((key, address))
        time.sleep(0.1)
    return killed


# --- the report is a local batch's ----------------------------------------------------------------------

@pytest.mark.timeout(300)
def test_a_batch_on_a_local_cluster_reports_what_a_local_batch_does(tree, reference, tmp_path):
    code, report, err = run_batch(tree, tmp_path / "dask.json", "--dask", "local:2", "--sandbox", SANDBOX,
                                  "--no-cache")
    assert code == 0, err[-3000:]
    assert "the Dask cluster local:2 (2 worker(s)" in err
    assert {k: v for k, v in report.items() if k != "submissions"} == \
        {k: v for k, v in reference.items() if k != "submissions"}  # the sandbox the workers used among them
    assert report["sandbox"] == ("bwrap" if SANDBOX == "auto" else "process")
    assert by_student(report) == by_student(reference)
    assert {s["student"] for s in report["submissions"]} == {"correct", *MISTAKES}
    basics = [c for c in by_student(report)["wrong-dtype"]["checks"] if c["name"].startswith("tensors.")]
    assert {c["diagnosis"] for c in basics if c["diagnosis"]} == {"wrong-dtype"}


@pytest.mark.timeout(300)
def test_a_worker_killed_mid_batch_and_then_the_client_lose_nothing(cluster, tree, reference, tmp_path):
    local, client = cluster
    address = local.scheduler_address
    cache, output, log = tmp_path / "cache", tmp_path / "dask.json", tmp_path / "stderr"
    with open(log, "w") as stderr:
        batch = subprocess.Popen(command(tree, output, "--dask", address, "--sandbox", "process", "--cache",
                                         str(cache)), cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=stderr)
    try:
        # a worker dies half-way through a submission: it is graded again elsewhere
        killed = kill_workers_running(client, "autograder-", batch, most=1, after_s=1.0)
        assert len(killed) == 1, log.read_text()[-3000:]
        # then the client itself (kill -9), once it has said so and saved something
        deadline = time.monotonic() + BATCH_TIMEOUT_S
        while batch.poll() is None and time.monotonic() < deadline and not (
                list(cache.glob("*.json")) and "grading it again" in log.read_text()):
            time.sleep(0.1)
    finally:
        batch.kill()
        batch.wait(timeout=30)
    saved = len(list(cache.glob("*.json")))
    assert saved >= 1, log.read_text()[-3000:]
    # the same command again grades only what is missing, and reports what a local batch does
    code, report, err = run_batch(tree, output, "--dask", address, "--sandbox", "process", "--cache", str(cache))
    assert code == 0, err[-3000:]
    assert by_student(report) == by_student(reference)
    assert len(report["submissions"]) == len(reference["submissions"])  # none lost, none twice
    assert f"{saved} submission(s) already graded" in err, err[-3000:]
    assert "grading it again (1 of 2 retries)" in log.read_text(), log.read_text()[-3000:]
    # what the workers computed of the reference is kept here for the next batch, which ships it back
    assert list(cache.glob("reference-*.jsonl")), sorted(p.name for p in cache.iterdir())


class Marker(distributed.WorkerPlugin):
    """A worker plug-in that does nothing: what a batch's plug-in is to the clients that share it."""

    idempotent = True


def test_a_client_that_finishes_leaves_the_plugin_to_another_grading_the_same_batch(cluster):
    local, client = cluster
    name = "autograder-shared-by-two-clients"

    def present() -> bool:
        return all(client.run(lambda dask_worker: name in dask_worker.plugins).values())

    with distributed.Client(local.scheduler_address, set_as_default=False) as other:
        first = cluster_client.Cluster(client, local.scheduler_address)
        second = cluster_client.Cluster(other, local.scheduler_address)
        with first._plugin(name, Marker()):
            with second._plugin(name, Marker()):
                assert present()
            assert present()  # the second batch ended: the first still grades with the workers' processes
        assert not present()  # the last one took it off the workers


@pytest.mark.timeout(300)
def test_a_submission_that_kills_every_worker_it_lands_on_ends_as_an_error(cluster, tree, reference, tmp_path):
    local, client = cluster
    own = build_tree(tmp_path / "submitted", MISTAKES[:1], right=("killer",))  # the instructor's, as it happens
    output, log = tmp_path / "dask.json", tmp_path / "stderr"
    with open(log, "w") as stderr:
        batch = subprocess.Popen(command(own, output, "--dask", local.scheduler_address, "--sandbox", "process",
                                         "--no-cache"), cwd=REPO, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        killed = kill_workers_running(client, "autograder-killer-", batch, most=cluster_client.RETRIES + 2)
        batch.wait(timeout=BATCH_TIMEOUT_S)
    finally:
        batch.kill()
        batch.wait()
    err = log.read_text()
    assert batch.returncode == 0, err[-3000:]
    assert len(killed) == cluster_client.RETRIES + 1, (killed, err[-3000:])  # tried, then retried twice
    assert len({key for key, _ in killed}) == len(killed)  # each attempt a task of its own
    report = json.loads(output.read_text())
    results = by_student(report, own)
    assert set(results) == {"killer", MISTAKES[0]}
    killer = results.pop("killer")
    assert killer["status"] == "error" and killer["score"] == 0
    assert f"failed {cluster_client.RETRIES + 1} time(s)" in killer["error"] and "died" in killer["error"]
    assert killer["max_score"] == reference["submissions"][0]["max_score"]
    expected = by_student(reference, tree)
    assert results == {student: expected[student] for student in results}  # the others graded as ever


# --- batches refused -------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.timeout(120)
def test_an_unreachable_scheduler_is_a_usage_error_that_says_what_to_do(tree, tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    code, _, err = run_batch(tree, tmp_path / "out.json", "--dask", address)
    assert code == 2, err[-3000:]
    assert time.monotonic() - started < 60
    assert address in err and "no Dask scheduler answered there within 10 s" in err
    assert "dask scheduler" in err and "--dask local:N" in err
    assert "Traceback" not in err


def test_local_takes_a_number_of_workers(tree, capsys):
    assert main(["grade", str(tree), "--assignment", ASSIGNMENT, "--course-root", str(REPO), "--dask", "local:x"]) == 2
    assert "local:N takes a number of worker processes" in capsys.readouterr().err


@pytest.mark.timeout(180)
@pytest.mark.parametrize("which", ["engine", "grader"])
def test_a_worker_whose_fingerprint_differs_refuses_the_batch(cluster, tree, tmp_path, monkeypatch, capsys, which):
    local, client = cluster
    theirs = {"engine": cluster_client.engine_fingerprint(), "grader": cluster_client.grader_fingerprint(PYTORCH_VFA)}
    ours = "0123456789abcdef" if which == "engine" else theirs["engine"] + "0123456789abcdef"
    monkeypatch.setattr(cluster_client, f"{which}_fingerprint", lambda *args: ours)
    code = main(["grade", str(tree), "--assignment", ASSIGNMENT, "--course-root", str(REPO), "--format", "json",
                 "--no-cache", "--dask", local.scheduler_address, "--sandbox", "process"])
    err = capsys.readouterr().err
    assert code == 2, err[-3000:]
    assert "the Dask worker tcp://" in err and any(address in err for address in client.nthreads())
    assert theirs[which] in err and ours in err, err[-3000:]  # both fingerprints, the worker's and the client's
    assert "Traceback" not in err


@pytest.mark.timeout(180)
def test_a_worker_without_bubblewrap_refuses_rather_than_grade_with_less(tree, tmp_path, capsys):
    bare = tmp_path / "bin"  # its PATH: no bwrap there
    bare.mkdir()
    with distributed.LocalCluster(n_workers=1, processes=True, threads_per_worker=1, dashboard_address=":0",
                                  env={"PATH": str(bare)}) as local:
        code = main(["grade", str(tree), "--assignment", ASSIGNMENT, "--course-root", str(REPO), "--format", "json",
                     "--no-cache", "--dask", local.scheduler_address, "--sandbox", "auto"])
        workers = list(local.scheduler.workers)
    out, err = capsys.readouterr()
    assert code == 2, err[-3000:]
    assert f"the Dask worker {workers[0]}" in err and "cannot run bubblewrap" in err
    assert "--sandbox process" in err  # what to do
    assert out == "" and "1/4 graded" not in err  # nothing graded with less


# --- a worker that is not root -------------------------------------------------------------------------

#: what a worker as nobody must be able to do: start this Python again (its nanny and its grading process do)
SPAWNS = ("import subprocess, sys; "
          "subprocess.run([sys.executable, '-c', 'import autograder.cluster.child, distributed'], check=True)")


@pytest.mark.timeout(300)
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv, to start a worker as another user")
def test_a_worker_that_is_not_root_grades_in_its_sandbox(reference, tree, tmp_path, request):
    home = Path(tempfile.mkdtemp(prefix="autograder-nobody-"))  # the worker's: pytest's tmp_path is root's alone
    request.addfinalizer(lambda: shutil.rmtree(home, ignore_errors=True))
    os.chown(home, NOBODY, NOBODY)
    own = build_tree(tmp_path / "submitted", (), right=("correct",))
    with distributed.LocalCluster(n_workers=0, dashboard_address=":0", scheduler_kwargs={"allowed_failures": 0}) \
            as local, distributed.Client(local, set_as_default=False) as client:
        prefix = where_nobody_sees_python(tmp_path, SPAWNS)
        command = None if prefix is None else [
            *prefix, *AS_NOBODY, sys.executable, "-m", "distributed.cli.dask_worker", local.scheduler_address,
            "--nworkers", "1", "--nthreads", "1", "--local-directory", str(home / "dask"), "--no-dashboard"]
        if command is None:
            pytest.skip(f"uid {NOBODY} cannot start this Python ({sys.executable}) here, even in a mount namespace")
        worker = subprocess.Popen(command, env={**os.environ, "HOME": str(home), "TMPDIR": str(home)}, cwd=home,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            client.wait_for_workers(1, timeout=120)
            assert set(client.run(os.geteuid).values()) == {NOBODY}
            code, report, err = run_batch(own, tmp_path / "dask.json", "--dask", local.scheduler_address,
                                          "--sandbox", SANDBOX, "--no-cache")
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    assert code == 0, err[-3000:]
    assert report["sandbox"] == reference["sandbox"]
    assert by_student(report, own)["correct"] == by_student(reference, tree)["correct"]
