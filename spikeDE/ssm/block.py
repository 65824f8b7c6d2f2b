r"""``LoongSpike``: the spiking state-space block, FractionalSSM -> spiking neuron -> GLU mixing.

For an input sequence ``x [B, L, H]`` (batch, length, channels) the block computes

    ``u = FractionalSSM(N(x))``          (pre-norm; post-norm: ``u = FractionalSSM(x)``)
    ``s = neuron(u)``                    (spikes in {0, 1}, time-first ``[L, B, H]`` inside)
    ``y = Dropout(GLU(W s + b))``,  ``GLU(a, g) = a * sigmoid(g)``   (position-wise mixing of channels)
    ``out = x + y``                      (pre-norm; post-norm: ``out = N(x + y)``)

``N`` is a layer norm over the channels of every position, ``N(v) = gamma (v - mean(v)) / sqrt(var(v) + eps)
+ beta`` (mean and biased variance over the ``H`` channels): with pre-norm it normalises what enters the SSM
(the residual stream itself is not normalised, the classifier normalises it once before its decoder), with
post-norm it normalises the block's output.

The neuron is a spikeDE neuron module (:class:`spikeDE.LIFNeuron` by default: ``tau D^alpha v = -v + I`` with
the neuron's own ``alpha``, ``method`` and ``memory``; ``alpha = 1`` is the discrete LIF neuron
``H_t = V_{t-1} + (X_t - V_{t-1})/tau``, ``S_t = [H_t >= theta]``, ``V_t = H_t - theta S_t``), with a learnable
threshold ``theta`` and its surrogate gradient; there is no learned network imitating the neuron. The block
feeds it one scalar input per channel and position (``H`` neurons per sequence, one per channel), so the GLU
reads binary spikes: its products ``W s`` are accumulations of weight columns.

Layouts: the block and :class:`~spikeDE.ssm.FractionalSSM` take and return batch-first ``[B, L, H]``; the
neuron runs time-first on ``u.transpose(0, 1)``, ``[L, B, H]`` (the spikeDE convention), and its spikes are
transposed back. The streaming step takes and returns ``[B, H]``.

Two ways to run the same map:

* **parallel** (:meth:`LoongSpike.forward`): the SSM by FFT convolution, the neuron by its fused multi-step
  kernel.
* **streaming** (:meth:`LoongSpike.step`): :meth:`FractionalSSM.step` followed by the neuron's single-step
  mode, with the state of both carried explicitly (:class:`LoongSpikeState`; the given state is not modified).
  The SSM outputs differ from the parallel ones by the SSM's streaming error (~``1e-3 * stream_tol``
  relative); the spikes are identical unless a membrane lies within that error of the threshold, and since the
  GLU reads only the spikes, the block outputs then agree to round-off. A fractional neuron
  (``alpha < 1``) streams in ``O(1)`` memory per step only with ``memory="soe"`` (the block's default) or a
  short memory; full memory keeps the whole membrane history.

Firing statistics: every call records the firing rate per channel, ``rate_h = mean_{b, t} s[b, t, h]`` (a
detached tensor on the device of the spikes, no host synchronisation): :attr:`LoongSpike.channel_rates`
``[H]`` and :attr:`LoongSpike.spike_rate` (their mean, spikes per neuron and step).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_floating
from ..neuron import BaseNeuron, LIFNeuron
from .fractional_ssm import FractionalSSM, FractionalSSMState

__all__ = ["LoongSpike", "LoongSpikeState", "NEURON_DEFAULTS", "make_neuron"]

#: Keywords of the block's default neuron (:class:`spikeDE.LIFNeuron`); a dict given as ``neuron=`` updates them.
NEURON_DEFAULTS = dict(tau=2.0, threshold=1.0, threshold_learnable=True, memory="soe")

def make_neuron(neuron=None, where: str = "LoongSpike") -> BaseNeuron:
    """The block's neuron: ``None`` -> ``LIFNeuron(**NEURON_DEFAULTS)``; a dict -> ``LIFNeuron`` with the defaults
    updated by the dict (e.g. ``{"alpha": 0.6, "learn_alpha": True}`` for an f-LIF neuron); a
    :class:`spikeDE.BaseNeuron` instance is used as it is (its step mode is set to multi-step)."""
    if neuron is None or isinstance(neuron, dict):
        kw = dict(NEURON_DEFAULTS)
        kw.update(neuron or {})
        if "step_mode" in kw:
            raise ValueError(f"{where}: the block sets the neuron's step mode itself; remove 'step_mode' from "
                             f"neuron={neuron!r}")
        return LIFNeuron(**kw)
    if isinstance(neuron, BaseNeuron):
        neuron.step_mode = "m"
        return neuron
    raise TypeError(f"{where}: neuron must be None, a dict of LIFNeuron keywords or a spikeDE neuron "
                    f"(BaseNeuron), got {type(neuron).__name__}")


class LoongSpikeState(NamedTuple):
    """Streaming state of a :class:`LoongSpike` block.

    ``ssm``: the :class:`FractionalSSMState` of the block's SSM; ``neuron``: the neuron's single-step state
    (membrane, fractional history or SOE modes), an opaque tuple, all ``None`` at rest.
    """

    ssm: FractionalSSMState
    neuron: tuple


def neuron_step(neuron: BaseNeuron, x_t: torch.Tensor, state: tuple):
    """One step of ``neuron`` in its single-step mode from the explicit ``state`` (see :class:`LoongSpikeState`):
    ``(spikes [B, ...], new state)``; the given state is not modified."""
    mode = neuron.step_mode
    neuron.load_stream_state(state)
    neuron.step_mode = "s"
    try:
        s = neuron(x_t)
    finally:
        neuron.step_mode = mode
    return s, neuron.stream_state()

class LoongSpike(nn.Module):
    r"""Spiking state-space block: FractionalSSM -> spiking neuron -> GLU, residual, pre- or post-norm.

    See the module docstring for the equations and layouts. Input/output ``[B, L, H]``.

    Args:
        d_model: channels ``H``.
        d_state: state size of the SSM (``d_state // 2`` complex modes per channel).
        alpha, learn_alpha: the SSM's fractional order (``alpha = 1, learn_alpha=False``: integer-order SSM).
        neuron: the neuron (see :func:`make_neuron`): ``None`` (LIF, ``tau = 2``, learnable threshold 1,
            ``memory="soe"`` used when its order is fractional), a dict of :class:`spikeDE.LIFNeuron` keywords
            updating those defaults (``{"alpha": 0.7, "learn_alpha": True}``: f-LIF), or a neuron instance.
        prenorm: ``True``: normalise the SSM's input, ``out = x + y``; ``False``: ``out = N(x + y)``.
        dropout: dropout probability on the GLU output (before the residual sum).
        ssm_kwargs: further keywords of :class:`FractionalSSM` (``dt_min``, ``A_parameterization``, ...).
        norm_eps: the layer norm's ``eps``.
        name: used in error messages.

    Attributes:
        norm (nn.LayerNorm), ssm (FractionalSSM), neuron (BaseNeuron), mix (nn.Linear ``H -> 2H``), dropout;
        channel_rates ``[H]`` / spike_rate ``()``: firing rates of the last call (``None`` before the first).
    """

    def __init__(self, d_model: int, d_state: int = 64, alpha=0.5, learn_alpha: bool = True, *, neuron=None,
                 prenorm: bool = True, dropout: float = 0.0, ssm_kwargs: dict | None = None, norm_eps: float = 1e-5,
                 name: str | None = None, device=None, dtype=None):
        super().__init__()
        where = f"LoongSpike {name!r}" if name else "LoongSpike"
        self._where = where
        if isinstance(d_model, bool) or not isinstance(d_model, int) or d_model < 1:
            raise ValueError(f"{where}: d_model must be an int >= 1, got {d_model!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"{where}: dropout must be a number in [0, 1), got {dropout!r}")
        if not isinstance(prenorm, bool):
            raise TypeError(f"{where}: prenorm must be True (pre-norm) or False (post-norm), got {prenorm!r}")
        if isinstance(norm_eps, bool) or not isinstance(norm_eps, (int, float)) or not norm_eps > 0:
            raise ValueError(f"{where}: norm_eps must be a number > 0, got {norm_eps!r}")
        if ssm_kwargs is not None and not isinstance(ssm_kwargs, dict):
            raise TypeError(f"{where}: ssm_kwargs must be a dict or None, got {type(ssm_kwargs).__name__}")
        for key in ("d_model", "d_state", "alpha", "learn_alpha", "name", "device", "dtype"):
            if key in (ssm_kwargs or {}):
                raise ValueError(f"{where}: ssm_kwargs must not contain {key!r} (it is an argument of the block)")
        fk = dict(device=device, dtype=dtype)
        self.d_model, self.prenorm = d_model, bool(prenorm)
        self.norm = nn.LayerNorm(d_model, eps=float(norm_eps), **fk)
        self.ssm = FractionalSSM(d_model, d_state, alpha=alpha, learn_alpha=learn_alpha, name=name,
                                 **(ssm_kwargs or {}), **fk)
        self.neuron = make_neuron(neuron, where)
        if device is not None:
            self.neuron.to(device=device)
        if dtype is not None and dtype != torch.get_default_dtype():  # (a fixed order stays float64 otherwise)
            self.neuron.to(dtype=dtype)
        self.mix = nn.Linear(d_model, 2 * d_model, **fk)
        self.dropout = nn.Dropout(float(dropout))
        self.channel_rates: torch.Tensor | None = None

    stateful = True  # spikeDE.reset_net calls reset()

    def reset(self) -> None:
        """Forget the last call's statistics (the streaming state is explicit: :meth:`default_state`); the
        neuron is reset by :func:`spikeDE.reset_net` itself."""
        self.channel_rates = None

    @property
    def spike_rate(self) -> torch.Tensor | None:
        """Mean firing rate of the last call (spikes per neuron and step), a 0-d tensor, or ``None``."""
        return None if self.channel_rates is None else self.channel_rates.mean()

    def _check(self, x: torch.Tensor, dims: int, what: str, shape: str):
        check_floating(x, what, self._where)
        if x.dim() != dims or x.shape[-1] != self.d_model:
            raise ValueError(f"{self._where}: {what} must have shape {shape} with {self.d_model} channels last, "
                             f"got {tuple(x.shape)}")

    def _mix(self, x, s):
        y = self.dropout(F.glu(self.mix(s), -1))
        return x + y if self.prenorm else self.norm(x + y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Parallel mode: ``x [B, L, H] -> [B, L, H]``."""
        self._check(x, 3, "x", "[batch, length, channels]")
        u = self.ssm(self.norm(x) if self.prenorm else x)
        s = self.neuron(u.transpose(0, 1)).transpose(0, 1)  # neuron time-first on [L, B, H]
        self.channel_rates = s.detach().mean((0, 1))
        return self._mix(x, s)

    def default_state(self, batch: int, *, device=None, dtype=None) -> LoongSpikeState:
        """Zero streaming state (SSM at zero, neuron at rest) for ``batch`` sequences."""
        dtype = dtype or self.mix.weight.dtype
        device = device or self.mix.weight.device
        return LoongSpikeState(self.ssm.default_state(batch, device=device, dtype=dtype),
                               (None,) * len(self.neuron.STREAM_STATE))  # the neuron's own state entries

    def step(self, x_t: torch.Tensor, state: LoongSpikeState):
        """One streaming step ``x_t [B, H] -> (out_t [B, H], new state)``; the given state is not modified.

        Equal to the parallel output at the same position (see the module docstring). Dropout, if any, is
        applied per step in training mode, so compare with the parallel mode in ``eval()``.
        """
        self._check(x_t, 2, "x_t", "[batch, channels]")
        if not isinstance(state, LoongSpikeState):
            raise TypeError(f"{self._where}: state must be a LoongSpikeState (from default_state), "
                            f"got {type(state).__name__}")
        u, ssm_state = self.ssm.step(self.norm(x_t) if self.prenorm else x_t, state.ssm)
        s, neuron_state = neuron_step(self.neuron, u, state.neuron)
        self.channel_rates = s.detach().mean(0)
        return self._mix(x_t, s), LoongSpikeState(ssm_state, neuron_state)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, prenorm={self.prenorm}"
