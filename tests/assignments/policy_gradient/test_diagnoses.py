"""policy_gradient: every known mistake is named by its code and costs points only
where it is; correct code written in other styles gets full marks; the
instructor notebook gets 100 and the untouched release 0.

All fixture submissions are graded in one batch (as a grader would), once.
"""

from __future__ import annotations

import pytest

from autograder.feedback import DIAGNOSES
from tests.assignments.fixtures import INSTRUCTOR, UNTOUCHED, \
    assert_class_summary_ranks_every_code_with_what_to_reteach, assert_loses_points_only_where_its_mistake_is, \
    covered_codes, fixtures_of, grade_fixtures, leaked_reference, series_of
from tests.course import POLICY_GRADIENT

FIXTURES = fixtures_of(POLICY_GRADIENT)
#: policy-gradient-spec.md's codes: those of assignment-spec.md it keeps, and its new ones
REUSED_CODES = ["missing", "not-implemented", "error", "timeout", "wrong-shape", "wrong-dtype", "wrong-device",
                "activation-on-output", "grad-accumulation", "sign-flipped", "tampering"]
NEW_CODES = ["unstable-log-prob", "returns-not-discounted", "returns-wrong-direction", "episode-return-everywhere",
             "missing-discount-weight", "mean-not-sum", "baseline-not-detached", "no-improvement"]
#: more codes that its known mistakes name
OWN_CODES = ["softmax-wrong-axis", "sampling-boundary", "unpinned-randomness", "greedy-not-sampled",
             "discounted-value-step", "delta-after-value-step"]
STYLES = [f.name for f in FIXTURES if f.name.startswith("style-") and not f.expect]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    # The short corridor's behavioural runs (200 episodes) take 4 to 10 s on 2 busy cores: a --timeout of
    # 5 s cut them short under load. A hang costs its first limit (2 s for a fast reference), not this.
    return grade_fixtures(POLICY_GRADIENT, tmp_path_factory.mktemp("fixtures") / "submitted", timeout=15)


def test_every_code_is_explained():
    assert set(REUSED_CODES + NEW_CODES + OWN_CODES) <= set(DIAGNOSES) | set(POLICY_GRADIENT.diagnoses)


def test_every_code_has_a_fixture_but_tampering():
    assert set(REUSED_CODES + NEW_CODES + OWN_CODES) - covered_codes(POLICY_GRADIENT) == {"tampering"}


def test_correct_code_in_three_styles_at_least():
    assert len(STYLES) >= 3, STYLES


def test_the_instructor_notebook_gets_full_marks(report):
    s = report[INSTRUCTOR]
    assert s["score"] == 100.0, [c["feedback"] for c in s["checks"] if c["status"] != "passed"]
    assert s["groups"] == {"policy": 20.0, "returns": 15.0, "reinforce": 35.0, "baseline": 30.0}


def test_the_untouched_release_scores_zero_without_a_crash(report):
    s = report[UNTOUCHED]
    assert (s["status"], s["score"]) == ("graded", 0.0)
    assert {c["diagnosis"] for c in s["checks"]} == {"not-implemented"}


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_fixture_gets_its_diagnosis_and_loses_points_only_there(report, fixture):
    assert_loses_points_only_where_its_mistake_is(report[fixture.name], fixture, POLICY_GRADIENT)


def test_gamma_ignored_twice_names_both_codes(report):
    check = {c["name"]: c for c in report["gamma-ignored"]["checks"]}["reinforce.update"]
    assert check["diagnoses"] == ["returns-not-discounted", "missing-discount-weight"]
    assert "Likely mistake [returns-not-discounted]" in check["feedback"]
    assert "Likely mistake [missing-discount-weight]" in check["feedback"]


