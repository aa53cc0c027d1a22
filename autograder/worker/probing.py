"""Answering one probe: call it on the student's namespace, report what happened, as data."""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import torch

from autograder.worker import api, wire
from autograder.worker.cells import CappedText, describe_exception, raised_by_a_stub
from autograder.worker.guard import Guard, suspicious
from autograder.worker.limits import CallLimits, CellTimeout, time_limit
from autograder.worker.recording import CallRecorder
from autograder.worker.seeding import seed_everything


class StudentApi(api.Api):
    """The student's namespace as the probes see it. What a student's function
    returns reaches the probe as plain tensors: a tensor subclass could lie to
    the probe (about its graph, its storage) through ``__torch_function__``."""

    def __init__(self, namespace: dict, guard: Guard | None = None):
        super().__init__(namespace)
        self._guard = guard

    def __getattr__(self, name: str) -> Any:
        value = super().__getattr__(name)
        if not callable(value) or isinstance(value, type):
            return value

        def plain_result(*args: Any, **kwargs: Any) -> Any:
            result = value(*args, **kwargs)
            if self._guard is not None:
                for what in suspicious(result):
                    self._guard.record(what)
            return self._plain(result)

        return plain_result

    def _plain(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor) and type(value) not in (torch.Tensor, torch.nn.Parameter):
            return torch._C.TensorBase.as_subclass(value, torch.Tensor)
        if isinstance(value, (tuple, list)):
            return (list if isinstance(value, list) else tuple)(self._plain(v) for v in value)
        return value


def run_probe(probes: dict[str, Callable[..., Any]], namespace: dict, request: dict,
              guard: Guard | None = None) -> dict:
    """Call one probe on the student's namespace; say what happened (and,
    with a guard, what it saw the student's code do: ``tampering``)."""
    reply = _probe(probes, namespace, request, guard)
    if guard is not None:
        reply["tampering"] = guard.findings()
    return reply


def _probe(probes: dict[str, Callable[..., Any]], namespace: dict, request: dict, guard: Guard | None) -> dict:
    student = StudentApi(namespace, guard)
    args = wire.plain(request.get("args", {}))
    if guard is not None:  # anything patched since the last reply is put back before the probe runs
        guard.restore()
    seed_everything(int(request.get("seed", 0)))
    stdout, stderr = CappedText(), CappedText()
    record = request.get("record")
    recorder = CallRecorder(namespace, str(record["function"]), [str(n) for n in record["callees"]]) \
        if isinstance(record, dict) else contextlib.nullcontext()
    # outermost, so that a call's own limit also bounds the recording of that call
    call_limits = CallLimits(namespace, {str(k): float(v) for k, v in (request.get("call_limits") or {}).items()})
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr), \
                time_limit(float(request["time_limit"])), \
                guard.watching() if guard else contextlib.nullcontext(), recorder, call_limits:
            value = api.run(probes, request["probe"], student, **args)
            if guard is not None:
                for what in suspicious(value):
                    guard.record(what)
                guard.check_output(stdout.getvalue(), stderr.getvalue())
        reply = {"outcome": "ok", "value": value}
        if isinstance(recorder, CallRecorder) and recorder.calls:
            reply["calls"] = recorder.calls if recorder.complete else None
        return reply
    except api.Missing as exc:
        return {"outcome": "missing", "name": exc.name}
    except CellTimeout:
        return {"outcome": "timeout", **({"in": call_limits.struck} if call_limits.struck else {})}
    except NotImplementedError as exc:  # a stub's raise; a library's ("no data on the meta device") is an error
        kind = "not-implemented" if raised_by_a_stub(exc) else "error"
        return {"outcome": kind, "error": describe_exception(exc)}
    except BaseException as exc:  # noqa: BLE001
        return {"outcome": "error", "error": describe_exception(exc)}
