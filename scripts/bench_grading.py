"""Benchmark: ``autograder grade`` against ``nbgrader autograde`` on the same submissions.

    python scripts/bench_grading.py            # 10 submissions, about 10 minutes here
    python scripts/bench_grading.py --quick    # 2 submissions, about 3 minutes (a smoke run)
    python scripts/bench_grading.py -n 6 --repeat 1 --no-single
    python scripts/bench_grading.py --baseline 44bff7f   # this autograder against an earlier revision's

What is graded
    The same N submissions for every grader (default 10): the example students
    (examples/students: ada, ben, cleo, dev), then fixture submissions
    (tests/fixtures/submissions, each built with BOTH notebooks; the notebook
    the fixture does not touch is the instructor's). ``timeout.py`` is never
    used: it sits in a cell for the whole 60 s cell limit and measures nothing
    but that limit. Everything lives in one temporary folder, removed at the end.

What is measured, and why
    1. Per-submission time of each grader (the headline, median over submissions):
       autograder: ``duration_s`` of the JSON report, ``--jobs 1`` (one submission
       at a time, as nbgrader does), ``--no-cache``, median of ``--repeat`` runs;
       nbgrader: from timestamped log lines of ``nbgrader autograde pytorch_vfa``
       over all students (from a student's "Creating/updating student" line to
       the next one's), ``--nbgrader-repeat`` runs (default 1: it is the slow part).
       Both exclude the one-off start of the grading process; the ratio
       nbgrader / autograder is the speed-up (target: at least 5x). The spread of
       one submission between two autograder runs is printed as the noise floor.
    2. Batch wall time (start-up included) divided by N, for nbgrader and for
       autograder with ``--jobs 1`` and ``--jobs 2``, ``--sandbox bwrap`` and
       ``--sandbox process``. The machine has 2 (shared) cores, so jobs 2 is the
       most a batch can gain from parallelism here.
    3. The cost of the sandbox: the same batch with ``--sandbox bwrap`` and
       ``--sandbox process``, run alternately ``--repeat`` times; per submission
       (median over the repeats) the difference, and the difference of batch walls.
       Also a lone zygote in each mode: start until ready, fork a worker and run
       one cell, close; and what a fresh worker pays for its first
       ``torch.optim.SGD`` (torch imports ``torch._dynamo`` then, ~800 modules).
    4. Start-up costs, each measured on its own: ``python -c "import torch"``;
       the imports a zygote preloads; the grader process's imports; nbgrader's
       imports and its process start (launch to first log line); the zygote wait
       of a batch's first submission (later ones are prefetched); an
       ``nbgrader autograde`` of a one-cell notebook (process + kernel start, the
       fixed cost nbgrader pays per run and per notebook).
    5. Where a submission's time goes (mean over submissions, so parts add up).
       autograder: an instrumented run of the real grading code in a separate
       process (``grade_batch``, ``--jobs 1``, bwrap when available), timed by
       the engine's own phases (``autograder.timing``): waiting for the zygote,
       notebook execution (``NotebookSession.start``), probes answered by the
       worker, the grader's own side of the checks (reference, comparison,
       diagnosis), reading the notebooks and plumbing, zygote close; per check
       (its "check <name>" phase): its time and its probes. nbgrader: the log phases and the
       per-cell timestamps nbclient records in the autograded notebooks: kernel
       start, the setup cell (imports torch & co.), the solution cells, the test
       cells (since the hidden tests call ``run_checks``, the SAME checks run in
       the kernel: the per-check table sets them side by side), after the last
       cell (kernel stop, grades saved, notebook written), the rest (sanitising,
       gradebook).
    6. Latency of grading ONE submission from the command line (start-up
       included), for each grader (skipped by ``--quick`` and ``--no-single``):
       what a student waits for when each submission is graded on its own.

With ``--baseline REV`` it measures one thing only: the autograder of this
checkout against the autograder of the git revision REV, on the same
submissions, ``--jobs 1 --no-cache``, alternating (ABAB...) ``--repeat``
times. REV is checked out in a temporary git worktree and installed, as its
own ``make setup`` would (editable), in a temporary environment whose
dependencies are this one's. It prints per-submission ``duration_s``
(median over the repeats) side by side, and the ratio of the medians.

Every subprocess has a timeout and runs in its own session; on a timeout, an
error or Ctrl-C its whole process tree is killed, and the temporary folder is
removed. Timings on a small shared machine are noisy: the load average is printed
with the results, and medians are used throughout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.build_submissions import build, notebooks_of, read_edits  # noqa: E402

ASSIGNMENT = "pytorch_vfa"
NOTEBOOKS = notebooks_of(ASSIGNMENT)
ONECELL = "bench_onecell"
EXAMPLES = ROOT / "examples" / "students" / ASSIGNMENT
FIXTURES = ROOT / "tests" / "fixtures" / "submissions" / ASSIGNMENT
# Both notebooks among the first six; then the rest of the fixtures, alphabetically.
PREFERRED_FIXTURES = ("td-error-as-loss", "wrong-dtype", "no-divergence", "grad-accumulation",
                      "sarsa-uses-max", "error")
NEVER = {"timeout"}  # spends the whole 60 s cell limit: measures the limit, not the grader
TARGET_SPEEDUP = 5.0


class BenchError(RuntimeError):
    pass


# --- processes ------------------------------------------------------------------------

def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, session id), from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        table[int(entry)] = (int(fields[1]), int(fields[3]))
    return table


def _tree(root: int) -> list[int]:
    """``root``'s descendants, and every process of its session (it was started in a new one)."""
    table = _proc_table()
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        for child, (parent, _) in table.items():
            if parent == pid and child not in found:
                found.add(child)
                todo.append(child)
    found |= {pid for pid, (_, session) in table.items() if session == root}
    found.discard(os.getpid())
    return sorted(found)


