"""The source notebooks of every assignment follow the authoring rules of their spec."""

from __future__ import annotations

import ast
import inspect
import re

import gymnasium as gym
import nbformat
import numpy as np
import pytest
import torch

import solutions.pytorch_vfa as solutions
from autograder.checks.registry import all_checks, points_by_group
from autograder.notebooks import EXPERIMENT_ID_PREFIX, experiment_cell_ids, graded_cell_ids
from tests.course import COURSE
from tests.notebooks.nbgrader_course import ASSIGNMENT_NOTEBOOKS, ASSIGNMENTS, REPO, notebooks_of, source_notebook

#: The contract of each assignment's spec: the points of each group, and its student API by score
#: group. Every name has its own solution cell `<stem>-solution`, visible tests `<stem>-tests` and
#: one hidden test cell `<stem>-hidden-tests` that runs the grader's check of it; the stem is the
#: kebab-case name unless STEMS says otherwise.
SPEC_POINTS = {
    "pytorch_vfa": {"tensors": 15, "networks": 15, "autograd": 10, "td0": 20, "q": 20, "baird": 20},
    "policy_gradient": {"policy": 20, "returns": 15, "reinforce": 35, "baseline": 30},
}
API = {
    "pytorch_vfa": {
        "tensors": ["tensor_from_data", "column", "columns_concatenated", "columns_stacked",
                    "move_first_axis_last", "drop_singleton_axes", "add_axis", "flat_view",
                    "select_device"],
        "networks": ["NeuralNetwork", "predict_class", "ValueFunction"],
        "autograd": ["logistic_gradients", "train_step", "predict_no_grad"],
        "td0": ["td_target", "semi_gradient_td0_update", "run_td0"],
        "q": ["q_values", "epsilon_greedy", "semi_gradient_sarsa_update",
              "semi_gradient_q_learning_update", "run_sarsa"],
        "baird": ["baird_features", "baird_semi_gradient", "baird_expected_td", "run_baird_td"],
    },
    "policy_gradient": {
        "policy": ["SoftmaxPolicy", "action_probabilities", "log_probs", "sample_action"],
        "returns": ["discounted_returns"],
        "reinforce": ["reinforce_loss", "reinforce_update", "run_reinforce"],
        "baseline": ["reinforce_baseline_update", "run_reinforce_baseline"],
    },
}
STEMS = {"NeuralNetwork": "neural-network", "ValueFunction": "value-function",
         "semi_gradient_td0_update": "td0-update", "semi_gradient_sarsa_update": "sarsa-update",
         "semi_gradient_q_learning_update": "q-learning-update", "SoftmaxPolicy": "softmax-policy"}
RUNNERS = {  # cell id -> (function, parameters): the contract of scripts/bench_td_loops.py
    "td0-vectorised-runner": ("td0_vectorised",
                              ["envs", "v", "optimizer", "n_steps", "gamma", "seed"]),
    "sarsa-vectorised-runner": ("sarsa_vectorised",
                                ["envs", "q", "optimizer", "n_steps", "gamma", "epsilon", "seed"]),
}
EACH_ASSIGNMENT = pytest.mark.parametrize("assignment", ASSIGNMENTS)
EACH_NOTEBOOK = pytest.mark.parametrize("assignment, name", ASSIGNMENT_NOTEBOOKS,
                                        ids=[f"{a}/{n}" for a, n in ASSIGNMENT_NOTEBOOKS])


HIDDEN_REGION = re.compile(r"### BEGIN HIDDEN TESTS\n(.*)### END HIDDEN TESTS", re.S)
HIDDEN_TEST = 'from autograder.in_kernel import run_checks\nrun_checks("{check}", globals())\n'


def stem(name: str) -> str:
    return STEMS.get(name, name.replace("_", "-"))


def all_cells(assignment: str):
    return [cell for name in notebooks_of(assignment) for cell in source_notebook(name, assignment).cells]


def nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@EACH_NOTEBOOK
def test_notebooks_are_nbformat_4_5_with_unique_ids(assignment, name):
    notebook = source_notebook(name, assignment)
    assert (notebook.nbformat, notebook.nbformat_minor) == (4, 5)
    ids = [cell.id for cell in notebook.cells]
    assert len(ids) == len(set(ids))
    for cell in notebook.cells:  # nbgrader finds cells by grade_id, the grader by cell id: keep them one
        if nbgrader(cell):
            assert nbgrader(cell)["grade_id"] == cell.id


@EACH_ASSIGNMENT
def test_every_api_name_has_a_solution_cell_with_its_signature_outside_the_solution(assignment):
    cells = {cell.id: cell for cell in all_cells(assignment)}
    for names in API[assignment].values():
        for name in names:
            cell = cells[f"{stem(name)}-solution"]
            assert nbgrader(cell).get("solution") is True
            outside = cell.source.split("### BEGIN SOLUTION")[0]
            keyword = "class" if name[0].isupper() else "def"
            assert f"{keyword} {name}(" in outside


@EACH_ASSIGNMENT
def test_the_checks_points_are_the_specs(assignment):
    """Points are declared once, by the checks (``@check(points=...)``); a part's are their sum."""
    assert points_by_group(COURSE.assignment(assignment)) == SPEC_POINTS[assignment]


@EACH_ASSIGNMENT
def test_hidden_test_points_per_group_match_the_spec(assignment):
    points = {}
    for cell in all_cells(assignment):
        if not nbgrader(cell).get("points"):
            continue  # not a grade cell, or a visible test worth 0
        assert cell.id.endswith("-hidden-tests") and nbgrader(cell)["locked"]
        assert "### BEGIN HIDDEN TESTS" in cell.source
        group = next(group for group, names in API[assignment].items()
                     if any(cell.id == f"{stem(name)}-hidden-tests" for name in names))
        points[group] = points.get(group, 0) + nbgrader(cell)["points"]
    assert points == SPEC_POINTS[assignment]


@EACH_ASSIGNMENT
def test_every_check_has_one_hidden_test_cell_that_runs_it_for_its_points(assignment):
    """A hidden test cell is `run_checks("<check>", globals())` as its last
    expression, in the notebook of the check's part, worth the check's points:
    nbgrader and `autograder grade` run the same checks."""
    plugin = COURSE.assignment(assignment)
    hidden = {}
    for name in notebooks_of(assignment):
        for cell in source_notebook(name, assignment).cells:
            if nbgrader(cell).get("grade") and nbgrader(cell).get("points"):
                hidden[cell.id] = (name, cell)
    for meta, _ in all_checks(plugin):
        cell_id = f"{stem(meta.function)}-hidden-tests"
        notebook, cell = hidden.pop(cell_id)
        assert f"{notebook}.ipynb" == plugin.part(meta.group).notebook
        assert nbgrader(cell)["points"] == meta.points
        assert HIDDEN_REGION.search(cell.source).group(1) == HIDDEN_TEST.format(check=meta.name)
        last = ast.parse(cell.source).body[-1]  # the score is the cell's result: nbgrader's partial credit
        assert isinstance(last, ast.Expr) and ast.unparse(last) == f"run_checks('{meta.name}', globals())"
    assert not hidden, f"hidden test cells of no check: {sorted(hidden)}"


@EACH_ASSIGNMENT
def test_every_api_name_has_visible_tests_worth_no_points(assignment):
    """Visible tests are read-only grade cells of 0 points: nbgrader's Validate
    reports their failures, and they add nothing to a part's total."""
    cells = {cell.id: cell for cell in all_cells(assignment)}
    for names in API[assignment].values():
        for name in names:
            cell = cells[f"{stem(name)}-tests"]
            assert nbgrader(cell) == {"grade": True, "grade_id": cell.id, "locked": True,
                                      "points": 0, "schema_version": 3, "solution": False}
            assert "assert" in cell.source and "HIDDEN" not in cell.source


SELF_CHECK_IMPORT = "from selfcheck import check"


