"""In-kernel (nbgrader) checks flag the obvious attacks: the reference
imported, comparisons patched, a graded name redefined after its test cell."""

from __future__ import annotations

import pytest
import torch

import solutions.pytorch_vfa as solutions
from autograder import in_kernel
from autograder.in_kernel import NoPoints, run_checks

HONEST = {name: getattr(solutions, name) for name in ("column", "add_axis")}


def honest_namespace() -> dict:
    # the student's own code, as the kernel holds it: functions defined in __main__
    namespace: dict = {"torch": torch}
    exec("def column(matrix, j):\n    return matrix[:, j]\n"
         "def add_axis(x, dim):\n    return x.unsqueeze(dim)\n", namespace)
    return namespace


def test_an_honest_kernel_scores(capsys):
    assert run_checks("tensors.column", honest_namespace()) == 1.0


def test_importing_the_reference_is_flagged(capsys):
    namespace = honest_namespace()
    namespace["column"] = solutions.column
    with pytest.raises(NoPoints, match="tampering"):
        run_checks("tensors.column", namespace)
    assert "Tampering: the notebook imported the reference solutions (`column`)." in capsys.readouterr().out


def test_patched_comparisons_are_flagged(capsys, monkeypatch):
    monkeypatch.setattr(torch, "allclose", lambda *args, **kwargs: True)
    monkeypatch.setattr(torch.Tensor, "__eq__", lambda self, other: torch.ones_like(self, dtype=torch.bool))
    with pytest.raises(NoPoints, match="tampering"):
        run_checks("tensors.column", honest_namespace())
    out = capsys.readouterr().out
    assert "replaced comparison functions: torch.allclose, torch.Tensor.__eq__" in out


def test_a_graded_name_redefined_after_its_test_cell_is_flagged(capsys):
    namespace = honest_namespace()
    assert run_checks("tensors.column", namespace) == 1.0
    exec("def column(matrix, j):\n    return matrix[:, 0]\n", namespace)
    with pytest.raises(NoPoints, match="redefined after its test cell"):
        run_checks("tensors.add_axis", namespace)
    in_kernel._GRADED.pop(id(namespace), None)
