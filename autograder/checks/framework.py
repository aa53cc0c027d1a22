"""How a check runs: probe the student, probe the reference, compare, diagnose.

A check is a list of :class:`Case` s (one probe call each). The student's
result comes from the worker; the expected one from the same probe on the
reference, here; on a mismatch the same probe runs on each known mistake of
the graded function, and the one the student matches names the diagnosis.
Nothing here names an assignment: a check gets its own through its context.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
import zlib
from pathlib import Path
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
import torch

from autograder import feedback
from autograder.assignment import Assignment, Part
from autograder.checks.carried import Replay
from autograder.checks.reference import Reference, reference_of
from autograder.compare import describe, non_finite, trivial_answer
from autograder.results import CheckResult
from autograder.series import SeriesError
from autograder.scoring import Case, Outcome, Tally, agrees, best_mistake, codes_of, compare_case, comparison_text, \
    device_error, error_text, failure_code, failure_text, form_code, shown_comparison, trivial_flags
from autograder.worker import api as probe_api
from autograder.worker import wire
from autograder.worker.cells import describe_exception
from autograder.worker.client import tampering_of
from autograder.worker.seeding import seed_everything

#: what a check that did not get full marks raises (its result holds the feedback)
CheckFailed = pytest.fail.Exception

#: A hang costs one short limit (:meth:`CheckContext.run`). A case may run FIRST_FACTOR times the
#: reference's own time on it, at least FIRST_FLOOR_S, at most the check's full limit: code 50 times
#: slower than the reference still answers, and a function that never returns costs seconds, not a
#: whole limit. The reference's time is that of the same probe (building the networks included),
#: run in the grader's process; the worker times only the probe too. The floor covers what the
#: reference's run of a case says too little about: a loaded machine (a worker may get half a core),
#: a first call. After a function ran out of time, its cases (and its callers') get HUNG_FACTOR times
#: the reference's time, at least HUNG_FLOOR_S: the floor is that factor on the slowest probe other
#: than a run (10 ms for the reference here; runs take 30-80 ms). Where the reference's time is not
#: known (a check's own behavioural run), a case gets the full limit, or HUNG_SHARE of it after a hang.
FIRST_FACTOR, FIRST_FLOOR_S = 50.0, 2.0
HUNG_FACTOR, HUNG_FLOOR_S, HUNG_SHARE = 20.0, 0.2, 0.05


def show(value: Any) -> str:
    """An argument as a student would write it: small tensors in full, big ones by shape."""
    if isinstance(value, torch.Tensor):
        dtype = "" if value.dtype in (torch.float32, torch.int64, torch.bool) else f", dtype={value.dtype}"
        if value.numel() <= 12 and value.device.type != "meta":
            return f"torch.tensor({_nested(value.tolist())}{dtype})"
        return f"<tensor of shape {tuple(value.shape)}{dtype} on {value.device}>"
    return repr(value)


def _nested(values: Any) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_nested(v) for v in values) + "]"
    if isinstance(values, float):
        text = f"{values:.4g}"
        return text if any(c in text for c in ".ein") else text + "."
    return repr(values)


def call(function: str, *args: Any, **kwargs: Any) -> str:
    """``function(arg, …, name=value)`` for feedback."""
    parts = [show(a) for a in args] + [f"{k}={show(v)}" for k, v in kwargs.items()]
    return f"{function}({', '.join(parts)})"


@dataclass
class CheckSpec:
    """A check's identity and points, declared with :func:`check`."""

    name: str
    group: str
    points: float
    function: str  #: the graded name, for feedback and known mistakes
    time_limit: float = 10.0


def check(name: str, *, group: str, points: float, function: str, time_limit: float = 10.0):
    """Declare a test function as a check (read by the plugin in conftest)."""
    meta = CheckSpec(name, group, points, function, time_limit)
    return pytest.mark.check(meta)


def derive_seed(base_seed: int, name: str) -> int:
    """A per-check seed: the same check gets the same seed for the same base seed."""
    return zlib.crc32(f"{base_seed}:{name}".encode()) & 0x7FFFFFFF