@pytest.mark.parametrize("student, callee, callers", [
    ("returns-not-discounted", "discounted_returns",
     ["reinforce.update", "reinforce.run", "baseline.update", "baseline.run"]),
    ("unpinned-randomness", "sample_action", ["reinforce.run", "baseline.run"]),
    ("mean-not-sum", "reinforce_loss", ["reinforce.update", "baseline.update"]),
])
def test_a_callees_mistake_is_not_charged_again(report, student, callee, callers):
    checks = {c["name"]: c for c in report[student]["checks"]}
    for name in callers:
        assert checks[name]["status"] == "passed", checks[name]["feedback"]
        assert "is right, given your " in checks[name]["feedback"]  # directly, or given a caller of it
        assert f"`{callee}`" in checks[name]["feedback"] and f"[{student}]" in checks[name]["feedback"]


def test_a_run_that_learns_without_the_pinned_draws_gets_half_with_the_reason(report):
    check = {c["name"]: c for c in report["style-reseeded-episodes"]["checks"]}["reinforce.run"]
    assert "Your run learns what REINFORCE must: on the short corridor" in check["feedback"]
    assert "does not replay the spec's random draws" in check["feedback"]


@pytest.mark.parametrize("check", ["reinforce.run", "baseline.run"])
def test_the_runs_keep_what_they_measured_for_plots(report, check):
    assert list(series_of(report[INSTRUCTOR], check)) == ["episode_returns"]
    plots = series_of(report["style-reseeded-episodes"], check)
    assert list(plots) == ["episode_returns", "corridor_p_right", "corridor_returns"]
    label = next(line["label"] for line in plots["corridor_p_right"]["vlines"] if "your run's p" in line["label"])
    feedback = {c["name"]: c for c in report["style-reseeded-episodes"]["checks"]}[check]["feedback"]
    assert f"to p = {label.split(' = ')[1]} " in feedback  # the plot shows the p the feedback reports
    (returns,) = plots["corridor_returns"]["curves"]
    assert len(returns["y"]) == 200 and returns["role"] == "got"


def test_the_class_summary_ranks_every_code_with_what_to_reteach(report):
    assert_class_summary_ranks_every_code_with_what_to_reteach(report, POLICY_GRADIENT)


WHOLE_FEEDBACK = {
    ("log-probs-other-action", "reinforce.update"): (
        "Where to look: the cell that defines `reinforce_update` in policy_gradient.ipynb, Part 3 (REINFORCE)\n"
        "Whether `reinforce_update` is right given your `log_probs` cannot be told: it differentiates through "
        "their results, which the grader cannot replay without their graph."),
    ("log-probs-other-action", "reinforce.run"): (
        "reinforce.run (10/10 points): passed\n"
        "`run_reinforce` is right, given your `reinforce_update` (which is marked wrong in reinforce.update): "
        "its mistake is counted once, there."),
    ("unstable-log-prob", "policy.log_probs"): (
        "Expected vs got: the returned log-probabilities: holds NaN or inf (3 of 5 values), first at index 1: "
        "expected -200, got -inf\n"
        "Likely mistake [unstable-log-prob]: you take log(softmax(h)): for an action whose preference is far below "
        "another's the softmax underflows to 0 in float32 and its log is −inf (and the gradient NaN). Use "
        "`F.log_softmax(h, dim=-1)`.\n"
        "Where to look: the cell that defines `log_probs` in policy_gradient.ipynb, Part 1 (softmax policies)"),
    ("baseline-not-detached-leftover", "baseline.update"): (
        "Expected vs got: the policy loss's gradient left in the value parameters' .grad (item 0): "),
}


@pytest.mark.parametrize("student, check", sorted(WHOLE_FEEDBACK), ids=["/".join(k) for k in sorted(WHOLE_FEEDBACK)])
def test_feedback_reads_as_a_student_needs(report, student, check):
    feedback = {c["name"]: c for c in report[student]["checks"]}[check]["feedback"]
    assert WHOLE_FEEDBACK[student, check] in feedback, feedback


def test_feedback_never_shows_the_reference_code(report):
    assert leaked_reference(report, POLICY_GRADIENT) == []
