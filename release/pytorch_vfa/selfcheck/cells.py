"""Running a student's code cell: compiled under its own name, time-limited, its output captured and capped."""

from __future__ import annotations

import contextlib
import io
import linecache
import re
import traceback
from typing import TYPE_CHECKING

from .limits import CellTimeout, time_limit

if TYPE_CHECKING:
    from .guard import Guard

OUTPUT_CAP = 20_000  # characters of a cell's stdout/stderr kept for the report
_MAGIC = re.compile(r"^(\s*)([%!].*)$", re.MULTILINE)


class CappedText(io.StringIO):
    """A text stream that keeps only the first OUTPUT_CAP characters."""

    def write(self, s: str) -> int:
        room = OUTPUT_CAP - self.tell()
        if room > 0:
            super().write(s[:room])
        return len(s)


def strip_magics(source: str) -> str:
    """IPython magics and shell escapes mean nothing outside a kernel: comment them out."""
    return _MAGIC.sub(r"\1# \2", source)


def describe_exception(exc: BaseException, filename_prefix: str = "<cell") -> dict:
    """Type, message and the last line of the student's code that raised it."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(filename_prefix):
            line = {"cell": frame.filename.strip("<>"), "lineno": frame.lineno, "code": frame.line}
    message = str(exc)
    return {"type": type(exc).__name__, "message": message[:500], "where": line}


def raised_by_a_stub(exc: NotImplementedError) -> bool:
    """Whether ``exc`` comes from a ``raise NotImplementedError`` line (the release's stub, a student's
    "not done yet"), not from a call that raised it (torch on the meta device, say)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return True
    line = linecache.getline(tb.tb_frame.f_code.co_filename, tb.tb_lineno)
    return "raise" in line and "NotImplementedError" in line


def run_cell(namespace: dict, cell: dict, seconds: float, guard: Guard | None = None) -> dict:
    """Execute one code cell; report its outcome, (capped) output and what the guard saw."""
    stdout, stderr = CappedText(), CappedText()
    outcome: dict = {"index": cell["index"], "id": cell.get("id"), "status": "ok"}
    filename = f"<cell {cell['index']}>"
    source = strip_magics(cell["source"])
    # Registered so that tracebacks can quote the student's line.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        code = compile(source, filename, "exec")
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr), time_limit(seconds), \
                guard.watching() if guard else contextlib.nullcontext():
            exec(code, namespace)
    except CellTimeout:
        outcome["status"] = "timeout"
    except SystemExit as exc:  # sys.exit() in a cell ends that cell, not the worker
        outcome.update(status="error", error={"type": "SystemExit", "message": str(exc.code), "where": None})
    except BaseException as exc:  # noqa: BLE001 - a student's cell may raise anything
        outcome.update(status="error", error=describe_exception(exc))
    outcome["stdout"], outcome["stderr"] = stdout.getvalue(), stderr.getvalue()
    if guard is not None:
        guard.check_output(outcome["stdout"], outcome["stderr"])
        outcome["tampering"] = guard.findings()
    return outcome