def kill_tree(pid: int) -> None:
    """Kill ``pid`` and every process it left, its own new sessions' included (:func:`_tree`)."""
    victims = _tree(pid)
    for target in [pid, *victims]:
        try:
            os.kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def run(cmd: list[str], *, cwd: Path, env: dict, timeout: float, what: str) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``cmd``; return (process, wall seconds, launch time.time()). Raise on failure."""
    launched = time.time()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        out, err = proc.communicate()
        raise BenchError(f"{what}: no result within {timeout:.0f} s (killed)\n{err[-3000:]}") from None
    except BaseException:
        kill_tree(proc.pid)
        proc.wait()
        raise
    wall = time.perf_counter() - started
    leftovers = _tree(proc.pid)
    if leftovers:  # nothing of ours may outlive its command
        kill_tree(proc.pid)
    done = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    if proc.returncode != 0:
        raise BenchError(f"{what}: exit status {proc.returncode}\n--- stdout\n{out[-2000:]}\n--- stderr\n{err[-3000:]}")
    return done, wall, launched


def environment() -> dict:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")  # as the Makefile: one torch thread on small shared machines
    env.pop("PYTHONSTARTUP", None)
    # as an activated venv: nbgrader runs its own tools (alembic) by name
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def tool(name: str) -> list[str]:
    script = Path(sys.executable).with_name(name)
    if script.exists():
        return [str(script)]
    found = shutil.which(name)
    if not found:
        raise BenchError(f"{name} is not installed (activate the venv: . .venv/bin/activate)")
    return [found]


# --- submissions and the nbgrader course -----------------------------------------------

def pick_submissions(count: int) -> list[Path]:
    examples = sorted(EXAMPLES.glob("*.py"))
    fixtures = {p.stem: p for p in sorted(FIXTURES.glob("*.py")) if p.stem not in NEVER}
    ordered = [*examples, *(fixtures.pop(n) for n in PREFERRED_FIXTURES if n in fixtures), *fixtures.values()]
    if count > len(ordered):
        raise BenchError(f"only {len(ordered)} submissions are available, {count} asked for")
    return ordered[:count]


def build_submissions(edit_files: list[Path], dest: Path) -> list[str]:
    students = []
    for path in edit_files:
        edits = read_edits(path)
        edits.notebooks = NOTEBOOKS  # both notebooks, the untouched one as the instructor's
        build(edits, dest)
        students.append(edits.name)
    return students


def make_course(root: Path, submitted: Path, onecell_student: str, env: dict) -> None:
    root.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(ROOT / "source" / ASSIGNMENT, root / "source" / ASSIGNMENT)
    for folder in ("assignments", "solutions"):  # the course's plug-ins and reference, for the in-kernel checks
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    onecell = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("pass")])
    (root / "source" / ONECELL).mkdir(parents=True)
    nbformat.write(onecell, str(root / "source" / ONECELL / "onecell.ipynb"))
    shutil.copytree(submitted, root / "submitted")
    (root / "submitted" / onecell_student / ONECELL).mkdir(parents=True)
    nbformat.write(onecell, str(root / "submitted" / onecell_student / ONECELL / "onecell.ipynb"))
    for assignment in (ASSIGNMENT, ONECELL):
        run([*tool("nbgrader"), "generate_assignment", assignment, "--force"], cwd=root, env=env, timeout=240,
            what=f"nbgrader generate_assignment {assignment}")


# --- nbgrader ---------------------------------------------------------------------------

LOG_FORMAT = "%(created).3f [%(name)s | %(levelname)s] %(message)s"
_LOG_LINE = re.compile(r"^(\d+\.\d+) \[\w+ \| \w+\] (.*)$")


def nbgrader_autograde(course: Path, env: dict, assignment: str, timeout: float, student: str | None = None,
                       force: bool = False) -> dict:
    """One ``nbgrader autograde`` run, its log parsed into timed phases."""
    cmd = [*tool("nbgrader"), "autograde", assignment, f"--Application.log_format={LOG_FORMAT}"]
    cmd += [f"--student={student}"] if student else []
    cmd += ["--force"] if force else []
    done, wall, launched = run(cmd, cwd=course, env=env, timeout=timeout, what=f"nbgrader autograde {assignment}")
    ended = launched + wall
    events = [(float(m.group(1)), m.group(2)) for m in map(_LOG_LINE.match, (done.stdout + done.stderr).splitlines())
              if m]
    events.sort(key=lambda e: e[0])
    if not events:
        raise BenchError("nbgrader wrote no timestamped log lines")
    students: dict[str, dict] = {}
    current, executing = None, None
    for stamp, message in events:
        if m := re.match(r"Creating/updating student with ID '([^']+)'", message):
            current = students.setdefault(m.group(1), {"start": stamp, "notebooks": {}})
        elif current is None:
            continue
        elif m := re.match(r"Sanitizing .*/([^/]+)\.ipynb$", message):
            current["notebooks"].setdefault(m.group(1), {})["sanitize"] = stamp
        elif m := re.match(r"Autograding (.*/([^/]+)\.ipynb)$", message):
            executing = current["notebooks"].setdefault(m.group(2), {})
            executing.update(execute=stamp, path=m.group(1))
        elif message.startswith("Writing") and executing is not None:
            executing["written"] = stamp
            executing = None
    names = list(students)
    for i, name in enumerate(names):
        students[name]["end"] = students[names[i + 1]]["start"] if i + 1 < len(names) else ended
    return {"wall": wall, "launched": launched, "ended": ended, "first_log": events[0][0],
            "students": students}


_RUN_CHECKS = re.compile(r"""run_checks\(\s*["']([\w.]+)["']""")


def _iso(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def nbgrader_breakdown(student: dict) -> dict:
    """Split one student's nbgrader time with the per-cell timestamps of the autograded notebooks."""
    parts = {"kernel start": 0.0, "imports (setup cell)": 0.0, "notebook execution": 0.0, "checks (test cells)": 0.0,
             "kernel stop + write": 0.0}
    check_cells: dict[str, float] = {}
    for notebook in student["notebooks"].values():
        if "written" not in notebook:
            continue
        nb = nbformat.read(notebook["path"], as_version=4)
        cells = [c for c in nb.cells if c.cell_type == "code" and "execution" in c.metadata
                 and "iopub.execute_input" in c.metadata.execution and "shell.execute_reply" in c.metadata.execution]
        if not cells:
            continue
        parts["kernel start"] += _iso(cells[0].metadata.execution["iopub.execute_input"]) - notebook["execute"]
        parts["kernel stop + write"] += notebook["written"] - _iso(cells[-1].metadata.execution["shell.execute_reply"])
        for i, cell in enumerate(cells):
            took = _iso(cell.metadata.execution["shell.execute_reply"]) - _iso(cell.metadata.execution["iopub.execute_input"])
            grading = cell.metadata.get("nbgrader", {})
            if i == 0:
                parts["imports (setup cell)"] += took
            elif grading.get("grade") and not grading.get("solution"):
                parts["checks (test cells)"] += took
                for selector in _RUN_CHECKS.findall(cell.source):
                    check_cells[selector] = check_cells.get(selector, 0.0) + took
            else:
                parts["notebook execution"] += took
    total = student["end"] - student["start"]
    parts["sanitise, gradebook, between cells"] = total - sum(parts.values())
    parts["total"] = total
    parts["notebooks"] = sum("written" in nb for nb in student["notebooks"].values())
    parts["check cells"] = check_cells
    return parts


# --- autograder -------------------------------------------------------------------------

def autograder_batch(submitted: Path, tmp: Path, env: dict, jobs: int, sandbox: str, timeout: float,
                     python: str = sys.executable, course: list[str] | None = None) -> dict:
    """One ``autograder grade`` batch of ``python``'s engine (``course``: how it is told the course)."""
    course = ["--course-root", str(ROOT), "--assignment", ASSIGNMENT] if course is None else course
    cmd = [python, "-m", "autograder", "grade", str(submitted), "--format", "json", "--no-cache",
           "--jobs", str(jobs), "--sandbox", sandbox, *course]
    done, wall, _ = run(cmd, cwd=tmp, env=env, timeout=timeout,
                        what=f"autograder grade --jobs {jobs} --sandbox {sandbox}")
    report = json.loads(done.stdout)
    return {"wall": wall, "jobs": jobs, "sandbox": sandbox,
            "durations": {s["student"]: s["duration_s"] for s in report["submissions"]},
            "scores": {s["student"]: s["score"] for s in report["submissions"]},
            "status": {s["student"]: s["status"] for s in report["submissions"]}}


# Runs in its own process: the real grading code, timed by the engine's own hooks (autograder.timing).
DRIVER = r'''
import json, statistics, sys, time
from pathlib import Path

from autograder import grading, timing
from autograder.course import find_course
from autograder.submission import find_submissions
from autograder.worker import client

submitted, sandbox, zygote_repeats, out, root, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], \
    sys.argv[6], sys.argv[7]
modes = sys.argv[5].split(",")
assignment = find_course(Path(root)).assignment(name)
clock = time.perf_counter


FIRST_OPTIMIZER = """import sys, time, torch
started = time.perf_counter()
torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
print(f"{time.perf_counter() - started:.6f} {'torch._dynamo' in sys.modules}", file=sys.stderr)
"""


def lone_zygote(mode):
    t0 = clock(); host = client.ZygoteHost(assignment.worker_code(), mode); host.wait_ready(); t1 = clock()
    ready = t1 - t0; zygote = host.zygote(); fork = clock() - t1; t1 = clock()
    session = client.NotebookSession(zygote, [{"index": 0, "id": None, "source": "pass"}], 10.0)
    session.start(); t2 = clock()
    status = [cell.status for cell in session.reports]
    session.close()
    # What a worker pays on its first torch.optim use (torch imports torch._dynamo then), unless the zygote did.
    optimizer = client.NotebookSession(zygote, [{"index": 0, "id": None, "source": FIRST_OPTIMIZER}], 30.0)
    optimizer.start()
    report = optimizer.reports[0]
    optimizer.close()
    t3 = clock(); zygote.close(); t4 = clock()
    host.close()
    if status != ["ok"] or report.status != "ok":
        raise SystemExit(f"a lone zygote ({mode}) could not run a short cell: {status} {report}")
    took, dynamo = report.stderr.split()
    return {"ready": ready, "fork zygote": fork, "first cell": t2 - t1, "close": t4 - t3,
            "first optimizer": float(took)}


zygotes = {mode: [] for mode in modes}
for _ in range(zygote_repeats):
    for mode in modes:
        zygotes[mode].append(lone_zygote(mode))

records, current, finished = [], None, []  # finished: (name, start, end) of phases not yet inside an outer one
LABELS = {"zygote wait": "zygote wait", "teardown": "teardown", "notebook execution": "notebook execution",
          "probes (worker)": "probes (worker)"}
SHARED = ("notebook execution", "zygote wait")  # paid by whichever check first runs a notebook: not its own time


def on_phase(name, started, ended):
    """Exclusive time per phase: a phase's time minus the phases that ran inside it; per check
    (the engine's "check <name>" phases), its time less the notebook's start, and its probes."""
    global current
    if current is None:
        current = {"checks": {}, "t0": started}
    inner = [(n, s, e) for n, s, e in finished if s >= started and e <= ended]
    for interval in inner:
        finished.remove(interval)
    finished.append((name, started, ended))
    if name == "submission":
        current["submission_total"] = ended - started
    if name in LABELS:
        current[LABELS[name]] = current.get(LABELS[name], 0.0) + (ended - started) - sum(e - s for _, s, e in inner)
    if name.startswith("check "):
        took = (ended - started) - sum(e - s for n, s, e in inner if n in SHARED)
        probes = sum(e - s for n, s, e in inner if n == "probes (worker)")
        current["checks"][name.removeprefix("check ")] = {"time": took, "probes": probes}
        current["in tests"] = current.get("in tests", 0.0) + took


timing.listen(on_phase)


options = grading.Options(assignment, sandbox=sandbox, device="cpu")
submissions = find_submissions([Path(submitted)], assignment)
started = clock()
for result in grading.grade_batch(submissions, options, 1):
    record = current
    record["total"] = record.pop("submission_total", None) or result.duration_s
    record.update(student=result.student, duration_s=result.duration_s, status=result.status, score=result.score,
                  graded_checks=len(result.checks), error=result.error)
    records.append(record)
    current, finished = None, []
Path(out).write_text(json.dumps({"zygotes": zygotes, "records": records, "batch": clock() - started}))
'''

IMPORTS = {
    'python -c "import torch"': "import torch",
    "zygote preload (torch, gymnasium, matplotlib.pyplot)":
        "import torch, gymnasium, matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot",
    "grader process imports (torch, pytest, autograder.grading)": "import torch, pytest, autograder.grading",
    "nbgrader process imports (nbgrader.apps)": "import nbgrader.apps",
}


def import_costs(tmp: Path, env: dict, repeats: int) -> dict[str, float]:
    costs = {}
    for label, code in IMPORTS.items():
        walls = [run([sys.executable, "-c", code], cwd=tmp, env=env, timeout=120, what=label)[1]
                 for _ in range(repeats)]
        costs[label] = statistics.median(walls)
    costs["python -c pass (interpreter alone)"] = statistics.median(
        run([sys.executable, "-c", "pass"], cwd=tmp, env=env, timeout=60, what="python")[1] for _ in range(repeats))
    return costs


def code_fingerprint() -> str:
    """A hash of what the graders run (autograder/, assignments/, solutions/, source/, the nbgrader config): a
    change in the middle of a run (someone editing the checkout) would mix two versions."""
    import hashlib

    digest = hashlib.sha256()
    for top in ("autograder", "assignments", "solutions", "source"):
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".ipynb"):
                digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    digest.update((ROOT / "nbgrader_config.py").read_bytes())
    return digest.hexdigest()[:12]


# --- against an earlier revision -----------------------------------------------------------

def baseline_python(rev: str, tmp: Path, env: dict) -> tuple[str, Path]:
    """REV checked out in a git worktree and installed as its ``make setup`` would (editable), in an
    environment without packages of its own (this one's, through a .pth file); its Python and worktree."""
    tree = tmp / f"baseline-{rev}"
    run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev], cwd=ROOT, env=env, timeout=120,
        what=f"git worktree add {rev}")
    venv = tmp / "baseline-venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp, env=env, timeout=120, what="venv")
    python = str(venv / "bin" / "python")
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp, env=env,
               timeout=60, what="site-packages")[0].stdout.strip()
    import sysconfig

    Path(site, "bench-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-build-isolation",
         "-e", str(tree)], cwd=tmp, env=env, timeout=300, what=f"pip install -e the worktree of {rev}")
    return python, tree


