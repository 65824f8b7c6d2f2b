r"""Norse networks to spikeDE.

Norse's ``LIFCell`` / ``LIF`` (``p = LIFParameters(...)``, step ``dt``) integrate a synaptic current ``i`` and the
membrane: ``i' = i + X``, ``V' = V + dt tau_mem_inv ((v_leak - V) + i')``, ``i <- i' (1 - dt tau_syn_inv)``. With
``dt * tau_syn_inv = 1`` the current is used up in its own step (``i' = X``) and the neuron is spikeDE's LIF,
``H = V + (X - V)/tau`` with ``tau = 1/(dt tau_mem_inv)`` (in steps), resetting to ``v_reset`` (``reset='zero'``).
``LIFBoxCell`` (no synaptic current) is the same neuron, with ``reset_method=reset_value`` (``'zero'``) or
``reset_subtract`` (``'subtract'``). Norse does not detach the reset (``detach_reset=False``).

Surrogates (``p.method``, ``p.alpha``): ``'super'`` (``1/(1+|x|)^2``; Norse ignores ``alpha``) ->
``2 * fast_sigmoid(k=1)``; ``'triangle'`` (``alpha relu(1 - |x|)``) -> ``alpha * triangle(k=1)``; ``'tanh'``
(``1 - tanh^2(alpha x)``) -> ``(2/alpha) * sigmoid(k=2 alpha)``; ``'heavi_erfc'``
(``2 exp(-(alpha x)^2)/sqrt(pi)``) -> ``(2/alpha) * gaussian(k=alpha)``.

Exactness at ``alpha = 1``: Norse multiplies by ``tau_mem_inv`` where spikeDE divides by ``tau``: bit-identical
spikes and membranes when ``1/tau`` is a power of two (e.g. ``tau_mem_inv = 0.5``, ``dt = 1``), identical to
rounding otherwise; Norse fires on ``V > v_th``, spikeDE on ``H >= theta`` (a tie has probability 0 for
continuous inputs).

With ``0 < s = dt * tau_syn_inv < 1`` (Norse's default: ``s = 0.2``) the current used in step ``t`` is
``c_t = (1 - s) c_{t-1} + X_t`` (``c = i'``): :class:`spikeDE.CubaLIFNeuron` with ``tau_syn = 1/s`` steps driven
by ``X / s`` (``I = I + (X/s - I) s = c``), then the same membrane and reset. Identical spikes, membranes and the
returned ``i`` (Norse's after its decay, ``c (1 - s)``) to rounding (measured within 16 eps over 200 steps).

Refused, with the reason: ``dt * tau_syn_inv`` outside ``(0, 1]`` (a current that changes sign every step),
``v_leak != 0`` (Norse's membrane starts at and leaks towards ``v_leak``, spikeDE's towards 0),
non-scalar parameters, ``method='adjoint'`` or surrogates without a spikeDE counterpart, recurrent cells.

Calling convention: each neuron becomes a :class:`NorseAdapter` that keeps Norse's ``z, state = cell(x, state)``
(``LIFCell``: one step ``[B, ...]``; ``LIF``: a sequence ``[T, B, ...]``). The membrane and fractional history live
in the spikeDE neuron: ``state`` is accepted and ignored, the returned state holds the (detached) membrane, and
a new sequence starts at rest after :func:`spikeDE.reset_net` (done by every :class:`spikeDE.SNNWrapper` call;
``LIF`` in its own multi-step mode starts every call at rest, as Norse's with ``state=None``).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
from torch import nn

from ..neuron import BaseNeuron, LIFNeuron
from ..neuron_current import CubaLIFNeuron
from ._common import Refusal, framework_of, replace_modules, surrogate_for, synaptic_of

__all__ = ["from_norse", "NorseAdapter", "NeuronState", "SUPPORTED"]

SUPPORTED = ("LIFCell / LIF (0 < dt * tau_syn_inv <= 1, v_leak = 0)", "LIFBoxCell (v_leak = 0)",
             "surrogates 'super', 'triangle', 'tanh', 'heavi_erfc'")


class NeuronState(NamedTuple):
    """The state returned by a converted Norse neuron: membrane ``v`` and synaptic current ``i`` (Norse's ``i``
    after its decay; 0 when ``dt * tau_syn_inv = 1``, ``None`` for ``LIFBoxCell``), both detached."""

    v: torch.Tensor
    i: Optional[torch.Tensor] = None


class NorseAdapter(nn.Module):
    """A spikeDE neuron with Norse's calling convention (see the module docstring).

    Attributes:
        neuron: the spikeDE neuron (:class:`spikeDE.BaseNeuron`).
    """

    def __init__(self, neuron: BaseNeuron, current: bool, syn_rate: float = 1.0):
        super().__init__()
        self.neuron = neuron
        self.current = bool(current)
        self.syn_rate = float(syn_rate)  # dt * tau_syn_inv; < 1: a CubaLIFNeuron driven by x / syn_rate
        neuron.record = True

    def forward(self, x: torch.Tensor, state=None):
        cuba = self.current and self.syn_rate != 1.0
        if cuba:
            self.neuron.__dict__["v_seq"] = None
            z = self.neuron(x / self.syn_rate)
        else:
            z = self.neuron(x)
        v = self.neuron.v
        if v.dim() == x.dim() and v.shape != x.shape:  # folded into the batch (SNNWrapper 'multi'): every step
            v = self.neuron.v_seq.reshape(x.shape)
        if cuba:
            k = self.neuron.tau_syn / self.neuron.dt
            i = synaptic_of(self.neuron, x, k, 1.0) * (1.0 - self.syn_rate)
        else:
            i = torch.zeros_like(v) if self.current else None
        return z, NeuronState(v, i)


def _scalar(p, field: str) -> float:
    value = getattr(p, field)
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise Refusal(f"p.{field} has shape {tuple(value.shape)}; only scalar parameters are supported")
        value = value.detach().item()
    return float(value)


def _surrogate(p):
    method = p.method
    alpha = _scalar(p, "alpha")
    if method == "super":
        return surrogate_for("fast_sigmoid", 1.0, 2.0)
    if method in ("triangle", "tanh", "heavi_erfc") and not (math.isfinite(alpha) and alpha > 0):
        raise Refusal(f"p.alpha={alpha!r}: a finite alpha > 0 is needed for method {method!r}")
    if method == "triangle":
        return surrogate_for("triangle", 1.0, alpha)
    if method == "tanh":
        return surrogate_for("sigmoid", 2.0 * alpha, 2.0 / alpha)
    if method == "heavi_erfc":
        return surrogate_for("gaussian", alpha, 2.0 / alpha)
    raise Refusal(f"p.method={method!r} has no spikeDE surrogate of the same shape; supported: super, triangle, "
                  f"tanh, heavi_erfc")


def _lif(m, neuron_kwargs: dict, step_mode: str, box: bool) -> NorseAdapter:
    p, dt = m.p, float(m.dt)
    syn = 1.0
    if not box:
        syn = dt * _scalar(p, "tau_syn_inv")
        if not (math.isfinite(syn) and 0 < syn <= 1):
            raise Refusal(f"dt * tau_syn_inv = {syn!r}: the synaptic current decays by 1 - dt * tau_syn_inv per "
                          f"step, which CubaLIFNeuron reproduces for 0 < dt * tau_syn_inv <= 1 only")
    if _scalar(p, "v_leak") != 0.0:
        raise Refusal(f"v_leak={_scalar(p, 'v_leak')!r}: Norse's membrane starts at and leaks towards v_leak, "
                      f"spikeDE's towards 0; shift the potentials so that v_leak = 0")
    rate = dt * _scalar(p, "tau_mem_inv")
    if not (math.isfinite(rate) and rate > 0):
        raise Refusal(f"dt * tau_mem_inv = {rate!r} must be finite and > 0")
    reset = "zero"
    if box:
        rm = getattr(p.reset_method, "__name__", repr(p.reset_method))
        if rm == "reset_subtract":
            reset = "subtract"
        elif rm != "reset_value":
            raise Refusal(f"reset_method {rm} is neither reset_value nor reset_subtract")
    surrogate, scale = _surrogate(p)
    kw = dict(threshold=_scalar(p, "v_th"), surrogate_grad_scale=scale, surrogate_opt=surrogate, reset=reset,
              v_reset=_scalar(p, "v_reset") if reset == "zero" else 0.0, detach_reset=False, step_mode=step_mode)
    kw.update(neuron_kwargs)
    if syn != 1.0:  # c_t = (1 - syn) c_{t-1} + x_t is CubaLIFNeuron's synapse (k = 1/syn) driven by x / syn
        return NorseAdapter(CubaLIFNeuron(tau=1.0 / rate, tau_syn=kw.get("dt", 1.0) / syn, **kw), True, syn)
    return NorseAdapter(LIFNeuron(tau=1.0 / rate, **kw), current=not box)


def _convert_one(neuron_kwargs):
    def convert_one(name: str, m: nn.Module):
        if framework_of(m) != "norse":
            return None
        cls = type(m).__name__
        if cls in ("LIFCell", "LIF", "LIFBoxCell"):
            if getattr(m.p, "method", None) == "adjoint":
                raise Refusal("method='adjoint' (Norse's adjoint solver) has no spikeDE counterpart")
            return _lif(m, neuron_kwargs, "m" if cls == "LIF" else "s", box=cls == "LIFBoxCell")
        if cls in ("SequentialState", "Lift"):
            return None  # containers: their children are converted; SequentialState passes the states along
        raise Refusal(f"{cls} has no exact spikeDE counterpart")

    return convert_one


def from_norse(model: nn.Module, **neuron_kwargs) -> nn.Module:
    """Convert a Norse network (in place: each supported neuron becomes a :class:`NorseAdapter` around a spikeDE
    neuron) that reproduces it at ``alpha = 1`` (see the module docstring for the mapping and the calling
    convention).

    Args:
        model: an ``nn.Module`` built with ``norse.torch`` neurons.
        **neuron_kwargs: passed to every spikeDE neuron (e.g. ``alpha=0.8, learn_alpha=True``).

    Raises:
        UnsupportedModuleError: listing every module that cannot be converted exactly, and the supported set.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"from_norse: model must be an nn.Module, got {type(model).__name__}")
    return replace_modules(model, _convert_one(neuron_kwargs), "Norse", "; ".join(SUPPORTED))
