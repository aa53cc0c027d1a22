"""Helpers for the grader's tests: write notebooks, run ``autograder grade``."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main

# A student's correct Part 1, written differently from the reference on purpose.
TENSORS_OK = '''\
import numpy as np
import torch

def tensor_from_data(data):
    return torch.from_numpy(data) if isinstance(data, np.ndarray) else torch.tensor(data)

def column(matrix, j):
    return matrix[:, j]

def columns_concatenated(matrix):
    return matrix.T.reshape(-1)

def columns_stacked(matrix):
    return matrix.T.contiguous()

def move_first_axis_last(x):
    return x.movedim(0, -1)

def drop_singleton_axes(x):
    return x.squeeze()

def add_axis(x, dim):
    return torch.unsqueeze(x, dim)

def flat_view(x):
    return x.view(-1)

def select_device(prefer_cuda=True):
    return torch.device("cuda") if prefer_cuda and torch.cuda.is_available() else torch.device("cpu")
'''


def write_notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def grade_json(capsys, *args: str) -> tuple[int, dict | None, str]:
    """Run ``autograder grade ARGS --format json``; (exit code, report, stderr)."""
    code = main(["grade", *args, "--format", "json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def checks_by_name(submission: dict) -> dict[str, dict]:
    return {check["name"]: check for check in submission["checks"]}


@pytest.fixture
def tensors_ok() -> str:
    return TENSORS_OK