def validate_expected(name: str, cases: list[Case], expected: list[Outcome]) -> None:
    """What a check's cases must give on the reference: a finite result each (a student's never matches
    NaN or inf), and not only what code doing nothing would answer.

    Raises:
        RuntimeError: they do not; the check, not the student, is wrong.
    """
    for case, outcome in zip(cases, expected):
        if outcome.kind != "ok":
            raise RuntimeError(f"the reference failed on {case.call}: {outcome.error}")
        if non_finite(outcome.value) is not None:
            raise RuntimeError(f"the reference's result on {case.call} holds NaN or inf: "
                               "a student's never matches it")
    if all(c.form_only or trivial_answer(e.value, c.args) for c, e in zip(cases, expected)):
        raise RuntimeError(f"{name}: code that does nothing would answer every case right")


def reply_outcome(reply: dict) -> Outcome:
    """A worker's reply as an :class:`Outcome` (a malformed one is a ``ProtocolError``)."""
    kind = reply.get("outcome")
    tampering = tampering_of(reply)
    if kind not in ("ok", "missing", "not-implemented", "error", "timeout"):
        return Outcome("error", error={"type": "ProtocolError", "message": "malformed reply"}, tampering=tampering)
    calls = reply.get("calls", [])
    if calls is not None and not (isinstance(calls, list) and all(isinstance(c, dict) for c in calls)):
        calls = None
    struck = reply.get("in") if isinstance(reply.get("in"), str) else None
    return Outcome(kind, reply.get("value"), reply.get("error"), tampering, calls, struck=struck,
                   killed=reply.get("killed") is True)


#: Results of the grader's own fixed APIs (the reference, known mistakes), by
#: (API, probe, arguments, seed). They are the same for every submission of a
#: batch, so each is computed once per grading process, not once per student.
_REFERENCE_RUNS: dict[tuple, Outcome] = {}
REFERENCE_RUNS_KEPT = 20_000  #: a bound on memory (a full run of all checks needs a few hundred)


def save_reference_runs(path: Path) -> None:
    """Write the fixed APIs' results to ``path`` (one JSON line each, atomically), for the next
    grading process: a batch of one (a Gradescope run, a student re-submitting) then pays
    for none of the reference's runs."""
    lines = []
    for (api_key, probe, args_digest, seed), outcome in list(_REFERENCE_RUNS.items()):
        with contextlib.suppress(wire.WireError, TypeError, ValueError):
            lines.append(wire.dumps({"key": [api_key, probe, args_digest.hex(), seed], "kind": outcome.kind,
                                     "value": outcome.value, "error": outcome.error,
                                     "seconds": outcome.seconds}))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "wb") as out:
        out.write(b"\n".join(lines))
    os.replace(tmp, path)


def load_reference_runs(path: Path) -> int:
    """Take in what :func:`save_reference_runs` wrote (a line that is not valid data is skipped:
    it is computed again); how many results were new."""
    try:
        data = path.read_bytes()
    except OSError:
        return 0
    added = 0
    for line in data.splitlines():
        try:
            entry = wire.loads(line)
            (api_key, probe, args_digest, seed), kind = entry["key"], entry["kind"]
            key = (_frozen(api_key), str(probe), bytes.fromhex(args_digest), int(seed))
            hash(key)
            seconds = entry.get("seconds")
            outcome = Outcome(str(kind), entry.get("value"), entry.get("error"),
                              seconds=float(seconds) if seconds is not None else None)
        except (wire.WireError, KeyError, TypeError, ValueError):
            continue
        if key not in _REFERENCE_RUNS and len(_REFERENCE_RUNS) < REFERENCE_RUNS_KEPT:
            _REFERENCE_RUNS[key] = outcome
            added += 1
    return added


def _frozen(value: Any) -> Any:
    """A key's lists as the tuples they were."""
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


def reference_runs_known() -> int:
    return len(_REFERENCE_RUNS)


def run_reference(case: Case, api: probe_api.Api, seed: int, reference: Reference) -> Outcome:
    """Run a probe of ``reference``'s assignment on the grader's side, through
    the same data encoding as the worker's; the result of a fixed API is
    computed once and reused."""
    args = wire.dumps(case.args)
    if api._cache_key is None:
        return reference_outcome(case, api, seed, reference, args)
    key = (api._cache_key, case.probe, hashlib.blake2b(args, digest_size=16).digest(), seed)
    outcome = _REFERENCE_RUNS.get(key)
    if outcome is None:
        if len(_REFERENCE_RUNS) >= REFERENCE_RUNS_KEPT:
            _REFERENCE_RUNS.clear()
        outcome = _REFERENCE_RUNS[key] = reference_outcome(case, api, seed, reference, args)
        if outcome.kind == "ok" and HUNG_FACTOR * outcome.seconds > HUNG_FLOOR_S:
            # the first run in a process pays for warm-up (lazy imports, allocations): where its time
            # sets a short limit (CheckContext.short_limit), a second run's counts. Only a fixed API
            # is run twice: a replay's stand-ins (autograder/checks/carried.py) answer once
            again = reference_outcome(case, api, seed, reference, args).seconds
            outcome.seconds = min(outcome.seconds, again if again is not None else outcome.seconds)
    return outcome


