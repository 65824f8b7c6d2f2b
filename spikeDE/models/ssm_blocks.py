r"""Stacks of state-space blocks, spiking or not, behind one interface (parallel ``forward``, streaming ``step``).

* spiking: :class:`spikeDE.ssm.LoongSpike`, ``out = x + GLU(W s)`` with spikes ``s = neuron(FractionalSSM(N(x)))``;
* non-spiking (:class:`SSMBlock`, the same block with the neuron replaced by a GELU, as in S4D-type models):

      ``u = FractionalSSM(N(x))``,  ``a = GELU(u)``,  ``y = Dropout(GLU(W a + b))``,  ``out = x + y``

  (post-norm: ``out = N(x + y)``). Same parameters as the spiking block except the neuron's threshold, so a
  spiking and a non-spiking model of the same width have the same size to within ``H`` numbers per block.

Layout ``[B, L, H]``; the streaming step ``[B, H]`` carries the SSM state (and the neuron state).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..ssm import FractionalSSM, FractionalSSMState, LoongSpike

__all__ = ["SSMBlock", "SSMBlockState", "make_blocks"]


class SSMBlockState(NamedTuple):
    """Streaming state of an :class:`SSMBlock`: the state of its SSM."""

    ssm: FractionalSSMState


class SSMBlock(nn.Module):
    """Non-spiking twin of :class:`spikeDE.ssm.LoongSpike`: FractionalSSM -> GELU -> GLU, residual (see module)."""

    def __init__(self, d_model: int, d_state: int = 64, alpha=0.5, learn_alpha: bool = True, *,
                 prenorm: bool = True, dropout: float = 0.0, ssm_kwargs: dict | None = None,
                 name: str | None = None):
        super().__init__()
        if isinstance(d_model, bool) or not isinstance(d_model, int) or d_model < 1:
            raise ValueError(f"SSMBlock: d_model must be an int >= 1, got {d_model!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"SSMBlock: dropout must be a number in [0, 1), got {dropout!r}")
        self.d_model, self.prenorm = d_model, bool(prenorm)
        self.norm = nn.LayerNorm(d_model)
        self.ssm = FractionalSSM(d_model, d_state, alpha=alpha, learn_alpha=learn_alpha, name=name,
                                 **(ssm_kwargs or {}))
        self.mix = nn.Linear(d_model, 2 * d_model)
        self.dropout = nn.Dropout(float(dropout))

    def _mix(self, x, u):
        y = self.dropout(F.glu(self.mix(F.gelu(u)), -1))
        return x + y if self.prenorm else self.norm(x + y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, L, H] -> [B, L, H]``."""
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"SSMBlock: x must have shape [batch, length, {self.d_model}], got {tuple(x.shape)}")
        return self._mix(x, self.ssm(self.norm(x) if self.prenorm else x))

    def default_state(self, batch: int, *, device=None, dtype=None) -> SSMBlockState:
        return SSMBlockState(self.ssm.default_state(batch, device=device or self.mix.weight.device,
                                                    dtype=dtype or self.mix.weight.dtype))

    def step(self, x_t: torch.Tensor, state: SSMBlockState):
        """``x_t [B, H] -> (out_t [B, H], new state)``."""
        u, s = self.ssm.step(self.norm(x_t) if self.prenorm else x_t, state.ssm)
        return self._mix(x_t, u), SSMBlockState(s)


def make_blocks(n_blocks: int, d_model: int, d_state: int, alpha, learn_alpha: bool, *, spiking: bool = True,
                neuron: dict | None = None, prenorm: bool = True, dropout: float = 0.0,
                ssm_kwargs: dict | None = None) -> nn.ModuleList:
    """``n_blocks`` blocks ``block0, block1, ...``: :class:`LoongSpike` (``spiking``, with ``neuron``: ``None`` for
    LIF or a dict of :class:`spikeDE.LIFNeuron` keywords) or :class:`SSMBlock`."""
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or n_blocks < 1:
        raise ValueError(f"n_blocks must be an int >= 1, got {n_blocks!r}")
    if not isinstance(spiking, bool):
        raise TypeError(f"spiking must be True or False, got {spiking!r}")
    if spiking:
        return nn.ModuleList(LoongSpike(d_model, d_state, alpha, learn_alpha, neuron=dict(neuron) if neuron else None,
                                        prenorm=prenorm, dropout=dropout, ssm_kwargs=ssm_kwargs, name=f"block{k}")
                             for k in range(n_blocks))
    if neuron is not None:
        raise ValueError("neuron is only used by spiking blocks (spiking=True); got neuron="
                         f"{neuron!r} with spiking=False")
    return nn.ModuleList(SSMBlock(d_model, d_state, alpha, learn_alpha, prenorm=prenorm, dropout=dropout,
                                  ssm_kwargs=ssm_kwargs, name=f"block{k}") for k in range(n_blocks))
