r"""SpikingJelly (``spikingjelly.activation_based``) networks to spikeDE.

Neurons (``V`` membrane after reset, ``H`` charged membrane, ``S = Heaviside(H - v_threshold)``):

=====================================================  ======================================================
SpikingJelly                                           spikeDE
=====================================================  ======================================================
``IFNode(v_threshold, v_reset)``                       ``IFNeuron(tau=1)``: ``H = V + X``
``LIFNode(tau, decay_input=True, ...)``                ``LIFNeuron(tau)``: ``H = V + (X - V)/tau``
``LIFNode(tau, decay_input=False, ...)``               ``TauInput(LIFNeuron(tau))``: ``H = V + (tau X - V)/tau``
``ParametricLIFNode(init_tau, decay_input, ...)``      the same with ``tau_learnable=True`` (``tau = 1/sigmoid(w)``)
=====================================================  ======================================================

``v_reset=None`` is ``reset='subtract'`` (``V = H - theta S``), ``v_reset=0.0`` is ``reset='zero'``;
``detach_reset`` and ``step_mode`` are kept. Surrogates (``surrogate_function``, SpikingJelly's ``alpha`` ->
spikeDE's sharpness ``k``): ``ATan(a)`` -> ``atan, k=a``; ``Sigmoid(a)`` -> ``sigmoid, k=a``;
``PiecewiseQuadratic(a)`` -> ``triangle, k=a``; ``Erf(a)`` -> ``gaussian, k=a``; ``SoftSign(a)`` ->
``fast_sigmoid, k=a``; ``Rect(a)`` -> ``rectangular, k=2a``; ``SuperSpike(a)`` -> ``2a * fast_sigmoid(k=1)``
(same function, spikeDE's scaled by ``2a``).

Exactness at ``alpha = 1``: ``IFNode`` and ``LIFNode(decay_input=True)`` evaluate the same expressions in the
same order as spikeDE, so spikes and membranes are bit-identical (float32 and float64). ``decay_input=False``
and ``ParametricLIFNode`` (SpikingJelly multiplies by ``sigmoid(w)`` where spikeDE divides by ``tau``) agree
to rounding: identical spikes except where ``H`` lies within a rounding error of the threshold.

Refused, with the reason: other neuron types, a nonzero ``v_reset`` (SpikingJelly's membrane then starts at and
leaks towards ``v_reset``, spikeDE's at and towards 0), surrogates with no spikeDE counterpart, stateful or
time-mixing layers (``MemoryModule`` s, ``MultiStepModule`` s other than the containers below).

Layers: SpikingJelly's stateless layers (``layer.Conv2d``, ``layer.Linear``, ``layer.BatchNorm2d``, pooling,
``layer.Flatten`` ...) are kept and set to single-step mode, so that they act on one ``[N, ...]`` tensor;
``SeqToANNContainer``, ``MultiStepContainer`` and ``StepModeContainer`` become ``nn.Sequential`` of their
(converted) children; ``layer.Dropout`` / ``Dropout2d`` become ``nn.Dropout`` / ``nn.Dropout2d`` (the same in
evaluation; in training the mask is drawn per step, where SpikingJelly's multi-step mode keeps one mask for all
steps). The result therefore runs through :class:`spikeDE.SNNWrapper` on ``[T, B, ...]`` in either
of its modes (``'multi'`` reproduces SpikingJelly's multi-step mode, ``'single'`` its single-step loop).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..neuron import IFNeuron, LIFNeuron
from ._common import Refusal, TauInput, framework_of, replace_modules, surrogate_for

__all__ = ["from_spikingjelly", "SUPPORTED"]

SUPPORTED = ("neuron.IFNode", "neuron.LIFNode", "neuron.ParametricLIFNode",
             "stateless layers of spikingjelly.activation_based.layer (set to step_mode='s')",
             "layer.SeqToANNContainer / MultiStepContainer / StepModeContainer (-> nn.Sequential)",
             "layer.Dropout / Dropout2d (-> nn.Dropout / nn.Dropout2d)")

_NEURON_MODULE = "spikingjelly.activation_based.neuron"
_CONTAINERS = ("SeqToANNContainer", "MultiStepContainer", "StepModeContainer")
# SpikingJelly surrogate -> (spikeDE name, sharpness from alpha, gain from alpha)
_SURROGATES = {
    "ATan": ("atan", lambda a: a, lambda a: 1.0),
    "Sigmoid": ("sigmoid", lambda a: a, lambda a: 1.0),
    "PiecewiseQuadratic": ("triangle", lambda a: a, lambda a: 1.0),
    "Erf": ("gaussian", lambda a: a, lambda a: 1.0),
    "SoftSign": ("fast_sigmoid", lambda a: a, lambda a: 1.0),
    "Rect": ("rectangular", lambda a: 2.0 * a, lambda a: 1.0),
    "SuperSpike": ("fast_sigmoid", lambda a: 1.0, lambda a: 2.0 * a),
}


def _surrogate(fn):
    name = type(fn).__name__
    if not type(fn).__module__.startswith("spikingjelly.activation_based.surrogate") or name not in _SURROGATES:
        raise Refusal(f"surrogate {type(fn).__name__} has no spikeDE counterpart of the same shape; supported: "
                      f"{', '.join(_SURROGATES)}")
    if not getattr(fn, "spiking", True):
        raise Refusal(f"surrogate {name}(spiking=False) emits a continuous output, not spikes")
    alpha = getattr(fn, "alpha", None)
    if isinstance(alpha, torch.Tensor):
        if alpha.numel() != 1:
            raise Refusal(f"surrogate {name} has a non-scalar alpha")
        alpha = float(alpha)
    if not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha <= 0:
        raise Refusal(f"surrogate {name} has alpha={alpha!r}; a finite alpha > 0 is needed")
    spike_name, k, gain = _SURROGATES[name]
    return surrogate_for(spike_name, float(k(alpha)), float(gain(alpha)))


def _reset(node):
    if node.v_reset is None:
        return "subtract"
    if float(node.v_reset) == 0.0:
        return "zero"
    raise Refusal(f"v_reset={node.v_reset!r}: SpikingJelly's membrane then starts at and leaks towards v_reset, "
                  f"spikeDE's at and towards 0; use v_reset=None (soft) or 0.0 (hard)")


def _neuron(node, neuron_kwargs: dict) -> nn.Module:
    cls = type(node).__name__
    if getattr(node, "_neuron_precision", None) is not None:
        raise Refusal("a reduced neuron precision is set (set_neuron_precision); convert the float32 network")
    surrogate, scale = _surrogate(node.surrogate_function)
    common = dict(threshold=float(node.v_threshold), surrogate_grad_scale=scale, surrogate_opt=surrogate,
                  reset=_reset(node), v_reset=0.0, detach_reset=bool(node.detach_reset),
                  step_mode=node.step_mode)
    common.update(neuron_kwargs)
    if cls == "IFNode":
        out = IFNeuron(tau=1.0, **common)
        out.record = bool(getattr(node, "store_v_seq", False))
        return out
    if cls == "LIFNode":
        lif = LIFNeuron(tau=float(node.tau), **common)
    else:  # ParametricLIFNode: tau = 1 / sigmoid(w), learnable
        w = node.w.detach().double()
        if w.numel() != 1:
            raise Refusal("ParametricLIFNode with a non-scalar w (one tau per neuron) is not supported")
        tau = float(1.0 + torch.exp(-w))
        lif = LIFNeuron(tau=tau, tau_learnable=bool(node.w.requires_grad), **common)
        if node.w.requires_grad:  # log(tau) = -log(sigmoid(w)), in the dtype and on the device of w
            lif.log_tau = nn.Parameter((-torch.nn.functional.logsigmoid(w)).to(node.w.dtype).to(node.w.device))
    lif.record = bool(getattr(node, "store_v_seq", False))
    return lif if node.decay_input else TauInput(lif)


def _is_kind(module, base_name: str) -> bool:
    return any(c.__name__ == base_name and c.__module__.startswith("spikingjelly") for c in type(module).__mro__)


def _convert_one(neuron_kwargs):
    def convert_one(name: str, m: nn.Module):
        if framework_of(m) != "spikingjelly":
            return None
        cls = type(m).__name__
        if type(m).__module__.startswith(_NEURON_MODULE):
            if cls in ("IFNode", "LIFNode", "ParametricLIFNode"):
                return _neuron(m, neuron_kwargs)
            raise Refusal(f"neuron {cls} has no exact spikeDE counterpart")
        if cls in _CONTAINERS:
            return nn.Sequential(*m.children()), True
        if cls in ("Dropout", "Dropout2d") and type(m).__module__.startswith("spikingjelly.activation_based.layer"):
            return (nn.Dropout if cls == "Dropout" else nn.Dropout2d)(p=float(m.p))
        if _is_kind(m, "MemoryModule"):
            raise Refusal("a stateful SpikingJelly module (MemoryModule) with no spikeDE counterpart")
        if _is_kind(m, "MultiStepModule"):
            raise Refusal("a multi-step-only module: it mixes the time steps, which a per-step network cannot do")
        if hasattr(m, "step_mode"):
            m.step_mode = "s"
        return None

    return convert_one


def from_spikingjelly(model: nn.Module, **neuron_kwargs) -> nn.Module:
    """Convert a SpikingJelly network (in place: its neurons and containers are replaced) into a network of
    spikeDE neurons that reproduces it at ``alpha = 1`` (see the module docstring for the mapping).

    Args:
        model: an ``nn.Module`` built with ``spikingjelly.activation_based`` neurons and layers.
        **neuron_kwargs: passed to every spikeDE neuron (e.g. ``alpha=0.8, learn_alpha=True`` for neurons that
            are fractional on their own, outside :class:`spikeDE.SNNWrapper`).

    Returns:
        The converted network; run it with ``SNNWrapper(net, integrator="fdeint", alpha=...)`` on ``[T, B, ...]``.

    Raises:
        UnsupportedModuleError: listing every module that cannot be converted exactly, and the supported set.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"from_spikingjelly: model must be an nn.Module, got {type(model).__name__}")
    return replace_modules(model, _convert_one(neuron_kwargs), "SpikingJelly", ", ".join(SUPPORTED))
