"""A batch's progress on stderr: a live bar (rich's) on a terminal, one plain line per result in a log.

The plain line, ``k/N graded, Xs elapsed, R/min, ETA Ys (student)``, is what
scripts and tests read from a batch's stderr (``" graded, "``).
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO


class Progress:
    """``with Progress(total) as progress: progress.advance(student)`` after each result.
    Nothing is shown for a batch of one."""

    def __init__(self, total: int, stream: TextIO | None = None):
        self.total, self.done = total, 0
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self._bar = None

    def __enter__(self) -> "Progress":
        if self.total > 1 and self.stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, \
                TimeElapsedColumn, TimeRemainingColumn

            self._bar = Bar(TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TextColumn("graded,"),
                            TimeElapsedColumn(), TextColumn("{task.fields[rate]}/min, ETA"), TimeRemainingColumn(),
                            TextColumn("{task.fields[student]}", markup=False),
                            console=Console(file=self.stream, highlight=False), transient=False,
                            # no refresh thread (grading forks its processes meanwhile), and sys.stdout and
                            # sys.stderr left alone (the report is printed after it)
                            auto_refresh=False, redirect_stdout=False, redirect_stderr=False)
            self._bar.start()
            self._task = self._bar.add_task("grading", total=self.total, rate="-", student="")
            self._bar.refresh()
        return self

    def advance(self, student: str) -> None:
        from autograder.reports import printable

        self.done += 1
        elapsed = time.perf_counter() - self.started
        rate = self.done / elapsed * 60 if elapsed > 0 else 0.0
        if self._bar is not None:
            self._bar.update(self._task, advance=1, rate=f"{rate:.1f}", student=printable(student), refresh=True)
        elif self.total > 1:
            eta = elapsed / self.done * (self.total - self.done)
            print(f"{self.done}/{self.total} graded, {elapsed:.0f}s elapsed, {rate:.1f}/min, ETA {eta:.0f}s "
                  f"({printable(student)})", file=self.stream, flush=True)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
