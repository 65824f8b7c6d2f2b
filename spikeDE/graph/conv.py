r"""``SpikingGraphConv``: a graph convolution whose neurons spike, propagating spikes over the graph every step.

For spikes ``s_t [N, F_in]`` of all ``N`` nodes at step ``t``, the input current and the neuron are

    I_t = A_hat (s_t W^T) + b,        S_t = neuron(I_1 .. I_t)  (spikes [N, F_out])

with a sparse ``A_hat`` (e.g. :func:`spikeDE.graph.normalized_adjacency`). The layer mixes nodes, so it cannot
run inside :class:`spikeDE.SNNWrapper`'s folded batch; it handles time itself: the linear map and the sparse
product are applied to all ``T`` steps at once (the steps stacked as columns, ``[N, T F_out]``: one sparse-dense
product per call), then its neuron (a :class:`spikeDE.BaseNeuron` in multi-step mode with its own order, e.g.
``LIFNeuron(alpha=0.5, learn_alpha=True)``, or ``alpha=1`` / ``integrator='odeint'`` for LIF) integrates the
``[T, N, F_out]`` currents. Layers stack into deeper spiking GNNs.
"""
from __future__ import annotations

import torch
from torch import nn

from .._checks import check_floating
from ..neuron import BaseNeuron

__all__ = ["SpikingGraphConv"]


class SpikingGraphConv(nn.Module):
    """``[T, N, F_in]`` spikes -> ``[T, N, F_out]`` spikes (see the module docstring).

    Args:
        in_features, out_features: widths.
        neuron: a :class:`spikeDE.BaseNeuron` (multi-step mode); default ``LIFNeuron()`` (tau 2, threshold 1, LIF).
        bias: add ``b`` to the current.
    """

    def __init__(self, in_features: int, out_features: int, neuron: BaseNeuron | None = None, bias: bool = True):
        super().__init__()
        if neuron is None:
            from ..neuron import LIFNeuron
            neuron = LIFNeuron()
        if not isinstance(neuron, BaseNeuron):
            raise ValueError(f"SpikingGraphConv: neuron must be a spikeDE.BaseNeuron, got {type(neuron).__name__}")
        if neuron.step_mode != "m":
            raise ValueError("SpikingGraphConv: the neuron must be in multi-step mode (step_mode='m'); the layer "
                             "integrates all steps of one call itself")
        self.linear = nn.Linear(in_features, out_features, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.neuron = neuron

    def current(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """``I_t = A_hat (x_t W^T) + b`` for every step: ``[T, N, F_out]``."""
        check_floating(x, "x", "SpikingGraphConv")
        if x.dim() != 3:
            raise ValueError(f"SpikingGraphConv: x must be [T, N, F_in], got shape {tuple(x.shape)}")
        if not (isinstance(adj, torch.Tensor) and adj.is_sparse and tuple(adj.shape) == (x.shape[1], x.shape[1])):
            raise ValueError(f"SpikingGraphConv: adj must be a sparse [{x.shape[1]}, {x.shape[1]}] tensor, got "
                             f"{tuple(adj.shape) if isinstance(adj, torch.Tensor) else type(adj).__name__}")
        T, N, _ = x.shape
        h = self.linear(x)                                          # [T, N, F_out]
        h = h.permute(1, 0, 2).reshape(N, -1)                       # [N, T F_out]: all steps in one product
        h = torch.sparse.mm(adj.to(dtype=h.dtype, device=h.device), h).reshape(N, T, -1).permute(1, 0, 2)
        return h + self.bias if self.bias is not None else h

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        return self.neuron(self.current(x, adj).contiguous())
