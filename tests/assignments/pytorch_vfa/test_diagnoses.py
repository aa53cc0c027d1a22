"""Every known mistake is named, costs points only where it belongs, and reads
well; correct code written in other styles gets full marks.

All fixture submissions are graded in one batch (as a grader would), once.
"""

from __future__ import annotations

import pytest

from autograder.feedback import DIAGNOSES
from tests.assignments.fixtures import INSTRUCTOR, assert_class_summary_ranks_every_code_with_what_to_reteach, \
    assert_loses_points_only_where_its_mistake_is, covered_codes, fixtures_of, grade_fixtures, leaked_reference, \
    same_feedback, series_of
from tests.course import PYTORCH_VFA

FIXTURES = fixtures_of(PYTORCH_VFA)
SPEC_CODES = ["missing", "not-implemented", "error", "timeout", "wrong-shape", "wrong-dtype", "wrong-device",
              "copy-not-view", "activation-on-output", "grad-accumulation", "graph-recorded",
              "target-not-detached", "td-error-as-loss", "terminal-bootstrap", "truncation-as-termination",
              "double-step", "sign-flipped", "sarsa-uses-max", "q-learning-uses-next-action", "no-exploration",
              "always-random", "no-importance-ratio", "wrong-features", "no-divergence", "tampering"]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    return grade_fixtures(PYTORCH_VFA, tmp_path_factory.mktemp("fixtures") / "submitted")


def test_every_spec_code_is_explained():
    assert set(SPEC_CODES) <= set(DIAGNOSES) | set(PYTORCH_VFA.diagnoses)


def test_every_diagnosis_code_has_a_fixture_except_tampering():
    assert set(SPEC_CODES) - covered_codes(PYTORCH_VFA) == {"tampering"}  # tampering: the adversarial suite


def test_the_instructor_notebooks_get_full_marks(report):
    s = report[INSTRUCTOR]
    assert s["score"] == 100.0, [c["feedback"] for c in s["checks"] if c["status"] != "passed"]


def test_the_untouched_release_scores_zero_without_a_crash(report):
    s = report["untouched"]
    assert (s["status"], s["score"]) == ("graded", 0.0)
    assert {c["diagnosis"] for c in s["checks"]} == {"not-implemented"}


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_fixture_gets_its_diagnosis_and_loses_points_only_there(report, fixture):
    assert_loses_points_only_where_its_mistake_is(report[fixture.name], fixture, PYTORCH_VFA)


