"""Limits a worker enforces on itself: wall-clock time per cell, probe or call, GPU memory.

The kernel's limits (memory, processes, CPU time, file size) are set when the
worker starts (:func:`autograder.worker.zygote.become_worker`); the grader
kills a worker that overruns these by more than a grace period.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from typing import Any, Iterator

from .wrapping import NamespaceWrappers


class CellTimeout(TimeoutError):
    """A cell or probe ran past its time limit inside the worker."""


_deadline = [math.inf]  #: when the current cell's or probe's limit strikes (time.monotonic())


def _on_alarm(signum, frame):
    left = _deadline[0] - time.monotonic()
    if 0.001 < left < math.inf:  # a call's own limit struck first: the whole limit still stands after it
        signal.setitimer(signal.ITIMER_REAL, left)
    raise CellTimeout("time limit reached")


def _arm(seconds: float) -> None:
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    signal.signal(signal.SIGALRM, _on_alarm)
    _deadline[0] = time.monotonic() + seconds
    _arm(seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        _deadline[0] = math.inf


def warm_up(autograd: bool = True) -> None:
    """Pay once, before any limit runs, what a first call of torch costs whoever makes it: a first
    optimizer step imports ``torch._dynamo`` (2.4 s; 0.09 s once it is loaded), a first backward
    starts autograd's engine, the meta device loads its kernels. ``autograd=False`` where that engine
    must not start yet (a process that will fork workers that use CUDA)."""
    import torch
    import torch._dynamo  # noqa: F401

    if autograd:
        weight = torch.zeros(1, requires_grad=True)
        (weight * 2).sum().backward()
        torch.optim.SGD([weight], lr=0.1).step()
    (torch.empty(2, device="meta") + 1).sum()


class CallLimits(NamespaceWrappers):
    """Within ``with CallLimits(namespace, {name: seconds}):`` (inside :func:`time_limit`), each
    call of those functions of the student's namespace may take that long, and no longer: a
    function that hung before costs its callers that much, not their whole limit. A call that
    runs out raises :class:`CellTimeout` there, and :attr:`struck` names the function. A class
    of those names is limited in each call of a method of its own (constructing it, calling it)."""

    classes = True

    def __init__(self, namespace: dict, limits: dict[str, float]):
        super().__init__(namespace, limits)
        self.limits = limits
        self.struck: str | None = None
        self._inside = 0

    def wrap(self, name: str, function: Any) -> Any:
        limits, seconds = self, float(self.limits[name])

        def limited(*args: Any, **kwargs: Any) -> Any:
            if limits._inside:  # within a limited call already: that one's limit holds
                return function(*args, **kwargs)
            if seconds <= 0:  # it could not be stopped before: not run again
                limits.struck = name
                raise CellTimeout(f"{name} is not run again")
            limits._inside += 1
            ends = time.monotonic() + seconds
            if ends < _deadline[0]:
                _arm(seconds)
            try:
                return function(*args, **kwargs)
            except CellTimeout:
                if time.monotonic() >= ends - 0.001:
                    limits.struck = limits.struck or name
                raise
            finally:
                limits._inside -= 1
                if ends < _deadline[0] and math.isfinite(_deadline[0]):
                    _arm(_deadline[0] - time.monotonic())

        return limited


def limit_gpu_memory(max_bytes: int) -> None:
    """Cap what this process may allocate on the GPU (PyTorch's caching
    allocator), so that one submission cannot starve the others sharing it.
    It starts CUDA here, before any student code: its start-up does not count
    against a cell's time limit, nor does the guard watch it. Should CUDA fail
    to start, the worker goes on: student code that uses it meets the same
    error, which its report shows."""
    import torch

    with contextlib.suppress(Exception):  # see above
        if torch.cuda.is_available():
            for index in range(torch.cuda.device_count()):
                total = torch.cuda.get_device_properties(index).total_memory
                torch.cuda.set_per_process_memory_fraction(min(1.0, max_bytes / total), index)
