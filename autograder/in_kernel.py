"""The checks inside a Jupyter kernel, for nbgrader's hidden test cells.

A hidden test cell ends with ``run_checks("td0", globals())``: it runs the
same checks as ``autograder grade`` on the kernel's own namespace, prints the
feedback, and returns the part's score, which nbgrader reads as the cell's
partial credit. Unlike ``autograder grade``, student code here runs in the
same process as the checks: see the README on what that does not protect.
"""

from __future__ import annotations

from autograder.checks.framework import CheckContext, Outcome, derive_seed
from autograder.checks.registry import all_checks
from autograder.worker import runtime, wire

DEFAULT_SEED = 20251


def _in_process(namespace: dict, time_limit: float):
    def run(case, seed: int) -> Outcome:
        reply = runtime.run_probe(namespace, {"probe": case.probe, "args": case.args, "seed": seed,
                                              "time_limit": time_limit})
        try:  # the same data-only round trip as from a worker: strips subclasses, checks sizes
            return Outcome.from_reply(wire.loads(wire.dumps(reply)))
        except wire.WireError as exc:
            return Outcome("error", error={"type": "ResultRejected", "message": str(exc), "where": None})

    return run


_DIAGNOSED: dict[int, dict] = {}  # per kernel namespace, across test cells


def run_checks(selector: str, namespace: dict, seed: int = DEFAULT_SEED, device: str | None = None) -> float:
    """Run the checks named by ``selector`` (a check such as ``td0.update``, or
    a whole group such as ``td0``) on ``namespace``; print their feedback and
    return their score."""
    import torch

    selected = [(meta, check) for meta, check in all_checks() if selector in (meta.name, meta.group)]
    if not selected:
        raise ValueError(f"no check or group is called {selector!r}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    diagnosed = _DIAGNOSED.setdefault(id(namespace), {})
    total = 0.0
    for meta, check in selected:
        ctx = CheckContext(meta, _in_process(namespace, meta.time_limit), derive_seed(seed, meta.name), device,
                           diagnosed=diagnosed)
        try:
            check(ctx)
        except AssertionError:
            pass  # the result holds the feedback
        result = ctx.result
        print(result.feedback if result else f"{meta.name}: the check could not run")
        total += result.score if result else 0.0
    return round(total, 4)
