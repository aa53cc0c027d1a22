"""The Gradescope bundle, run as Gradescope runs it, in a temporary root laid out as its container's.

``autograder gradescope-bundle`` builds the zip; the test unpacks it into
``ROOT/source``, copies ``run_autograder`` to ``ROOT/run_autograder`` and puts a
submission in ``ROOT/submission``, as Gradescope's harness does, and runs it as root
with ``AUTOGRADER_ROOT=ROOT``, in process mode (a container where bubblewrap cannot
run). The root is open to all (``/autograder`` is) until ``run_autograder`` closes
``source/`` and ``results/``. Two submissions: a fixture (a known mistake, its second
notebook uploaded as a browser's copy) and an attack that switches its guard off,
reads the reference from ``ROOT/source`` and rewrites ``results.json``, also from a
daemon. ``setup.sh`` needs the network: it is only checked with ``bash -n``.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from scripts.build_submissions import Edits, build, read_edits
from tests.adversarial.attacks import Attack, notebook
from tests.autograder.test_reports import validate
from tests.course import FIXTURES, PYTORCH_VFA
from tests.unprivileged import NOBODY, SEES_THIS_PYTHON, where_nobody_sees_python

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root, as Gradescope runs it: student code must "
                                 "drop to nobody")

MARKER = "gradescope-attack-marker"
SCRIPTS = ("setup.sh", "run_autograder", "warm_cache")  # the bundle's executables
ATTACK = Attack("read-reference-rewrite-results", "switch the guard off, read the reference from the container's "
                "source/ and run it, write results.json, and leave a daemon rewriting it", '''
disable_guard()
ROOT = "@ROOT@"
perfect = json.dumps({"score": 100.0, "output": "@MARKER@", "tests": []})
stolen, seen = {}, []
for dirpath, dirnames, filenames in os.walk(ROOT):
    for name in filenames:
        path = os.path.join(dirpath, name)
        text = quietly(lambda: open(path).read())
        if text is not None:
            seen.append(path)
        if text and path.endswith(".py") and "solutions" in path:
            scope = {}
            quietly(exec, text, scope)
            stolen.update({k: v for k, v in scope.items() if k in GRADED})
out = quietly(subprocess.run, ["sh", "-c", f"cat {ROOT}/source/course/solutions/*/*.py"], capture_output=True,
              text=True, timeout=10)
if out is not None and out.stdout:
    scope = {}
    quietly(exec, out.stdout, scope)
    stolen.update({k: v for k, v in scope.items() if k in GRADED})
globals().update(stolen)

def rewrite():
    for _ in range(600):
        quietly(lambda: open(os.path.join(ROOT, "results", "results.json"), "w").write(perfect))
        quietly(lambda: open(os.path.join(ROOT, "results", "@MARKER@"), "w").write(perfect))
        quietly(os.chmod, os.path.join(ROOT, "results"), 0o777)
        time.sleep(0.2)

quietly(lambda: open(os.path.join(ROOT, "results", "results.json"), "w").write(perfect))
if os.fork() == 0:
    try:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            rewrite()
    finally:
        os._exit(0)
''')


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    assert main(["gradescope-bundle", "--assignment", PYTORCH_VFA.name, "--course-root", str(PYTORCH_VFA.course_root),
                 "--output", str(path)]) == 0
    return path


def test_the_bundle_holds_what_gradescope_runs_and_one_assignment(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        archive.extractall(tmp_path)
    for script in SCRIPTS:
        assert modes[script] & 0o111, f"{script} is not executable"
        done = subprocess.run(["bash", "-n", str(tmp_path / script)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    setup = (tmp_path / "setup.sh").read_text()
    assert "--index-url https://download.pytorch.org/whl/cpu" in setup and '"torch==' in setup
    pins = (tmp_path / "requirements.txt").read_text().split()
    assert pins and all("==" in pin for pin in pins) and not any(pin.startswith(("torch==", "nvidia")) for pin in pins)
    assert "engine/autograder/cli.py" in names and "engine/pyproject.toml" in names
    course = {Path(n).parts[1] + "/" + Path(n).parts[2] for n in names if n.startswith("course/") and len(Path(n).parts) > 3}
    assert course == {"assignments/pytorch_vfa", "solutions/pytorch_vfa", "source/pytorch_vfa", "release/pytorch_vfa"}


def gradescope_root(bundle: Path, submission: dict[str, nbformat.NotebookNode]) -> Path:
    """A root laid out as Gradescope's container: open to all, as /autograder is."""
    root = Path(tempfile.mkdtemp(prefix="autograder-root-"))
    root.chmod(0o755)
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    for path in (root / "source").rglob("*"):
        path.chmod(0o755 if path.is_dir() or path.name in SCRIPTS else 0o644)
    (root / "source").chmod(0o755)
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir(mode=0o755)
    (root / "results").mkdir(mode=0o755)
    for name, nb in submission.items():
        nbformat.write(nb, str(root / "submission" / name))
    return root


