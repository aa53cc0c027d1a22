"""Each assignment's self-check (release/<assignment>/selfcheck/): what its public cases are, what it
tells of each fixture, and that it neither gives nor changes a hidden score."""

from __future__ import annotations

import contextlib
import io
import json
import random
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

from autograder import in_kernel
from autograder.checks.framework import derive_seed
from autograder.checks.registry import all_checks
from autograder.compare import Tolerance, compare
from autograder.feedback import SELF_CHECK_UNTOLD_DIAGNOSIS
from autograder.options import SEED
from autograder.selfcheck import build
from autograder.selfcheck.digest import Digested, revive
from autograder.selfcheck.runtime import DATA_FILE, MACHINE
from autograder.worker import wire
from scripts.build_submissions import Edits
from tests.assignments.fixtures import fixtures_of, reference_lines
from tests.course import COURSE, REPO
from tests.selfchecks import fixture_namespaces, release_selfcheck

ASSIGNMENTS = COURSE.assignments()
EACH_ASSIGNMENT = pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=[a.name for a in ASSIGNMENTS])
#: base seeds of hidden grading the public cases are held against: the default, and others an instructor may pick
MANY_SEEDS = (SEED.default, 0, 1, 2, 3, 7, 42, 1234, 99_999, 2**31 - 1)
#: the runs' numbers differ in their last digits between CPUs (vector units): the data is equal to this
ACROSS_CPUS = Tolerance(1e-4, 1e-6, "float32 runs on another CPU")


def stored(assignment) -> dict:
    """The committed data of an assignment's self-check, decoded."""
    return revive(wire.loads((REPO / "release" / assignment.name / "selfcheck" / DATA_FILE).read_bytes()))


def stored_case(case: dict):
    return build.Case(case["probe"], case["args"], case["call"])


def by_digest(expected) -> bool:
    return isinstance(expected, Digested) or (isinstance(expected, dict) and set(expected) == {MACHINE})


@EACH_ASSIGNMENT
def test_no_public_case_shares_its_inputs_with_a_hidden_one(assignment):
    """Held against hidden grading at many base seeds: a public case stored with its answer never has a
    hidden case's inputs; the ones that do (a function without inputs) hold only digests of theirs."""
    checks = dict((spec.name, (spec, check)) for spec, check in all_checks(assignment))
    shared_by_digest = 0
    for entry in stored(assignment)["checks"]:
        spec, check = checks[entry["name"]]
        hidden = build.hidden_inputs(spec, check, MANY_SEEDS)
        for case in entry["cases"]:
            if build.inputs_digest(stored_case(case)) in hidden:
                assert by_digest(case["expected"]), f"{entry['name']}: {case['call']} is a hidden case's, answered"
                shared_by_digest += 1
    if assignment.name == "pytorch_vfa":  # baird_features() has no inputs: the comparison does see a shared case
        assert shared_by_digest >= 1


@EACH_ASSIGNMENT
def test_every_check_has_public_cases_and_their_answers_are_digests_where_grading_uses_them_too(assignment):
    checks = dict((spec.name, (spec, check)) for spec, check in all_checks(assignment))
    data = stored(assignment)
    assert [e["name"] for e in data["checks"]] == list(checks)
    for entry in data["checks"]:
        spec, check = checks[entry["name"]]
        assert entry["cases"], entry["name"]
        assert entry["seed"] == build.public_seed(spec.name) >= 2**31
        hidden = build.hidden_inputs(spec, check)
        for i, case in enumerate(entry["cases"]):
            digested = by_digest(case["expected"])
            assert digested == (build.inputs_digest(stored_case(case)) in hidden or spec.function == "select_device")
            for mistake in entry["mistakes"]:  # a known mistake's result there is no hint either
                outcome = mistake["outcomes"][i]
                assert outcome["kind"] != "ok" or by_digest(outcome["value"]) == digested


