"""One place seeds every source of randomness a probe may touch, on both sides."""

from __future__ import annotations

import functools
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if _cpu_only():  # the same CPU draws; torch.manual_seed also seeds (or queues) every accelerator: ~1 ms
        torch.default_generator.manual_seed(seed)
    else:
        torch.manual_seed(seed)


@functools.cache
def _cpu_only() -> bool:
    """No accelerator this torch could use: no NVIDIA device nodes (so no CUDA to start later), not a
    ROCm build, no MPS, no XPU."""
    try:
        from .sandbox import gpu_device_nodes
    except ImportError:  # the students' self-check ships this module without the sandbox: seed every device
        return False
    xpu = getattr(torch, "xpu", None)
    return not gpu_device_nodes() and getattr(torch.version, "hip", None) is None \
        and not torch.backends.mps.is_available() and not (xpu is not None and xpu.is_available())


def deterministic_math() -> None:
    """TF32 off: on recent GPUs it rounds float32 matmuls to 10-bit mantissas,
    far beyond the tolerances the checks state."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