def remove_worktree(tree: Path, env: dict) -> None:
    try:
        run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], cwd=ROOT, env=env, timeout=120,
            what="git worktree remove")
    except BenchError as exc:
        print(f"bench_grading: {exc}", file=sys.stderr)


def compare_with_baseline(args, tmp: Path, env: dict, students: list[str], mode: str, timeout: float, step) -> str:
    """This autograder against REV's, alternating, on the same submissions; the report's text."""
    python, tree = baseline_python(args.baseline, tmp, env)
    # The baseline's environment sees this one's packages, this engine's pytest plugin among them: its pytest
    # loads pytest-timeout alone, as it would in an environment of its own.
    baseline_env = {**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTEST_PLUGINS": "pytest_timeout"}
    try:
        runs: dict[str, list[dict]] = {"baseline": [], "current": []}
        for i in range(args.repeat or 3):
            for who in (("baseline", "current") if i % 2 == 0 else ("current", "baseline")):
                step(f"autograder of {args.baseline if who == 'baseline' else 'this checkout'} "
                     f"(run {i + 1}/{args.repeat or 3})")
                if who == "baseline":
                    batch = autograder_batch(tmp / "submitted", tmp, baseline_env, 1, mode, timeout, python=python,
                                             course=[])
                else:
                    batch = autograder_batch(tmp / "submitted", tmp, env, 1, mode, timeout)
                not_graded = [st for st, status in batch["status"].items() if status != "graded"]
                if not_graded:
                    raise BenchError(f"the {who} autograder did not grade {not_graded}")
                runs[who].append(batch)
    finally:
        remove_worktree(tree, env)
    per = {who: {st: med(r["durations"][st] for r in results) for st in students} for who, results in runs.items()}
    scores = {who: runs[who][0]["scores"] for who in runs}
    rows = [[st, s(per["baseline"][st]), s(per["current"][st]), f"{per['current'][st] / per['baseline'][st]:.2f}",
             f"{scores['baseline'][st]:g} / {scores['current'][st]:g}"] for st in students]
    medians = {who: med(per[who].values()) for who in per}
    ratio = medians["current"] / medians["baseline"]
    rows.append(["MEDIAN", s(medians["baseline"]), s(medians["current"]), f"{ratio:.2f}", ""])
    walls = {who: med(r["wall"] for r in runs[who]) for who in runs}
    load = os.getloadavg()
    return "\n".join([
        f"bench_grading --baseline {args.baseline}: {len(students)} submissions, --jobs 1 --no-cache --sandbox {mode}, "
        f"{len(runs['current'])} alternating runs each; {os.cpu_count()} cores, load {load[0]:.2f}",
        table(["submission", f"{args.baseline} (s)", "this checkout (s)", "ratio", "score (before / now)"], rows),
        f"per-submission median: {medians['baseline']:.2f} s -> {medians['current']:.2f} s ({100 * (ratio - 1):+.1f}%)",
        f"batch wall (median): {walls['baseline']:.1f} s -> {walls['current']:.1f} s", ""])


# --- report -----------------------------------------------------------------------------

def med(values) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def mean(values) -> float:
    values = list(values)
    return statistics.fmean(values) if values else float("nan")


def table(header: list[str], rows: list[list], align: str | None = None) -> str:
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    align = align or "l" + "r" * (len(header) - 1)
    fmt = lambda row: "  ".join(c.ljust(w) if a == "l" else c.rjust(w)  # noqa: E731
                                for c, w, a in zip(row, widths, align)).rstrip()
    return "\n".join([fmt(cells[0]), fmt(["-" * w for w in widths]), *map(fmt, cells[1:])])


def s(value: float, digits: int = 2) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"


def x(value: float) -> str:
    return "n/a" if value != value else f"{value:.1f}x"


def report(args, students, results) -> str:
    n = len(students)
    out = []
    load = os.getloadavg()
    out.append(f"bench_grading: {n} submissions ({', '.join(students)})")
    out.append(f"machine: {os.cpu_count()} cores, load average (1 min) {results['load_start']:.2f} at the start, "
               f"{load[0]:.2f} at the end; "
               f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '1 (set for subprocesses)')}; "
               f"python {sys.version.split()[0]}; total benchmark time {results['elapsed']:.0f} s")
    code = results["code"]
    out.append(f"code graded: {code[0]}" + ("" if code[0] == code[1] else
               f" -> {code[1]}: WARNING, the checkout changed during the run; the results mix versions"))
    ag = results["autograder"]
    nb_runs = results["nbgrader"]
    nb_parts = [b for run_ in nb_runs for b in run_["breakdown"].values()]  # every student of every run
    nb_wall = med(r["wall"] for r in nb_runs)
    nb_startup = med(r["first_log"] - r["launched"] for r in nb_runs)
    modes = list(ag["jobs1"])
    main_mode = modes[0]
    runs = len(ag["jobs1"][main_mode])
    per = {mode: {st: med(run_["durations"][st] for run_ in ag["jobs1"][mode]) for st in students} for mode in modes}
    nb_per = {st: med(r["students"][st]["end"] - r["students"][st]["start"] for r in nb_runs) for st in students}
    ag_fixed = med(r["wall"] - sum(r["durations"].values()) for r in ag["jobs1"][main_mode])

    out.append(f"\n== 1. Per-submission grading time (s; autograder: duration_s, --jobs 1 --no-cache, median of "
               f"{runs} run(s); nbgrader: from its log, median of {len(nb_runs)} run(s)) ==")
    header = ["submission", "nbgrader", *(f"ag {m}" for m in modes)]
    if len(modes) == 2:
        header.append("sandbox cost")
    header.append(f"speed-up vs ag {main_mode}")
    rows = []
    for st in students:
        row = [st, s(nb_per[st]), *(s(per[m][st]) for m in modes)]
        if len(modes) == 2:
            row.append(f"{per[modes[0]][st] - per[modes[1]][st]:+.2f}")
        row.append(x(nb_per[st] / per[main_mode][st]))
        rows.append(row)
    medians = {m: med(per[m].values()) for m in modes}
    nb_median = med(nb_per.values())
    row = ["MEDIAN", s(nb_median), *(s(medians[m]) for m in modes)]
    if len(modes) == 2:
        row.append(f"{med(per[modes[0]][st] - per[modes[1]][st] for st in students):+.2f}")
    row.append(x(nb_median / medians[main_mode]))
    rows.append(row)
    out.append(table(header, rows))
    speedup = nb_median / medians[main_mode]
    out.append(f"speed-up, median per submission: {speedup:.1f}x  (target >= {TARGET_SPEEDUP:g}x: "
               f"{'MET' if speedup >= TARGET_SPEEDUP else 'NOT MET'})")
    if runs > 1:
        noise = [abs(r1["durations"][st] - r0["durations"][st])
                 for mode in modes for r0, r1 in zip(ag["jobs1"][mode], ag["jobs1"][mode][1:]) for st in students]
        out.append(f"noise floor: the same submission, same mode, two runs apart: median |difference| "
                   f"{med(noise):.2f} s, max {max(noise):.2f} s")
    scores = ag["jobs1"][main_mode][0]
    bad = [st for st in students if scores["status"][st] != "graded"]
    out.append(f"autograder scores ({main_mode}): " + ", ".join(f"{st} {scores['scores'][st]:g}" for st in students)
               + (f"; NOT GRADED: {', '.join(bad)}" if bad else ""))

    out.append("\n== 2. Batch wall time, start-up included (s) ==")
    rows = [["nbgrader autograde (sequential)", str(len(nb_runs)), s(nb_wall), s(nb_wall / n), "1.0x"]]
    for mode in modes:
        walls = [r["wall"] for r in ag["jobs1"][mode]]
        rows.append([f"autograder --jobs 1 --sandbox {mode}", str(len(walls)), s(med(walls)), s(med(walls) / n),
                     x(nb_wall / med(walls))])
    for jobs, run_ in ag.get("jobsN", {}).items():
        rows.append([f"autograder --jobs {jobs} --sandbox {main_mode}", "1", s(run_["wall"]), s(run_["wall"] / n),
                     x(nb_wall / run_["wall"])])
    out.append(table(["run", "runs", "wall (median)", "per submission", "speed-up vs nbgrader"], rows))
    for jobs, run_ in ag.get("jobsN", {}).items():
        one = med(r["wall"] for r in ag["jobs1"][main_mode])
        out.append(f"--jobs {jobs} vs --jobs 1 ({main_mode}): batch {one:.1f} s -> {run_['wall']:.1f} s "
                   f"({one / run_['wall']:.2f}x); per-submission duration_s median "
                   f"{medians[main_mode]:.2f} -> {med(run_['durations'].values()):.2f} s "
                   f"({jobs} submissions at once on {os.cpu_count()} cores)")

    z = results["driver"]["zygotes"]
    if len(modes) == 2:
        out.append("\n== 3. Cost of the sandbox (bwrap vs process, --jobs 1) ==")
        diff = [per[modes[0]][st] - per[modes[1]][st] for st in students]
        w0 = med(r["wall"] for r in ag["jobs1"][modes[0]])
        w1 = med(r["wall"] for r in ag["jobs1"][modes[1]])
        out.append(f"per submission (duration_s): bwrap {medians[modes[0]]:.2f} s, process {medians[modes[1]]:.2f} s, "
                   f"difference median {med(diff):+.2f} s, mean {mean(diff):+.2f} s "
                   f"({100 * med(diff) / medians[modes[1]]:+.0f}% of process)")
        out.append(f"per submission (batch wall / {n}): bwrap {w0 / n:.2f} s, process {w1 / n:.2f} s, "
                   f"difference {(w0 - w1) / n:+.2f} s")
    rows = [[mode, *(s(med(r[k] for r in z[mode]), 3)
                     for k in ("ready", "fork zygote", "first cell", "close", "first optimizer"))] for mode in z]
    out.append(f"a lone host and zygote (median of {len(next(iter(z.values())))}; s):")
    out.append(table(["sandbox", "host start until ready", "fork a submission's zygote", "fork + run one cell",
                      "close", "worker's first torch.optim.SGD"], rows))
    out.append("In a batch one warm host per grading process forks each submission's zygote (in bwrap mode, in "
               "namespaces of its own): only the first submission waits for the host.")

    out.append("\n== 4. Start-up costs (s, median) ==")
    rows = [[label, s(value)] for label, value in results["imports"].items()]
    for mode in z:
        rows.append([f"worker host start until ready, --sandbox {mode}", s(med(r["ready"] for r in z[mode]))])
    records = results["driver"]["records"]
    rows.append([f"zygote wait of the first submission of a batch ({results['driver_mode']})",
                 s(records[0].get("zygote wait", 0.0))])
    rows.append([f"autograder CLI fixed cost per batch (wall - sum duration_s, jobs 1, {main_mode})", s(ag_fixed)])
    rows.append(["nbgrader autograde: launch -> first log line", s(nb_startup)])
    one = results["onecell"]
    onecell_nb = next(iter(next(iter(one["students"].values()))["notebooks"].values()))
    rows.append(["nbgrader autograde of a one-cell notebook: whole run", s(one["wall"])])
    rows.append(["nbgrader, one-cell notebook: execute phase (kernel start, run, stop)",
                 s(onecell_nb["written"] - onecell_nb["execute"])])
    rows.append(["nbgrader, kernel start per notebook (first cell - 'Autograding' line)",
                 s(med(b["kernel start"] / max(1, b["notebooks"]) for b in nb_parts))])
    out.append(table(["what", "seconds"], rows, "lr"))

    out.append(f"\n== 5. Where a submission's time goes (s, mean over submissions; autograder: instrumented run, "
               f"{results['driver_mode']}) ==")

    def nb_mean(key: str) -> float:
        return mean(b[key] for b in nb_parts)

    parts = {
        "start-up (nbgrader: kernel start + setup cell; autograder: zygote wait)": (
            nb_mean("kernel start") + nb_mean("imports (setup cell)"), mean(r.get("zygote wait", 0.0) for r in records)),
        "notebook execution": (nb_mean("notebook execution"), mean(r.get("notebook execution", 0.0) for r in records)),
        "checks (nbgrader: test cells; autograder: probes + grader side)": (
            nb_mean("checks (test cells)"), mean(r.get("in tests", 0.0) for r in records)),
        "  of which autograder probes answered by the worker": (
            float("nan"), mean(r.get("probes (worker)", 0.0) for r in records)),
        "  of which autograder grader side (reference, compare, diagnose)": (
            float("nan"), mean(_grader_side(r) for r in records)),
        "after the last cell (nbgrader: kernel stop, grades saved, write; autograder: zygote close)": (
            nb_mean("kernel stop + write"), mean(r.get("teardown", 0.0) for r in records)),
        "other (nbgrader: sanitise, gradebook; autograder: reading the notebooks, plumbing)": (
            nb_mean("sanitise, gradebook, between cells"), mean(_rest(r) for r in records)),
        "total per submission": (nb_mean("total"), mean(r["total"] for r in records)),
        "batch start-up, amortised per submission": (nb_startup / n, ag_fixed / n),
    }
    out.append(table(["part", "nbgrader", "autograder"], [[k, s(a), s(b)] for k, (a, b) in parts.items()], "lrr"))
    out.append(f"nbgrader's setup cells alone (import torch, gymnasium, ...): {nb_mean('imports (setup cell)'):.2f} s "
               "per submission (two notebooks); the autograder's workers fork from a zygote that imported them.")
    checks: dict[str, list[dict]] = {}
    for r in records:
        for name, took in r["checks"].items():
            checks.setdefault(name, []).append(took)
    in_kernel: dict[str, list[float]] = {}
    for b in nb_parts:
        for name, took in b["check cells"].items():
            in_kernel.setdefault(name, []).append(took)
    slow = sorted(checks.items(), key=lambda kv: -mean(c["time"] for c in kv[1]))[:args.top]
    out.append("\nslowest checks (s, mean over submissions; autograder: notebook execution excluded; "
               "nbgrader: the hidden test cell that runs the same check in the kernel):")
    rows = [[name, s(mean(c["time"] for c in v)), s(mean(c["probes"] for c in v)),
             s(mean(in_kernel.get(name, [])))] for name, v in slow]
    rows.append([f"all {len(checks)} checks", s(mean(sum(c["time"] for c in r["checks"].values()) for r in records)),
                 s(mean(sum(c["probes"] for c in r["checks"].values()) for r in records)),
                 s(mean(sum(b["check cells"].values()) for b in nb_parts))])
    out.append(table(["check", "autograder", "of which worker probes", "nbgrader test cell"], rows))

    if "single" in results:
        sg = results["single"]
        out.append(f"\n== 6. Latency of grading one submission ({sg['student']}) from the command line "
                   "(start-up included, s) ==")
        rows = [["nbgrader autograde --student", s(sg["nbgrader"]), "1.0x"],
                [f"autograder grade (--sandbox {main_mode})", s(sg["autograder"]), x(sg["nbgrader"] / sg["autograder"])]]
        out.append(table(["command", "wall", "speed-up"], rows))
    return "\n".join(out) + "\n"


