"""What a check measured, kept for plots (``CheckResult.series``, :mod:`autograder.series`): small, strict JSON,
built from what a student's run returned whatever that was, and recorded by the framework's one hook."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest
import torch

from autograder import series
from autograder.checks.framework import CheckContext, CheckFailed, derive_seed, shared_findings
from autograder.checks.reference import reference_of
from autograder.checks.registry import all_checks
from autograder.in_kernel import _in_process
from autograder.series import SeriesError, against_expected, compact_json, curve, kept, plot
from autograder.worker import wire
from tests.course import PYTORCH_VFA, REPO


def test_a_long_curve_keeps_evenly_spaced_points_first_and_last_included():
    c = curve("yours", "got", list(range(1001)), range(1, 1002))
    assert len(c["x"]) == series.MAX_POINTS and c["x"][0] == 1 and c["x"][-1] == 1001
    assert c["y"] == [x - 1 for x in c["x"]]  # each kept y at its own x
    steps = {b - a for a, b in zip(c["x"], c["x"][1:])}
    assert steps <= {4, 5}
    assert kept(10) == list(range(10))


def test_a_curve_of_vectors_keeps_fewer_points_and_every_component():
    rows = torch.arange(1001 * 8, dtype=torch.float32).reshape(1001, 8)
    c = curve("yours", "got", rows)
    assert len(c["y"]) == series.MAX_NUMBERS // 8 and all(len(row) == 8 for row in c["y"])
    assert c["y"][-1] == rows[-1].tolist()


def test_numbers_are_rounded_and_non_finite_ones_become_null_in_strict_json():
    c = curve("yours", "got", [1 / 3, float("nan"), float("inf"), -float("inf"), 7])
    assert c["y"] == [0.33333, None, None, None, 7]
    json.dumps(c, allow_nan=False)  # strict JSON: a NaN would make the report unreadable elsewhere


def test_a_tensor_received_from_a_worker_is_read_by_its_values():
    received = wire.loads(wire.dumps(torch.tensor([[1.0, 2.0], [3.0, 4.0]])))
    assert curve("w", "got", received)["y"] == [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize("values, why", [
    ("abc", "not a sequence"), ([1, "2"], "not a number"), ([True, 1.0], "not a number"),
    ([[1.0, 2.0], [3.0]], "rows of 2"), ([{"a": 1}], "not a number"),
    (wire.WireTensor(torch.empty(3, device="meta"), "meta", False, False), "meta device"),
])
def test_what_cannot_be_plotted_is_refused_with_why(values, why):
    with pytest.raises(SeriesError, match=why):
        curve("yours", "got", values)


def test_a_plot_refuses_rows_that_do_not_match_its_components():
    with pytest.raises(SeriesError, match="per named component"):
        plot("p", "t", "x", "y", [curve("a", "got", [[1.0, 2.0]])], components=["w1", "w2", "w3"])
    with pytest.raises(SeriesError, match="per named component"):
        plot("p", "t", "x", "y", [curve("a", "got", [[1.0, 2.0]])])
    with pytest.raises(ValueError, match="role"):
        curve("a", "mine", [1.0])


def test_against_expected_numbers_both_runs_from_start():
    p = against_expected("td_errors", "t", "step", "δ", [0.5, 0.25], [0.5, 0.5, 0.1], start=1)
    assert [(c["role"], c["x"]) for c in p["curves"]] == [("got", [1, 2]), ("expected", [1, 2, 3])]


def test_compact_json_puts_each_list_of_numbers_on_one_line_and_keeps_strings_as_they_are():
    data = {"feedback": "got [\n1,\n 2] and [3, 4]", "series": [{"x": [1, 2, 3], "y": [[1.5, None], [-2e-05, 3]]}],
            "diagnoses": ["a", "b"], "empty": []}
    text = compact_json(json.dumps(data, indent=2))
    assert json.loads(text) == data
    assert '"x": [1, 2, 3]' in text and "[1.5, null]" in text and "[-2e-05, 3]" in text
    assert '"got [\\n1,\\n 2] and [3, 4]"' in text  # a student's text inside a string is untouched
    assert '"diagnoses": [\n' in text  # lists of strings stay as json.dumps wrote them


# --- the framework's hook ------------------------------------------------------------------------------------

def run_check(name: str, namespace: dict):
    """One check of pytorch_vfa on ``namespace`` as the student's code, in this process."""
    plugin = PYTORCH_VFA
    meta, check = next((m, c) for m, c in all_checks(plugin) if m.name == name)
    ctx = CheckContext(meta, plugin, _in_process(reference_of(plugin).probes, namespace, 30),
                       derive_seed(20251, name), "cpu", **shared_findings())
    try:
        check(ctx)
    except CheckFailed:
        pass
    return ctx


@pytest.fixture(scope="module")
def reference_namespace() -> dict:
    return dict(vars(importlib.import_module(PYTORCH_VFA.reference)))


def test_a_case_s_series_reaches_the_result_with_the_students_and_the_expected_run(reference_namespace):
    result = run_check("td0.run", reference_namespace).result
    assert result.status == "passed"
    (td_errors,) = result.series
    got, expected = td_errors["curves"]
    assert td_errors["name"] == "td_errors" and got["y"] == expected["y"] and len(got["y"]) == 150


def test_a_run_that_returns_nan_is_plotted_with_gaps(reference_namespace):
    def run_td0(env, v, optimizer, n_steps, gamma, seed):
        return [float("nan")] * n_steps

    result = run_check("td0.run", {**reference_namespace, "run_td0": run_td0}).result
    got = result.series[0]["curves"][0]
    assert result.status == "failed" and got["role"] == "got" and set(got["y"]) == {None}


def test_a_run_that_gives_no_answer_records_nothing(reference_namespace):
    def run_td0(env, v, optimizer, n_steps, gamma, seed):
        raise ValueError("not yet")

    assert run_check("td0.run", {**reference_namespace, "run_td0": run_td0}).result.series == []


def test_measured_keeps_what_can_be_plotted_and_the_last_plot_of_a_name(reference_namespace):
    ctx = run_check("td0.target", reference_namespace)

    def broken(value):
        return [plot("p", "t", "x", "y", [curve("a", "got", value)])]

    ctx.measured(broken, "not numbers")
    assert ctx._series == {}
    ctx.measured(broken, [1.0])
    ctx.measured(broken, [2.0, 3.0])
    assert [c["y"] for c in ctx._series["p"]["curves"]] == [[2.0, 3.0]]


def test_grading_never_imports_the_page_renderer():
    """Plots are drawn after grading: what grades (the engine and both plug-ins' checks) loads no matplotlib."""
    code = ("import sys; import autograder.cli, autograder.grading, autograder.reports, autograder.checks.pytest_plugin;"
            "from autograder.checks.registry import all_checks; from tests.course import COURSE;"
            "[all_checks(a) for a in COURSE.assignments()];"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib' or m == 'autograder.pages');"
            "assert not bad, bad")
    process = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
