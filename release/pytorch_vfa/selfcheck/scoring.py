"""How a check's outcomes become points, a diagnosis and feedback: pure functions, no grading state.

The grader (:mod:`autograder.checks.framework`) and the students' self-check
(:mod:`autograder.selfcheck`, which ships a copy of this module in every
release) judge cases with these same rules, so the self-check reads as grading
reads. It imports only the comparison, the feedback templates and the data
encoding: nothing here may import the rest of the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from . import feedback
from .compare import EXACT, Comparison, Tolerance, compare, non_finite, trivial_answer
from . import wire

PARTIAL_FOR_FORM = 0.5  #: share of a case's points for right values in the wrong shape/dtype/device


@dataclass
class Case:
    """One call of a probe, as the student will read it in feedback."""

    probe: str
    args: dict
    call: str  #: the call in words, e.g. ``target(reward=1.0, …)``
    tol: Tolerance = EXACT
    weight: float = 1.0
    #: the part of the result that identifies a known mistake (e.g. an update's
    #: ``step``), when other parts (e.g. when δ was computed) may differ with it
    mistake_key: str | None = None
    #: what the case measured, as plots (:mod:`autograder.series`): ``series(student's value,
    #: reference's value)``, called when the student's code answered
    series: Callable[[Any, Any], list[dict]] | None = field(default=None, compare=False, repr=False)

    @property
    def form_only(self) -> bool:
        """Whether the case sees only a result's form (shape, dtype, device), not its
        values: its inputs are on the meta device, which has none."""
        return self.args.get("device") == "meta"


@dataclass
class Outcome:
    """What one probe call gave: ``ok`` with a value, or why not."""

    kind: str  # ok, missing, not-implemented, error, timeout
    value: Any = None
    error: dict | None = None
    #: what the student's code did meanwhile to read or change its grading (the worker's guard saw it)
    tampering: list[str] = field(default_factory=list)
    #: the calls the graded function made to the student's other graded functions
    #: (:mod:`autograder.worker.recording`); None when they could not all be recorded
    calls: list[dict] | None = field(default_factory=list)
    seconds: float | None = None  #: how long the grader's own run of it took (the reference's, a mistake's)
    #: a timeout's cause: the function whose own call limit struck (:class:`~autograder.worker.limits.CallLimits`)
    struck: str | None = None
    killed: bool = False  #: a timeout the worker did not answer: it was killed


Compare = Callable[..., Comparison]  #: :func:`~autograder.compare.compare`, or one that also reads digests


def codes_of(code: str | Sequence[str] | None) -> tuple[str, ...]:
    """A diagnosis as its codes: a known mistake may be declared as several at once (a tuple)."""
    return () if not code else (code,) if isinstance(code, str) else tuple(code)


def compare_case(case: Case, expected: Outcome, out: Outcome, compare_values: Compare = compare) -> Comparison | None:
    """How the student's outcome of a case compares with the reference's (None: no result)."""
    if out.kind != "ok":
        return None
    return non_finite(out.value, expected.value) or compare_values(out.value, expected.value, case.tol)


def shown_comparison(case: Case, out: Outcome, expected: Outcome, comparison: Comparison | None,
                     compare_values: Compare = compare) -> Comparison | None:
    """What the feedback shows of a failing case: where a mistake is about one part of the result
    (``case.mistake_key``, e.g. the weight change) and that part differs, that part's comparison."""
    key = case.mistake_key
    if comparison is None or key is None or not isinstance(out.value, dict) or \
            not isinstance(expected.value, dict):
        return comparison
    part = compare_values(out.value.get(key), expected.value[key], case.tol, f"result[{key!r}]")
    return comparison if part.ok else part


def share(comparison: Comparison | None) -> float:
    """A case's share of its points: all for a match, some for right values in the wrong form."""
    if comparison is not None and comparison.ok:
        return 1.0
    return PARTIAL_FOR_FORM if comparison is not None and comparison.values_match else 0.0


@dataclass
class Tally:
    """What a check's cases earned: a share of its points (0 to 1) and which cases fell short."""

    earned: float
    failing: list[int]

    @classmethod
    def of(cls, cases: Sequence[Case], trivial: Sequence[bool], comparisons: Sequence[Comparison | None]) -> "Tally":
        counts = countable(cases, trivial, comparisons)
        earned, failing = 0.0, []
        for i, (case, comparison) in enumerate(zip(cases, comparisons)):
            part = share(comparison)
            earned += part * case.weight * counts[i]
            if part < 1.0:
                failing.append(i)
        return cls(earned / sum(c.weight for c in cases), failing)


def trivial_flags(cases: Sequence[Case], expected: Sequence[Outcome]) -> list[bool]:
    """Which cases' right answers are what code doing nothing returns (zeros, an input unchanged)."""
    return [not c.form_only and trivial_answer(e.value, c.args) for c, e in zip(cases, expected)]


def countable(cases: Sequence[Case], trivial: Sequence[bool], comparisons: Sequence[Comparison | None]) -> list[bool]:
    """Which cases' points count: no points for what code that does nothing gets right.

    A form-only case (the meta device: shapes, dtypes, devices) counts only when
    its twin (the same inputs on the grading device) has the right values, or
    without a twin, when every case with values has. A case whose right answer
    is trivial (``trivial``: zeros, an input unchanged) counts only when a case
    whose answer is not has the right values too."""
    right = [c is not None and (c.ok or c.values_match) for c in comparisons]
    anchored = any(r and not t and not c.form_only for r, t, c in zip(right, trivial, cases))
    counts = [anchored or not t for t in trivial]
    with_values = [i for i, c in enumerate(cases) if not c.form_only]
    for i, case in enumerate(cases):
        if case.form_only:
            twins = [j for j in with_values if _same_inputs(case, cases[j])]
            counts[i] = all(right[j] and counts[j] for j in (twins[:1] or with_values))
    return counts


