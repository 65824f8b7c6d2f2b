"""Exact spike times of a population, padded per neuron, built lazily from the simulator's spike groups."""
from __future__ import annotations

import math
from typing import Sequence

import torch

from .interval import SpikeGroup

__all__ = ["SpikeTrain"]

# Largest number of (group, spike, neuron) candidates materialised at once when the padded times are built.
_CHUNK_ELEMENTS = 1 << 24


class SpikeTrain:
    """Spike times of ``[..., n_neurons]`` neurons over ``[t_start, t_start + duration]`` (ms).

    * ``times``: ``[..., n_neurons, S]`` absolute spike times in ms, ascending per neuron, padded with ``+inf``
      (``S`` = the largest count). The tensor keeps the autograd graph: spike times are differentiable.
    * ``counts``: ``[..., n_neurons]`` int64 numbers of spikes; ``mask``: ``times`` entries that are spikes.
    * ``first_spike_times()``: ``times[..., 0]`` (``+inf`` for silent neurons), the usual readout of
      time-to-first-spike coding.

    The simulator stores spikes compactly as groups ``(base, step, count)`` (neuron ``i`` spikes at
    ``base[i] + k step[i]``, ``k < count[i]``); the padded tensor is assembled on first access.
    """

    def __init__(self, groups: Sequence[SpikeGroup], shape, t_start: float, duration: float, dtype, device):
        self._groups = list(groups)
        self.shape = tuple(shape)
        self.t_start = float(t_start)
        self.duration = float(duration)
        self.dtype = dtype
        self.device = device
        self._times = None
        self._counts = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def concat(cls, trains: Sequence["SpikeTrain"]) -> "SpikeTrain":
        """Join consecutive trains of the same neurons (e.g. the outputs of successive ``step`` calls)."""
        trains = list(trains)
        if not trains:
            raise ValueError("SpikeTrain.concat: needs at least one SpikeTrain")
        shape = trains[0].shape
        for k, tr in enumerate(trains):
            if tr.shape != shape:
                raise ValueError(f"SpikeTrain.concat: train {k} has neuron shape {tr.shape}, expected {shape}")
        for a, b in zip(trains[:-1], trains[1:]):
            if b.t_start < a.t_start + a.duration - 1e-9 * max(1.0, abs(a.t_start + a.duration)):
                raise ValueError(
                    f"SpikeTrain.concat: trains overlap in time (one ends at {a.t_start + a.duration} ms, the "
                    f"next starts at {b.t_start} ms); pass them in time order"
                )
        groups = [g for tr in trains for g in tr._groups]
        end = trains[-1].t_start + trains[-1].duration
        return cls(groups, shape, trains[0].t_start, end - trains[0].t_start, trains[0].dtype, trains[0].device)

    def detach(self) -> "SpikeTrain":
        """The same spikes without autograd graph."""
        groups = [type(g)(g.base.detach(), g.step.detach(), g.count.detach()) for g in self._groups]
        out = SpikeTrain(groups, self.shape, self.t_start, self.duration, self.dtype, self.device)
        out._counts = self._counts
        out._times = None if self._times is None else self._times.detach()
        return out

    # ------------------------------------------------------------------ views
    @property
    def counts(self) -> torch.Tensor:
        if self._counts is None:
            c = torch.zeros(self.shape, dtype=self.dtype, device=self.device)
            for g in self._groups:
                c = c + g.count.detach()
            self._counts = c.round().to(torch.int64)
        return self._counts

    @property
    def num_spikes(self) -> int:
        """Total number of spikes of all neurons."""
        return int(self.counts.sum())

    @property
    def times(self) -> torch.Tensor:
        if self._times is None:
            self._times = self._assemble()
        return self._times

    @property
    def mask(self) -> torch.Tensor:
        """``True`` where ``times`` holds a spike (not padding)."""
        s = self.times.shape[-1]
        return torch.arange(s, device=self.device) < self.counts.unsqueeze(-1)

    def first_spike_times(self) -> torch.Tensor:
        """Time of each neuron's first spike (``+inf`` if it is silent), with gradient."""
        t = self.times
        if t.shape[-1] == 0:
            return torch.full(self.shape, math.inf, dtype=self.dtype, device=self.device)
        return t[..., 0]

    def to_list(self):
        """Nested Python lists (one list of floats per neuron), no gradient."""
        t = self.times.detach().cpu()
        c = self.counts.cpu()

        def rec(tt, cc):
            if cc.dim() == 0:
                return tt[: int(cc)].tolist()
            return [rec(tt[i], cc[i]) for i in range(cc.shape[0])]

        return rec(t, c)

    def __repr__(self) -> str:
        return (
            f"SpikeTrain(shape={self.shape}, spikes={self.num_spikes}, t_start={self.t_start:g} ms, "
            f"duration={self.duration:g} ms, dtype={self.dtype})"
        )

    # ------------------------------------------------------------------ assembly
    def _assemble(self) -> torch.Tensor:
        shape, dtype, device = self.shape, self.dtype, self.device
        total = self.counts
        s_max = int(total.max()) if total.numel() else 0
        out = torch.full((s_max + 1, *shape), math.inf, dtype=dtype, device=device)
        if s_max == 0:
            return out[:0].movedim(0, -1)
        groups = [g for g in self._groups]
        offset = torch.zeros(shape, dtype=torch.int64, device=device)
        n_el = max(1, math.prod(shape))
        k = 0
        while k < len(groups):
            # take as many groups as fit in the element budget, given their largest per-neuron count
            chunk, j_max = [], 0
            while k < len(groups):
                g = groups[k]
                jm = max(j_max, int(g.count.detach().max()) if g.count.numel() else 0)
                if chunk and (len(chunk) + 1) * max(jm, 1) * n_el > _CHUNK_ELEMENTS:
                    break
                chunk.append(g)
                j_max = jm
                k += 1
            if j_max == 0:
                continue
            base = torch.stack([g.base for g in chunk])  # [G, *shape]
            step = torch.stack([g.step for g in chunk])
            cnt = torch.stack([g.count.detach() for g in chunk])
            j = torch.arange(j_max, device=device).view(1, j_max, *([1] * len(shape)))
            t = base.unsqueeze(1) + j.to(dtype) * step.unsqueeze(1)  # [G, J, *shape]
            m = j < cnt.unsqueeze(1)
            t = t.reshape(-1, *shape)
            m = m.reshape(-1, *shape)
            slot = offset + torch.cumsum(m.to(torch.int64), 0) - 1
            idx = torch.where(m, slot, torch.full_like(slot, s_max))
            out = out.scatter(0, idx, t)
            offset = offset + m.sum(0)
        return out[:s_max].movedim(0, -1)
