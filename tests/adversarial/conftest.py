"""Grading a batch of attacks, and watching what it leaves behind.

One batch per sandbox mode: every attack, plus two honest students (a
classmate with the instructor's notebooks, and a student with TENSORS_OK),
graded in ONE ``autograder grade --jobs 2`` run, as a subprocess with its own
cwd, ``TMPDIR`` and ``--output`` inside the test's tmp folder. The honest
students are also graded alone first, to compare. Around the batch: a TCP and
UDP listener on 127.0.0.1, a snapshot of the processes, and afterwards a
search for the files and processes the attacks try to leave (their names and
command lines carry a marker unique to the run).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder.worker.sandbox import UNPRIVILEGED_UID, bwrap_available
from tests.adversarial.attacks import ROOT, Attack, notebook
from tests.autograder.conftest import TENSORS_OK, write_notebook
from tests.course import PYTORCH_VFA

ASSIGNMENT = PYTORCH_VFA.name

TIMEOUT_S = 10  #: --timeout of the batch: what one cell or check may take
GRACE_S = 10.0  #: how long processes get to disappear after the batch
CLASSMATE, HONEST_STUDENT = "honest-classmate", "honest-tensors"

needs_bwrap = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not available here")


class Listener:
    """A TCP and a UDP socket on 127.0.0.1 (same port): what reaches them."""

    def __init__(self) -> None:
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.heard: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        import select

        while not self._stop.is_set():
            ready, _, _ = select.select([self.tcp, self.udp], [], [], 0.2)
            for sock in ready:
                if sock is self.tcp:
                    conn, peer = sock.accept()
                    conn.settimeout(1)
                    try:
                        data = conn.recv(1024)
                    except OSError:
                        data = b""
                    conn.close()
                    self.heard.append(f"tcp from {peer}: {data!r}")
                else:
                    data, peer = sock.recvfrom(1024)
                    self.heard.append(f"udp from {peer}: {data!r}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.tcp.close()
        self.udp.close()


# --- processes ---------------------------------------------------------------------------


def processes() -> dict[int, dict]:
    """Every process: uid, parent, command line, cwd (where readable)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            cwd = ""
        found[int(entry.name)] = {"uid": int(fields["Uid"].split()[0]), "ppid": int(fields["PPid"]),
                                  "state": fields["State"].split()[0], "cmdline": cmdline, "cwd": cwd}
    return found


def leftovers(before: set[int], marker: str, folder: Path) -> dict[int, dict]:
    """Processes started since ``before`` that the batch left: any naming the
    marker or the test's folder, and any orphaned one of the sandbox's user."""
    me = os.getpid()
    found = {}
    for pid, info in processes().items():
        if pid in before or pid == me or info["state"] == "Z":
            continue
        ours = marker in info["cmdline"] or str(folder) in info["cmdline"] or info["cwd"].startswith(str(folder))
        orphan = info["uid"] == UNPRIVILEGED_UID and info["ppid"] in (0, 1)
        if ours or orphan:
            found[pid] = info
    return found


def kill_ours(found: dict[int, dict], marker: str, folder: Path) -> None:
    """Kill only what provably comes from this test: its marker or folder."""
    for pid, info in found.items():
        if marker in info["cmdline"] or str(folder) in info["cmdline"] or info["cwd"].startswith(str(folder)):
            try:
                os.kill(pid, 9)
            except OSError:
                pass


# --- files ---------------------------------------------------------------------------------


def marked_files(marker: str, folders: list[Path], trees: list[Path]) -> list[str]:
    """Files named with the marker: directly in ``folders``, anywhere in ``trees``
    (but virtual environments and .git), and anywhere ``git status`` sees."""
    found = []
    for folder in folders:
        try:
            found += [str(folder / name) for name in os.listdir(folder) if marker in name]
        except OSError:
            pass
    for tree in trees:
        for dirpath, dirnames, filenames in os.walk(tree, onerror=lambda error: None):
            dirnames[:] = [d for d in dirnames if d not in (".venv", ".git")]
            found += [os.path.join(dirpath, n) for n in filenames + dirnames if marker in n]
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    found += [str(ROOT / line[3:]) for line in status.stdout.splitlines() if marker in line]
    return sorted(set(found))


# --- grading ---------------------------------------------------------------------------------


