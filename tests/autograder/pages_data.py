"""Hand-made reports for the pages' tests: what ``autograder grade --format json`` writes, with student text
that tries to be markup."""

from __future__ import annotations

from autograder.series import against_expected, curve, plot
from tests.course import PYTORCH_VFA

HOSTILE = '<script>alert("x")</script><img src="https://evil.example/x.png" onerror="alert(1)">'


def check(name: str, status: str, score: float, max_score: float, *, diagnosis: str | None = None,
          feedback: str | None = None, series: list[dict] | None = None) -> dict:
    return {"name": name, "group": name.split(".")[0], "score": score, "max_score": max_score, "status": status,
            "diagnosis": diagnosis, "feedback": feedback or f"{name} ({score:g}/{max_score:g} points): {status}",
            "diagnoses": [diagnosis] if diagnosis else [], "series": series or []}


def td_errors(got: list[float]) -> dict:
    return against_expected("td_errors", "TD errors along the run on CartPole", "step", "TD error δ", got,
                            [0.5, 0.4, 0.3, 0.2], start=1)


def weights() -> dict:
    rows = [[1.0] * 6 + [10.0, 1.0]] * 3
    return against_expected("run_weights", "Weights", "step", "weight", rows, [[2.0 * i] * 8 for i in range(3)],
                            components=[f"w{i}" for i in range(1, 9)])


def submission(student: str, checks: list[dict], *, status: str = "graded", error: str | None = None,
               tampering: list[str] | None = None, notes: list[str] | None = None) -> dict:
    groups: dict[str, float] = {}
    for c in checks:
        groups[c["group"]] = groups.get(c["group"], 0.0) + c["score"]
    return {"student": student, "path": f"submitted/{student}/pytorch_vfa", "status": status, "error": error,
            "score": sum(groups.values()), "max_score": 100.0, "duration_s": 1.0, "groups": groups,
            "checks": checks, "seed": 20251, "notes": notes or [], "tampering": tampering or []}


def class_report() -> dict:
    """Four students: one right, one with a double step and a run off the rails (its TD errors NaN after a
    while), one that tampered, one that could not be graded."""
    right = [check("td0.update", "passed", 10, 10), check("td0.run", "passed", 6, 6, series=[td_errors([0.5] * 4)]),
             check("baird.run_td", "passed", 5, 5, series=[weights()])]
    wrong = [check("td0.update", "failed", 0, 10, diagnosis="double-step",
                   feedback="td0.update (0/10 points): failed\nGot: ValueError: " + HOSTILE),
             check("td0.run", "partial", 3, 6, series=[td_errors([0.5, 2.0, float("nan"), float("inf")]),
                                                       plot("random_walk_values", "Values", "state", "value",
                                                            [curve("yours", "got", [0.1, 0.3, 0.5, 0.6, 0.9],
                                                                   range(1, 6)),
                                                             curve("i/6", "expected", [i / 6 for i in range(1, 6)],
                                                                   range(1, 6))])]),
             check("baird.run_td", "failed", 0, 5, diagnosis="no-divergence", series=[weights()])]
    tampered = [check("td0.update", "failed", 0, 10, diagnosis="tampering"), check("td0.run", "passed", 6, 6),
                check("baird.run_td", "timeout", 0, 5, diagnosis="timeout")]
    return {"assignment": PYTORCH_VFA.name, "device": "cpu", "seed": 20251, "grader_version": "0.1.0",
            "sandbox": "bwrap", "submissions": [
                submission("alice", right), submission(HOSTILE, wrong, notes=["cell 3 raised " + HOSTILE]),
                submission("eve", tampered, tampering=["read ../solutions <b>bold</b>"]),
                submission("bob", [], status="error", error="the grader failed: " + HOSTILE)]}
