"""A graded function's check, run on public cases in the student's own kernel.

In a release, ``from selfcheck import check`` then ``check("<group>.<check>", globals())``
calls the student's function through the grader's own probe on the check's
public cases, compares what came back with the reference's results (stored in
the release's data) the way grading compares, names the known mistake whose
stored results match, and prints what grading prints: the call, expected vs
got, the likely mistake by its code, where to look. It counts no points.

What it cannot tell offline, it says: whether a function is right given its
callees' mistakes (grading reruns the reference on what they returned: error
carried forward), whether a run that does not replay the spec's draws still
learns (behavioural credit), and mistakes that grading finds with further runs.

It shares nothing with the grading in the same kernel (``autograder.in_kernel``):
its data, probes and state are its own, and it puts back the random generators'
states it used. It imports only the copied modules next to it, torch, numpy and
gymnasium.
"""

from __future__ import annotations

import contextlib
import functools
import random
import signal
import threading
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from . import feedback
from .compare import Tolerance
from .scoring import Case, Outcome, Tally, agrees, best_mistake, codes_of, compare_case, comparison_text, \
    error_text, failure_code, failure_text, form_code, shown_comparison
from .digest import compare_digested, revive
from . import api, wire
from .cells import CappedText, describe_exception, raised_by_a_stub
from .limits import CellTimeout, time_limit, warm_up
from .seeding import seed_everything

DATA_FILE = "cases.json"  #: the data, next to this module in a release
MACHINE = "__machine__"  #: an expected result that depends on the machine: one per machine, picked here


@dataclass
class Result:
    """One self-check: its status as grading names it (passed, partial, failed, missing, error,
    timeout), the likely mistake's codes, and the feedback it printed."""

    name: str
    status: str
    codes: list[str]
    feedback: str = field(repr=False)


@dataclass
class _Check:
    """One check as the data holds it: its public cases, the reference's and each known mistake's results."""

    name: str
    function: str
    where: str
    seed: int
    time_limit: float
    cases: list[Case]
    expected: list[Any]
    trivial: list[bool]
    mistakes: list[tuple[tuple[str, ...], list[Outcome]]]
    diagnose: bool  #: grading names mistakes here that no stored result shows (its own diagnosis)
    behaviour: bool  #: grading may give behavioural credit here


@dataclass
class _Book:
    """Everything the data file holds, decoded."""

    assignment: str
    made_with: dict[str, str]
    diagnoses: dict[str, str]
    fields: dict[str, str]
    checks: dict[str, _Check]
    probes: dict


def check(name: str, namespace: dict, *, quiet: bool = False) -> Result:
    """Run the check ``name`` (``"<group>.<check>"``) on the public cases with the functions
    of ``namespace`` (the notebook's ``globals()``); print its feedback unless ``quiet``."""
    if not isinstance(namespace, dict):
        raise TypeError(f"check({name!r}, namespace): pass the notebook's namespace, globals(); "
                        f"got {type(namespace).__name__}")
    book = _book(Path(__file__).with_name(DATA_FILE))
    if name not in book.checks:
        raise ValueError(f"{book.assignment} has no check called {name!r}; its checks: {', '.join(book.checks)}")
    note = _versions_note(book.made_with)
    result = _Session(book, namespace).result(name)
    if not quiet:
        print((note + "\n" if note else "") + result.feedback)
    return result


