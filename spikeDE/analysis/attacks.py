r"""Input perturbations for robustness tests, each with a scalar ``level`` (``level = 0`` is the identity).

All attacks take a time-first input ``x [T, B, ...]`` (floating point) and return a tensor of the same shape,
dtype and device. Randomness comes from ``generator``: a ``torch.Generator`` (CPU), an ``int`` seed or
``None`` (the global RNG). Random numbers are drawn on the CPU and moved to ``x``'s device, so a seed gives
the same perturbation on every device.

* ``noise`` (:func:`gaussian_noise`): ``x + level * N(0, 1)``, independent per entry; ``level`` is the std.
* ``jitter`` (:func:`temporal_jitter`): every channel of every sample is re-timed by a noisy clock: entry
  ``t`` gets the key ``t + level * U(0, 1)`` and the entries are put in key order. This is a permutation of
  the time axis per channel, so the multiset of values (the events) of each channel is preserved exactly,
  nothing leaves ``[0, T)``, and no entry moves by more than ``floor(level)`` steps. ``level`` is in steps.
* ``dropout`` (:func:`input_dropout`): each entry (``mode="element"``), each input channel for the whole
  sequence (``"channel"``) or each time step (``"step"``) is set to zero with probability ``level``.
* ``occlusion`` (:func:`occlusion`): a contiguous window of ``round(level * T)`` steps, at a uniformly random
  position per sample, is set to zero (all channels).
"""
from __future__ import annotations

import math

import torch

from .._checks import check_floating, check_positive

__all__ = ["gaussian_noise", "temporal_jitter", "input_dropout", "occlusion", "apply_attack", "ATTACKS",
           "DEFAULT_LEVELS"]


def _generator(generator) -> torch.Generator | None:
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, bool) or not isinstance(generator, int):
        raise TypeError(f"generator must be a torch.Generator, an int seed or None, got {type(generator).__name__}")
    return torch.Generator().manual_seed(generator)


def _check(x, level, name, probability=False):
    check_floating(x, "x", where=name)
    if x.dim() < 2:
        raise ValueError(f"{name}: x must be time-first [T, B, ...], got shape {tuple(x.shape)}")
    check_positive(level, "level", where=name, allow_zero=True)
    if probability and float(level) > 1:
        raise ValueError(f"{name}: level must be a probability in [0, 1], got {level!r}")
    return float(level)


def _rand(shape, x, g, normal=False):
    if g is None:
        return (torch.randn if normal else torch.rand)(shape, dtype=x.dtype, device=x.device)
    draw = (torch.randn if normal else torch.rand)(shape, dtype=x.dtype, generator=g)
    return draw.to(x.device)


def gaussian_noise(x: torch.Tensor, level: float, generator=None) -> torch.Tensor:
    """``x + level * eps``, ``eps ~ N(0, 1)`` i.i.d. per entry."""
    level = _check(x, level, "gaussian_noise")
    if level == 0:
        return x.clone()
    return x + level * _rand(x.shape, x, _generator(generator), normal=True)


def temporal_jitter(x: torch.Tensor, level: float, generator=None) -> torch.Tensor:
    """Re-time each channel of each sample by sorting the keys ``t + level * U(0, 1)`` (see the module doc).

    Every entry moves by at most ``floor(level)`` steps: an entry ``t'`` with ``t' < t - level`` always has a
    smaller key than entry ``t``, and one with ``t' > t + level`` a larger one.
    """
    level = _check(x, level, "temporal_jitter")
    if level == 0:
        return x.clone()
    T = x.shape[0]
    t = torch.arange(T, dtype=torch.float64).reshape((T,) + (1,) * (x.dim() - 1))
    g = _generator(generator)
    u = torch.rand(x.shape, dtype=torch.float64, generator=g) if g is not None else torch.rand(
        x.shape, dtype=torch.float64)
    order = torch.argsort(t + level * u, dim=0, stable=True).to(x.device)
    return torch.gather(x, 0, order)


_DROPOUT_MODES = ("element", "channel", "step")


def input_dropout(x: torch.Tensor, level: float, generator=None, mode: str = "element") -> torch.Tensor:
    """Zero each entry / input channel / time step with probability ``level`` (no rescaling)."""
    level = _check(x, level, "input_dropout", probability=True)
    if mode not in _DROPOUT_MODES:
        raise ValueError(f"input_dropout: mode must be one of {_DROPOUT_MODES}, got {mode!r}")
    if level == 0:
        return x.clone()
    if mode == "element":
        shape = x.shape
    elif mode == "channel":
        shape = (1,) + tuple(x.shape[1:])
    else:
        shape = tuple(x.shape[:2]) + (1,) * (x.dim() - 2)
    keep = _rand(shape, x, _generator(generator)) >= level
    return torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))


def occlusion(x: torch.Tensor, level: float, generator=None) -> torch.Tensor:
    """Zero a window of ``round(level * T)`` consecutive steps at a random start, per sample."""
    level = _check(x, level, "occlusion", probability=True)
    T, B = x.shape[0], x.shape[1]
    width = int(round(level * T))
    if width == 0:
        return x.clone()
    g = _generator(generator)
    start = torch.randint(0, T - width + 1, (B,), generator=g) if g is not None else torch.randint(
        0, T - width + 1, (B,))
    t = torch.arange(T)[:, None]
    hidden = ((t >= start[None, :]) & (t < start[None, :] + width)).to(x.device)
    hidden = hidden.reshape((T, B) + (1,) * (x.dim() - 2))
    return torch.where(hidden, torch.zeros((), dtype=x.dtype, device=x.device), x)


ATTACKS = {"noise": gaussian_noise, "jitter": temporal_jitter, "dropout": input_dropout, "occlusion": occlusion}

DEFAULT_LEVELS = {
    "noise": (0.0, 0.1, 0.2, 0.3, 0.5, 0.8),
    "jitter": (0.0, 1.0, 2.0, 4.0, 8.0),
    "dropout": (0.0, 0.1, 0.2, 0.3, 0.5),
    "occlusion": (0.0, 0.1, 0.25, 0.5),
}


def apply_attack(name: str, x: torch.Tensor, level: float, generator=None) -> torch.Tensor:
    """Apply the attack called ``name`` (one of ``ATTACKS``) at ``level``."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; choose one of {sorted(ATTACKS)}")
    if not math.isfinite(float(level)):
        raise ValueError(f"{name}: level must be finite, got {level!r}")
    return ATTACKS[name](x, level, generator=generator)
