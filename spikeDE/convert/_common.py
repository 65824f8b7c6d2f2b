r"""Shared machinery of the converters: the module-tree walk, the refusal error, scaled surrogates and the
input gain that turns a "non-decaying input" neuron into spikeDE's ``tau D^alpha v = -v + I``.

Every converter reads the peer's module attributes only; none imports the peer library.
"""
from __future__ import annotations

import math
from functools import partial
from typing import Callable

import torch
from torch import nn

from ..neuron import BaseNeuron
from ..surrogate import SURROGATES, Surrogate, get_surrogate

__all__ = ["UnsupportedModuleError", "Refusal", "framework_of", "replace_modules", "scaled_surrogate",
           "surrogate_for", "TauInput", "synaptic_of"]


class UnsupportedModuleError(ValueError):
    """A network holds modules that a converter cannot reproduce; the message lists each of them (its name in
    the module tree, its class and the reason) and the supported set."""


class Refusal(Exception):
    """Raised by a per-module converter with the reason a module cannot be converted exactly."""


def framework_of(module: nn.Module) -> str | None:
    """``'spikingjelly'``, ``'snntorch'``, ``'norse'`` or ``None``: the library the module's class comes from."""
    root = type(module).__module__.split(".")[0]
    return root if root in ("spikingjelly", "snntorch", "norse") else None


def _qualname(module: nn.Module) -> str:
    return f"{type(module).__module__}.{type(module).__name__}"


def replace_modules(model: nn.Module, convert_one: Callable[[str, nn.Module], nn.Module | None],
                    framework: str, supported: str) -> nn.Module:
    """Replace modules of ``model`` (in place, top-down) by ``convert_one(name, module)``.

    ``convert_one`` returns a replacement (not descended into), ``(replacement, True)`` (a replacement whose
    children are converted in turn, e.g. a container rebuilt as ``nn.Sequential``), ``None`` to keep the module
    and descend into its children, or raises :class:`Refusal`. All refusals are collected and reported together
    in one :class:`UnsupportedModuleError`. The root module itself may be replaced (the result is returned).
    """
    problems: list[str] = []

    def visit(name: str, module: nn.Module) -> nn.Module:
        try:
            new = convert_one(name, module)
        except Refusal as e:
            problems.append(f"  {name or '<root>'} ({_qualname(module)}): {e}")
            return module
        descend = new is None
        if isinstance(new, tuple):
            new, descend = new
        if new is not None:
            new.train(module.training)  # a replacement keeps the train / eval mode of the module it replaces
            module = new
        if not descend:
            return module
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            replaced = visit(full, child)
            if replaced is not child:
                setattr(module, child_name, replaced)
        return module

    out = visit("", model)
    if problems:
        raise UnsupportedModuleError(
            f"cannot convert {len(problems)} module(s) of this {framework} network:\n" + "\n".join(problems)
            + f"\nsupported {framework} modules: {supported}")
    return out


def _scaled_derivative(base: Callable, gain: float, x: torch.Tensor, k: float) -> torch.Tensor:
    return gain * base(x, k)


def scaled_surrogate(name: str, gain: float) -> Surrogate:
    """spikeDE's surrogate ``name`` multiplied by ``gain`` (``gain * g(x)``), for peers whose surrogate has the
    same shape as a spikeDE one but another normalisation (spikeDE's integrate to 1). ``gain = 1`` returns the
    registered surrogate itself."""
    base = get_surrogate(name)
    if gain == 1.0:
        return base
    if not (math.isfinite(gain) and gain > 0):
        raise ValueError(f"scaled_surrogate: gain must be finite and > 0, got {gain!r}")
    return Surrogate(f"{base.name}*{gain:.6g}", partial(_scaled_derivative, base.derivative, float(gain)),
                     base.peak_factor * gain)


def surrogate_for(name: str, scale: float, gain: float = 1.0) -> tuple[Surrogate, float]:
    """``(surrogate, scale)`` for a spikeDE neuron: surrogate ``name`` at sharpness ``scale`` times ``gain``."""
    if name not in SURROGATES:
        raise ValueError(f"unknown spikeDE surrogate {name!r}")
    if not (math.isfinite(scale) and scale > 0):
        raise Refusal(f"surrogate sharpness must be finite and > 0, got {scale!r}")
    return scaled_surrogate(name, gain), float(scale)


class TauInput(nn.Module):
    r"""A spikeDE neuron driven by ``tau * x``: ``tau D^alpha v = -v + tau x``.

    At ``alpha = 1``, ``dt = 1`` the charge is ``H = V + (tau X - V)/tau = (1 - 1/tau) V + X``: the leaky neuron
    whose input is *not* divided by ``tau`` (SpikingJelly ``decay_input=False``, snnTorch ``V = beta V + X`` with
    ``beta = 1 - 1/tau``). ``tau`` is read from the neuron at every call, so a learnable ``tau`` stays tied.
    ``gain`` multiplies the input further (``tau * gain * x``): ``gain = tau_syn / dt`` in front of
    :class:`spikeDE.CubaLIFNeuron` undoes its synapse's ``1/k`` (``I_t = a I_{t-1} + x_t``, ``a = 1 - dt/tau_syn``).

    Attributes:
        neuron: the wrapped :class:`spikeDE.BaseNeuron` (what :class:`spikeDE.SNNWrapper` finds).
        gain: the constant input factor (a float > 0).
    """

    def __init__(self, neuron: BaseNeuron, gain: float = 1.0):
        super().__init__()
        if not isinstance(neuron, BaseNeuron):
            raise TypeError(f"TauInput: neuron must be a spikeDE BaseNeuron, got {type(neuron).__name__}")
        gain = float(gain)
        if not (math.isfinite(gain) and gain > 0):
            raise ValueError(f"TauInput: gain must be finite and > 0, got {gain!r}")
        self.neuron = neuron
        self.gain = gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tau = self.neuron.tau.to(device=x.device)
        if self.gain != 1.0:
            tau = tau * self.gain
        return self.neuron(x * tau.to(x.dtype))


def synaptic_of(neuron: BaseNeuron, x: torch.Tensor, k: float, scale: float) -> torch.Tensor:
    """The synaptic current of a :class:`spikeDE.CubaLIFNeuron` just called on ``k * scale * x``, divided by
    ``scale`` (so in the peer's units: ``c_t = (1 - 1/k) c_{t-1} + x_t``), detached, shaped as the peer returns it:
    ``x``'s shape after one step or a sequence folded into the batch, the last step ``x.shape[1:]`` after a
    multi-step call. A sequence is filtered again here (with the neuron's ``dt``); one step reads the neuron."""
    from ..dynamics.synapse import synaptic_current

    with torch.no_grad():
        v_seq = neuron.__dict__.get("v_seq")
        if v_seq is None:
            return (neuron.__dict__["_i_syn"] / scale).reshape(x.shape).detach()
        steps = v_seq.shape[0]
        kk = neuron.tau_syn / neuron.dt
        c = synaptic_current(x.detach().reshape(steps, -1) * kk, kk)
        if tuple(v_seq.shape) == tuple(x.shape):  # the neuron's own multi-step call: the last step
            return c[-1].reshape(x.shape[1:])
        return c.reshape(x.shape)  # the sequence folded into the batch (SNNWrapper 'multi'): every step
