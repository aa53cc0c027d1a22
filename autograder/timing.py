"""Timing hooks: the engine names its phases, a benchmark listens.

``with timing.phase("notebook execution"): ...`` costs nothing when no one
listens. A listener (``timing.listen(callback)``) is called with the phase's
name and its start and end (``time.perf_counter()``) as each phase ends, nested
phases first; ``scripts/bench_grading.py`` turns them into where a
submission's time goes.
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator

Listener = Callable[[str, float, float], None]
_listeners: list[Listener] = []

#: the phases the engine marks; each check is a phase too, named "check <its name>" (``<group>.<check>``)
PHASES = ("zygote wait", "notebook execution", "probes (worker)", "teardown", "submission")
CHECK_PHASE = "check {name}"


def listen(listener: Listener) -> Callable[[], None]:
    """Call ``listener(phase, started, ended)`` after every phase; returns what stops it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    if not _listeners:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        ended = time.perf_counter()
        for listener in list(_listeners):
            listener(name, started, ended)
