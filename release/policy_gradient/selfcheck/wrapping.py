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
    what :meth:`wrap` makes of it. Classes are left alone: they are constructed, not called
    by a caller here."""

    def __init__(self, namespace: dict, names: Iterable[str]):
        self.namespace = namespace
        self._names = list(names)
        self._saved: dict[str, Any] = {}
        self._wrappers: dict[str, Any] = {}

    def wrap(self, name: str, function: Callable) -> Callable:
        raise NotImplementedError

    def __enter__(self):
        for name in self._names:
            value = self.namespace.get(name)
            if isinstance(value, types.FunctionType):
                wrapper = self.wrap(name, value)
                wrapper.__wrapped__ = value  # inspect.signature sees the student's parameters
                self._saved[name], self._wrappers[name] = value, wrapper
                self.namespace[name] = wrapper
        return self

    def __exit__(self, *exc: object) -> None:
        for name, value in self._saved.items():
            if self.namespace.get(name) is self._wrappers[name]:  # the student's code may have rebound it
                self.namespace[name] = value
