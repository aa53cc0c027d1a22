"""The device rules that make grading on a GPU work, tested where there is none.

Each rule here was found on an H200 (``scripts/cuda_check.py``; the README's
*CUDA* section): CUDA reserves far more address space than a worker's limit;
a worker host that starts autograd's engine or CUDA forks workers that cannot
use either; the sandbox must show the GPU's device nodes; code that only works
on the CPU fails on a GPU with an error, which is ``wrong-device``, not
``error``; behavioural runs stay on the CPU.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from assignments.pytorch_vfa.checks.test_q import sarsa_walk_case
from assignments.pytorch_vfa.checks.test_td0 import td0_walk_case
from autograder.checks.framework import Case, CheckContext, CheckSpec, Outcome, device_error
from autograder.worker import sandbox
from autograder.worker.sandbox import Limits
from tests.course import PYTORCH_VFA

ROOT = Path(__file__).resolve().parents[2]
CUDA_MISMATCH = ("Expected all tensors to be on the same device, but got tensors is on cpu, different from other "
                 "tensors on cuda:0 (when checking argument in method wrapper_CUDA_cat)")  # as seen on the H200


def error(message: str) -> Outcome:
    return Outcome("error", error={"type": "RuntimeError", "message": message, "where": None})


def case(device: str) -> Case:
    return Case("q_values", {"device": device}, "q_values(…)")


# --- diagnosis ----------------------------------------------------------------------------


@pytest.mark.parametrize("device, outcome, expected", [
    ("cuda", error(CUDA_MISMATCH), True),
    ("cuda", error("Input and parameter tensors are not at the same device, found input tensor at cpu and "
                   "parameter tensor at cuda:0"), True),
    ("cuda", error("division by zero"), False),  # an error of its own on the GPU
    ("cuda", error("CUDA out of memory"), False),
    ("cpu", error("expected device cpu"), False),  # on the CPU, no error is about the device
    ("meta", error("Tensor.item() cannot be called on meta tensors"), True),  # any error, on the meta device
    ("cuda", Outcome("ok", 1.0), False),
])
def test_device_error(device, outcome, expected):
    assert device_error(case(device), outcome) is expected


def context(diagnosed: dict | None = None, function: str = "q_values") -> CheckContext:
    return CheckContext(CheckSpec("q.values", "q", 3, function), PYTORCH_VFA,
                        student=lambda c, seed, **_: error("unused"),
                        seed=0, device="cuda", diagnosed={} if diagnosed is None else diagnosed)


def test_cpu_only_code_on_a_gpu_is_wrong_device():
    ctx = context()
    cases = [case("cuda"), case("cuda"), case("meta")]
    got = [error(CUDA_MISMATCH), error(CUDA_MISMATCH), error("Tensor on device cpu is not on the expected device meta!")]
    result = ctx._score(cases, [Outcome("ok", 1.0)] * 3, got, None)
    assert (result.diagnosis, result.score) == ("wrong-device", 0.0)
    assert "[wrong-device]" in result.feedback and "device=" in result.feedback  # what to do about it
    assert ctx.diagnosed["q_values"][0] == "wrong-device"  # so its callers are not charged again


def test_an_error_of_its_own_on_a_gpu_stays_an_error():
    result = context()._score([case("cuda")], [Outcome("ok", 1.0)], [error("name 'x' is not defined")], None)
    assert result.diagnosis == "error"


def test_a_caller_of_cpu_only_code_is_not_charged_again_on_a_gpu():
    caller = context({"q_values": ("wrong-device", None)}, function="semi_gradient_q_learning_update")
    result = caller._score([case("cuda")], [Outcome("ok", 1.0)], [error(CUDA_MISMATCH)], None)
    assert (result.status, result.score) == ("passed", 3)
    assert "given your `q_values` (which is marked wrong in q.values [wrong-device])" in result.feedback


class _Ctx:
    seed, device = 7, "cuda"


def test_behavioural_runs_stay_on_the_cpu():
    assert td0_walk_case(_Ctx()).args["device"] == sarsa_walk_case(_Ctx()).args["device"] == "cpu"


# --- the sandbox and the workers ------------------------------------------------------------


STAGE = "/tmp/autograder-stage"  #: where the staged worker code would be (only its path matters here)


def test_the_sandbox_shows_the_gpu_device_nodes(monkeypatch):
    monkeypatch.setattr(sandbox, "gpu_device_nodes", lambda: ["/dev/nvidiactl", "/dev/nvidia0"])
    monkeypatch.setenv("LD_LIBRARY_PATH", "/usr/local/nvidia/lib64")
    args = sandbox.bwrap_command(["true"], Limits(), STAGE)
    text = " ".join(args)
    assert "--dev-bind /dev/nvidiactl /dev/nvidiactl" in text and "--dev-bind /dev/nvidia0 /dev/nvidia0" in text
    assert "--ro-bind /sys /sys" in text
    assert "--setenv LD_LIBRARY_PATH /usr/local/nvidia/lib64" in text  # where CUDA's driver library is


def test_without_a_gpu_the_sandbox_shows_no_device_nor_sys(monkeypatch):
    monkeypatch.setattr(sandbox, "gpu_device_nodes", lambda: [])
    text = " ".join(sandbox.bwrap_command(["true"], Limits(), STAGE))
    assert "--dev-bind" not in text and "/sys" not in text


def test_bubblewrap_is_started_by_its_full_path(monkeypatch):
    # the host's environment has PATH=/usr/bin:/bin: a bwrap in /usr/local/bin was not found on the H200
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: "/usr/local/bin/bwrap")
    assert sandbox.bwrap_command(["true"], Limits(), STAGE)[0] == "/usr/local/bin/bwrap"


def _worker_limits(gpu: bool) -> dict:
    """The memory limits a freshly forked worker sets itself (zygote.become_worker)."""
    from autograder.worker.zygote import become_worker

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            scratch = os.environ.get("TMPDIR", "/tmp")
            become_worker({"scratch_root": scratch, "limits": {**vars(Limits())}, "gpu": gpu})
            os.write(write, json.dumps({name: resource.getrlimit(getattr(resource, name))[0]
                                        for name in ("RLIMIT_AS", "RLIMIT_DATA")}).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        return json.loads(pipe.read())


def test_a_worker_limits_its_address_space_without_a_gpu():
    limits = _worker_limits(gpu=False)
    assert limits["RLIMIT_AS"] == Limits().memory_bytes


def test_a_worker_that_may_use_cuda_limits_its_data_not_its_address_space():
    # On the H200, CUDA failed to start under a 4 GiB RLIMIT_AS ("Error 2: out of memory"): it reserves
    # 18 GB of address space. Under a 4 GiB RLIMIT_DATA it started (1.5 GB of data).
    limits = _worker_limits(gpu=True)
    assert limits["RLIMIT_DATA"] == Limits().memory_bytes and limits["RLIMIT_AS"] == resource.RLIM_INFINITY


PRELOAD = """
import sys, torch
calls = []
real = torch.autograd.backward
torch.autograd.backward = lambda *a, **k: (calls.append(1), real(*a, **k))[1]
from autograder.worker import zygote
zygote.preload("assignments.pytorch_vfa.probes", gpu=sys.argv[1] == "gpu")
print(len(calls))
"""


@pytest.mark.parametrize("gpu, backward_calls", [(True, 0), (False, 1)])
def test_a_host_that_shows_a_gpu_never_starts_autograd(gpu, backward_calls):
    # On the H200, after the host's warm-up step (backward + SGD) the host held /dev/nvidia* open and its
    # forked children failed: "CUDA error: initialization error", and for backward "Unable to handle
    # autograd's threading in combination with fork-based multiprocessing".
    done = subprocess.run([sys.executable, "-c", PRELOAD, "gpu" if gpu else "cpu"], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) == backward_calls


# --- bytecode ---------------------------------------------------------------------------------


def test_a_worker_writes_no_bytecode():
    # On the H200's fresh image, a cell whose import had no cached bytecode yet tried to write a .pyc into
    # site-packages, and the guard reported it as tampering. The host runs with -B (-I ignores the
    # PYTHONDONTWRITEBYTECODE of the worker's environment).
    from autograder.worker.client import NotebookSession, Zygote

    zygote = Zygote(PYTORCH_VFA.worker_code(), "process")
    session = NotebookSession(zygote, [{"index": 0, "id": None,
                                        "source": "import sys\nraise RuntimeError(sys.dont_write_bytecode)"}], 60)
    try:
        session.start()
        assert session.reports[0].error["message"] == "True"
    finally:
        session.close()
        zygote.close()


# --- scripts/cuda_check.py ----------------------------------------------------------------------


def test_cuda_check_tells_expected_differences_from_the_others():
    from scripts.cuda_check import differences

    def report(*checks):
        return {"s": {"checks": [{"name": n, "score": sc, "diagnosis": d} for n, sc, d in checks]}}

    gpu = report(("q.values", 0.0, "wrong-device"), ("td0.run", 0.0, None), ("td0.update", 10, None))
    cpu = report(("q.values", 2.4, "wrong-device"), ("td0.run", 3.0, None), ("td0.update", 10, None))
    unexpected, expected = differences(gpu, cpu)
    assert unexpected == ["s td0.run: (0.0, None) vs (3.0, None)"]
    assert expected == ["s q.values: (0.0, 'wrong-device') vs (2.4, 'wrong-device')"]
