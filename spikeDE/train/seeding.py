"""Seeding and the random-number state of a run (saved in checkpoints so that a resumed run continues the
same random streams).

With the same seed, the same thread count and the same PyTorch build, CPU training is bit-identical:
PyTorch's CPU kernels are deterministic. On CUDA, :func:`seed_everything` also switches cuDNN to its
deterministic algorithms (some CUDA kernels remain non-deterministic; results then agree to rounding).
"""
from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["seed_everything", "derive_seed", "get_rng_state", "set_rng_state"]


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global RNG and PyTorch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def derive_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed derived from ``seed`` and integer ``keys`` (independent streams for epochs, ranks ...)."""
    return int(np.random.SeedSequence([int(seed) % 2**63, *[int(k) for k in keys]]).generate_state(2, np.uint64)[0]
               >> np.uint64(1))


def get_rng_state() -> dict:
    """The state of every global RNG as tensors and plain Python values (loadable with ``weights_only``)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]),
                  float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }


def set_rng_state(state: dict) -> None:
    """Restore the states saved by :func:`get_rng_state`."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))
