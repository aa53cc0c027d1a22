"""Limits a worker enforces on itself: wall-clock time per cell or probe, GPU memory.

The kernel's limits (memory, processes, CPU time, file size) are set when the
worker starts (:func:`autograder.worker.zygote.become_worker`); the grader
kills a worker that overruns these by more than a grace period.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Iterator


class CellTimeout(TimeoutError):
    """A cell or probe ran past its time limit inside the worker."""


def _on_alarm(signum, frame):
    raise CellTimeout("time limit reached")


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


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
