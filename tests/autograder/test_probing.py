"""Answering a probe (autograder/worker/probing.py): what an exception of the student's code is."""

from __future__ import annotations

import linecache

import torch

from autograder.worker.api import Api, probe, probes_of
from autograder.worker.probing import raised_by_a_stub, run_probe


def cell_function(source: str, name: str, index: int = 0):
    """A function defined in a cell as a worker runs it (compiled as ``<cell N>``, its lines registered)."""
    filename = f"<cell {index}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = {"torch": torch}
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]


STUB = "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
META_COPY = "def f(x):\n    out = torch.zeros(1)\n    out[0] = x[0]\n    return out\n"  # a CPU tensor, meta values


@probe
def call(api: Api, x: torch.Tensor):
    return api.f(x)




def outcome(source: str, x: torch.Tensor) -> str:
    probes = probes_of(__import__(__name__, fromlist=["call"]))
    reply = run_probe(probes, {"f": cell_function(source, "f")}, {"probe": "call", "args": {"x": x}, "seed": 0,
                                                                   "time_limit": 10})
    return reply["outcome"]


def test_a_stub_is_not_implemented():
    assert outcome(STUB, torch.ones(1)) == "not-implemented"


def test_a_library_raising_not_implemented_error_is_an_error():
    # torch raises NotImplementedError("Cannot copy out of meta tensor"): CPU-only code on the meta device
    assert outcome(META_COPY, torch.ones(1, device="meta")) == "error"
    assert outcome(META_COPY, torch.ones(1)) == "ok"


def test_the_rule_reads_the_raising_line():
    try:
        cell_function(STUB, "f", 7)(None)
    except NotImplementedError as exc:
        assert raised_by_a_stub(exc)
    try:
        cell_function(META_COPY, "f", 8)(torch.ones(1, device="meta"))
    except NotImplementedError as exc:
        assert not raised_by_a_stub(exc)
