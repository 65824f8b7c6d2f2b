r"""Spike-triggered threshold adaptation (ALIF), as pure functions on explicit state.

Every spike raises the threshold by ``beta``; the raise decays with the time constant ``tau_adapt``:

    ``theta_t = theta + beta a_{t-1}``,    ``a_t = rho a_{t-1} + S_t``,    ``rho = exp(-dt / tau_adapt)``

(``a_0 = 0``), so ``a_t = sum_{s <= t} rho^{t-s} S_s`` counts the recent spikes with exponential forgetting.
The spike ``S_t`` is decided against ``theta_t``; with ``reset='subtract'`` the membrane loses ``theta_t``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

__all__ = ["AdaptationParams", "AdaptationState", "adaptation_params", "adaptive_threshold", "adapt"]


class AdaptationParams(NamedTuple):
    """``beta``: threshold raise per spike; ``rho``: its decay per step ``exp(-dt / tau_adapt)``."""

    beta: float
    rho: float


class AdaptationState(NamedTuple):
    """``a``: the decaying spike count ``[D]``."""

    a: torch.Tensor


def adaptation_params(beta: float, tau_adapt: float, dt: float) -> AdaptationParams:
    """:class:`AdaptationParams` for a step ``dt``."""
    return AdaptationParams(float(beta), math.exp(-float(dt) / float(tau_adapt)))


def adaptive_threshold(theta: torch.Tensor, params: AdaptationParams, state: AdaptationState | None,
                       like: torch.Tensor) -> torch.Tensor:
    """``theta + beta a`` (``[D]``, like ``like``); the base threshold alone at rest (``state=None``)."""
    if state is None:
        return theta.expand_as(like)
    return theta + params.beta * state.a


def adapt(params: AdaptationParams, state: AdaptationState | None, spike: torch.Tensor) -> AdaptationState:
    """``a_t = rho a_{t-1} + S_t``."""
    return AdaptationState(spike if state is None else params.rho * state.a + spike)