# The feedback a student reads, whole (default seed: these inputs are reproducible). Part 1's inputs are drawn
# from the seed (the self-check's public cases share none), hence the matrices of digits.
WHOLE_FEEDBACK = {
    ("copy-not-view", "tensors.flat_view"): (
        "tensors.flat_view (0/2 points): failed\n"
        "Called: flat_view(torch.tensor([[2, 9, 3], [3, 3, 8], [8, 4, 5]]))\n"
        "Expected vs got: whether the result shares the input's storage: expected True, got False\n"
        "Likely mistake [copy-not-view]: your result copies the data instead of sharing memory with the input "
        "(`torch.from_numpy`, `.view` share; `torch.tensor`, `.clone`, `.flatten()` of a copy do not).\n"
        "Where to look: the cell that defines `flat_view` in pytorch_basics.ipynb, Part 1 (tensors)"),
    ("missing", "tensors.column"): (
        "tensors.column (0/1 points): missing\n"
        "Called: column(torch.tensor([[2, 6, 8], [2, 5, 7], [3, 7, 6]]), 1)\n"
        "Got: the name is not defined\n"
        "Likely mistake [missing]: `column` is not defined in your notebook: was its cell deleted, renamed or "
        "never run?\n"
        "Where to look: the cell that defines `column` in pytorch_basics.ipynb, Part 1 (tensors)"),
    ("td-error-as-loss", "td0.update"): (
        "td0.update (0/10 points): failed\n"
        "Called: semi_gradient_td0_update(v, SGD(lr=0.1), state=torch.tensor([1.346, 0.9164, 1.413, 1.029]), "
        "reward=1.0, next_state=torch.tensor([0.09095, -1.656, 0.388, 0.5568]), terminated=False, gamma=0.9) "
        "on one transition\n"
        "Expected vs got: the change of the network's weights (item 0): largest error 0.0323191 at index (5, 2): "
        "expected 0.0105772, got 0.0428963\n"
        "Likely mistake [td-error-as-loss]: the loss is the TD error itself, not its square: minimising δ pushes "
        "v̂(S) up regardless of the target. Use ½·δ² (with the target detached).\n"
        "Where to look: the cell that defines `semi_gradient_td0_update` in value_approximation.ipynb, Part 4 "
        "(semi-gradient TD(0) prediction)"),
    ("style-td0-own-draws", "td0.run"): (
        "td0.run (3/6 points): partial\n"
        "Called: run_td0(CartPole-v1 truncated at 20 steps, a seeded 4→16→16→1 network, SGD(lr=0.01), "
        "n_steps=150, gamma=0.95, seed=7242)\n"
        "Expected vs got: the network's weights after the run (item 0): largest error 0.353456 at index (13, 3): "
        "expected 0.0560886, got -0.297368\n"
        "Where to look: the cell that defines `run_td0` in value_approximation.ipynb, Part 4 (semi-gradient TD(0) "
        "prediction)\n"
        "Your run learns what TD(0) must: on a 5-state random walk (Sutton & Barto's Example 6.2, 3000 steps) its "
        "values are within 0.032 (RMS) of the true ones i/6 (limit 0.1). But it does not replay the spec's random "
        "draws: env.reset(seed=seed) and env.action_space.seed with that same seed, once at the start, then one "
        "env.action_space.sample() per step and env.reset() with no seed after each episode. Half the points are "
        "for learning; the other half is for following those draws."),
    ("style-sarsa-own-draws", "q.run_sarsa"): (
        "q.run_sarsa (2/4 points): partial\n"
        "Called: run_sarsa(CartPole-v1 truncated at 15 steps, a seeded 5→16→16→1 network, SGD(lr=0.01), "
        "n_steps=150, gamma=0.95, epsilon=0.2, seed=9241)\n"
        "Expected vs got: the network's weights after the run (item 0): largest error 0.177551 at index (8, 3): "
        "expected 0.271523, got 0.0939728\n"
        "Where to look: the cell that defines `run_sarsa` in value_approximation.ipynb, Part 5 (action values)\n"
        "Your run learns what SARSA must: on a 5-state random walk that ends in -1 on the left and +1 on the right "
        "(1500 steps, epsilon=0.1), its last 50 episodes returned 1.00 on average (a random policy gets about 0; "
        "the bar is 0.6). But it does not replay the spec's random draws: one np.random.default_rng(seed), made "
        "once, as the only source of random actions (through epsilon_greedy), and env.reset(seed=seed) once at "
        "the start, env.reset() with no seed after each episode. Half the points are for learning; the other half "
        "is for following those draws."),
    ("action-before-state", "q.q_learning_update"): (
        "q.q_learning_update (4/4 points): passed\n"
        "`semi_gradient_q_learning_update` is right, given your `q_values` (which is marked wrong in "
        "q.values): its mistake is counted once, there."),
    ("nan-target", "td0.target"): (
        "td0.target (0/4 points): failed\n"
        "Called: td_target(1.0, torch.tensor(-1.082), False, 0.9)\n"
        "Expected vs got: the result: holds NaN or inf: expected 0.0258879, got nan\n"
        "Where to look: the cell that defines `td_target` in value_approximation.ipynb, Part 4 "
        "(semi-gradient TD(0) prediction)"),
    ("nan-target", "q.run_sarsa"): (
        "q.run_sarsa (4/4 points): passed\n"
        "`run_sarsa` is right, given your `semi_gradient_sarsa_update` (right given your `td_target`, which "
        "is marked wrong in td0.target): its mistake is counted once, there."),
    ("nothing-update", "td0.update"): (
        "td0.update (0/10 points): failed\n"
        "Called: semi_gradient_td0_update(v, SGD(lr=0.1), state=torch.tensor([1.346, 0.9164, 1.413, 1.029]), "
        "reward=1.0, next_state=torch.tensor([0.09095, -1.656, 0.388, 0.5568]), terminated=False, gamma=0.9) "
        "on one transition\n"
        "Expected vs got: the change of the network's weights (item 0): largest error 0.0105772 at index (5, "
        "2): expected 0.0105772, got 0\n"
        "Where to look: the cell that defines `semi_gradient_td0_update` in value_approximation.ipynb, Part "
        "4 (semi-gradient TD(0) prediction)"),
    ("zeros-gradient", "baird.run_td"): (
        "baird.run_td (5/5 points): passed\n"
        "`run_baird_td` is right, given your `baird_semi_gradient` (which is marked wrong in "
        "baird.semi_gradient): its mistake is counted once, there."),
    ("timeout", "tensors.drop_singleton_axes"): (
        "tensors.drop_singleton_axes (0/1 points): timeout\n"
        "Called: drop_singleton_axes(torch.tensor([[[[[-0.0922, 1.275]], [[1.014, -0.01524]]]], [[[[-0.1664, 0.7327]], "
        "[[-0.481, 0.1347]]]]]))\n"
        "Got: no answer before the time limit\n"
        "Likely mistake [timeout]: `drop_singleton_axes` did not finish within 2 s: look for an infinite loop or "
        "far too much work.\n"
        "Where to look: the cell that defines `drop_singleton_axes` in pytorch_basics.ipynb, Part 1 (tensors)\n"
        "Its limit was 2 s: a case may take 50 times what the reference takes on it, at least 2 s and at most 5 s, "
        "so that a function that never returns costs seconds, not minutes."),
}


