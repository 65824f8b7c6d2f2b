r"""Current-based synapse ``tau_syn dI/dt = -I + x``, input ``x_t`` held over step ``t``, ``I_0 = 0``:

    ``I_t = I_{t-1} + (x_t - I_{t-1}) / k``,   ``k = tau_syn / dt``

(the explicit Euler step, evaluated in this form and order). It is the charge of an integer-order LIF neuron
that never fires, so the multi-step filter is the fused LIF kernel with an unreachable threshold (hand-written backward,
gradients for ``x`` and ``k``). ``tau_syn = dt`` gives ``I_t = x_t``.
"""
from __future__ import annotations

import torch

from .lif import lif_sequence
from .spiking import spike_config

__all__ = ["synaptic_current", "synaptic_step"]

_NEVER_FIRES = spike_config()


def synaptic_current(x: torch.Tensor, k) -> torch.Tensor:
    """``I`` (``[T, D]``) for ``x`` (``[T, D]``); ``k = tau_syn / dt`` (a number or a 0-d tensor)."""
    k_t = k if isinstance(k, torch.Tensor) else torch.tensor(float(k), dtype=torch.float64)
    theta = torch.tensor(torch.finfo(x.dtype).max, dtype=x.dtype, device=x.device)  # never reached (inf * 0 = nan)
    return lif_sequence(x, k_t, theta, True, _NEVER_FIRES)[1]


def synaptic_step(x: torch.Tensor, i: torch.Tensor | None, k) -> torch.Tensor:
    """One step ``I_t`` from ``x_t`` and ``I_{t-1}`` (``None``: at rest)."""
    if i is None:
        i = torch.zeros_like(x)
    return i + (x - i) / k
