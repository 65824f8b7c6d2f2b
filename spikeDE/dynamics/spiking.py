r"""Spike and reset of a membrane step, and their partial derivatives for hand-written backward passes.

After the charge ``H_n`` the neuron fires and resets:

    ``S_n = Heaviside(H_n - theta + xi_n)``      (``xi_n``: optional threshold noise, else 0)
    ``V_n = H_n - theta S_n``                  (``reset='subtract'``)
    ``V_n = v_reset`` where ``S_n = 1``, else ``H_n``   (``reset='zero'``; as ``H_n (1 - S_n) + v_reset S_n``)

Training replaces ``dS_n/dH_n`` by the surrogate ``g(H_n - theta [+ xi_n])``. With ``detach_reset`` the reset
does not pass gradient through ``S_n`` (``dV_n/dS_n = 0``), as in spikeDE and snnTorch; otherwise
``dV_n/dS_n = -theta`` (subtract) or ``v_reset - H_n`` (zero).

The backward passes of :mod:`.lif` and :mod:`.fractional` need, per step, with ``lambda_V`` the adjoint of
``V_n`` and ``gS`` the incoming gradient of ``S_n``:

    ``lambda_H = lambda_V * m + q``,  ``m = dV/dH + (dV/dS) g``,  ``q = gS g``.

:func:`adjoint_factors` returns ``m`` (``None`` when it is identically 1) and ``q``; :func:`threshold_grad`
the gradient of a learnable threshold.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..surrogate import Surrogate, get_surrogate

__all__ = ["SpikeConfig", "RESETS", "check_reset", "spike_config", "adjoint_factors", "threshold_grad",
           "surrogate_input", "surrogate_grad_", "nan_spikes_"]

RESETS = ("subtract", "zero")


def check_reset(reset: str, where: str | None = None) -> str:
    """Validate ``reset`` (``'subtract'`` or ``'zero'``; ``'soft'``/``'hard'`` accepted)."""
    prefix = f"{where}: " if where else ""
    key = {"soft": "subtract", "hard": "zero", "subtract": "subtract", "zero": "zero"}.get(
        reset.strip().lower() if isinstance(reset, str) else None)
    if key is None:
        raise ValueError(f"{prefix}reset must be 'subtract' or 'zero', got {reset!r}")
    return key


@dataclass(frozen=True)
class SpikeConfig:
    """Everything about firing and reset except the threshold value (a tensor input of the kernels)."""

    reset: str = "subtract"
    v_reset: float = 0.0
    detach_reset: bool = True
    surrogate: Surrogate = get_surrogate("atan")
    scale: float = 5.0
    noise: torch.Tensor | None = None  # xi [T, D] added to H - theta when deciding spikes (no gradient)
    noise_in_grad: bool = True  # evaluate the surrogate at the noisy point (else at H - theta)


def nan_spikes_(S: torch.Tensor, H: torch.Tensor) -> torch.Tensor:
    """Non-finite in, NaN out: set ``S`` to NaN where the charge ``H`` is NaN or infinite (in place; returns ``S``).

    ``Heaviside(NaN)`` computed as ``H >= theta`` is 0, which would turn a NaN input into a silent "no spike"
    while the membrane stays NaN (and ``+inf`` into one spike, then silence or endless firing). Every spike
    kernel calls this once after computing its spikes, so a non-finite input shows in the output.

    On the CPU a finite total ``sum(H)`` proves every entry finite (a NaN or an infinity makes the sum NaN or
    infinite), so the elementwise test (five passes over ``H``) runs only when the sum is not finite, which
    includes the rare overflow of a sum of finite values.
    """
    if H.device.type == "cpu" and (H.numel() == 0 or bool(torch.isfinite(H.sum()))):
        return S
    return S.masked_fill_(~torch.isfinite(H), float("nan"))


def spike_config(reset="subtract", v_reset=0.0, detach_reset=True, surrogate="atan", scale=5.0,
                 noise=None, noise_in_grad=True) -> SpikeConfig:
    """A validated :class:`SpikeConfig`."""
    return SpikeConfig(check_reset(reset), float(v_reset), bool(detach_reset), get_surrogate(surrogate),
                       float(scale), noise, bool(noise_in_grad))


def surrogate_input(H: torch.Tensor, theta: float, cfg: SpikeConfig) -> torch.Tensor:
    """``H - theta (+ xi)``: where the surrogate derivative is evaluated."""
    u = H - theta
    if cfg.noise is not None and cfg.noise_in_grad:
        u = u + cfg.noise.reshape(H.shape)
    return u


def surrogate_grad_(u: torch.Tensor, cfg: SpikeConfig) -> torch.Tensor:
    """Overwrite ``u`` with the surrogate derivative ``g(u)`` (the formulas of :mod:`spikeDE.surrogate`, evaluated
    in place to spare the large temporaries of a ``[T, D]`` backward pass); other surrogates: out of place."""
    k, name = cfg.scale, cfg.surrogate.name
    if name == "atan":
        return u.mul_(math.pi * k / 2).square_().add_(1.0).reciprocal_().mul_(k / 2)
    if name == "fast_sigmoid":
        return u.abs_().mul_(k).add_(1.0).square_().reciprocal_().mul_(k / 2)
    if name == "sigmoid":
        u.mul_(k).sigmoid_()
        return u.sub_(u.square()).mul_(k)
    if name == "triangle":
        return u.abs_().mul_(-k).add_(1.0).clamp_(min=0.0).mul_(k)
    if name == "gaussian":
        return u.mul_(k).square_().neg_().exp_().mul_(k / math.sqrt(math.pi))
    if name == "rectangular":
        return u.abs_().lt_(1.0 / k).mul_(k / 2)
    return cfg.surrogate.derivative(u, k)


def adjoint_factors(H: torch.Tensor, S: torch.Tensor, theta: float, cfg: SpikeConfig, grad_S):
    """``(sg, m, q)``: surrogate derivative ``g``, ``m = dV/dH + (dV/dS) g`` (``None`` if 1) and ``q = gS g``
    (``None`` if there is no spike gradient), all ``[T, D]``."""
    sg = surrogate_grad_(surrogate_input(H, theta, cfg), cfg)
    q = None if grad_S is None else grad_S * sg
    if cfg.reset == "subtract":
        m = None if cfg.detach_reset else 1.0 - theta * sg
    else:
        m = 1.0 - S
        if not cfg.detach_reset:
            m = m + (cfg.v_reset - H) * sg
    return sg, m, q


def threshold_grad(H, S, sg, lam_V, theta: float, cfg: SpikeConfig, grad_S) -> torch.Tensor:
    """``dL/dtheta`` (0-d): ``-sum(lambda_S g) - sum(lambda_V S)`` (subtract) or ``-sum(lambda_S g)`` (zero),
    where ``lambda_S = gS + lambda_V dV/dS`` is the total adjoint of the spikes."""
    lam_S = torch.zeros_like(H) if grad_S is None else grad_S.clone()
    if not cfg.detach_reset:
        lam_S += lam_V * (-theta if cfg.reset == "subtract" else (cfg.v_reset - H))
    total = -(lam_S * sg).sum()
    if cfg.reset == "subtract":
        total = total - (lam_V * S).sum()
    return total