class _Session:
    """One call of :func:`check`: a check and, where it fails, the checks of the graded
    functions it calls (each run once)."""

    def __init__(self, book: _Book, namespace: dict):
        self.book, self.namespace = book, namespace
        self.done: dict[str, Result] = {}
        self.running: set[str] = set()  #: checks under way (functions that call each other: each runs once)

    def result(self, name: str) -> Result:
        if name not in self.done:
            self.running.add(name)
            with _random_state_kept():
                self.done[name] = self._judge(self.book.checks[name])
        return self.done[name]

    def _judge(self, spec: _Check) -> Result:
        cases = spec.cases
        expected = [Outcome("ok", _on_this_machine(value)) for value in spec.expected]
        got: list[Outcome] = []
        for case in cases:  # a hang costs one limit: the cases after it are not run
            hung = got and got[-1].kind == "timeout"
            got.append(Outcome("timeout") if hung else self._run(spec, case))
        comparisons = [compare_case(case, e, g, compare_digested) for case, e, g in zip(cases, expected, got)]
        tally = Tally.of(cases, spec.trivial, comparisons)
        header = dict(name=spec.name, cases=f"{len(cases)} public case" + ("" if len(cases) == 1 else "s"))
        if not tally.failing:
            return Result(spec.name, "passed", [], feedback.SELF_CHECK_HEADER.format(status="passed", **header))
        i = tally.failing[0]
        case, out = cases[i], got[i]
        comparison = shown_comparison(case, out, expected[i], comparisons[i], compare_digested)
        if out.kind != "ok":
            code = failure_code(cases, got, tally.failing, out)
        else:
            mistakes = [[Outcome(o.kind, _on_this_machine(o.value)) for o in outcomes] for _, outcomes in spec.mistakes]
            best, _ = best_mistake(tally.failing, expected, got,
                                   [lambda j, outcomes=outcomes: outcomes[j] for outcomes in mistakes],
                                   lambda j, mine, theirs: agrees(cases[j], mine, theirs, compare_digested))
            code = spec.mistakes[best][0] if best is not None else form_code(comparison)
        codes = codes_of(code)
        status = {"missing": "missing", "timeout": "timeout", "error": "error"}.get(out.kind) or \
            ("partial" if tally.earned > 0 else "failed")
        context = dict(name=spec.name, call=case.call, where=spec.where, function=spec.function,
                       comparison=comparison_text(out, comparison, self.book.fields),
                       time_limit=spec.time_limit, error=error_text(out))
        explanations = [feedback.explain(c, self.book.diagnoses, **context) for c in codes]
        text = failure_text(feedback.SELF_CHECK_HEADER.format(status=status, **header), codes, explanations,
                            **context)
        return Result(spec.name, status, list(codes), text + self._untold(spec, out, codes))

    def _untold(self, spec: _Check, out: Outcome, codes: tuple[str, ...]) -> str:
        """What grading might still find that the self-check cannot tell offline."""
        notes = ""
        callees = [name for name in self._callees(spec.function) if self._fails(name)]
        if callees:
            template = feedback.SELF_CHECK_UNTOLD_CALLEE if len(callees) == 1 else feedback.SELF_CHECK_UNTOLD_CALLEES
            notes += template.format(function=spec.function, callees=", ".join(f"`{name}`" for name in callees))
        if out.kind == "ok" and not codes:
            notes += (feedback.SELF_CHECK_UNTOLD_BEHAVIOUR if spec.behaviour else "") + \
                (feedback.SELF_CHECK_UNTOLD_DIAGNOSIS if spec.diagnose else "")
        return notes

    def _callees(self, function: str) -> list[str]:
        """The other graded functions that ``function`` of the namespace calls, directly or not
        (the global names its code reads), in check order."""
        graded = {spec.function for spec in self.book.checks.values()}
        found, todo = set(), [function]
        while todo:
            for name in _globals_read(self.namespace.get(todo.pop())) & graded:
                if name not in found and name != function:
                    found.add(name)
                    todo.append(name)
        return [f for f in dict.fromkeys(s.function for s in self.book.checks.values()) if f in found]

    def _fails(self, function: str) -> bool:
        return any(self.result(spec.name).status != "passed" for spec in self.book.checks.values()
                   if spec.function == function and (spec.name in self.done or spec.name not in self.running))

    def _run(self, spec: _Check, case: Case) -> Outcome:
        """The student's result of a case, through the grader's probe, as grading receives it."""
        seed_everything(spec.seed)
        text = CappedText()  # what the student's code prints is not the self-check's output
        try:
            with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text), _time_limit(spec.time_limit):
                value = api.run(self.book.probes, case.probe, api.Api(self.namespace), **_fresh(case.args))
            return Outcome("ok", wire.loads(wire.dumps(value)))
        except api.Missing:
            return Outcome("missing")
        except CellTimeout:
            return Outcome("timeout")
        except NotImplementedError as exc:  # a stub's raise; a library's ("no data on the meta device") is an error
            return Outcome("not-implemented" if raised_by_a_stub(exc) else "error", error=describe_exception(exc))
        except wire.WireError as exc:
            return Outcome("error", error={"type": "ResultRejected", "message": str(exc), "where": None})
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a student's function may raise anything; an
            return Outcome("error", error=describe_exception(exc))  # interrupt (the kernel's stop button) goes on


