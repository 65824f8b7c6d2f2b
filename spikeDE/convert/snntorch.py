r"""snnTorch networks to spikeDE.

snnTorch's ``Leaky(beta)`` integrates ``mem = beta mem + X``, fires ``S = Heaviside(mem - threshold)`` and resets.
With ``beta = 1 - 1/tau`` this is spikeDE's LIF step driven by ``tau X``:
``H = V + (tau X - V)/tau`` (:class:`~spikeDE.convert.TauInput` around ``LIFNeuron(tau)``); ``beta = 1`` is
``IFNeuron(tau=1)`` (``H = V + X``, bit for bit). ``learn_beta`` -> ``tau_learnable``, ``learn_threshold`` ->
``threshold_learnable``, ``reset_mechanism='subtract' | 'zero'`` -> ``reset='subtract' | 'zero'``; the reset
passes gradient through the spike with ``reset_delay=False`` (``detach_reset=False``) and not with the delayed
reset (``detach_reset=True``).

Surrogates (``spike_grad``): ``surrogate.atan(alpha)`` -> ``atan, k=alpha``; ``surrogate.sigmoid(slope)`` ->
``sigmoid, k=slope``; ``surrogate.fast_sigmoid(slope)`` -> ``(2/slope) * fast_sigmoid(k=slope)`` (snnTorch's
``1/(1 + slope|x|)^2`` has peak 1, spikeDE's is normalised).

``reset_delay``: with ``reset_delay=False`` the step is the one above. snnTorch's default ``reset_delay=True``
applies the reset of step ``t`` at step ``t+1``, after the decay:

* ``reset_mechanism='zero'``: ``mem_{t+1} = beta (1 - S_t) mem_t + X`` is the same recursion, so the spikes (and
  every later step) are identical; the ``mem`` returned is spikeDE's membrane *after* the reset, where snnTorch
  returns it before the reset on the steps that spiked.
* ``reset_mechanism='subtract'``: ``mem_{t+1} = beta mem_t + X - theta S_t`` subtracts ``theta/beta`` from the
  membrane before its decay, not ``theta``: a different neuron (about 87% of the spikes agree); refused.

Exactness at ``alpha = 1``: identical spikes and membranes to rounding (snnTorch multiplies by ``beta`` where
spikeDE divides by ``tau``). With the subtractive reset this holds while the membrane after a reset stays at or
below the threshold (``H <= 2 theta``): when it stays above, snnTorch's ``reset_delay=False`` bookkeeping
subtracts ``theta`` again at the next step and adds it back if no spike follows, which raises that step's
threshold to ``2 theta``; spikeDE's neuron fires again at ``theta``. The reset to zero has no such case.
snnTorch fires on ``mem > theta``, spikeDE on ``H >= theta`` (a tie has probability 0 for continuous inputs).

``Synaptic(alpha, beta)`` (``syn = alpha syn + X``, ``mem = beta mem + syn``) is :class:`spikeDE.CubaLIFNeuron` with
``tau_syn = k = 1/(1 - alpha)`` steps and ``tau = 1/(1 - beta)``, driven by ``tau k X``
(``TauInput(neuron, gain=k)``): the synapse gives ``I = I + (tau k X - I)/k = alpha I + tau X`` (``I = tau syn``),
the membrane ``H = V + (I - V)/tau = beta V + syn``. Identical spikes, membranes and ``syn`` to rounding
(multiplications by ``alpha``, ``beta`` against divisions by ``k``, ``tau``; measured within 64 eps over 200 steps),
with the same ``H <= 2 theta`` condition for the subtractive reset. Only ``reset_delay=False``: with the delayed
reset, ``'zero'`` also clears the synaptic current and drops the input of the step after a spike, and
``'subtract'`` subtracts ``theta/beta`` before the decay; spikeDE resets the membrane only, in the spiking step.
Refused also: ``learn_alpha`` (``tau_syn`` is fixed), ``alpha = 1`` (a current that never decays), ``beta = 1``.
Calling convention :class:`SynapticAdapter`: ``spk, syn, mem = lif(x, syn, mem)``.

Calling convention: each ``Leaky`` becomes a :class:`LeakyAdapter`, which keeps snnTorch's signature
``spk, mem = lif(x, mem)`` (``spk`` alone with ``init_hidden=True``, ``(spk, mem)`` with ``output=True``), so the
network's own ``forward`` runs unchanged. The membrane and the fractional history live in the spikeDE neuron: the
``mem`` argument is accepted and ignored, ``init_leaky()`` / ``reset_mem()`` reset the neuron (as
:func:`spikeDE.reset_net` and every :class:`spikeDE.SNNWrapper` call do), and the returned ``mem`` is detached.
A network whose ``forward`` takes one time step (e.g. ``nn.Sequential`` with ``init_hidden=True``) runs through
``SNNWrapper(net, integrator="fdeint", alpha=...)`` on ``[T, B, ...]``; one that loops over time itself runs on
its own, with fractional neurons through ``from_snntorch(net, alpha=..., learn_alpha=...)``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..neuron import BaseNeuron, IFNeuron, LIFNeuron
from ..neuron_current import CubaLIFNeuron
from ._common import Refusal, TauInput, framework_of, replace_modules, surrogate_for, synaptic_of

__all__ = ["from_snntorch", "LeakyAdapter", "SynapticAdapter", "SUPPORTED"]

SUPPORTED = ("Leaky (reset_mechanism 'subtract' with reset_delay=False, or 'zero'; scalar beta and threshold; "
             "spike_grad atan / sigmoid / fast_sigmoid)",
             "Synaptic (reset_delay=False, 'subtract' or 'zero'; 0 <= alpha < 1, beta < 1, alpha not learnt)")


class LeakyAdapter(nn.Module):
    """A spikeDE neuron with snnTorch's calling convention (see the module docstring).

    Attributes:
        body: the spikeDE neuron, or :class:`~spikeDE.convert.TauInput` around it.
        neuron: the spikeDE neuron (:class:`spikeDE.BaseNeuron`).
    """

    def __init__(self, body: nn.Module, init_hidden: bool, output: bool):
        super().__init__()
        self.body = body
        self.init_hidden = bool(init_hidden)
        self.output = bool(output)
        self.neuron.record = self.returns_membrane

    @property
    def neuron(self) -> BaseNeuron:
        return self.body.neuron if isinstance(self.body, TauInput) else self.body

    @property
    def returns_membrane(self) -> bool:
        return self.output or not self.init_hidden

    def forward(self, x: torch.Tensor, mem=None):
        spk = self.body(x)
        if not self.returns_membrane:
            return spk
        v = self.neuron.v
        if v.shape != x.shape:  # the sequence ran folded into the batch (SNNWrapper 'multi'): all its steps
            v = self.neuron.v_seq.reshape(x.shape)
        return spk, v

    def reset_mem(self) -> torch.Tensor:
        """Reset the neuron (a new sequence starts at rest); returns an empty placeholder for ``mem``."""
        self.neuron.reset()
        return torch.zeros(0)

    def init_leaky(self) -> torch.Tensor:
        """snnTorch's name of :meth:`reset_mem`."""
        return self.reset_mem()


