"""The probe-authoring API: what an assignment's probes module imports.

A probe receives an :class:`Api` (the student's namespace in a worker; the
reference or a known mistake on the grader's side) and plain arguments, and
returns data: tensors, numbers, lists, dicts. It never compares anything and
holds no expected values, so it is safe to run next to student code::

    from autograder.worker.api import Api, probe

    @probe
    def target(api: Api, reward, next_value, terminated, gamma):
        return api.target(reward, next_value, terminated, gamma)

A probes module is the only part of a plug-in that enters the worker, so it
imports nothing else of its plug-in, nor the reference.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

import torch

PROBE_MARK = "__autograder_probe__"


class Missing(NameError):
    """A graded name is not defined in the submission."""

    def __init__(self, name: str):
        super().__init__(f"name {name!r} is not defined")
        self.name = name


class Api:
    """Attribute access to a namespace of the student API: ``api.td_target``."""

    def __init__(self, namespace: dict | Any, cache_key: tuple | None = None):
        self._ns = namespace if isinstance(namespace, dict) else vars(namespace)
        #: names this API among the grader's fixed ones (the reference, a known
        #: mistake), so that its results can be reused; None for student code
        self._cache_key = cache_key

    def __getattr__(self, name: str) -> Any:
        try:
            return self._ns[name]
        except KeyError:
            raise Missing(name) from None


def probe(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a function of a probes module as a probe, called by its name."""
    setattr(fn, PROBE_MARK, True)
    return fn


def probes_of(module: ModuleType) -> dict[str, Callable[..., Any]]:
    """The probes a module defines, by name."""
    return {name: value for name, value in vars(module).items()
            if callable(value) and getattr(value, PROBE_MARK, False) and getattr(value, "__module__", None)
            == module.__name__}


# --- what probes of different assignments share ---------------------------------------------


def type_name(value: Any) -> str:
    """``module.Class`` of a value: what a probe returns about a result it cannot send (a device, say)."""
    return type(value).__module__ + "." + type(value).__qualname__


def parameters_of(net: torch.nn.Module) -> list[torch.Tensor]:
    """The network's parameters, detached copies: what a probe returns of weights after a call."""
    return [p.detach().clone() for p in net.parameters()]


def seed_layers(net: torch.nn.Module, layers: list[str], seed: int, scale: float = 0.5) -> dict[str, list]:
    """Give the named layers of a student's network seeded weights, layer by layer in that order (a
    layer wrapped in an ``nn.Sequential`` gets the same weights as a bare ``nn.Linear``); their
    parameters' shapes, by layer."""
    generator = torch.Generator().manual_seed(seed)
    shapes = {}
    with torch.no_grad():
        for name in layers:
            params = list(getattr(net, name).parameters())
            shapes[name] = [list(p.shape) for p in params]
            for p in params:
                p.copy_(torch.randn(p.shape, generator=generator) * scale)
    return shapes


class UnknownProbe(LookupError):
    """A request names a probe that the assignment's probes module does not define."""


def run(probes: dict[str, Callable[..., Any]], name: str, api: Api, **args: Any) -> Any:
    """Call the probe ``name`` of ``probes`` on ``api``."""
    try:
        function = probes[name]
    except KeyError:
        raise UnknownProbe(f"no probe is called {name!r}") from None
    return function(api, **args)