@EACH_ASSIGNMENT
def test_the_committed_self_check_is_what_make_release_writes(assignment, tmp_path):
    """`make release` regenerates source/<assignment>/selfcheck/ (nbgrader copies it into the release:
    tests/notebooks/test_release.py): the code byte for byte, the data to the last digits of a float32 run."""
    build.build(assignment, tmp_path / "selfcheck")
    committed = assignment.source_dir / "selfcheck"
    names = sorted(p.name for p in committed.iterdir() if p.is_file())
    assert names == sorted(p.name for p in (tmp_path / "selfcheck").iterdir()), "run `make release` and commit"
    for name in names:
        if name != DATA_FILE:
            assert (committed / name).read_text() == (tmp_path / "selfcheck" / name).read_text(), (
                f"source/{assignment.name}/selfcheck/{name} is out of date: run `make release` and commit")
    fresh, old = (wire.loads((folder / DATA_FILE).read_bytes()) for folder in (tmp_path / "selfcheck", committed))
    old["made_with"] = fresh["made_with"]  # the versions are checked where they matter: in the kernel
    found = compare(old, fresh, ACROSS_CPUS)
    assert found.ok, f"source/{assignment.name}/selfcheck/{DATA_FILE} is out of date ({found.message}): run `make release`"


@EACH_ASSIGNMENT
def test_the_release_holds_no_line_of_the_reference(assignment):
    """No line of the reference's code (but those its probes have too, a signature or an idiom: the probes
    are the plug-in's, which every worker sees) is in the release's self-check, code or data."""
    folder = REPO / "release" / assignment.name / "selfcheck"
    text = "\n".join(path.read_text() for path in sorted(folder.iterdir()) if path.suffix in (".py", ".json"))
    probes = assignment.probes_file.read_text()
    secret = {line for line in reference_lines(assignment) if line not in probes}
    assert len(secret) > 20 and not [line for line in secret if line in text]


def test_the_data_is_plain_json_with_the_versions_it_was_made_with():
    for assignment in ASSIGNMENTS:
        data = json.loads((REPO / "release" / assignment.name / "selfcheck" / DATA_FILE).read_text())
        assert set(data["made_with"]) == {"torch", "gymnasium"}
        versions = f"torch {data['made_with']['torch']} and gymnasium {data['made_with']['gymnasium']}"
        assert versions in (REPO / "release" / assignment.name / "selfcheck" / "__init__.py").read_text()
        assert versions in " ".join((REPO / "README.md").read_text().split()), "README: the versions it supports"


# --- what it tells of each fixture ------------------------------------------------------------------

FIXTURES = [fixture for assignment in ASSIGNMENTS for fixture in fixtures_of(assignment)]


def self_checks(fixture: Edits, tmp_path: Path) -> dict[str, object]:
    """The self-check's result of every check of the notebooks the fixture edits."""
    assignment = COURSE.assignment(fixture.assignment)
    namespaces = fixture_namespaces(fixture, tmp_path)
    selfcheck = release_selfcheck(assignment.name)
    return {spec.name: selfcheck.check(spec.name, namespaces[assignment.part(spec.group).notebook], quiet=True)
            for spec, _ in all_checks(assignment) if assignment.part(spec.group).notebook in fixture.notebooks}


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f"{f.assignment}:{f.name}" for f in FIXTURES])
def test_the_self_check_tells_what_grading_tells_or_says_it_cannot(fixture, tmp_path):
    """Where grading names a code (the fixture's `expect`), the self-check names it, or says that grading
    looks further than it can offline; where grading finds nothing wrong, the self-check passes, or says
    that grading may find the function right given its callees' mistakes (error carried forward)."""
    data = {e["name"]: e for e in stored(COURSE.assignment(fixture.assignment))["checks"]}
    for name, result in self_checks(fixture, tmp_path).items():
        expected = fixture.expect.get(name)
        if expected is None:
            assert result.status == "passed" or "which the self-check cannot tell offline" in result.feedback, \
                result.feedback
        elif expected in ("partial", "failed"):  # grading names no mistake either
            assert result.status != "passed" and result.codes == [], result.feedback
        elif expected not in result.codes:
            assert data[name]["diagnose"] and result.codes == [], result.feedback
            assert SELF_CHECK_UNTOLD_DIAGNOSIS in result.feedback


