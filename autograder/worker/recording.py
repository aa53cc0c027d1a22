"""Recording the calls a graded function makes to the student's other graded
functions, so that the grader can judge it given them (error carried forward).

While a probe runs the graded function ``F``, every other graded function of
the student's namespace is wrapped. A call that ``F`` makes to one of them
(not the calls those make in turn) is recorded: its arguments as they were
before the call, its result, and the state after the call of every mutable
argument (a network's parameters and their ``.grad``, an optimizer's state, a
random generator's), and of the global random generators where the call
moved them. The grader runs the reference ``F`` with stand-ins that check the
reference makes the same calls and replay what the student's made
(:mod:`autograder.checks.carried`).

Arguments are matched by position in the function's signature (defaults
applied), so ``f(x, gamma=0.9)`` and ``f(x, 0.9)`` are the same call.
"""

from __future__ import annotations

import inspect
import random
from typing import Any, Iterator

import numpy as np
import torch

from autograder.worker.api import type_name
from autograder.worker.wrapping import NamespaceWrappers

MAX_CALLS = 5000  #: calls recorded per probe; beyond, the record is incomplete and nothing is carried
MAX_ELEMENTS = 2**22  #: numbers kept over a probe's records (the wire's limit on one tensor)


def snapshot(value: Any, depth: int = 0) -> Any:
    """What a value is now, as data that the wire carries and the grader can compare and restore."""
    if depth > 8:
        return {"__object__": type_name(value)}
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, torch.nn.Module):
        return {"__module__": type_name(value),
                "state": {k: v.detach().clone() for k, v in value.state_dict().items()},
                "grads": {k: None if p.grad is None else p.grad.detach().clone() for k, p in value.named_parameters()}}
    if isinstance(value, torch.optim.Optimizer):
        return {"__optimizer__": type_name(value), "state": snapshot(value.state_dict(), depth + 1)}
    if isinstance(value, torch.Generator):
        return {"__generator__": value.get_state()}
    if isinstance(value, np.random.Generator):
        return {"__numpy_generator__": value.bit_generator.state}
    if isinstance(value, np.ndarray):
        return {"__array__": torch.from_numpy(np.array(value, copy=True))}
    if isinstance(value, (list, tuple)):
        return [snapshot(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): snapshot(v, depth + 1) for k, v in value.items()}
    if isinstance(value, np.generic):  # numpy scalars
        return snapshot(value.item(), depth + 1)
    return {"__object__": type_name(value)}


MUTABLE = (torch.Tensor, torch.nn.Module, torch.optim.Optimizer, torch.Generator, np.random.Generator, np.ndarray)


def positional(function: Any, args: tuple, kwargs: dict) -> list[Any] | None:
    """The arguments of a call in the order of ``function``'s parameters, defaults filled in
    (None when they cannot be bound: the call would fail, or the signature takes ``*args``)."""
    try:
        signature = inspect.signature(function)
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in signature.parameters.values()):
            return None
        bound = signature.bind(*args, **kwargs)
    except (TypeError, ValueError):
        return None
    bound.apply_defaults()
    return list(bound.arguments.values())


def global_rng() -> dict:
    """The global random generators' states (torch's, numpy's legacy one, Python's)."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(), "numpy": [keys.astype(np.int64).tolist(), pos, has_gauss, cached],
            "python": list(random.getstate()[1])}


def _leaves(value: Any) -> Iterator[Any]:
    """The tensors and scalars inside lists, tuples and dicts."""
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    else:
        yield value


def _holds_graph(value: Any) -> bool:
    return any(isinstance(leaf, torch.Tensor) and leaf.grad_fn is not None for leaf in _leaves(value))


def _elements(value: Any) -> int:
    return sum(leaf.numel() if isinstance(leaf, torch.Tensor) else 1 for leaf in _leaves(value))


class CallRecorder(NamespaceWrappers):
    """Within ``with recorder:``, the calls that ``function`` makes to ``callees``
    (names of the student's namespace) are recorded in :attr:`calls`."""

    def __init__(self, namespace: dict, function: str, callees: list[str]):
        super().__init__(namespace, [function, *callees])
        self.function, self.callees = function, callees
        self.calls: list[dict] = []
        self.complete = True  #: False when a call could not be recorded (too many, unbindable)
        self._inside, self._in_callee, self._elements = 0, 0, 0

    def wrap(self, name: str, function: Any) -> Any:
        recorder = self

        def graded_function(*args: Any, **kwargs: Any) -> Any:
            recorder._inside += 1
            try:
                return function(*args, **kwargs)
            finally:
                recorder._inside -= 1

        def callee(*args: Any, **kwargs: Any) -> Any:
            if not recorder._inside or recorder._in_callee:
                return function(*args, **kwargs)
            recorder._in_callee += 1
            try:
                return recorder._record(name, function, args, kwargs)
            finally:
                recorder._in_callee -= 1

        return graded_function if name == self.function else callee

    def _record(self, name: str, function: Any, args: tuple, kwargs: dict) -> Any:
        bound = positional(function, args, kwargs)
        if bound is None or len(self.calls) >= MAX_CALLS or self._elements > MAX_ELEMENTS:
            self.complete = False
            return function(*args, **kwargs)
        before, rng = snapshot(bound), global_rng()
        result = function(*args, **kwargs)
        call = {"name": name, "args": before, "result": snapshot(result), "graph": _holds_graph(result),
                # the same objects, as the call left them
                "after": {str(i): snapshot(value) for i, value in enumerate(bound) if isinstance(value, MUTABLE)}}
        now = global_rng()
        moved = {k: v for k, v in now.items() if not _same(v, rng[k])}
        if moved:
            call["rng"] = moved
        self._elements += _elements(call)
        self.calls.append(call)
        return result


def _same(a: Any, b: Any) -> bool:
    return torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b
