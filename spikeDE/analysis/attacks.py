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

Event-frame attacks: ``x`` holds event counts (non-negative integers, e.g. frames ``[T, B, 2, H, W]`` of
:func:`spikeDE.data.events.to_frames`), and each attack acts on the events themselves:

* ``event_drop`` (:func:`event_drop`): every event is removed independently with probability ``level``:
  ``x' ~ Binomial(x, 1 - level)`` per entry.
* ``event_noise`` (:func:`event_noise`): background-activity events: ``x' = x + Poisson(level)`` per entry
  (``level`` = expected noise events per pixel, polarity and frame).
* ``event_jitter`` (:func:`event_jitter`): every event moves ``d`` frames, ``d`` an integer with
  ``P(d) ~ exp(-d^2 / (2 level^2))`` for ``|d| <= ceil(3 level)``, independently per event (a multinomial split of
  each count, drawn as a chain of binomials); events pushed past the first or last frame stay there. The total
  count of every pixel and polarity is preserved. ``level`` is the standard deviation in frames.
"""
from __future__ import annotations

import math

import torch

from .._checks import check_floating, check_positive

__all__ = ["gaussian_noise", "temporal_jitter", "input_dropout", "occlusion", "event_drop", "event_noise",
           "event_jitter", "apply_attack", "ATTACKS", "DEFAULT_LEVELS"]


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


def _counts(x, name):
    if bool((x < 0).any()) or not bool((x == torch.round(x)).all()):
        raise ValueError(f"{name}: x must hold event counts (non-negative integers)")


def _binomial(count, prob, g):
    """``Binomial(count, prob)`` per entry, drawn on the CPU (float64) and returned in ``count``'s dtype/device."""
    c = count.detach().to("cpu", torch.float64)
    p = torch.as_tensor(prob, dtype=torch.float64).expand_as(c).contiguous()
    draw = torch.binomial(c, p, generator=g) if g is not None else torch.binomial(c, p)
    return draw.to(dtype=count.dtype, device=count.device)


def event_drop(x: torch.Tensor, level: float, generator=None) -> torch.Tensor:
    """Remove every event with probability ``level``: ``x' ~ Binomial(x, 1 - level)``."""
    level = _check(x, level, "event_drop", probability=True)
    _counts(x, "event_drop")
    if level == 0:
        return x.clone()
    return _binomial(x, 1.0 - level, _generator(generator))


def event_noise(x: torch.Tensor, level: float, generator=None) -> torch.Tensor:
    """Add background events: ``x' = x + Poisson(level)`` per entry."""
    level = _check(x, level, "event_noise")
    _counts(x, "event_noise")
    if level == 0:
        return x.clone()
    g = _generator(generator)
    rate = torch.full(x.shape, level, dtype=torch.float64)
    noise = torch.poisson(rate, generator=g) if g is not None else torch.poisson(rate)
    return x + noise.to(dtype=x.dtype, device=x.device)


def event_jitter(x: torch.Tensor, level: float, generator=None) -> torch.Tensor:
    """Move every event by a discrete Gaussian number of frames (std ``level``), clamped to ``[0, T)``."""
    level = _check(x, level, "event_jitter")
    _counts(x, "event_jitter")
    if level == 0:
        return x.clone()
    g = _generator(generator)
    K = int(math.ceil(3 * level))
    d = torch.arange(-K, K + 1, dtype=torch.float64)
    q = torch.exp(-d ** 2 / (2 * level ** 2))
    q = q / q.sum()
    tail = torch.flip(torch.cumsum(torch.flip(q, [0]), 0), [0])      # P(D >= d)
    T = x.shape[0]
    out = torch.zeros_like(x)
    left = x.clone()
    for i, shift in enumerate(range(-K, K + 1)):
        part = left if i == 2 * K else _binomial(left, min(1.0, float(q[i] / tail[i])), g)
        left = left - part
        idx = torch.clamp(torch.arange(T, device=x.device) + shift, 0, T - 1)
        out.index_add_(0, idx, part)
    return out


ATTACKS = {"noise": gaussian_noise, "jitter": temporal_jitter, "dropout": input_dropout, "occlusion": occlusion,
           "event_drop": event_drop, "event_noise": event_noise, "event_jitter": event_jitter}

DEFAULT_LEVELS = {
    "noise": (0.0, 0.1, 0.2, 0.3, 0.5, 0.8),
    "jitter": (0.0, 1.0, 2.0, 4.0, 8.0),
    "dropout": (0.0, 0.1, 0.2, 0.3, 0.5),
    "occlusion": (0.0, 0.1, 0.25, 0.5),
    "event_drop": (0.0, 0.2, 0.4, 0.6, 0.8),
    "event_noise": (0.0, 0.05, 0.1, 0.2, 0.5),
    "event_jitter": (0.0, 0.5, 1.0, 2.0),
}


def apply_attack(name: str, x: torch.Tensor, level: float, generator=None) -> torch.Tensor:
    """Apply the attack called ``name`` (one of ``ATTACKS``) at ``level``."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; choose one of {sorted(ATTACKS)}")
    if not math.isfinite(float(level)):
        raise ValueError(f"{name}: level must be finite, got {level!r}")
    return ATTACKS[name](x, level, generator=generator)
