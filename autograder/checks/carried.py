"""Error carried forward: a graded function judged against the reference given
the student's own versions of the graded functions it calls.

The student's worker records each call its function made to another graded
function (:mod:`autograder.worker.recording`). Here the reference function
runs with a stand-in for each of those callees. A stand-in takes the
reference's next call of that callee and checks that it is the call the
student's code made, with the same arguments (the networks' weights and
gradients, the optimizer's and random generators' states included, within
the case's tolerance). If it is, it returns the recorded result and leaves
the arguments and the global random generators as the student's callee left
them; if not, nothing is carried (:class:`NotCarried`). Without that check, a
do-nothing callee would make every caller "right given it".

A recorded result can stand in for values only: a caller that differentiates
through it (a loss built from log-probabilities) would see no graph. Such results
are handed back as leaves that require grad; a gradient reaching one means
the replay cannot tell (:attr:`Replay.differentiated`).
"""

from __future__ import annotations

import collections
import inspect
import random
from typing import Any, Callable

import numpy as np
import torch

from autograder.compare import Tolerance, compare
from autograder.worker import wire
from autograder.worker.recording import positional, snapshot
from autograder.worker.wire import WireTensor


class NotCarried(Exception):
    """The reference's call of a callee is not the one the student's code made (or cannot be replayed)."""


class Replay:
    """Stand-ins for the callees of one recorded probe call."""

    def __init__(self, calls: list[dict], tol: Tolerance):
        self.tol = tol
        self.queues: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        for call in calls:
            self.queues[str(call.get("name"))].append(call)
        self.names = set(self.queues)
        self._leaves: list[torch.Tensor] = []
        self.problem: str | None = None  #: why the replay stopped, if it did

    def stand_ins(self, reference: dict[str, Callable]) -> dict[str, Callable]:
        """A stand-in for each recorded callee (``reference``: the reference's own versions, for their signatures)."""
        return {name: self._stand_in(name, reference[name]) for name in self.names if name in reference}

    def finished(self) -> bool:
        """Whether the reference made every call that the student's code made."""
        return self.problem is None and not any(self.queues.values())

    def differentiated(self) -> bool:
        """Whether the reference differentiated through a recorded result (which has no graph)."""
        return any(leaf.grad is not None for leaf in self._leaves)

    def _stand_in(self, name: str, reference: Callable) -> Callable:
        def stand_in(*args: Any, **kwargs: Any) -> Any:
            try:
                return self._replay(name, reference, args, kwargs)
            except NotCarried as exc:
                self.problem = self.problem or str(exc)
                raise

        stand_in.__signature__ = inspect.signature(reference)
        return stand_in

    def _replay(self, name: str, reference: Callable, args: tuple, kwargs: dict) -> Any:
        if not self.queues[name]:
            raise NotCarried(f"the reference calls `{name}` more often than your code")
        call = self.queues[name].popleft()
        bound = positional(reference, args, kwargs)
        if bound is None:
            raise NotCarried(f"the reference's call of `{name}` cannot be bound to its parameters")
        mine = wire.received(snapshot(bound))
        same = compare(mine, call.get("args"), self.tol, "arguments")
        if not same.ok:
            raise NotCarried(f"the reference calls `{name}` with other arguments than your code ({same.message})")
        for index, state in (call.get("after") or {}).items():
            if not (str(index).isdigit() and int(index) < len(bound)):
                raise NotCarried(f"a malformed record of `{name}`")
            _restore(bound[int(index)], state)
        for which, state in (call.get("rng") or {}).items():
            _restore_global_rng(which, state)
        return self._value(call.get("result"), bool(call.get("graph")))

    def _value(self, data: Any, graph: bool) -> Any:
        if isinstance(data, WireTensor):
            if data.values.device.type == "meta":
                return torch.empty(data.shape, dtype=data.dtype, device="meta")
            value = data.values.to(data.device).clone()
            if graph and value.is_floating_point():
                value.requires_grad_(True)
                self._leaves.append(value)
            return value
        if isinstance(data, list):
            return [self._value(v, graph) for v in data]
        if isinstance(data, dict):
            if any(key.startswith("__") for key in data):  # a module, generator, object: not a value to hand back
                raise NotCarried("a recorded result that is not plain data")
            return {k: self._value(v, graph) for k, v in data.items()}
        return data


def _tensor(data: Any) -> torch.Tensor:
    if not isinstance(data, WireTensor):
        raise NotCarried("a malformed record")
    return data.values


def _restore(live: Any, state: Any) -> None:
    """Leave ``live`` (an argument of the reference's call) as the student's callee left its own."""
    try:
        if isinstance(live, torch.nn.Module):
            device = next((p.device for p in live.parameters()), torch.device("cpu"))
            live.load_state_dict({k: _tensor(v).to(device) for k, v in state["state"].items()})
            grads = state["grads"]
            for key, parameter in live.named_parameters():
                grad = grads.get(key)
                parameter.grad = None if grad is None else _tensor(grad).to(parameter.device).clone()
        elif isinstance(live, torch.optim.Optimizer):
            saved = state["state"]
            live.load_state_dict({"state": {int(k): wire.plain(v) for k, v in saved["state"].items()},
                                  "param_groups": wire.plain(saved["param_groups"])})
        elif isinstance(live, torch.Generator):
            live.set_state(_tensor(state["__generator__"]))
        elif isinstance(live, np.random.Generator):
            live.bit_generator.state = state["__numpy_generator__"]
        elif isinstance(live, np.ndarray):
            live[...] = _tensor(state["__array__"]).numpy()
        elif isinstance(live, torch.Tensor):
            with torch.no_grad():
                live.copy_(_tensor(state).to(live.device))
    except NotCarried:
        raise
    except Exception as exc:  # noqa: BLE001 - a record that does not fit the reference's objects
        raise NotCarried(f"the recorded state does not fit the reference's arguments ({exc})") from None




def _restore_global_rng(which: str, state: Any) -> None:
    try:
        if which == "torch":
            torch.set_rng_state(_tensor(state))
        elif which == "numpy":
            keys, pos, has_gauss, cached = state
            np.random.set_state(("MT19937", np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
        elif which == "python":
            random.setstate((3, tuple(state), None))
    except (TypeError, ValueError) as exc:
        raise NotCarried(f"a malformed record of the random generators ({exc})") from None