def _globals_read(value: Any) -> set[str]:
    """The global names that a function's code (or a class's methods') reads, nested functions included."""
    functions = [v for v in vars(value).values() if isinstance(v, types.FunctionType)] \
        if isinstance(value, type) else [value] if isinstance(value, types.FunctionType) else []
    codes, names = [f.__code__ for f in functions], set()
    while codes:
        code = codes.pop()
        names |= set(code.co_names)
        codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return names


def _fresh(value: Any) -> Any:
    """A case's arguments as plain tensors, copied: a student's in-place change must not reach the data."""
    if isinstance(value, wire.WireTensor):
        return value.values.clone()
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    return value


def _on_this_machine(value: Any) -> Any:
    """A stored result, or where it depends on the machine (a device picked), this machine's."""
    if isinstance(value, dict) and set(value) == {MACHINE}:
        return value[MACHINE]["cuda" if torch.cuda.is_available() else "cpu"]
    return value


def _time_limit(seconds: float):
    """The check's time limit, where a signal can enforce it (the main thread, not Windows)."""
    if hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread():
        return time_limit(seconds)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _random_state_kept() -> Iterator[None]:
    """The probes seed every generator; the notebook's own draws go on as if nothing had run."""
    python, numpy, cpu = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        yield
    finally:
        random.setstate(python)
        np.random.set_state(numpy)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


_NOTED: list[str] = []  #: the versions note is printed once per kernel


def _versions_note(made_with: dict[str, str]) -> str | None:
    import gymnasium

    here = {"torch": torch.__version__, "gymnasium": gymnasium.__version__}
    differ = [name for name in made_with if _minor(made_with[name]) != _minor(here.get(name, ""))]
    if not differ or _NOTED:
        return None
    _NOTED.append("noted")
    return feedback.SELF_CHECK_VERSIONS.format(made=" and ".join(f"{n} {made_with[n]}" for n in differ),
                                               here=" and ".join(f"{n} {here[n]}" for n in differ))


def _minor(version: str) -> tuple[str, ...]:
    return tuple(version.split("+")[0].split(".")[:2])


@functools.cache
def _book(path: Path) -> _Book:
    try:
        data = revive(wire.loads(path.read_bytes()))
    except FileNotFoundError:
        raise FileNotFoundError(f"the self-check's data {path} is missing: copy the whole release folder "
                                "(the notebooks and selfcheck/) again") from None
    from . import probes  # in a release: the plug-in's probes, copied next to this module

    warm_up()  # what a first optimizer step costs is not the student's function's time
    checks = {}
    for entry in data["checks"]:
        cases = [Case(c["probe"], c["args"], c["call"], Tolerance(*c["tol"]), c["weight"], c["mistake_key"])
                 for c in entry["cases"]]
        mistakes = [(tuple(m["codes"]), [Outcome(o["kind"], o.get("value")) for o in m["outcomes"]])
                    for m in entry["mistakes"]]
        checks[entry["name"]] = _Check(entry["name"], entry["function"], entry["where"], entry["seed"],
                                       entry["time_limit"], cases, [c["expected"] for c in entry["cases"]],
                                       [c["trivial"] for c in entry["cases"]], mistakes, entry["diagnose"],
                                       entry["behaviour"])
    return _Book(data["assignment"], data["made_with"], data["diagnoses"], data["result_fields"], checks,
                 api.probes_of(probes))
