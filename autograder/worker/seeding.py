"""One place seeds every source of randomness a probe may touch, on both sides."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def deterministic_math() -> None:
    """TF32 off: on recent GPUs it rounds float32 matmuls to 10-bit mantissas,
    far beyond the tolerances the checks state."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