def _grader_side(record: dict) -> float:
    """The grader's own share of the checks: time inside the tests, less the worker's probes."""
    return record.get("in tests", 0.0) - record.get("probes (worker)", 0.0)


def _rest(record: dict) -> float:
    """Reading the notebooks and everything outside the checks and the named parts."""
    named = ("zygote wait", "notebook execution", "in tests", "teardown")
    return record["total"] - sum(record.get(k, 0.0) for k in named)


# --- main -------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--submissions", type=int, default=None,
                        help="how many submissions (default 10; --quick: 2)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="autograder --jobs 1 runs per sandbox mode, alternating (default 2; --quick: 1)")
    parser.add_argument("--jobs", type=int, nargs="*", default=None,
                        help="extra --jobs values to compare with --jobs 1 (default: 2)")
    parser.add_argument("--nbgrader-repeat", type=int, default=1,
                        help="nbgrader autograde runs over all submissions (default 1: about 13 s a submission)")
    parser.add_argument("--no-single", action="store_true", help="skip the one-submission latency runs")
    parser.add_argument("--top", type=int, default=6, help="slowest checks listed (default 6)")
    parser.add_argument("--quick", action="store_true",
                        help="2 submissions, 1 repeat, no one-submission latency runs (a smoke run)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    parser.add_argument("--baseline", metavar="REV", help="only compare this autograder with the one of the git "
                        "revision REV, side by side (see the module docstring)")
    args = parser.parse_args(argv)
    n = args.submissions or (2 if args.quick else 10)
    repeat = args.repeat or (1 if args.quick else 2)
    jobs = [2] if args.jobs is None else [j for j in args.jobs if j > 1]
    single = not (args.quick or args.no_single)
    if n < 1 or repeat < 1 or args.nbgrader_repeat < 1:
        parser.error("--submissions, --repeat and --nbgrader-repeat must be at least 1")

    from autograder.worker.sandbox import bwrap_available  # light: no torch

    modes = ["bwrap", "process"] if bwrap_available() else ["process"]
    if len(modes) == 1:
        print("bench_grading: bubblewrap is not usable here: no sandbox comparison", file=sys.stderr)
    # A plain kill (SIGTERM) unwinds like Ctrl-C: the running command's process tree is killed and
    # the temporary folder removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    env = environment()
    os.environ.setdefault("OMP_NUM_THREADS", env["OMP_NUM_THREADS"])
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    code_start = code_fingerprint()
    tmp = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    ag_timeout = 120 + 45 * n
    nb_timeout = 180 + 90 * n

    def step(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f}s] {text}", file=sys.stderr, flush=True)

    try:
        step(f"building {n} submissions in {tmp}")
        students = build_submissions(pick_submissions(n), tmp / "submitted")
        if args.baseline:
            sys.stdout.write(compare_with_baseline(args, tmp, env, students, modes[0], ag_timeout, step))
            return 0
        step("building the nbgrader course (generate_assignment)")
        make_course(tmp / "course", tmp / "submitted", students[0], env)
        results: dict = {"autograder": {"jobs1": {m: [] for m in modes}, "jobsN": {}}, "load_start": load_start}

        step("start-up costs: imports")
        results["imports"] = import_costs(tmp, env, repeats=1 if args.quick else 3)

        step(f"autograder, instrumented run ({modes[0]}) and lone zygotes")
        driver = tmp / "ag_timing_driver.py"
        driver.write_text(DRIVER)
        timing = tmp / "ag_timing.json"
        run([sys.executable, str(driver), str(tmp / "submitted"), modes[0], "3", str(timing), ",".join(modes),
             str(ROOT), ASSIGNMENT],
            cwd=tmp, env=env, timeout=ag_timeout + 120, what="instrumented autograder run")
        results["driver"] = json.loads(timing.read_text())
        broken = {r["student"]: r["error"] for r in results["driver"]["records"] if not r["graded_checks"] or not r["checks"]}
        if broken:
            raise BenchError(f"the instrumented autograder run graded no checks: {broken}")
        results["driver_mode"] = modes[0]

        # Alternate the modes (ABAB...) and put nbgrader in between: drift in the machine's load
        # then hits every contender alike.
        results["nbgrader"] = []
        for i in range(max(repeat, args.nbgrader_repeat)):
            order = modes if i % 2 == 0 else modes[::-1]
            for mode in order if i < repeat else []:
                step(f"autograder --jobs 1 --sandbox {mode} (run {i + 1}/{repeat})")
                results["autograder"]["jobs1"][mode].append(
                    autograder_batch(tmp / "submitted", tmp, env, 1, mode, ag_timeout))
            if i < args.nbgrader_repeat:
                step(f"nbgrader autograde {ASSIGNMENT}: {n} students (run {i + 1}/{args.nbgrader_repeat}; the slow part)")
                graded = nbgrader_autograde(tmp / "course", env, ASSIGNMENT, nb_timeout, force=i > 0)
                missing = [st for st in students if st not in graded["students"]]
                if missing:
                    raise BenchError(f"nbgrader did not grade {missing}")
                # now: the next run overwrites the autograded notebooks, whose cell timings this reads
                graded["breakdown"] = {st: nbgrader_breakdown(graded["students"][st]) for st in students}
                results["nbgrader"].append(graded)
        for j in jobs:
            step(f"autograder --jobs {j} --sandbox {modes[0]}")
            results["autograder"]["jobsN"][j] = autograder_batch(tmp / "submitted", tmp, env, j, modes[0], ag_timeout)

        step("nbgrader autograde of a one-cell notebook")
        results["onecell"] = nbgrader_autograde(tmp / "course", env, ONECELL, 300, student=students[0])

        if single:
            step(f"one submission from the command line: {students[0]}")
            one = tmp / "single"
            one.mkdir()
            shutil.copytree(tmp / "submitted" / students[0], one / students[0])
            ag_wall = autograder_batch(one, tmp, env, 1, modes[0], ag_timeout)["wall"]
            nb_wall = nbgrader_autograde(tmp / "course", env, ASSIGNMENT, nb_timeout, student=students[0],
                                         force=True)["wall"]
            results["single"] = {"student": students[0], "autograder": ag_wall, "nbgrader": nb_wall}
        results["elapsed"] = time.perf_counter() - started
        results["code"] = (code_start, code_fingerprint())
        step("done")
        sys.stdout.write(report(args, students, results))
        return 0
    except BenchError as exc:
        print(f"bench_grading: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"bench_grading: kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
