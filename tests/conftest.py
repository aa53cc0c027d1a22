"""Shared test setup: one torch thread (far faster than two on busy small machines)."""

import torch

torch.set_num_threads(1)
