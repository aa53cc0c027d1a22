"""The checks inside a Jupyter kernel, for nbgrader's hidden test cells.

Each hidden test cell of an assignment's source notebooks runs one check of its suite::

    from autograder.in_kernel import run_checks
    run_checks("<group>.<check>", globals())

It runs the same check as ``autograder grade``, with the same seed, on the
kernel's own namespace, prints the check's feedback (the very text that
``autograder grade`` reports as the check's ``feedback``: what a student reads)
and returns the score, which is the cell's last expression and so its output.

How nbgrader turns that cell into points (``nbgrader.utils.determine_grade``,
nbgrader 0.9): an ``error`` output (or any stderr stream, which
``nbgrader_config.py`` ignores) scores 0; otherwise the first
``execute_result`` is partial credit (``get_partial_grade``: a number from 0 to
the cell's points; a value above them makes nbgrader fail, a negative or
non-numeric one gives *full* marks); a cell with no result at all gets full
marks. Hence:

* a score above 0 is returned, capped at the checks' points: partial or full
  credit, shown as the cell's result. Were the notebook to stop IPython from
  showing results (``ast_node_interactivity = "none"``), a partial score is
  shown all the same (the shell's display hook): unshown, it would be full
  marks;
* a score of 0 raises :class:`NoPoints` after the feedback is printed. nbgrader
  0.9 would also read a returned ``0.0`` as zero, but an error is zero by
  nbgrader's first rule, whatever becomes of the result (its comments describe
  partial credit as "a value greater than 0", and an output that is not read
  as a number counts as full marks), and the graded notebook and nbgrader's
  feedback show the cell as a failed test, the way nbgrader shows any. Its
  traceback is one line (``NoPoints: <check>: 0/10 points ...``), not the
  grader's frames;
* a check that itself breaks counts 0 points with the note that
  ``autograder grade`` gives it.

Which course and assignment: the course is found as ``autograder grade``
finds it (:mod:`autograder.course`), from the nearest folder above the
kernel's working directory that holds ``nbgrader_config.py`` (``nbgrader
autograde`` runs a notebook in ``autograded/<student>/<assignment>/`` of the
course). The assignment is that folder's name where it is one; else the one
assignment of the course that has a check or group called so; else the
course's default.

Unlike ``autograder grade``, student code here runs in the same process as the
checks: see the README on what that does not protect. The checks are the
same, but the state differs slightly: a cell's check sees only what the
notebook defined above it, and a callee's mistake named in one notebook is not
known to the other (the notebooks run in separate kernels).
"""

from __future__ import annotations

import contextlib
import inspect
import random
import types
from pathlib import Path
from typing import Callable

from autograder import options
from autograder.assignment import Assignment
from autograder.checks.framework import CheckContext, CheckFailed, Outcome, derive_seed, graded_names, \
    reply_outcome, shared_findings
from autograder.checks.reference import reference_of
from autograder.checks.registry import all_checks
from autograder.course import CONFIG_FILE, Course, find_course
from autograder.notebooks import calls_between
from autograder.worker import wire
from autograder.worker.probing import run_probe

DEFAULT_SEED = options.SEED.default  #: the base seed of ``autograder grade`` (``--seed``): the same cases
CONFIG_SEARCH_DEPTH = 6  #: folders above the working directory searched for the course's nbgrader config


class NoPoints(AssertionError):
    """The checks of a hidden test cell gave no points: the cell fails, nbgrader scores it 0."""

    @classmethod
    def for_check(cls, selector: str, points: float) -> "NoPoints":
        return cls(f"{selector}: 0/{points:g} points (the feedback is above)")

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback into the grader: the feedback is the story.
        return [f"{type(self).__name__}: {self}"]


def _in_process(probes: dict, namespace: dict, time_limit: float) -> Callable[..., Outcome]:
    full_limit = time_limit

    def run(case, seed: int, record: dict | None = None, time_limit: float | None = None,
            call_limits: dict[str, float] | None = None) -> Outcome:
        request = {"probe": case.probe, "args": case.args, "seed": seed, "time_limit": time_limit or full_limit}
        if record is not None:
            request["record"] = record
        if call_limits:
            request["call_limits"] = call_limits
        reply = run_probe(probes, namespace, request)
        try:  # the same data-only round trip as from a worker: strips subclasses, checks sizes
            return reply_outcome(wire.loads(wire.dumps(reply)))
        except wire.WireError as exc:
            return Outcome("error", error={"type": "ResultRejected", "message": str(exc), "where": None})

    return run


_FINDINGS: dict[int, dict[str, dict]] = {}  # per kernel namespace, across test cells (shared_findings)
_GRADED: dict[int, dict[str, object]] = {}  # per kernel namespace: graded name -> the object graded

#: What the checks compare with (directly or through torch's operators). In a
#: fresh kernel each is a C function or method; Python code in their place was
#: put there by the notebook.
_COMPARISONS = ("allclose", "equal", "isclose", "where", "abs", "isnan", "isinf", "nan_to_num")
_TENSOR_METHODS = ("__eq__", "__ne__", "__sub__", "__gt__", "__lt__", "__le__", "__ge__", "__abs__", "abs",
                   "any", "all", "item", "tolist", "to", "double", "float", "reshape", "flatten")


