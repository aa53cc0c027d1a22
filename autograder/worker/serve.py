"""What runs inside a worker process: the student's cells, then probes.

The worker knows nothing of the reference or of expected values. It executes
the code cells it is sent, in order, in one namespace, then answers probe
requests: it calls a probe of the assignment's probes module on that namespace
and sends back what happened, as data (:mod:`autograder.worker.wire`), with
what its :class:`~autograder.worker.guard.Guard` saw meanwhile.
"""

from __future__ import annotations

import importlib
import os
import socket
import sys
from types import ModuleType

import torch

from autograder.worker import wire
from autograder.worker.api import probes_of
from autograder.worker.cells import run_cell
from autograder.worker.framing import recv, send
from autograder.worker.guard import Boundaries, Guard
from autograder.worker.limits import limit_gpu_memory
from autograder.worker.probing import run_probe
from autograder.worker.seeding import deterministic_math


def guard_for(config: dict, probes: ModuleType) -> Guard:
    """The guard of a worker started with ``config``, watching ``probes``; the scratch folder is the cwd."""
    return Guard(os.getcwd(), probes, private_tmp=bool(config.get("private_tmp")),
                 boundaries=Boundaries(tuple(config.get("denied", ())), tuple(config.get("allowed", ()))),
                 reference=config.get("reference", "solutions"))


def serve(sock: socket.socket, config: dict) -> None:
    """The worker's loop: answer requests until the grader closes the socket.

    ``config`` (from the grader, see :class:`autograder.worker.host.ZygoteHost`): ``probes``, the
    module of the assignment's probes; ``reference``, the reference's package (never importable here);
    ``denied``/``allowed``, the :class:`Boundaries` of what student code may read; ``private_tmp``,
    whether ``/tmp`` is the sandbox's own (bwrap), so writing there is harmless; ``gpu``, whether a
    GPU is shown, and then ``limits.memory_bytes`` caps the worker's share of its memory."""
    torch.set_num_threads(1)
    deterministic_math()
    if config.get("gpu"):
        limit_gpu_memory(config["limits"]["memory_bytes"])
    module = importlib.import_module(config["probes"])
    probes = probes_of(module)
    namespace: dict = {"__name__": "__main__"}
    guard = guard_for(config, module)
    while True:
        try:
            request = recv(sock)
        except EOFError:
            return
        kind = request.get("kind")
        if kind == "cell":
            reply = run_cell(namespace, request["cell"], float(request["time_limit"]), guard)
        elif kind == "probe":
            reply = run_probe(probes, namespace, request, guard)
        else:
            reply = {"outcome": "error", "error": {"type": "ProtocolError", "message": f"unknown request {kind!r}"}}
        try:
            send(sock, reply)
        except wire.WireError as exc:
            send(sock, {"outcome": "error", "error": {"type": "ResultRejected", "message": str(exc), "where": None}})
        sys.stdout.flush()
