"""The sandbox and the guard hold for the second assignment too: attacks on
policy_gradient, graded in one batch beside an honest classmate, in both
sandbox modes.

Each attack is the release notebook with ``discounted_returns`` answered (the
returns group, 15 points, and nothing else) and one attack cell, so what it may
score is known. The engine's own defences (the report, the network, processes,
floods) are the same for every assignment: ``test_sandboxed_batch.py`` covers them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from autograder.worker.sandbox import bwrap_available
from tests.adversarial.attacks import PRELUDE, render
from tests.adversarial.conftest import grade
from tests.course import POLICY_GRADIENT, REPO

HONEST = {"policy": 0.0, "returns": 15.0, "reinforce": 0.0, "baseline": 0.0}
CLASSMATE = "honest-classmate"
GRADED = ("SoftmaxPolicy", "action_probabilities", "log_probs", "sample_action", "reinforce_loss",
          "reinforce_update", "run_reinforce", "reinforce_baseline_update", "run_reinforce_baseline")


@dataclass(frozen=True)
class Attack:
    name: str
    cell: str
    checks: dict[str, str] = field(default_factory=dict)  #: check -> the diagnosis it must get
    process_hole: bool = False  #: gets points with --sandbox process (it switches the guard off first)


TAKE = f"GRADED = {GRADED!r}\n"

ATTACKS = [
    Attack("import-the-reference", TAKE + '''
def take(module_name):
    module = quietly(__import__, module_name, fromlist=["*"])
    if module is not None:
        globals().update({k: getattr(module, k) for k in GRADED if hasattr(module, k)})

take("solutions.policy_gradient")
take("assignments.policy_gradient.mistakes")
for root in ("@REPO@", os.path.dirname(os.path.dirname(sys.modules["autograder"].__file__))):
    quietly(sys.path.insert, 0, root)
take("solutions.policy_gradient")
'''),
    Attack("steal-the-grader", TAKE + '''
def steal():
    texts = {}
    for pattern in ("@REPO@/solutions/policy_gradient/*.py", "@REPO@/assignments/policy_gradient/*.py",
                    "@REPO@/assignments/policy_gradient/checks/*.py"):
        for path in quietly(glob.glob, pattern) or [pattern]:
            texts[path] = quietly(lambda: open(path).read())
            out = quietly(subprocess.run, ["cat", path], capture_output=True, text=True, timeout=10)
            texts[path + ":cat"] = out.stdout if out is not None else None
    scope = {"__name__": "stolen"}
    for path in ("policies", "returns", "reinforce", "baseline"):  # the reference's modules, in order
        for key in (f"@REPO@/solutions/policy_gradient/{path}.py", f"@REPO@/solutions/policy_gradient/{path}.py:cat"):
            text = texts.get(key)
            if text:
                quietly(exec, re.sub(r"from \\.\\w+ import .*", "", text), scope)
    globals().update({k: v for k, v in scope.items() if k in GRADED})

import re
steal()
disable_guard()
steal()
''', process_hole=True),
    Attack("patch-the-corridor", '''
import numpy as np

def run_reinforce(env, policy, optimizer, n_episodes, gamma, seed):
    """Learns nothing: makes the corridor pay well and the policy read as p = 0.5."""
    probes = sys.modules["assignments.policy_gradient.probes"]
    probes.ShortCorridor.step = lambda self, action: (np.ones(1, np.float32), -1.0, True, False, {})
    probes.corridor_p_right = lambda policy: 0.5
    returns = []
    for _ in range(n_episodes):
        env.reset()
        env.episode_returns.append(-1.0)
        returns.append(-1.0)
    return returns
''', checks={"reinforce.run": "tampering"}),
]


def attack_notebook(attack: Attack, facts: dict[str, str]) -> nbformat.NotebookNode:
    """The release with discounted_returns answered, and the attack cell at the end."""
    nb = nbformat.read(POLICY_GRADIENT.release_dir / "policy_gradient.ipynb", as_version=4)
    source = {c.id: c for c in nbformat.read(POLICY_GRADIENT.source_dir / "policy_gradient.ipynb", as_version=4).cells}
    for cell in nb.cells:
        if cell.id == "discounted-returns-solution":
            cell.source = re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION\n", "", source[cell.id].source, flags=re.M)
    nb.cells.append(nbformat.v4.new_code_cell(render(PRELUDE + attack.cell, facts)))
    return nb


MODES = ["bwrap", "process"] if bwrap_available() else ["process"]


@pytest.fixture(scope="module", params=MODES)
def batch(request, tmp_path_factory) -> tuple[str, dict[str, dict]]:
    tmp = tmp_path_factory.mktemp(f"pg-attacks-{request.param}")
    submitted, workdir = tmp / "submitted", tmp / "cwd"
    workdir.mkdir()
    facts = {"MARKER": "pgattack", "TARGETS": repr([str(tmp)]), "REPO": str(REPO)}
    for attack in ATTACKS:
        folder = submitted / attack.name / POLICY_GRADIENT.name
        folder.mkdir(parents=True)
        nbformat.write(attack_notebook(attack, facts), str(folder / "policy_gradient.ipynb"))
    classmate = submitted / CLASSMATE / POLICY_GRADIENT.name
    classmate.mkdir(parents=True)
    nbformat.write(nbformat.read(POLICY_GRADIENT.source_dir / "policy_gradient.ipynb", as_version=4),
                   str(classmate / "policy_gradient.ipynb"))
    run = grade([submitted], request.param, workdir, tmp / "report.json")
    return request.param, {s["student"]: s for s in run.report["submissions"]}


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_an_attack_gains_nothing(batch, attack, request):
    mode, graded = batch
    if mode == "process" and attack.process_hole:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=f"--sandbox process: {attack.name} "
                                                  "switches the guard off and reads the course as the grading user"))
    submission = graded[attack.name]
    assert submission["status"] == "graded", submission["error"]
    assert submission["groups"] == HONEST, json.dumps(submission["groups"])
    for name, diagnosis in attack.checks.items():
        check = next(c for c in submission["checks"] if c["name"] == name)
        assert (check["score"], check["diagnosis"]) == (0.0, diagnosis), check["feedback"]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_the_attack_is_named_as_tampering(batch, attack):
    submission = batch[1][attack.name]
    assert submission["tampering"] or any(c["diagnosis"] == "tampering" for c in submission["checks"]), submission


def test_the_honest_classmate_gets_full_marks(batch):
    submission = batch[1][CLASSMATE]
    assert submission["score"] == 100.0 and not submission["tampering"], submission["error"]