class SynapticAdapter(LeakyAdapter):
    """:class:`LeakyAdapter` for ``Synaptic``: ``spk, syn, mem = lif(x, syn, mem)`` (``spk`` alone with
    ``init_hidden=True``, ``(spk, syn, mem)`` with ``output=True``); ``syn`` and ``mem`` are accepted and ignored,
    the returned ones are detached (``syn``: the synaptic current in snnTorch's units)."""

    def forward(self, x: torch.Tensor, syn=None, mem=None):
        self.neuron.__dict__["v_seq"] = None
        out = super().forward(x)
        if not self.returns_membrane:
            return out
        spk, v = out
        n = self.neuron
        k = n.tau_syn / n.dt
        return spk, synaptic_of(n, x, k, float(n.tau.detach()) * self.body.gain / k), v

    def reset_mem(self):
        """Reset the neuron; returns empty placeholders for ``syn`` and ``mem``."""
        self.neuron.reset()
        return torch.zeros(0), torch.zeros(0)

    def init_synaptic(self):
        """snnTorch's name of :meth:`reset_mem`."""
        return self.reset_mem()


def _scalar(value, what: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise Refusal(f"{what} has shape {tuple(value.shape)}; only a scalar {what} is supported")
        value = value.detach().item()
    return float(value)


def _surrogate(fn):
    qual = getattr(fn, "__qualname__", "")
    if getattr(fn, "__module__", None) != "snntorch.surrogate" or not qual.endswith(".<locals>.inner"):
        raise Refusal(f"spike_grad {fn!r} is not one of snnTorch's surrogate.atan / sigmoid / fast_sigmoid")
    kind = qual.split(".")[0]
    cells = dict(zip(fn.__code__.co_freevars, (c.cell_contents for c in (fn.__closure__ or ()))))
    if kind == "atan":
        return surrogate_for("atan", float(cells["alpha"]))
    if kind == "sigmoid":
        return surrogate_for("sigmoid", float(cells["slope"]))
    if kind == "fast_sigmoid":
        slope = float(cells["slope"])
        if not (math.isfinite(slope) and slope > 0):
            raise Refusal(f"fast_sigmoid slope must be finite and > 0, got {slope!r}")
        return surrogate_for("fast_sigmoid", slope, 2.0 / slope)
    raise Refusal(f"surrogate.{kind} has no spikeDE counterpart of the same shape; supported: atan, sigmoid, "
                  f"fast_sigmoid")


def _checked_kwargs(m, neuron_kwargs: dict) -> tuple[dict, float, bool]:
    if getattr(m, "inhibition", False):
        raise Refusal("inhibition=True (winner-take-all firing across the batch) has no spikeDE counterpart")
    if getattr(m, "state_quant", False):
        raise Refusal("state_quant (quantised membrane) has no spikeDE counterpart")
    if getattr(m, "surrogate_disable", False):
        raise Refusal("surrogate_disable=True (no gradient through the spikes) has no spikeDE counterpart")
    if _scalar(m.graded_spikes_factor, "graded_spikes_factor") != 1.0 or isinstance(m.graded_spikes_factor,
                                                                                      nn.Parameter):
        raise Refusal("graded spikes (graded_spikes_factor != 1 or learnable) are not binary spikes")
    mech = m.reset_mechanism
    if mech not in ("subtract", "zero"):
        raise Refusal(f"reset_mechanism={mech!r}: spikeDE neurons reset by 'subtract' or to 'zero'")
    if mech == "subtract" and getattr(m, "reset_delay", True):
        raise Refusal("reset_mechanism='subtract' with reset_delay=True (snnTorch's default) subtracts "
                      "threshold/beta before the decay of the next step, a different neuron from spikeDE's "
                      "subtractive reset; build the network with Leaky(..., reset_delay=False) (and retrain), or "
                      "use reset_mechanism='zero'")
    surrogate, scale = _surrogate(m.spike_grad)
    beta = min(max(_scalar(m.beta, "beta"), 0.0), 1.0)  # snnTorch uses beta.clamp(0, 1)
    learn_beta = isinstance(m.beta, nn.Parameter) and m.beta.requires_grad
    learn_thr = isinstance(m.threshold, nn.Parameter) and m.threshold.requires_grad
    kw = dict(threshold=_scalar(m.threshold, "threshold"), surrogate_grad_scale=scale, surrogate_opt=surrogate,
              threshold_learnable=learn_thr, reset=mech, v_reset=0.0, step_mode="s",
              # reset_delay=False resets with the spike itself (gradient through it); the delayed reset uses
              # a detached copy of the previous spike
              detach_reset=bool(getattr(m, "reset_delay", True)))
    kw.update(neuron_kwargs)
    return kw, beta, learn_beta


def _leaky(m, neuron_kwargs: dict) -> LeakyAdapter:
    kw, beta, learn_beta = _checked_kwargs(m, neuron_kwargs)
    if beta == 1.0:
        if learn_beta:
            raise Refusal("learn_beta with beta = 1 (tau = infinity) cannot be a learnable finite tau")
        body = IFNeuron(tau=1.0, **kw)
    else:
        body = TauInput(LIFNeuron(tau=1.0 / (1.0 - beta), tau_learnable=learn_beta, **kw))
    return LeakyAdapter(body, getattr(m, "init_hidden", False), getattr(m, "output", False))


def _synaptic(m, neuron_kwargs: dict) -> SynapticAdapter:
    if getattr(m, "reset_delay", True):
        raise Refusal("reset_delay=True (snnTorch's default) resets on the step after a spike: 'zero' then clears "
                      "the synaptic current too and drops that step's input, 'subtract' subtracts threshold/beta "
                      "before the decay; spikeDE's CubaLIFNeuron resets the membrane only, in the spiking step: "
                      "build the network with Synaptic(..., reset_delay=False) (and retrain)")
    if isinstance(m.alpha, nn.Parameter) and m.alpha.requires_grad:
        raise Refusal("learn_alpha (a learnable synaptic decay) has no counterpart: CubaLIFNeuron's tau_syn is fixed")
    a = min(max(_scalar(m.alpha, "alpha"), 0.0), 1.0)  # snnTorch uses alpha.clamp(0, 1)
    if a == 1.0:
        raise Refusal("alpha = 1: a synaptic current that never decays (tau_syn = infinity) has no counterpart")
    kw, beta, learn_beta = _checked_kwargs(m, neuron_kwargs)
    if beta == 1.0:
        raise Refusal("beta = 1 with a synaptic current: CubaLIFNeuron's membrane leaks (tau finite)")
    k = 1.0 / (1.0 - a)  # I_t = I + (k x - I)/k = a I + x
    neuron = CubaLIFNeuron(tau=1.0 / (1.0 - beta), tau_learnable=learn_beta, tau_syn=k * kw.get("dt", 1.0), **kw)
    return SynapticAdapter(TauInput(neuron, gain=k), getattr(m, "init_hidden", False), getattr(m, "output", False))


def _convert_one(neuron_kwargs):
    def convert_one(name: str, m: nn.Module):
        if framework_of(m) != "snntorch":
            return None
        cls = type(m).__name__
        if cls == "Leaky":
            return _leaky(m, neuron_kwargs)
        if cls == "Synaptic":
            return _synaptic(m, neuron_kwargs)
        raise Refusal(f"{cls} has no exact spikeDE counterpart")

    return convert_one


def from_snntorch(model: nn.Module, **neuron_kwargs) -> nn.Module:
    """Convert an snnTorch network (in place: each ``Leaky`` becomes a :class:`LeakyAdapter` around a spikeDE
    neuron) that reproduces it at ``alpha = 1`` (see the module docstring for the mapping and the calling
    convention).

    Args:
        model: an ``nn.Module`` built with ``snntorch`` neurons.
        **neuron_kwargs: passed to every spikeDE neuron (e.g. ``alpha=0.8, learn_alpha=True``).

    Raises:
        UnsupportedModuleError: listing every module that cannot be converted exactly, and the supported set.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"from_snntorch: model must be an nn.Module, got {type(model).__name__}")
    return replace_modules(model, _convert_one(neuron_kwargs), "snnTorch", "; ".join(SUPPORTED))