def tampering_signs(namespace: dict, reference: str) -> list[str]:
    """The obvious ways a notebook tampers with checks that run in its own
    kernel: the reference imported, comparisons patched, a graded name
    redefined after its test cell. A determined student can hide from this;
    ``autograder grade``'s sandbox is the real protection (see the README)."""
    import torch

    signs = []
    for name, value in list(namespace.items()):
        module = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
        if isinstance(module, str) and module.split(".")[0] == reference.split(".")[0]:
            signs.append(f"the notebook imported the reference solutions (`{name}`)")
    patched = [f"torch.{n}" for n in _COMPARISONS if isinstance(getattr(torch, n, None), types.FunctionType)]
    patched += [f"torch.Tensor.{n}" for n in _TENSOR_METHODS
                if isinstance(getattr(torch.Tensor, n, None), types.FunctionType)]
    if getattr(torch.testing.assert_close, "__module__", "") != "torch.testing._comparison":
        patched.append("torch.testing.assert_close")
    if patched:
        signs.append(f"the notebook replaced comparison functions: {', '.join(patched)}")
    for name, graded in _GRADED.get(id(namespace), {}).items():
        if namespace.get(name) is not graded:
            signs.append(f"`{name}` was redefined after its test cell")
    return signs



def kernel_course(cwd: Path | None = None) -> Course:
    """The course of a kernel (see the module docstring)."""
    cwd = (cwd or Path.cwd()).resolve()
    for folder in [cwd, *cwd.parents][:CONFIG_SEARCH_DEPTH + 1]:
        if (folder / CONFIG_FILE).is_file():
            return find_course(cwd=folder)
    return find_course(cwd=cwd)


def kernel_assignment(selector: str, course: Course, name: str | None = None, cwd: Path | None = None) -> Assignment:
    """The assignment whose check or group ``selector`` is (see the module docstring)."""
    folder = (cwd or Path.cwd()).name
    names = course.names()
    if name or folder in names:
        return course.assignment(name or folder)
    having = [a for a in course.assignments()
              if any(selector in (meta.name, meta.group) for meta, _ in all_checks(a))]
    if len(having) == 1:
        return having[0]
    if course.default_assignment in [a.name for a in having]:
        return course.assignment(course.default_assignment)
    found = ", ".join(a.name for a in having) or "none"
    raise options.UsageError(f"which assignment is {selector!r} of? The course at {course.root} has it in: {found}. "
                             "Pass run_checks(..., assignment=NAME).")


def _reaches(namespace: dict, names: list[str]) -> Callable[[str], frozenset[str]]:
    """The graded functions that each graded function of the kernel calls, read from their cells."""
    sources = []
    for name in names:
        with contextlib.suppress(OSError, TypeError):  # not defined, or defined where no source is kept
            sources.append(inspect.getsource(namespace[name]) if name in namespace else "")
    calls = calls_between(sources, names)
    return lambda function: calls.get(function, frozenset())


def run_checks(selector: str, namespace: dict, seed: int = DEFAULT_SEED, device: str | None = None,
               assignment: str | None = None) -> float:
    """Run the checks named by ``selector`` (a check such as ``<group>.<name>``,
    or a whole group) on ``namespace``; print their feedback and return their
    score, or raise :class:`NoPoints` when it is 0 (see the module docstring for
    how nbgrader reads either)."""
    course = kernel_course()
    plugin = kernel_assignment(selector, course, assignment)
    selected = [(meta, check) for meta, check in all_checks(plugin) if selector in (meta.name, meta.group)]
    if not selected:
        raise ValueError(f"{plugin.name} has no check or group called {selector!r}")
    device = options.resolve_device(device or options.DEVICE.default)
    probes = reference_of(plugin).probes
    signs = tampering_signs(namespace, plugin.reference)
    if signs:
        for line in signs:
            print(f"Tampering: {line}.")
        raise NoPoints(f"{selector}: 0 points: tampering ({'; '.join(signs)})")
    findings = _FINDINGS.setdefault(id(namespace), shared_findings())
    graded = _GRADED.setdefault(id(namespace), {})
    for found in findings.values():
        for name in [n for n in found if graded.get(n) is not namespace.get(n)]:
            del found[name]  # redefined since its check ran (a student's fix): judged afresh
    reaches = _reaches(namespace, graded_names(plugin))
    total, points = 0.0, 0.0
    for meta, check in selected:
        check_seed = derive_seed(seed, meta.name)
        random.seed(check_seed)  # as the checks' pytest fixture does
        ctx = CheckContext(meta, plugin, _in_process(probes, namespace, meta.time_limit), check_seed, device,
                           reaches=reaches, **findings)
        broke = None
        try:
            check(ctx)
        except CheckFailed:
            pass  # the result holds the feedback
        except Exception as exc:  # noqa: BLE001 - the check itself broke: 0 points, as in `autograder grade`
            broke = f"{type(exc).__name__}: {exc}"
        result = ctx.result
        if result is None:
            print(f"{meta.name} (0/{meta.points:g} points): error\n"
                  "The grader could not finish this check; please tell your instructor."
                  + (f"\n({broke})" if broke else ""))
        else:
            print(result.feedback)
            total += result.score
        points += meta.points
        if meta.function in namespace:
            graded[meta.function] = namespace[meta.function]
    total = round(min(total, points), 2)  # hundredths, as in reports; never above the cell's points
    if total <= 0:
        raise NoPoints.for_check(selector, points)
    shell = _shell_hiding_results()
    if shell is not None and total < points:
        shell.displayhook(total)  # a partial score that is not shown would be read as full marks
    return total


def _shell_hiding_results():
    """The IPython shell when it will not show a cell's last expression (a notebook may set
    ``ast_node_interactivity = "none"``); None otherwise, or outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell if shell is not None and shell.ast_node_interactivity == "none" else None
