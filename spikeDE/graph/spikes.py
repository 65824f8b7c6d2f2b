r"""Rate encoders: node features ``x`` (any shape) become spike trains ``[T, *x.shape]`` of 0/1 values in ``x``'s
dtype and device.

* ``bernoulli``: ``s_t ~ Bernoulli(p)``, ``p = clamp(x, 0, 1)``, independent over steps (SpikingGCN, SGCN).
* ``poisson``: a Poisson process of rate ``max(x, 0)`` events per step; step ``t`` spikes if at least one event
  falls in it: ``P(s_t = 1) = 1 - exp(-max(x, 0))``.
* ``deterministic``: regular spikes at rate ``p = clamp(x, 0, 1)``: ``s_t = floor((t+1) p) - floor(t p)``
  (an integrate-and-fire on a constant input), so ``sum_t s_t = floor(T p)`` exactly, no randomness.

Random encoders draw from ``generator`` (a seeded ``torch.Generator`` on the device of ``x``) when given, else
from PyTorch's global generator, and draw only for the entries whose spike probability is strictly between 0 and
1 (``T`` uniforms each): an entry with probability 0 or 1 never or always spikes, so its draw would not change
anything. z-scored bag-of-words features are mostly such entries (Cora: 0.8 % of the entries are random), so
this is the same distribution at a fraction of the cost.
"""
from __future__ import annotations

import torch
from torch import nn

from .._checks import check_floating

__all__ = ["ENCODERS", "bernoulli_spikes", "poisson_spikes", "deterministic_spikes", "SpikeEncoder"]


def _check(x, steps, where):
    check_floating(x, "x", where)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"{where}: steps must be an integer >= 1, got {steps!r}")


def _draw(p: torch.Tensor, steps: int, generator) -> torch.Tensor:
    """``1[u_t < p]`` for ``u_t ~ U[0, 1)``, ``[steps, *p.shape]`` in ``p``'s dtype, drawing only where ``0 < p < 1``."""
    p = p.detach()
    flat = p.reshape(-1)
    out = (flat >= 1).to(p.dtype).expand(steps, -1).clone()
    idx = ((flat > 0) & (flat < 1)).nonzero().flatten()
    if idx.numel():
        u = torch.rand((steps, idx.numel()), generator=generator, dtype=p.dtype, device=p.device)
        out[:, idx] = (u < flat[idx]).to(p.dtype)
    return out.reshape(steps, *p.shape)


def bernoulli_spikes(x: torch.Tensor, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``s_t = 1[u_t < clamp(x, 0, 1)]``, ``u_t ~ U[0, 1)`` i.i.d.: ``[steps, *x.shape]``."""
    _check(x, steps, "bernoulli_spikes")
    return _draw(x.clamp(0, 1), steps, generator)


def poisson_spikes(x: torch.Tensor, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``s_t = 1[u_t < 1 - exp(-max(x, 0))]``: at least one event of a rate-``x`` Poisson process in the step."""
    _check(x, steps, "poisson_spikes")
    return _draw(-torch.expm1(-x.clamp(min=0)), steps, generator)


def deterministic_spikes(x: torch.Tensor, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``s_t = floor((t+1) p) - floor(t p)``, ``p = clamp(x, 0, 1)`` (computed in float64; ``generator`` unused)."""
    _check(x, steps, "deterministic_spikes")
    p = x.detach().clamp(0, 1).to(torch.float64)
    t = torch.arange(steps + 1, dtype=torch.float64, device=x.device).reshape(-1, *([1] * x.dim()))
    count = torch.floor(t * p + 1e-9)
    return count.diff(dim=0).to(x.dtype)


ENCODERS = {"bernoulli": bernoulli_spikes, "poisson": poisson_spikes, "deterministic": deterministic_spikes}


class SpikeEncoder(nn.Module):
    """``x -> [steps, *x.shape]`` spikes with the encoder ``kind`` (``bernoulli``, ``poisson``, ``deterministic``)."""

    def __init__(self, kind: str = "bernoulli", steps: int = 100):
        super().__init__()
        if kind not in ENCODERS:
            raise ValueError(f"SpikeEncoder: kind must be one of {', '.join(ENCODERS)}, got {kind!r}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"SpikeEncoder: steps must be an integer >= 1, got {steps!r}")
        self.kind, self.steps = kind, steps

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return ENCODERS[self.kind](x, self.steps, generator)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, steps={self.steps}"