@pytest.mark.parametrize("student, check", [("truncation-as-termination", "td0.run"),
                                            ("terminal-update-skipped", "q.run_sarsa")])
def test_a_known_mistake_in_a_run_gets_no_behavioural_credit(report, student, check):
    result = {c["name"]: c for c in report[student]["checks"]}[check]
    assert result["diagnosis"] == student and result["score"] == 0
    assert "does not replay" not in result["feedback"]


@pytest.mark.parametrize("student, check", sorted(WHOLE_FEEDBACK), ids=["/".join(k) for k in sorted(WHOLE_FEEDBACK)])
def test_feedback_reads_whole(report, student, check):
    checks = {c["name"]: c for c in report[student]["checks"]}
    got, expected = checks[check]["feedback"], WHOLE_FEEDBACK[student, check]
    assert same_feedback(got, expected), f"got:\n{got}\nexpected:\n{expected}"


def test_feedback_texts_are_compared_digit_for_digit_but_the_last():
    text = WHOLE_FEEDBACK["style-sarsa-own-draws", "q.run_sarsa"]
    assert same_feedback(text.replace("0.0939728", "0.0939727"), text)  # another CPU's float32 rounding
    assert not same_feedback(text.replace("0.0939728", "0.0949728"), text)  # a different answer
    assert not same_feedback(text.replace("(2/4 points)", "(3/4 points)"), text)
    assert not same_feedback(text.replace("seed=9241", "seed=9242"), text)
    assert not same_feedback(text.replace("Half the points", "Half the pints"), text)


def test_feedback_never_shows_the_reference_code(report):
    assert leaked_reference(report, PYTORCH_VFA) == []


def test_the_runs_keep_what_they_measured_for_plots(report):
    expected = {"td0.run": ["td_errors"], "q.run_sarsa": ["episode_returns"], "baird.expected_td": ["sweep_weights"],
                "baird.run_td": ["run_weights"]}
    assert {check: list(series_of(report[INSTRUCTOR], check)) for check in expected} == expected
    own = series_of(report["style-td0-own-draws"], "td0.run")
    assert list(own) == ["td_errors", "random_walk_values"]  # the replay, then the behavioural fallback's walk
    weights = series_of(report["no-divergence"], "baird.run_td")["run_weights"]
    got, reference = weights["curves"]
    assert weights["components"] == [f"w{i}" for i in range(1, 9)]
    assert got["y"][0] == got["y"][-1] == [1, 1, 1, 1, 1, 1, 10, 1]  # it records the book's w0, unchanged
    assert max(map(abs, reference["y"][-1])) > 10 * max(map(abs, reference["y"][0]))  # the book's divergence


def test_the_class_summary_ranks_every_code_with_what_to_reteach(report):
    assert_class_summary_ranks_every_code_with_what_to_reteach(report, PYTORCH_VFA)