@EACH_ASSIGNMENT
def test_every_visible_test_cell_first_runs_the_self_check_of_its_function(assignment):
    """The self-check comes first: it names the mistake even where a visible assert below it fails."""
    cells = {cell.id: cell for cell in all_cells(assignment)}
    calls: dict[str, list[str]] = {}
    for meta, _ in all_checks(COURSE.assignment(assignment)):
        calls.setdefault(f"{stem(meta.function)}-tests", []).append(f'check("{meta.name}", globals())')
    for cell_id, expected in calls.items():
        lines = cells[cell_id].source.splitlines()
        assert lines[0].startswith(SELF_CHECK_IMPORT) and lines[1:1 + len(expected)] == expected, cell_id
    assert not [c.id for c in cells.values() if SELF_CHECK_IMPORT in c.source and c.id not in calls]


@EACH_NOTEBOOK
def test_experiment_cells_are_found_by_id_and_are_not_graded(assignment, name):
    path = REPO / "source" / assignment / f"{name}.ipynb"
    ids = experiment_cell_ids(path)
    assert ids, "every notebook has experiments"
    assert ids == {cell.id for cell in source_notebook(name, assignment).cells
                   if cell.id.startswith(EXPERIMENT_ID_PREFIX)}
    assert not ids & graded_cell_ids(path)


def test_experiment_ids_come_from_ids_not_tags(tmp_path):
    notebook = source_notebook("pytorch_basics")
    for cell in notebook.cells:  # tags a student could add or remove must not matter
        cell.metadata["tags"] = ["experiment"] if not cell.id.startswith("experiment-") else []
    path = tmp_path / "tagged.ipynb"
    nbformat.write(notebook, path)
    assert experiment_cell_ids(path) == {"experiment-classifier-training"}


def test_an_experiment_cell_that_is_graded_is_an_authoring_error(tmp_path):
    notebook = source_notebook("pytorch_basics")
    cell = next(cell for cell in notebook.cells if cell.id == "column-hidden-tests")
    cell.id = "experiment-column"
    path = tmp_path / "broken.ipynb"
    nbformat.write(notebook, path)
    with pytest.raises(ValueError, match="experiment-column.*grade cell"):
        experiment_cell_ids(path)


@pytest.mark.parametrize("cell_id", sorted(RUNNERS))
def test_vectorised_runner_cells_keep_their_contract(cell_id):
    cell = next(cell for cell in source_notebook("value_approximation").cells if cell.id == cell_id)
    assert nbgrader(cell).get("locked") is True and not nbgrader(cell).get("grade")
    function, parameters = RUNNERS[cell_id]
    definitions = {node.name: node for node in ast.parse(cell.source).body
                   if isinstance(node, ast.FunctionDef)}
    assert [arg.arg for arg in definitions[function].args.args] == parameters


def test_runner_cells_run_on_their_own_with_the_reference():
    """scripts/bench_td_loops.py executes each runner cell alone in a namespace of
    the reference's names: the cells must not need anything else of the notebook."""
    cells = {cell.id: cell for cell in source_notebook("value_approximation").cells}
    for cell_id, (function, _) in RUNNERS.items():
        namespace = {name: getattr(solutions, name) for name in solutions.__all__}
        exec(compile(cells[cell_id].source, cell_id, "exec"), namespace)
        envs = gym.make_vec("CartPole-v1", num_envs=4, vectorization_mode="sync",
                            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
        input_size = 4 if function == "td0_vectorised" else 5
        torch.manual_seed(0)
        net = solutions.ValueFunction(input_size, 8)
        optimizer = torch.optim.SGD(net.parameters(), lr=1e-3)
        kwargs = {"epsilon": 0.1} if function == "sarsa_vectorised" else {}
        result = namespace[function](envs, net, optimizer, 60, gamma=0.95, seed=0, **kwargs)
        assert isinstance(result, list) and all(isinstance(x, float) for x in result)
        assert np.isfinite(result).all()
        if function == "td0_vectorised":
            assert len(result) == 60
        else:
            assert result and all(x >= 1 for x in result)  # 240 transitions end a few episodes
        assert list(inspect.signature(namespace[function]).parameters) == RUNNERS[cell_id][1]
