"""Wrapping some of the student's functions for the length of a probe, and putting them back.

Both the call limits (:mod:`autograder.worker.limits`) and the call recorder
(:mod:`autograder.worker.recording`) stand a wrapper in for a function of the
student's namespace, so that the student's own calls go through it.
"""

from __future__ import annotations

import types
from typing import Any, Callable, Iterable


class NamespaceWrappers:
    """Within ``with``, each of ``names`` that is a function of ``namespace`` is replaced by
    what :meth:`wrap` makes of it. A class is left alone unless ``classes`` is set: then each
    function defined in the class itself (``__init__``, ``forward``, its helpers) is wrapped in
    the class, under the class's name, so that constructing or calling an instance goes
    through the wrappers too. The recorder leaves classes alone: they are constructed, not
    called by a caller here."""

    classes = False

    def __init__(self, namespace: dict, names: Iterable[str]):
        self.namespace = namespace
        self._names = list(names)
        #: (where, attribute) -> (the original, its wrapper): where is the namespace or a class
        self._wrapped: dict[tuple[int, str], tuple[Any, Any, Any]] = {}

    def wrap(self, name: str, function: Callable) -> Callable:
        raise NotImplementedError

    def __enter__(self):
        for name in self._names:
            value = self.namespace.get(name)
            if isinstance(value, types.FunctionType):
                self._replace(self.namespace, name, name, value)
            elif self.classes and isinstance(value, type):
                for attribute, member in list(vars(value).items()):
                    if isinstance(member, types.FunctionType):
                        self._replace(value, attribute, name, member)
        return self

    def _replace(self, where: dict | type, attribute: str, name: str, function: Callable) -> None:
        wrapper = self.wrap(name, function)
        wrapper.__wrapped__ = function  # inspect.signature sees the student's parameters
        self._wrapped[id(where), attribute] = (where, function, wrapper)
        if isinstance(where, dict):
            where[attribute] = wrapper
        else:
            setattr(where, attribute, wrapper)

    def __exit__(self, *exc: object) -> None:
        for (_, attribute), (where, function, wrapper) in self._wrapped.items():
            # the student's code may have rebound it meanwhile: then theirs stays
            if isinstance(where, dict):
                if where.get(attribute) is wrapper:
                    where[attribute] = function
            elif vars(where).get(attribute) is wrapper:
                setattr(where, attribute, function)
        self._wrapped.clear()
