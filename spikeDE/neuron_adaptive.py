r"""``AdaptiveLIFNeuron`` (ALIF): a fractional LIF neuron whose threshold rises with each spike and relaxes back.

Membrane ``tau D^alpha v = -v + I`` (integer order at ``alpha = 1``, any scheme and memory of
:class:`spikeDE.LIFNeuron`); threshold ``theta_t = theta + beta a_{t-1}``, ``a_t = rho a_{t-1} + S_t``,
``rho = exp(-dt / tau_adapt)`` (:mod:`spikeDE.dynamics.adaptive`); the spike is decided against ``theta_t`` and
``reset='subtract'`` removes ``theta_t``. The threshold depends on the spikes just produced, so the multi-step
call runs the single-step recurrence (autograd through every step, the same arithmetic as ``T`` single steps):
correct for every order and memory, slower than the fused kernels of :class:`spikeDE.LIFNeuron`. With full
memory each step reads the whole membrane window, so time and autograd memory grow like ``T^2``; for long
sequences use ``memory='soe'`` (``O(T)``) or a short memory.
"""
from __future__ import annotations

import torch

from ._checks import check_positive
from .dynamics.adaptive import adapt, adaptation_params, adaptive_threshold
from .neuron import BaseNeuron, Dynamics, LIFNeuron
from .neuron_base import record_sequence, sequence_by_steps

__all__ = ["AdaptiveLIFNeuron"]


class AdaptiveLIFNeuron(LIFNeuron):
    r"""LIF neuron with a spike-triggered adaptive threshold (see the module docstring).

    Args:
        tau_adapt: time constant of the threshold's relaxation (``> 0``, in the units of ``dt``).
        beta: threshold raise per spike (``>= 0``; 0 is :class:`spikeDE.LIFNeuron`).
        Other arguments as :class:`spikeDE.BaseNeuron`.
    """

    STREAM_STATE = BaseNeuron.STREAM_STATE + ("_adapt",)

    def __init__(self, tau: float = 2.0, threshold: float = 1.0, surrogate_grad_scale: float = 5.0,
                 surrogate_opt: str = "arctan_surrogate", tau_learnable: bool = False, *, tau_adapt: float = 20.0,
                 beta: float = 0.2, **kwargs):
        check_positive(float(tau_adapt), "tau_adapt", "AdaptiveLIFNeuron")
        if not float(beta) >= 0:
            raise ValueError(f"AdaptiveLIFNeuron: beta must be >= 0, got {beta!r}")
        self.tau_adapt, self.beta = float(tau_adapt), float(beta)
        super().__init__(tau, threshold, surrogate_grad_scale, surrogate_opt, tau_learnable, **kwargs)

    def _adaptive_step(self, flat: torch.Tensor, dyn: Dynamics):
        params = adaptation_params(self.beta, self.tau_adapt, dyn.dt)
        theta = adaptive_threshold(self.theta(flat), params, self._adapt, flat)
        s, v = self._membrane_step(flat, dyn, theta)
        self.__dict__["_adapt"] = adapt(params, self._adapt, s)
        return s, v

    def _run_step(self, x: torch.Tensor, dyn: Dynamics) -> torch.Tensor:
        s, v = self._adaptive_step(x.reshape(-1), dyn)
        self.__dict__.update(v=v.detach().reshape(x.shape), spike=s.detach().reshape(x.shape))
        return s.reshape(x.shape)

    def _run_sequence(self, seq: torch.Tensor, dyn: Dynamics, shape: tuple) -> torch.Tensor:
        S, V = sequence_by_steps(self.__dict__, self.STREAM_STATE, lambda x_t: self._adaptive_step(x_t, dyn), seq)
        record_sequence(self.__dict__, S, V, shape, self.record)
        return S

    def extra_repr(self) -> str:
        return super().extra_repr() + f", tau_adapt={self.tau_adapt:g}, beta={self.beta:g}"
