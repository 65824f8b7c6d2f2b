"""Time-first batching: datasets hold one sequence per item, ``(x [T, ...], label)``; models take ``[T, B, ...]``."""
from __future__ import annotations

import torch
from torch.utils.data import default_collate

__all__ = ["time_first", "time_first_collate"]


def time_first(x: torch.Tensor) -> torch.Tensor:
    """A batch-first ``[B, T, ...]`` tensor as a contiguous time-first ``[T, B, ...]`` tensor."""
    if x.dim() < 2:
        raise ValueError(f"time_first: x must have at least 2 dimensions [B, T, ...], got shape {tuple(x.shape)}")
    return x.transpose(0, 1).contiguous()


def time_first_collate(batch):
    """``collate_fn`` for a ``DataLoader``: a list of ``(x [T, ...], label)`` becomes ``(x [T, B, ...], labels [B])``."""
    x, y = default_collate(batch)
    return time_first(x), y
