r"""``CubaLIFNeuron``: a current-based synapse feeding the fractional LIF membrane.

    ``tau_syn dI/dt = -I + x``  (``I_t = I_{t-1} + (x_t - I_{t-1}) dt / tau_syn``, :mod:`spikeDE.dynamics.synapse`)
    ``tau D^alpha v = -v + I``  (every order, scheme and memory of :class:`spikeDE.LIFNeuron`)

The synapse smooths the input over ``tau_syn`` before the membrane integrates it; ``tau_syn = dt`` is
:class:`spikeDE.LIFNeuron` exactly. Both steps use the fused kernels (the synapse is the LIF kernel of a
neuron that never fires), so the speed is that of :class:`spikeDE.LIFNeuron` plus one pass over the input.
"""
from __future__ import annotations

import torch

from ._checks import check_positive
from .dynamics.synapse import synaptic_current, synaptic_step
from .neuron import BaseNeuron, Dynamics, LIFNeuron

__all__ = ["CubaLIFNeuron"]


class CubaLIFNeuron(LIFNeuron):
    r"""LIF neuron driven through a current-based synapse (see the module docstring).

    Args:
        tau_syn: synaptic time constant (``>= dt``; in the units of ``dt``).
        Other arguments as :class:`spikeDE.BaseNeuron`.
    """

    STREAM_STATE = BaseNeuron.STREAM_STATE + ("_i_syn",)

    def __init__(self, tau: float = 2.0, threshold: float = 1.0, surrogate_grad_scale: float = 5.0,
                 surrogate_opt: str = "arctan_surrogate", tau_learnable: bool = False, *, tau_syn: float = 5.0,
                 **kwargs):
        check_positive(float(tau_syn), "tau_syn", "CubaLIFNeuron")
        self.tau_syn = float(tau_syn)
        super().__init__(tau, threshold, surrogate_grad_scale, surrogate_opt, tau_learnable, **kwargs)

    def input_sequence(self, seq: torch.Tensor, dyn: Dynamics) -> torch.Tensor:
        return synaptic_current(seq, self.tau_syn / dyn.dt)

    def input_step(self, x: torch.Tensor, dyn: Dynamics) -> torch.Tensor:
        i = synaptic_step(x, self._i_syn, self.tau_syn / dyn.dt)
        self.__dict__["_i_syn"] = i
        return i

    def extra_repr(self) -> str:
        return super().extra_repr() + f", tau_syn={self.tau_syn:g}"