@dataclass
class Run:
    """One ``autograder grade`` run and what it printed."""

    report: dict
    stdout: str
    stderr: str
    seconds: float
    output_bytes: bytes = b""

    def student(self, name: str) -> dict:
        return next(s for s in self.report["submissions"] if s["student"] == name)


def grade(paths: list[Path], mode: str, workdir: Path, output: Path, jobs: int = 2,
          python: Path = Path(sys.executable)) -> Run:
    """``autograder grade PATHS --format json --output OUTPUT`` in ``workdir``, as a subprocess of ``python``."""
    tmpdir = workdir / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    command = [str(python), "-m", "autograder", "grade", *map(str, paths), "--format", "json", "--jobs", str(jobs),
               "--timeout", str(TIMEOUT_S), "--sandbox", mode, "--no-cache", "--output", str(output),
               "--course-root", str(ROOT)]
    started = time.monotonic()
    done = subprocess.run(command, cwd=workdir, env={**os.environ, "TMPDIR": str(tmpdir)}, capture_output=True,
                          text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    data = output.read_bytes()
    return Run(json.loads(data), done.stdout, done.stderr, time.monotonic() - started, data)


@dataclass
class Batch:
    """The attacks' batch and everything observed around it."""

    mode: str
    attacks: list[Attack]
    marker: str
    folder: Path
    run: Run
    alone: dict[str, Run]
    heard: list[str]
    left_processes: dict[int, dict]
    left_files: list[str]
    output_after: bytes = b""  #: the report file, read after the grace period

    def student(self, name: str) -> dict:
        return self.run.student(name)


def build_batch(tmp: Path, mode: str, attacks: list[Attack], python: Path = Path(sys.executable)) -> Batch:
    """The attacks and the honest students graded in one batch by ``python``'s engine (an editable
    checkout's, or a non-editable install's), the honest ones alone first."""
    marker = f"advmark{secrets.token_hex(4)}"
    batch, workdir, outdir = tmp / "submitted", tmp / "cwd", tmp / "out"
    for folder in (batch, workdir, outdir):
        folder.mkdir(parents=True)
    output = outdir / "report.json"
    classmate = batch / CLASSMATE / ASSIGNMENT
    classmate.mkdir(parents=True)
    for name in PYTORCH_VFA.notebooks:
        shutil.copy(PYTORCH_VFA.source_dir / name, classmate / name)
    write_notebook(batch / HONEST_STUDENT / ASSIGNMENT / "pytorch_basics.ipynb", [TENSORS_OK])

    shared = [Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")]
    if mode == "bwrap":  # the sandbox must stop these; without it the guard is all there is, so stay in our folder
        shared += [Path("/work"), ROOT, Path.home()]
    targets = [*shared, workdir, outdir, batch, tmp]
    listener = Listener()
    for attack in attacks:
        facts = {"MARKER": marker, "TARGETS": repr([str(t) for t in targets]), "REPO": str(ROOT),
                 "CWD": str(workdir), "OUTPUT": str(output), "OUTDIR": str(outdir), "BATCH": str(batch),
                 "CLASSMATE": str(classmate / "value_approximation.ipynb"), "PORT": str(listener.port),
                 "SELF": attack.name}
        folder = batch / attack.name / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(notebook(attack, facts), str(folder / "pytorch_basics.ipynb"))

    alone = {}
    for student in (CLASSMATE, HONEST_STUDENT):
        solo = tmp / f"alone-{student}"
        solo.mkdir()
        alone[student] = grade([batch / student], mode, solo, solo / "report.json", jobs=1, python=python)

    before = set(processes())
    try:
        run = grade([batch], mode, workdir, output, python=python)
        deadline = time.monotonic() + GRACE_S
        while leftovers(before, marker, tmp) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(2)  # a daemon that survived would rewrite the report now
        left = leftovers(before, marker, tmp)
    finally:
        listener.close()
    kill_ours(left, marker, tmp)
    site = [Path(p) for p in sys.path if p and Path(p).is_dir()]
    files = marked_files(marker, [*shared, Path.home(), *site, Path(sys.prefix)], [tmp, Path("/tmp"), ROOT])
    return Batch(mode, attacks, marker, tmp, run, alone, listener.heard, left, files, output.read_bytes())


def remove_marked(files: list[str], marker: str) -> None:
    """Clean up what an attack managed to leave (named with the marker: provably ours)."""
    for name in files:
        path = Path(name)
        if marker in path.name and path.is_file():
            path.unlink()