def run_autograder(root: Path, tmp_path: Path) -> tuple[dict, str]:
    """``ROOT/run_autograder`` as Gradescope runs it (as root, from ROOT), in process mode: results.json, its log."""
    prefix = where_nobody_sees_python(tmp_path, SEES_THIS_PYTHON)
    if prefix is None:
        pytest.skip(f"uid {NOBODY} cannot read this Python ({sys.executable}) here, even in a mount namespace: "
                    "student code could not drop root")
    scratch = Path(tempfile.mkdtemp(prefix="autograder-tmp-"))
    scratch.chmod(0o711)  # as /tmp: open to the workers
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable,
           "AUTOGRADER_SANDBOX": "process", "TMPDIR": str(scratch)}
    try:
        done = subprocess.run([*prefix, "bash", str(root / "run_autograder")], cwd=root, env=env, capture_output=True,
                              text=True, timeout=900, stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return validate((root / "results" / "results.json").read_text()), done.stderr


def assert_answers_root_only(root: Path, log: str) -> None:
    """Student code ran as nobody, who could read none of the answers: source/ and results/ are root's."""
    assert "student code runs as nobody)" in log, log[-2000:]
    for folder in ("source", "results"):
        assert stat.S_IMODE((root / folder).stat().st_mode) == 0o700, f"{folder}/ is not root's alone"


def test_a_fixture_submission_gets_tags_visibility_and_its_copy_graded(bundle, tmp_path):
    edits = read_edits(FIXTURES / "pytorch_vfa" / "double-step.py")
    folder = build(edits, tmp_path / "built", notebooks=PYTORCH_VFA.notebooks)
    submission = {"pytorch_basics.ipynb": nbformat.read(folder / "pytorch_basics.ipynb", as_version=4),
                  "value_approximation (1).ipynb": nbformat.read(folder / "value_approximation.ipynb", as_version=4)}
    root = gradescope_root(bundle, submission)
    try:
        data, log = run_autograder(root, tmp_path)
        assert_answers_root_only(root, log)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({k: v for k, v in data.items() if k != "tests"}, indent=1))  # the report's record of the run
    print(json.dumps([{k: t[k] for k in ("number", "name", "score", "max_score", "tags", "visibility")}
                      for t in data["tests"]]))
    tests = {t["name"]: t for t in data["tests"]}
    assert tests["td0.update"]["tags"] == ["double-step"] and tests["td0.update"]["score"] < 10
    assert tests["td0.target"]["status"] == "passed" and tests["networks.neural_network"]["status"] == "passed"
    assert "value_approximation (1).ipynb was graded as value_approximation.ipynb" in data["output"]
    hidden = [t for t in data["tests"] if t["visibility"] != "visible"]
    assert {t["name"] for t in hidden} == {"td0.run", "q.run_sarsa", "baird.run_td"}
    visible_text = json.dumps([t for t in data["tests"] if t["visibility"] == "visible"]) + data["output"]
    assert all(t["output"] not in visible_text for t in hidden)
    assert data["score"] == sum(t["score"] for t in data["tests"])


def test_the_reference_results_computed_at_setup_serve_each_submission(bundle, tmp_path):
    """setup.sh runs warm_cache once: the instructor's notebooks score full marks, and a right
    submission's container then computes none of the reference's results itself; those results,
    the reference's answers, lie where student code (run as nobody) cannot read them."""
    folder = build(Edits("instructor", PYTORCH_VFA.name, PYTORCH_VFA.notebooks), tmp_path / "built")
    root = gradescope_root(bundle, {name: nbformat.read(folder / name, as_version=4) for name in PYTORCH_VFA.notebooks})
    try:
        env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
        done = subprocess.run(["bash", str(root / "source" / "warm_cache")], cwd=root, env=env, capture_output=True,
                              text=True, timeout=900, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        kept = list((root / "source" / "cache").glob("reference-*.jsonl"))
        assert len(kept) == 1 and kept[0].stat().st_size > 0
        before = kept[0].read_bytes()
        data, log = run_autograder(root, tmp_path)
        assert data["score"] == 100.0, data["output"]
        assert kept[0].read_bytes() == before, "the submission's container computed reference results again"
        assert_answers_root_only(root, log)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_an_attack_on_the_container_gains_nothing(bundle, tmp_path):
    root = gradescope_root(bundle, {})
    try:
        facts = {"ROOT": str(root), "MARKER": MARKER, "TARGETS": repr([str(root / "results")]),
                 "REPO": str(root / "source" / "course")}  # the prelude's: where the course lies
        attack = notebook(ATTACK, facts)
        nbformat.write(attack, str(root / "submission" / "pytorch_basics.ipynb"))
        data, log = run_autograder(root, tmp_path)
        written = (root / "results" / "results.json").read_bytes()
        time.sleep(3)  # a daemon that survived would rewrite it now
        after = (root / "results" / "results.json").read_bytes()
        left = sorted(p.name for p in (root / "results").iterdir())
        print(json.dumps({k: v for k, v in data.items() if k != "tests"}, indent=1))
        print(json.dumps({t["name"]: t["score"] for t in data["tests"] if t["score"]}))
        assert data["score"] == 15.0, data["score"]  # TENSORS_OK's Part 1 and nothing else
        assert {t["name"].split(".")[0] for t in data["tests"] if t["score"]} == {"tensors"}
        assert MARKER not in written.decode() and after == written
        assert left == ["results.json"]
        assert_answers_root_only(root, log)
    finally:
        shutil.rmtree(root, ignore_errors=True)
