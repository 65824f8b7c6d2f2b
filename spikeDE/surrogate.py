r"""Spike functions: Heaviside forward, surrogate-gradient backward.

A spiking neuron emits ``S = H(x)`` with ``x = v - theta`` and ``H(x) = 1`` for ``x >= 0``, else ``0``.
``H`` has derivative zero almost everywhere, so training replaces ``dS/dx`` in the backward pass by a
*surrogate* ``g(x)``: the derivative of a smooth step ``sigma(x)`` that rises from 0 to 1. Every surrogate
here is normalised so that ``integral g(x) dx = 1`` (a smoothed Dirac delta); ``scale`` (``kappa``, spikeDE's
``surrogate_grad_scale``) sets its sharpness: peak height grows and width shrinks like ``kappa``.

=================  ==========================================  ===================  =======================
name (aliases)     g(x)                                        peak g(0)            width
=================  ==========================================  ===================  =======================
``atan``           ``(k/2) / (1 + (pi k x / 2)^2)``            ``k/2``              half-max at ``|x|=2/(pi k)``
``sigmoid``        ``k s(kx) (1 - s(kx))``, ``s`` logistic     ``k/4``              half-max at ``|x|=1.76/k``
``fast_sigmoid``   ``(k/2) / (1 + k|x|)^2``                    ``k/2``              half-max at ``|x|=0.41/k``
``triangle``       ``k max(0, 1 - k|x|)``                      ``k``                support ``|x| < 1/k``
``rectangular``    ``(k/2) 1{|x| < 1/k}``                      ``k/2``              support ``|x| < 1/k``
``gaussian``       ``(k/sqrt(pi)) exp(-(k x)^2)``              ``k/sqrt(pi)``       std ``1/(sqrt(2) k)``
=================  ==========================================  ===================  =======================

Aliases: ``arctan`` and ``arctan_surrogate`` / ``atan_surrogate`` for ``atan``; ``sigmoid_surrogate``;
``superspike`` for ``fast_sigmoid``; ``piecewise_linear`` / ``piecewise_linear_surrogate`` for ``triangle``;
``rect`` / ``boxcar`` for ``rectangular``; ``erf`` / ``gaussian_surrogate`` for ``gaussian``.
The smooth steps are ``1/2 + arctan(pi k x/2)/pi``, ``s(kx)``, ``1/2 + kx/(2(1+k|x|))``, a piecewise quadratic,
a clipped ramp and ``(1 + erf(kx))/2`` respectively.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

__all__ = ["Surrogate", "SURROGATES", "get_surrogate", "spike", "heaviside", "surrogate_names"]


def _atan(x: torch.Tensor, k: float) -> torch.Tensor:
    return (k / 2) / (1 + (math.pi * k / 2 * x) ** 2)


def _sigmoid(x: torch.Tensor, k: float) -> torch.Tensor:
    s = torch.sigmoid(k * x)
    return k * s * (1 - s)


def _fast_sigmoid(x: torch.Tensor, k: float) -> torch.Tensor:
    return (k / 2) / (1 + k * x.abs()) ** 2


def _triangle(x: torch.Tensor, k: float) -> torch.Tensor:
    return k * torch.clamp(1 - k * x.abs(), min=0)


def _rectangular(x: torch.Tensor, k: float) -> torch.Tensor:
    return (k / 2) * (x.abs() < 1 / k).to(x.dtype)


def _gaussian(x: torch.Tensor, k: float) -> torch.Tensor:
    return (k / math.sqrt(math.pi)) * torch.exp(-((k * x) ** 2))


@dataclass(frozen=True)
class Surrogate:
    """A named surrogate: ``derivative(x, scale)`` is ``g(x)``; calling it spikes with that backward."""

    name: str
    derivative: Callable[[torch.Tensor, float], torch.Tensor]
    peak_factor: float  # g(0) = peak_factor * scale

    def peak(self, scale: float) -> float:
        """Height ``g(0)`` of the surrogate at this scale."""
        return self.peak_factor * scale

    def __call__(self, x: torch.Tensor, scale: float = 5.0) -> torch.Tensor:
        return _HeavisideSurrogate.apply(x, self.derivative, float(scale))


SURROGATES: dict[str, Surrogate] = {
    s.name: s
    for s in (
        Surrogate("atan", _atan, 0.5),
        Surrogate("sigmoid", _sigmoid, 0.25),
        Surrogate("fast_sigmoid", _fast_sigmoid, 0.5),
        Surrogate("triangle", _triangle, 1.0),
        Surrogate("rectangular", _rectangular, 0.5),
        Surrogate("gaussian", _gaussian, 1 / math.sqrt(math.pi)),
    )
}

_ALIASES = {
    "arctan": "atan",
    "arctan_surrogate": "atan",
    "atan_surrogate": "atan",
    "sigmoid_surrogate": "sigmoid",
    "superspike": "fast_sigmoid",
    "fast_sigmoid_surrogate": "fast_sigmoid",
    "piecewise_linear": "triangle",
    "piecewise_linear_surrogate": "triangle",
    "triangle_surrogate": "triangle",
    "rect": "rectangular",
    "boxcar": "rectangular",
    "rectangular_surrogate": "rectangular",
    "erf": "gaussian",
    "gaussian_surrogate": "gaussian",
}


def surrogate_names() -> list[str]:
    """All accepted names, canonical ones first."""
    return list(SURROGATES) + list(_ALIASES)


def get_surrogate(name: str | Surrogate) -> Surrogate:
    """Look up a surrogate by name or alias (case-insensitive); a :class:`Surrogate` passes through."""
    if isinstance(name, Surrogate):
        return name
    if not isinstance(name, str):
        raise TypeError(f"surrogate must be a name or a Surrogate, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in SURROGATES:
        raise ValueError(f"unknown surrogate {name!r}; valid names: {', '.join(surrogate_names())}")
    return SURROGATES[key]


class _HeavisideSurrogate(torch.autograd.Function):
    """``S = H(x)`` forward; ``dL/dx = dL/dS * g(x)`` backward."""

    @staticmethod
    def forward(ctx, x, derivative, scale):
        ctx.save_for_backward(x)
        ctx.derivative = derivative
        ctx.scale = scale
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * ctx.derivative(x, ctx.scale), None, None


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """``H(x) = 1`` where ``x >= 0`` else ``0``, in the dtype of ``x`` (no gradient)."""
    return (x >= 0).to(x.dtype)


def spike(x: torch.Tensor, surrogate: str | Surrogate = "atan", scale: float = 5.0) -> torch.Tensor:
    """Spikes ``H(x)`` with the surrogate gradient ``g(x)`` of ``surrogate`` at sharpness ``scale``."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError("spike: x must be a floating-point tensor")
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"spike: scale must be a finite number > 0, got {scale!r}")
    return get_surrogate(surrogate)(x, scale)
