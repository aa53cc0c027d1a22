"""What runs inside a worker process: the student's cells, then probes.

The worker knows nothing of the reference or of expected values. It executes
the code cells it is sent, in order, in one namespace, then answers probe
requests: it calls a probe from :mod:`autograder.probes` on that namespace and
sends back what happened, as data (:mod:`autograder.worker.wire`).
"""

from __future__ import annotations

import contextlib
import io
import linecache
import os
import random
import re
import signal
import socket
import struct
import sys
import traceback
from typing import Any

import numpy as np
import torch

from autograder import probes
from autograder.worker import wire

OUTPUT_CAP = 20_000  # characters of a cell's stdout/stderr kept for the report
_MAGIC = re.compile(r"^(\s*)([%!].*)$", re.MULTILINE)


class CellTimeout(TimeoutError):
    """A cell or probe ran past its time limit inside the worker."""


def send(sock: socket.socket, message: Any) -> None:
    data = wire.dumps(message)
    sock.sendall(struct.pack("!Q", len(data)) + data)


def recv(sock: socket.socket) -> Any:
    header = _recv_exactly(sock, 8)
    (size,) = struct.unpack("!Q", header)
    if size > wire.MAX_MESSAGE_BYTES:
        raise wire.WireError("message over the size limit")
    return wire.loads(_recv_exactly(sock, size))


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError("peer closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _on_alarm(signum, frame):
    raise CellTimeout("time limit reached")


@contextlib.contextmanager
def time_limit(seconds: float):
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


class _CappedText(io.StringIO):
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


def run_cell(namespace: dict, cell: dict, seconds: float) -> dict:
    """Execute one code cell; report its outcome and (capped) output."""
    stdout, stderr = _CappedText(), _CappedText()
    outcome: dict = {"index": cell["index"], "id": cell.get("id"), "status": "ok"}
    filename = f"<cell {cell['index']}>"
    source = strip_magics(cell["source"])
    # Registered so that tracebacks can quote the student's line.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        code = compile(source, filename, "exec")
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr), time_limit(seconds):
            exec(code, namespace)
    except CellTimeout:
        outcome["status"] = "timeout"
    except SystemExit as exc:  # sys.exit() in a cell ends that cell, not the worker
        outcome.update(status="error", error={"type": "SystemExit", "message": str(exc.code), "where": None})
    except BaseException as exc:  # noqa: BLE001 - a student's cell may raise anything
        outcome.update(status="error", error=describe_exception(exc))
    outcome["stdout"], outcome["stderr"] = stdout.getvalue(), stderr.getvalue()
    return outcome


def deterministic_math() -> None:
    """TF32 off: on recent GPUs it rounds float32 matmuls to 10-bit mantissas,
    far beyond the tolerances the checks state."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def seed_everything(seed: int) -> None:
    """One place seeds every source of randomness a probe may touch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run_probe(namespace: dict, request: dict) -> dict:
    """Call one probe on the student's namespace; say what happened."""
    api = probes.Api(namespace)
    args = _plain(request.get("args", {}))
    seed_everything(int(request.get("seed", 0)))
    try:
        with contextlib.redirect_stdout(_CappedText()), contextlib.redirect_stderr(_CappedText()), \
                time_limit(float(request.get("time_limit", 10))):
            value = probes.run(request["probe"], api, **args)
        return {"outcome": "ok", "value": value}
    except probes.Missing as exc:
        return {"outcome": "missing", "name": exc.name}
    except CellTimeout:
        return {"outcome": "timeout"}
    except NotImplementedError as exc:
        return {"outcome": "not-implemented", "error": describe_exception(exc)}
    except BaseException as exc:  # noqa: BLE001
        return {"outcome": "error", "error": describe_exception(exc)}


def _plain(value: Any) -> Any:
    """Arguments from the grader, with received tensors made ordinary tensors."""
    if isinstance(value, wire.WireTensor):
        return value.values
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def serve(sock: socket.socket) -> None:
    """The worker's loop: answer requests until the grader closes the socket."""
    torch.set_num_threads(1)
    deterministic_math()
    namespace: dict = {"__name__": "__main__"}
    while True:
        try:
            request = recv(sock)
        except EOFError:
            return
        kind = request.get("kind")
        if kind == "cell":
            reply = run_cell(namespace, request["cell"], float(request.get("time_limit", 60)))
        elif kind == "probe":
            reply = run_probe(namespace, request)
        else:
            reply = {"outcome": "error", "error": {"type": "ProtocolError", "message": f"unknown request {kind!r}"}}
        try:
            send(sock, reply)
        except wire.WireError as exc:
            send(sock, {"outcome": "error", "error": {"type": "ResultRejected", "message": str(exc), "where": None}})
        sys.stdout.flush()
