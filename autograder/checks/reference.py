"""An assignment's reference and its known mistakes, as namespaces the probes run on.

The grader runs a check's probes on the reference (what is expected), on each
known mistake of the graded function (the reference with that one function
swapped for its wrong version: what that mistake gives) and, to credit a
caller that is right given a mistake already counted in a callee, on the
reference with the callee's mistake swapped in however deep the call goes.
Grader side only: none of this reaches a worker.
"""

from __future__ import annotations

import functools
import sys
import types
from typing import Callable

from autograder.assignment import Assignment
from autograder.worker.api import Api, probes_of


class Reference:
    """The reference package of ``assignment``, its known mistakes and its probes."""

    def __init__(self, assignment: Assignment):
        self.assignment = assignment
        self.module = assignment.reference_module
        self.mistakes: dict[str, list[tuple[str, Callable]]] = assignment.mistakes_table
        self.probes = probes_of(assignment.probes_module)
        #: a known mistake's identity -> (graded name, index): fixed versions give reusable cache keys
        self._known = {id(wrong): (name, i) for name, entries in self.mistakes.items()
                       for i, (_, wrong) in enumerate(entries)}

    def api(self) -> Api:
        return Api(vars(self.module), cache_key=(self.assignment.name, "reference"))

    def functions(self) -> dict:
        """The reference's own namespace (its graded functions, by name)."""
        return vars(self.module)

    def mistaken_apis(self, name: str) -> list[tuple[str, Callable, Api]]:
        """The reference API with ``name`` swapped for each of its known
        mistakes: (code, the wrong version, the API)."""
        base = vars(self.module)
        return [(code, wrong, Api({**base, name: wrong}, cache_key=(self.assignment.name, "mistake", name, i)))
                for i, (code, wrong) in enumerate(self.mistakes.get(name, []))]

    def with_overrides(self, overrides: dict[str, Callable]) -> Api:
        """The reference API in which every function calls ``overrides``
        instead of the reference's own versions, however deep the call: every
        function of the reference's modules is rebuilt over one shared
        namespace."""
        package = self.module.__name__
        shared: dict = {}
        for name, module in sorted(sys.modules.items()):
            if module is not None and (name == package or name.startswith(package + ".")):
                shared.update(vars(module))
        for name, value in list(shared.items()):
            if isinstance(value, types.FunctionType) and str(value.__module__).startswith(package):
                shared[name] = types.FunctionType(value.__code__, shared, value.__name__, value.__defaults__,
                                                  value.__closure__)
        shared.update(overrides)
        key = None
        if all(id(version) in self._known for version in overrides.values()):  # only fixed versions: reusable
            key = (self.assignment.name, "reference-with") + tuple(
                sorted(self._known[id(version)] for version in overrides.values()))
        exported = getattr(self.module, "__all__", None) or [n for n in vars(self.module) if not n.startswith("_")]
        return Api({name: shared[name] for name in exported}, cache_key=key)


@functools.cache
def _reference(name: str, assignment: Assignment) -> Reference:
    return Reference(assignment)


def reference_of(assignment: Assignment) -> Reference:
    """The (one, shared) :class:`Reference` of an assignment."""
    return _reference(assignment.name, assignment)