def _same_inputs(a: Case, b: Case) -> bool:
    """Whether two cases call the same probe with the same arguments, the device aside."""
    def inputs(case: Case) -> bytes:
        return wire.dumps({key: value for key, value in case.args.items() if key != "device"})
    return a.probe == b.probe and inputs(a) == inputs(b)


def device_error(case: Case, outcome: Outcome) -> bool:
    """Whether a case failed for its inputs being off the CPU (code that only
    works there: ``wrong-device``). On the meta device any error counts (it
    has no values, so nothing else can go wrong there that the CPU cases did
    not show); on a GPU, an error that names the CPU as a tensor's device
    ("Expected all tensors to be on the same device, but got ... cpu ...")."""
    if outcome.kind != "error":
        return False
    device = case.args.get("device")
    if device == "meta":
        return True
    message = str((outcome.error or {}).get("message", "")).lower()
    return device not in (None, "cpu") and "device" in message and "cpu" in message


def failure_code(cases: Sequence[Case], got: Sequence[Outcome], failing: Sequence[int], out: Outcome) -> str:
    """The code of a failure without a result (``out``, the first failing case's): ``wrong-device``
    when every failing case failed for its inputs' device, else the outcome's kind."""
    if all(device_error(cases[i], got[i]) for i in failing):
        return "wrong-device"
    return out.kind


def form_code(comparison: Comparison | None) -> str | None:
    """``wrong-shape``/``-dtype``/``-device`` where only the form of right values differs."""
    if comparison is not None and comparison.problem in ("shape", "dtype", "device") and comparison.values_match:
        return f"wrong-{comparison.problem}"
    return None


def best_mistake(failing: Sequence[int], expected: Sequence[Outcome], got: Sequence[Outcome],
                 mistakes: Sequence[Callable[[int], Outcome]],
                 agree: Callable[[int, Outcome, Outcome], bool]) -> tuple[int | None, bool]:
    """The known mistake that explains the most failing cases (the first listed wins a tie), as its
    index in ``mistakes`` (each gives its outcome on case ``i``), and whether it explains every
    failing case it can tell apart. A case only counts where the mistake's result differs from
    the reference's; ``agree(i, mine, theirs)`` says whether two outcomes of case ``i`` agree."""
    best, best_count, best_complete = None, 0, False
    for index, outcome_of in enumerate(mistakes):
        matched, complete = 0, True
        for i in failing:
            theirs = outcome_of(i)
            if agree(i, expected[i], theirs):
                continue  # this case cannot tell the mistake from the reference
            if agree(i, got[i], theirs):
                matched += 1
            else:
                complete = False
        if matched > best_count:
            best, best_count, best_complete = index, matched, complete
    return best, best_complete


def keyed(case: Case, value: Any) -> tuple[bool, Any]:
    """The part of a result that identifies a known mistake (``case.mistake_key``), or the whole
    result; False where the result has no such part."""
    if case.mistake_key is None:
        return True, value
    if not (isinstance(value, dict) and case.mistake_key in value):
        return False, None
    return True, value[case.mistake_key]


def agrees(case: Case, mine: Outcome, theirs: Outcome, compare_values: Compare = compare) -> bool:
    """Whether two outcomes of a case agree (on ``case.mistake_key`` if set)."""
    if mine.kind != "ok" or theirs.kind != "ok":
        return False
    (has_a, a), (has_b, b) = keyed(case, mine.value), keyed(case, theirs.value)
    return has_a and has_b and compare_values(a, b, case.tol).ok


def error_text(out: Outcome | None) -> str:
    if out is None or not out.error:
        return "an error"
    error = out.error
    where = error.get("where") or {}
    line = f" (line {where['lineno']} of {where['cell']}: `{(where.get('code') or '').strip()}`)" if where else ""
    return f"{error.get('type', 'an error')}: {error.get('message', '')}{line}"


def comparison_text(out: Outcome, comparison: Comparison | None, fields: dict[str, str]) -> str:
    if out.kind == "ok" and comparison is not None:
        return f"Expected vs got: {feedback.humanize(comparison.message, fields)}"
    if out.kind == "error":
        return f"Got: {error_text(out)}"
    if out.kind == "timeout":
        return "Got: no answer before the time limit"
    if out.kind == "missing" and out.error and out.error.get("message"):
        return f"Got: {out.error['message']}"
    if out.kind == "not-implemented":
        return "Got: NotImplementedError"
    return "Got: the name is not defined"


def failure_text(header: str, codes: Sequence[str], explanations: Sequence[str], **context: Any) -> str:
    """A failed check's feedback: its header line, what was called, expected vs got, the likely
    mistake by each code (with its explanation), where to look."""
    if codes:
        likely = "\n".join(feedback.LIKELY_TEMPLATE.format(diagnosis=c, explanation=e)
                           for c, e in zip(codes, explanations))
        return header + "\n" + feedback.CHECK_BODY.format(likely=likely, **context)
    return header + "\n" + feedback.CHECK_BODY_NO_DIAGNOSIS.format(**context)
