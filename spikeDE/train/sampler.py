"""The batch order of a run: the same in every process, reproducible per epoch, resumable mid-epoch.

Epoch ``e`` visits the training set in the order ``randperm(n)`` drawn from a generator seeded with
``derive_seed(seed, e)``, cut into *global* batches of ``batch_size``. With ``world_size`` processes, process
``r`` takes the entries ``r, r + W, r + 2W, ...`` of each global batch (a distributed sampler), so the union
of the local batches is exactly the global batch of a one-process run, and no sample is repeated or dropped
(unlike padding to a multiple of ``W``). Because the order depends only on ``(seed, epoch)``, a resumed run
skips the batches it has done and continues with the same ones an uninterrupted run would see.
"""
from __future__ import annotations

import torch

from .seeding import derive_seed

__all__ = ["GlobalBatchSampler"]


class GlobalBatchSampler:
    def __init__(self, n: int, batch_size: int, seed: int = 0, shuffle: bool = True, rank: int = 0,
                 world_size: int = 1):
        if n < 1:
            raise ValueError(f"GlobalBatchSampler: the dataset is empty (n={n})")
        if batch_size < 1:
            raise ValueError(f"GlobalBatchSampler: batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"GlobalBatchSampler: rank {rank} outside [0, {world_size})")
        if batch_size < world_size:
            raise ValueError(f"the global batch size ({batch_size}) must be at least the number of processes "
                             f"({world_size})")
        self.n, self.batch_size, self.seed, self.shuffle = n, batch_size, seed, shuffle
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        """Batches per epoch."""
        return -(-self.n // self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.n)
        g = torch.Generator().manual_seed(derive_seed(self.seed, 0x5EED, epoch))
        return torch.randperm(self.n, generator=g)

    def global_batches(self, epoch: int) -> list[torch.Tensor]:
        return list(torch.split(self.order(epoch), self.batch_size))

    def local_batches(self, epoch: int, start: int = 0):
        """Yield ``(local indices, size of the global batch)`` for batches ``start, start+1, ...`` of ``epoch``."""
        for idx in self.global_batches(epoch)[start:]:
            yield idx[self.rank::self.world_size], len(idx)