def reference_outcome(case: Case, api: probe_api.Api, seed: int, reference: Reference,
                      args: bytes | None = None) -> Outcome:
    """One run of a probe on a fixed API (the reference, a known mistake) here: never cached.
    ``args``: the case's arguments as sent to the worker (``wire.dumps``), where the caller has them
    already (the self-check's build does not); the probe gets its own copy of them, as the worker's
    does, so a probe that changes them in place changes no case."""
    arguments = wire.plain(wire.loads(args if args is not None else wire.dumps(case.args)))
    seed_everything(seed)
    start = time.perf_counter()
    try:
        value = probe_api.run(reference.probes, case.probe, api, **arguments)
    except probe_api.Missing as exc:
        return Outcome("missing", error={"type": "NameError", "message": str(exc)})
    except Exception as exc:  # noqa: BLE001 - a known mistake may legitimately crash
        return Outcome("error", error=describe_exception(exc))
    try:  # as the student's result arrives from the worker: plain data, compared alike
        data = wire.received(value)
    except wire.WireError as exc:
        return Outcome("error", error={"type": "ResultRejected", "message": str(exc), "where": None})
    return Outcome("ok", data, seconds=time.perf_counter() - start)


@dataclass
class CheckContext:
    """Everything a check needs: its assignment, the submission's worker, the reference, the seed."""

    spec: CheckSpec
    assignment: Assignment
    #: runs a case in the submission's worker: ``student(case, seed, record=None, time_limit=None,
    #: call_limits=None)`` (``record``: which calls to record, :mod:`autograder.worker.recording`;
    #: ``time_limit``: seconds, instead of the check's own; ``call_limits``: seconds per call of
    #: these functions, :class:`~autograder.worker.limits.CallLimits`)
    student: Callable[..., Outcome]
    seed: int
    device: str
    time_limit: float | None = None  #: seconds per probe, when capped below the check's own
    #: graded functions that ran out of time so far in this submission -> the check where they did
    hung: dict[str, str] = field(default_factory=dict)
    #: those functions -> how long each of their calls may take from then on (0: not run again)
    call_limits: dict[str, float] = field(default_factory=dict)
    #: the other graded functions that a graded function of the submission calls, directly or not
    #: (read from its code; none known: only its own hang shortens its limit)
    reaches: Callable[[str], Collection[str]] = lambda function: ()
    #: mistakes named so far in this submission: graded function -> (code, wrong version)
    diagnosed: dict[str, tuple[str, Callable]] = field(default_factory=dict)
    #: graded functions whose results differ from the reference's so far in this submission -> where
    #: the mistake lies, as (function, check) pairs: its own check, or the callees' mistakes that it is
    #: right given (error carried forward)
    marked: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    _given: tuple[tuple[str, str], ...] = ()  #: the mistakes this check's function was judged right given
    #: cases that ran out of a limit below the full one: id -> (the case's limit, and the call limit
    #: and name of the function that had hung before and ran out of it, or None, None)
    _shortened: dict[int, tuple[float, float | None, str | None]] = field(default_factory=dict)
    result: CheckResult | None = None
    on_result: Callable[[CheckResult], None] = lambda result: None
    _series: dict[str, dict] = field(default_factory=dict)  #: what was measured, by plot name (:meth:`measured`)
    _record_later: dict | None = None  #: the calls to record if a known mistake does not settle it (grade)

    def __post_init__(self) -> None:
        self.reference = reference_of(self.assignment)
        self._reference = self.reference.api()

    @property
    def part(self) -> Part:
        return self.assignment.part(self.spec.group)

    def run_reference(self, case: Case, api: probe_api.Api) -> Outcome:
        return run_reference(case, api, self.seed, self.reference)

    def variant_outcomes(self, code: str, cases: list[Case]) -> list[Outcome]:
        """The first known mistake with this code, run on every case."""
        api = next(api for mistake, _, api in self.reference.mistaken_apis(self.spec.function) if mistake == code)
        return [self.run_reference(case, api) for case in cases]

    def measured(self, make: Callable[..., list[dict]], *args: Any) -> None:
        """Record what a run measured, for plots: the plots (:mod:`autograder.series`) that
        ``make(*args)`` builds, a plot of the same name replacing an earlier one. What a
        student's run returned may be anything: where it cannot be plotted, nothing is."""
        try:
            plots = make(*args)
        except (SeriesError, TypeError, KeyError, IndexError, AttributeError):
            return
        for plot in plots:
            self._series[plot["name"]] = plot

    def run(self, case: Case, record: dict | None = None, reference: Outcome | None = None) -> Outcome:
        """Run ``case`` on the student's function. A hang costs one short limit: a case gets
        :meth:`first_limit`; once the function, or a graded function it calls, has run out of
        time in this submission, each call of that one may take :meth:`short_limit` (none, when
        it had to be killed), and the cases that never wait on it still count."""
        full = self.time_limit or self.spec.time_limit
        limit = self.first_limit(full, reference)
        watched = {name: self.call_limits.get(name, 0.0) for name in self.hung_callees()}
        outcome = self.student(case, self.seed, record=record, time_limit=limit, call_limits=watched or None)
        if outcome.kind == "timeout":
            function = self.spec.function
            self.hung.setdefault(function, self.spec.name)
            if outcome.killed:  # it went on after its limit struck: stopping it costs a kill and a restart
                self.call_limits[function] = 0.0
            else:
                self.call_limits.setdefault(function, self.short_limit(full, reference))
            if outcome.struck in watched:
                self._shortened[id(case)] = (limit, watched[outcome.struck], outcome.struck)
            elif limit < full:
                self._shortened[id(case)] = (limit, None, None)
        return outcome

    def hung_callees(self) -> list[str]:
        """This check's function and the graded functions it calls that have run out of time."""
        function = self.spec.function
        return [name for name in [function, *sorted(set(self.reaches(function)) - {function})] if name in self.hung]

    @staticmethod
    def first_limit(full: float, reference: Outcome | None) -> float:
        """The limit of a case: FIRST_FACTOR times the reference's own time on it (the full
        limit where that is not known), at least FIRST_FLOOR_S."""
        seconds = reference.seconds if reference is not None else None
        return full if seconds is None else min(full, max(FIRST_FLOOR_S, FIRST_FACTOR * seconds))

    @staticmethod
    def short_limit(full: float, reference: Outcome | None) -> float:
        """How long a call of a function may take once it hung: HUNG_FACTOR times the reference's
        own time on the case where it did (HUNG_SHARE of the full limit where that is not known),
        at least HUNG_FLOOR_S."""
        seconds = reference.seconds if reference is not None else None
        short = HUNG_FACTOR * seconds if seconds is not None else HUNG_SHARE * full
        return min(full, max(HUNG_FLOOR_S, short))

    def grade(self, cases: list[Case], diagnose: Callable[..., str | None] | None = None,
              behaviour: Callable[..., tuple[float, str] | None] | None = None) -> CheckResult:
        """Score the cases, name the mistake, write the feedback; fail the test unless full marks.

        ``diagnose(ctx, cases, got, expected)`` may name a mistake that no
        single wrong version reproduces (a random choice, a behaviour).
        ``behaviour(ctx, cases, got)`` may give partial credit, as (share of
        the points, note), to a result that does not replay the reference but
        behaves as the algorithm must (calibrated: see the check)."""
        expected = [self.run_reference(case, self._reference) for case in cases]
        validate_expected(self.spec.name, cases, expected)
        # Recorded calls serve only to carry a callee's error forward (_carried): unless the function
        # reads one that is marked wrong already (callees are checked first), there is none to
        # carry, and recording a long run's every call costs more than the run itself. Where the
        # mistakes behind those callees (their own, or those they are right given) are all known
        # ones, the reference run with them (kept for the batch) settles most results without a
        # record (_credit_for_callees): the calls are recorded in a second run only when it does
        # not (_recorded).
        function = self.spec.function
        wrong = self._wrong_callees()
        record = {"function": function, "callees": [n for n in graded_names(self.assignment) if n != function]} \
            if wrong else None
        self._record_later = record if record is not None and self._known_roots(wrong) else None
        got = [self.run(case, None if self._record_later else record, reference)
               for case, reference in zip(cases, expected)]
        for case, mine, theirs in zip(cases, got, expected):
            if case.series is not None and mine.kind == "ok":
                self.measured(case.series, mine.value, theirs.value)
        tampering = list(dict.fromkeys(what for outcome in got for what in outcome.tampering))
        self.result = self._tampered(tampering) if tampering else self._score(cases, expected, got, diagnose, behaviour)
        if not tampering:
            self.result.series = list(self._series.values())
        if self.result.status != "passed":
            self.marked.setdefault(self.spec.function, ((self.spec.function, self.spec.name),))
        elif self._given:  # right only given callees that are not: its results differ from the reference's too
            self.marked.setdefault(self.spec.function, self._given)
        self.on_result(self.result)
        if self.result.status != "passed":
            # the feedback is the whole report: pytest builds no traceback for it (~25 ms of ast parsing a failure)
            raise CheckFailed(self.result.feedback, pytrace=False)
        return self.result

    def _score(self, cases, expected, got, diagnose, behaviour=None) -> CheckResult:
        comparisons = [compare_case(case, exp, out) for case, exp, out in zip(cases, expected, got)]
        tally = Tally.of(cases, trivial_flags(cases, expected), comparisons)
        score = round(self.spec.points * tally.earned, 2)  # hundredths: what a gradebook shows
        if not tally.failing:
            return self._result(score, "passed")
        failing = tally.failing
        if self._record_later is not None:
            credit, untold = self._carried_known(cases, got, failing), ""
            if not credit:
                credit, untold = self._carried(cases, self._recorded(cases, expected, got, failing), failing)
        else:
            credit, untold = self._carried(cases, got, failing)
            credit = credit or self._credit_for_callees(cases, got, failing)
        if credit:
            return self._result(self.spec.points, "passed", note=credit)
        i = failing[0]
        case, out = cases[i], got[i]
        comparison = shown_comparison(case, out, expected[i], comparisons[i])
        code = self._diagnose(cases, got, failing, out, comparison, diagnose, expected)
        status = {"missing": "missing", "timeout": "timeout", "error": "error"}.get(out.kind)
        note = ""
        if status is None and code is None and behaviour is not None:
            credit = behaviour(self, cases, got)
            if credit is not None and credit[0] * self.spec.points > score:
                score, note = round(credit[0] * self.spec.points, 2), "\n" + credit[1]
        if status is None:
            status = "partial" if score > 0 else "failed"
        return self._result(score, status, code, case, out, comparison, note + untold)

    def _diagnose(self, cases, got, failing, out, comparison, diagnose, expected) -> str | None:
        if out.kind != "ok":
            code = failure_code(cases, got, failing, out)
            if code == "wrong-device":
                self.diagnosed.setdefault(self.spec.function, ("wrong-device", None))
            return code
        code = self._best_mistake(cases, got, failing, expected)
        if code:
            return code
        if diagnose is not None:
            code = diagnose(self, cases, got, expected)
        code = code or form_code(comparison)
        if code:  # remembered without a wrong version: callers are credited only where it can be told
            self.diagnosed.setdefault(self.spec.function, (code, None))
        return code

    def _tampered(self, tampering: list[str]) -> CheckResult:
        """No points for a check whose probes saw the student's code tamper with the grading."""
        s, part = self.spec, self.part
        where = feedback.WHERE_TEMPLATE.format(function=s.function, notebook=part.notebook, part=part.number,
                                               title=part.title)
        text = feedback.TAMPERING_TEMPLATE.format(name=s.name, max_score=s.points, explanation=self._explain(
            "tampering"), what="; ".join(tampering), where=where)
        return CheckResult(s.name, s.group, 0.0, s.points, "failed", "tampering", text, ["tampering"])

    def _credit_for_callees(self, cases, got, failing) -> str | None:
        """Whether the result is right given the mistakes already counted in
        the graded functions it calls (one at a time first, then all together);
        if so, the note that says which."""
        named = {name: entry for name, entry in self.diagnosed.items() if name != self.spec.function}
        if any(code == "wrong-device" for code, _ in named.values()) and all(
                device_error(cases[i], got[i]) for i in failing):
            callees = [name for name, (code, _) in named.items() if code == "wrong-device"]
            return self._credit_note(callees)
        wrong = {name: version for name, (_, version) in named.items() if version is not None}
        trials = [{name: version} for name, version in wrong.items()] + ([wrong] if len(wrong) > 1 else [])
        for overrides in trials:
            api = self.reference.with_overrides(overrides)
            if all(agrees(cases[i], got[i], self.run_reference(cases[i], api)) for i in failing):
                return self._credit_note(list(overrides))
        return None

    def _wrong_callees(self) -> set[str]:
        """The graded functions that this check's function reaches and that are marked wrong."""
        function = self.spec.function
        return (set(self.marked) - {function}) & set(self.reaches(function))

    def _known_roots(self, wrong: set[str]) -> dict[str, Callable] | None:
        """The mistakes behind these callees (their own, or those they are right given), as the known
        wrong versions of the functions where they lie; None unless every one is a known mistake."""
        roots = {root for name in wrong for root, _ in self.marked[name]}
        versions = {root: self.diagnosed.get(root, (None, None))[1] for root in roots}
        return versions if versions and all(v is not None for v in versions.values()) else None

    def _carried_known(self, cases, got, failing) -> str | None:
        """Error carried forward without a record, where the callees' mistakes are known ones: the
        note, if every failing case is what the reference gives with those wrong versions in it
        (however deep the call), as :meth:`_carried` would find from the student's own calls. The
        note names the callees the function reaches other than through another one of them."""
        wrong = self._wrong_callees()
        versions = self._known_roots(wrong)
        if versions is None or any(got[i].kind != "ok" for i in failing):
            return None
        api = self.reference.with_overrides(versions)
        if not all(agrees(cases[i], got[i], self.run_reference(cases[i], api)) for i in failing):
            return None
        outermost = [name for name in sorted(wrong)
                     if not any(name in self.reaches(other) for other in wrong - {name})]
        return self._credit_note(outermost or sorted(wrong))

    def _recorded(self, cases, expected, got, failing) -> list[Outcome]:
        """``got`` with its failing cases run again, their calls recorded (where grade() put the
        record off); as it is where a failing case has no result, which nothing can carry."""
        if any(got[i].kind != "ok" for i in failing):
            return got
        again = list(got)
        for i in failing:
            again[i] = self.run(cases[i], self._record_later, expected[i])
        return again

    def _carried(self, cases, got, failing) -> tuple[str | None, str]:
        """Whether every failing case is right given the student's own callees that lost
        points (error carried forward, :mod:`autograder.checks.carried`): the note
        that says so, or none; and, where a recorded result could not stand in, the
        note that says it cannot be told."""
        wrong = {name: check for name, check in self.marked.items() if name != self.spec.function}
        used: set[str] = set()
        for i in failing:
            calls = got[i].calls
            if got[i].kind != "ok" or not calls:  # no result, no graded calls, or not all of them recorded
                return None, ""
            replay = Replay(calls, cases[i].tol)
            if not replay.names & set(wrong):
                return None, ""  # no callee that lost points: its own mistake
            api = self.reference.with_overrides(replay.stand_ins(self.reference.functions()))
            outcome = run_reference(cases[i], api, self.seed, self.reference)
            if replay.differentiated():
                callees = ", ".join(f"`{n}`" for n in sorted(replay.names & set(wrong)))
                return None, feedback.UNTOLD_NOTE.format(function=self.spec.function, callees=callees)
            if not (outcome.kind == "ok" and replay.finished() and agrees(cases[i], got[i], outcome)):
                return None, ""
            used |= replay.names & set(wrong)
        if not used:
            return None, ""
        return self._credit_note(sorted(used)), ""

    def _credit_note(self, callees: list[str]) -> str:
        """The note that this check's function is right given these callees' mistakes, each
        named where it lost points; its own results differ from the reference's all the same,
        so its callers are judged given it in turn (``self._given``)."""
        roots = {name: self.marked.get(name, ((name, _check_of(self.assignment, name)),)) for name in callees}
        self._given = tuple(dict.fromkeys(root for name in callees for root in roots[name]))
        given = ", ".join(self._where_wrong(name, roots[name]) for name in callees)
        template = feedback.CARRIED_NOTE if len(callees) == 1 else feedback.CARRIED_NOTE_MANY
        return template.format(function=self.spec.function, given=given)

    def _where_wrong(self, name: str, roots: tuple[tuple[str, str], ...]) -> str:
        """`name` (which is marked wrong in its check [its codes]), or (right given the callees that are)."""
        def marked(function: str, check: str) -> str:
            codes = codes_of(self.diagnosed[function][0]) if function in self.diagnosed else []
            return f"marked wrong in {check}" + (f" [{', '.join(codes)}]" if codes else "")

        if len(roots) == 1 and roots[0][0] == name:
            return f"`{name}` (which is {marked(*roots[0])})"
        return f"`{name}` (right given your " + ", ".join(
            f"`{function}`, which is {marked(function, check)}" for function, check in roots) + ")"

    def _best_mistake(self, cases, got, failing, expected) -> str | None:
        """The known mistake that explains the most failing cases (the first
        listed wins a tie). A case only counts where the mistake's result
        differs from the reference's. When the mistake explains every failing
        case it can tell apart, it is remembered, so that the functions
        calling this one are not charged for it again."""
        mistakes = self.reference.mistaken_apis(self.spec.function)
        best, complete = best_mistake(failing, expected, got,
                                      [lambda i, api=api: self.run_reference(cases[i], api) for _, _, api in mistakes],
                                      lambda i, mine, theirs: agrees(cases[i], mine, theirs))
        if best is None:
            return None
        code, wrong, _ = mistakes[best]
        if complete:
            self.diagnosed[self.spec.function] = (code, wrong)
        return code

    def _result(self, score, status, code=None, case=None, out=None, comparison=None, note="") -> CheckResult:
        s = self.spec
        if status == "passed":
            text = feedback.PASSED_TEMPLATE.format(name=s.name, score=score, max_score=s.points) + note
            return CheckResult(s.name, s.group, score, s.points, status, None, text)
        part = self.part
        where = feedback.WHERE_TEMPLATE.format(function=s.function, notebook=part.notebook, part=part.number,
                                               title=part.title)
        context = dict(name=s.name, score=score, max_score=s.points, status=status, call=case.call,
                       comparison=comparison_text(out, comparison, self.assignment.result_fields), where=where,
                       function=s.function,
                       time_limit=self._shortened.get(id(case), (self.time_limit or s.time_limit,))[0],
                       error=error_text(out))
        if id(case) in self._shortened:
            limit, call_limit, hung = self._shortened[id(case)]
            full = self.time_limit or s.time_limit
            if hung is None:
                note = feedback.FIRST_LIMIT_NOTE.format(limit=limit, full=full, factor=FIRST_FACTOR,
                                                        floor=FIRST_FLOOR_S) + note
            else:
                note = (feedback.SHORTENED_NOTE if call_limit > 0 else feedback.NOT_RUN_AGAIN_NOTE).format(
                    limit=call_limit, hung=f"`{hung}` (in {self.hung[hung]})") + note
        codes = codes_of(code)
        if codes == ("missing",) and out is not None and (out.error or {}).get("type") == "MissingNotebook":
            explanations = [feedback.MISSING_NOTEBOOK.format(notebook=part.notebook)]
        else:
            explanations = [self._explain(c, **context) for c in codes]
        text = failure_text(feedback.CHECK_HEADER.format(**context), codes, explanations, **context)
        return CheckResult(s.name, s.group, score, s.points, status, codes[0] if codes else None, text + note,
                           list(codes))

    def _explain(self, code: str, **context: object) -> str:
        return feedback.explain(code, self.assignment.diagnoses, **context)


def _check_of(assignment: Assignment, function: str) -> str:
    """The (first) check that grades ``function``."""
    from autograder.checks.registry import all_checks  # it imports this module

    return next((meta.name for meta, _ in all_checks(assignment) if meta.function == function), "its own check")


def shared_findings() -> dict[str, dict]:
    """What the checks of one submission find and share, as :class:`CheckContext`'s fields of those
    names: the mistakes named (callers are not charged for them), the functions marked wrong (error
    carried forward) and those that ran out of time (a hang costs one limit)."""
    return {"diagnosed": {}, "marked": {}, "hung": {}, "call_limits": {}}


def graded_names(assignment: Assignment) -> tuple[str, ...]:
    """Every name the assignment's checks grade (:func:`autograder.checks.registry.graded_functions`)."""
    from autograder.checks.registry import graded_functions  # it imports this module

    return graded_functions(assignment)


__all__ = ["Case", "CheckContext", "call", "check", "derive_seed", "describe", "Outcome", "show"]
