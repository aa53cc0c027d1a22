"""Part 1: creating, indexing and reshaping tensors."""

from __future__ import annotations

import numpy as np
import torch


def tensor_from_data(data: list | np.ndarray) -> torch.Tensor:
    """A tensor with the values and shape of ``data``.

    A NumPy array keeps its dtype and shares its memory with the tensor
    (``torch.from_numpy``); a nested list gets torch's inferred dtype
    (ints -> int64, floats -> float32) through ``torch.tensor``, which copies.
    """
    if isinstance(data, np.ndarray):
        return torch.from_numpy(data)
    return torch.tensor(data)


def column(matrix: torch.Tensor, j: int) -> torch.Tensor:
    """Column ``j`` of a 2-D tensor as a 1-D tensor; negative ``j`` counts from the end."""
    return matrix[:, j]


def columns_concatenated(matrix: torch.Tensor) -> torch.Tensor:
    """The columns of a 2-D tensor one after another, as one 1-D tensor."""
    return torch.cat(matrix.unbind(dim=1))


def columns_stacked(matrix: torch.Tensor) -> torch.Tensor:
    """A 2-D tensor whose row ``i`` is column ``i`` of ``matrix``."""
    return torch.stack(matrix.unbind(dim=1))


def move_first_axis_last(x: torch.Tensor) -> torch.Tensor:
    """Shape ``(d0, d1, ..., dn)`` -> ``(d1, ..., dn, d0)``, values moved with their axis."""
    return x.permute(*range(1, x.dim()), 0)


def drop_singleton_axes(x: torch.Tensor) -> torch.Tensor:
    """``x`` with every axis of size 1 removed."""
    return x.squeeze()


def add_axis(x: torch.Tensor, dim: int) -> torch.Tensor:
    """``x`` with a new axis of size 1 at position ``dim`` (negative counts from the end)."""
    return x.unsqueeze(dim)


def flat_view(x: torch.Tensor) -> torch.Tensor:
    """A 1-D view of a contiguous ``x``: same storage, nothing copied."""
    return x.view(-1)


def select_device(prefer_cuda: bool = True) -> torch.device:
    """``cuda`` when it is preferred and available, else ``cpu``."""
    return torch.device("cuda" if prefer_cuda and torch.cuda.is_available() else "cpu")