def test_what_a_student_sees_for_the_course_notebooks_td_update(tmp_path):
    fixture = next(f for f in FIXTURES if f.name == "td-error-as-loss")
    namespace = fixture_namespaces(fixture, tmp_path)["value_approximation.ipynb"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        release_selfcheck("pytorch_vfa").check("td0.update", namespace)
    from tests.assignments.fixtures import same_feedback

    assert same_feedback(printed.getvalue(), (
        "td0.update (self-check on 4 public cases; hidden tests grade it): failed\n"
        "Called: semi_gradient_td0_update(v, SGD(lr=0.1), state=torch.tensor([-0.9197, 0.3258, 0.004389, 0.2328]), "
        "reward=1.0, next_state=torch.tensor([0.6146, -0.6118, -0.04646, 1.992]), terminated=False, gamma=0.9) "
        "on one transition\n"
        "Expected vs got: the change of the network's weights (item 0): largest error 0.0697716 at index (6, 3): "
        "expected 0, got -0.0697716\n"
        "Likely mistake [td-error-as-loss]: the loss is the TD error itself, not its square: minimising δ pushes "
        "v̂(S) up regardless of the target. Use ½·δ² (with the target detached).\n"
        "Where to look: the cell that defines `semi_gradient_td0_update` in value_approximation.ipynb, Part 4 "
        "(semi-gradient TD(0) prediction)\n")), printed.getvalue()


# --- it gives no points, and changes none -------------------------------------------------------

def hidden_scores(checks: list[str], namespace: dict, assignment: str, before=None) -> dict[str, tuple]:
    """Each check's hidden test cell, as it runs in the student's kernel under nbgrader: score, feedback."""
    found = {}
    for name in checks:
        if before is not None:
            before(name)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            try:
                score = in_kernel.run_checks(name, namespace, assignment=assignment)
            except in_kernel.NoPoints:
                score = 0.0
        found[name] = (score, printed.getvalue())
    return found


def test_the_self_check_changes_no_hidden_score(tmp_path):
    """The visible test cells run in the same kernel as the hidden ones under `nbgrader autograde`:
    with the self-check run before each hidden cell, every score and feedback is the same, and it
    leaves nothing in the hidden checks' per-kernel state."""
    fixture = next(f for f in FIXTURES if f.name == "td-error-as-loss")
    checks = [spec.name for spec, _ in all_checks(COURSE.assignment("pytorch_vfa"))
              if COURSE.assignment("pytorch_vfa").part(spec.group).notebook == "value_approximation.ipynb"]
    selfcheck = release_selfcheck("pytorch_vfa")
    alone = hidden_scores(checks, fixture_namespaces(fixture, tmp_path / "a")["value_approximation.ipynb"],
                          "pytorch_vfa")
    namespace = fixture_namespaces(fixture, tmp_path / "b")["value_approximation.ipynb"]
    selfcheck.check("td0.run", namespace, quiet=True)
    assert id(namespace) not in in_kernel._FINDINGS and id(namespace) not in in_kernel._GRADED
    with_self_checks = hidden_scores(checks, namespace, "pytorch_vfa",
                                     before=lambda name: selfcheck.check(name, namespace, quiet=True))
    assert with_self_checks == alone
    assert alone["td0.update"][0] == 0.0 and alone["td0.target"][0] == 4.0


def test_the_notebooks_random_draws_go_on_as_if_it_had_not_run(tmp_path):
    fixture = next(f for f in FIXTURES if f.name == "style-td0-own-draws")
    namespace = fixture_namespaces(fixture, tmp_path)["value_approximation.ipynb"]

    def draws() -> tuple:
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    for generator in (random.seed, np.random.seed, torch.manual_seed):
        generator(3)
    first = draws()
    for generator in (random.seed, np.random.seed, torch.manual_seed):
        generator(3)
    release_selfcheck("pytorch_vfa").check("td0.run", namespace, quiet=True)
    assert draws() == first


#: how a graded function is called with a public case's arguments, for probes that return its result as it is
CALLS = {
    "call_on_tensor": lambda a: ((a["x"],), {k: v for k, v in a.items() if k not in ("function", "x", "device")}),
    "td_target": lambda a: ((a["reward"], a["next_value"], a["terminated"], a["gamma"]), {}),
    "baird_expected_td": lambda a: ((a["w0"], a["n_sweeps"], a["alpha"], a["gamma"]), {}),
    "discounted_returns": lambda a: ((a["rewards"].tolist() if a["kind"] == "list" else a["rewards"], a["gamma"]),
                                     {}),
}
COPIED = {"pytorch_vfa": ("tensors.column", "tensors.columns_concatenated", "tensors.columns_stacked",
                          "tensors.move_first_axis_last", "tensors.drop_singleton_axes", "tensors.add_axis",
                          "td0.target", "baird.expected_td"),
          "policy_gradient": ("returns.discounted_returns",)}


def arguments(case: dict) -> tuple[tuple, dict]:
    """The arguments the graded function gets on a public case (on the case's device, as the probe puts them)."""
    args, kwargs = CALLS[case["probe"]](wire.plain(case["args"]))
    device = case["args"].get("device", "cpu")
    return tuple(a.to(device) if isinstance(a, torch.Tensor) else a for a in args), kwargs


def same_arguments(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and \
            a.dtype == b.dtype and a.device.type == b.device.type and (a.device.type == "meta" or torch.equal(a, b))
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(same_arguments, a, b))
    return a == b


def copying(entry: dict):
    """A function that answers each public case of a check with its stored answer (and any other call
    with the first one): what a student copying the release's data would write. (A case stored as a
    digest has no answer to copy.)"""
    answers = []
    for case in entry["cases"]:
        if not by_digest(case["expected"]):
            answers.append((*arguments(case), case["expected"].values))

    def copied(*args, **kwargs):
        for known, known_kwargs, answer in answers:
            if same_arguments(list(known), list(args)) and known_kwargs == kwargs:
                return answer.clone()
        return answers[0][2].clone()

    return copied


@EACH_ASSIGNMENT
def test_answers_copied_from_the_public_data_earn_nothing_in_grading(assignment, tmp_path):
    data = {e["name"]: e for e in stored(assignment)["checks"]}
    notebook = assignment.part(data[COPIED[assignment.name][0]]["group"]).notebook
    fixture = Edits("copied", assignment.name, (notebook,))
    namespace = fixture_namespaces(fixture, tmp_path)[notebook]
    for name in COPIED[assignment.name]:
        namespace[data[name]["function"]] = copying(data[name])
    selfcheck = release_selfcheck(assignment.name)
    for name in COPIED[assignment.name]:  # they do give the public answers (all of them, where none is a digest)
        for case in data[name]["cases"]:
            if not by_digest(case["expected"]):
                args, kwargs = arguments(case)
                answer = wire.loads(wire.dumps(namespace[data[name]["function"]](*args, **kwargs)))
                assert compare(answer, case["expected"]).ok, (name, case["call"])
        if not any(by_digest(case["expected"]) for case in data[name]["cases"]):
            assert selfcheck.check(name, namespace, quiet=True).status == "passed", name
    scores = hidden_scores(list(COPIED[assignment.name]), namespace, assignment.name)
    assert {name: score for name, (score, _) in scores.items()} == {name: 0.0 for name in COPIED[assignment.name]}


def test_select_device_is_checked_against_this_machine(tmp_path):
    namespace = fixture_namespaces(Edits("instructor", "pytorch_vfa", ("pytorch_basics.ipynb",)),
                                   tmp_path)["pytorch_basics.ipynb"]
    selfcheck = release_selfcheck("pytorch_vfa")
    always_cpu = {**namespace, "select_device": lambda prefer_cuda=True: torch.device("cpu")}
    for cuda in (False, True):
        with mock.patch.object(torch.cuda, "is_available", lambda: cuda):
            assert selfcheck.check("tensors.select_device", namespace, quiet=True).status == "passed"
            assert (selfcheck.check("tensors.select_device", always_cpu, quiet=True).status == "passed") is not cuda
