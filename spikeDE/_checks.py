"""Input validation shared by every layer of spikeDE.

Errors are raised early and name the argument, the value and what is allowed.
"""
from __future__ import annotations

import math
from numbers import Real

import torch

__all__ = ["check_alpha", "check_positive", "check_floating", "as_float_tensor", "check_threshold",
           "check_stream_batch", "first_non_finite", "check_finite"]

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        if value.numel() <= 6:
            return f"tensor({value.detach().cpu().tolist()})"
        return f"tensor of shape {tuple(value.shape)}"
    return repr(value)


def check_alpha(alpha, name: str = "alpha", where: str | None = None):
    """Check a fractional order: ``0 < alpha <= 1`` (every entry, for a tensor).

    Returns ``alpha`` unchanged (tensors keep their graph). ``where`` names the layer or function, so a
    message reads e.g. ``LIFNeuron 'layer2': alpha must satisfy 0 < alpha <= 1, got 1.5``.
    """
    prefix = f"{where}: " if where else ""
    if isinstance(alpha, torch.Tensor):
        if not alpha.is_floating_point():
            raise TypeError(f"{prefix}{name} must be a floating-point tensor, got dtype {alpha.dtype}")
        if alpha.numel() == 0:
            raise ValueError(f"{prefix}{name} is an empty tensor")
        a = alpha.detach()
        if not bool(torch.isfinite(a).all()) or not bool(((a > 0) & (a <= 1)).all()):
            raise ValueError(f"{prefix}{name} must satisfy 0 < {name} <= 1, got {_describe(alpha)}")
        return alpha
    if isinstance(alpha, bool) or not isinstance(alpha, Real):
        raise TypeError(f"{prefix}{name} must be a real number or a tensor, got {type(alpha).__name__}")
    if not (math.isfinite(float(alpha)) and 0.0 < float(alpha) <= 1.0):
        raise ValueError(f"{prefix}{name} must satisfy 0 < {name} <= 1, got {alpha!r}")
    return alpha


def check_positive(value, name: str, where: str | None = None, allow_zero: bool = False):
    """Check that a number (or every entry of a tensor) is finite and > 0 (>= 0 with ``allow_zero``)."""
    prefix = f"{where}: " if where else ""
    rel = ">= 0" if allow_zero else "> 0"
    if isinstance(value, torch.Tensor):
        v = value.detach()
        ok = torch.isfinite(v).all() & ((v >= 0) if allow_zero else (v > 0)).all()
        if not bool(ok):
            raise ValueError(f"{prefix}{name} must be finite and {rel}, got {_describe(value)}")
        return value
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{prefix}{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{prefix}{name} must be finite and {rel}, got {value!r}")
    return value


def check_floating(x: torch.Tensor, name: str, where: str | None = None) -> torch.Tensor:
    """Check that ``x`` is a floating-point tensor (float16, bfloat16, float32 or float64)."""
    prefix = f"{where}: " if where else ""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{prefix}{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{prefix}{name} must be a floating-point tensor, got dtype {x.dtype}")
    return x


def as_float_tensor(value, like: torch.Tensor) -> torch.Tensor:
    """``value`` (number or tensor) as a tensor with the dtype and device of ``like`` (graph kept)."""
    if isinstance(value, torch.Tensor):
        return value.to(dtype=like.dtype, device=like.device)
    return torch.tensor(float(value), dtype=like.dtype, device=like.device)


def check_threshold(threshold, where: str | None = None):
    """A firing threshold must be ``> 0`` and not NaN (``0`` fires on any non-negative charge, a negative or NaN
    threshold would silently change what a spike means). ``+inf`` is allowed: a neuron that never fires (its
    membrane is the non-spiking fractional ODE, e.g. to compare with :func:`spikeDE.fdeint`)."""
    prefix = f"{where}: " if where else ""
    v = threshold.detach() if isinstance(threshold, torch.Tensor) else None
    if v is None:
        if isinstance(threshold, bool) or not isinstance(threshold, Real):
            raise TypeError(f"{prefix}threshold must be a real number, got {type(threshold).__name__}")
        v = torch.tensor(float(threshold), dtype=torch.float64)
    if not bool(((v > 0) & ~torch.isnan(v)).all()):
        raise ValueError(f"{prefix}threshold must be > 0 (+inf: never fires), got {_describe(threshold)}")
    return threshold


def check_stream_batch(x: torch.Tensor, held: torch.Tensor | None, where: str) -> None:
    """A single-step neuron keeps one state entry per input element: the next input must have as many elements
    as the state ``held`` (``None``: no state yet)."""
    if held is not None and held.numel() != x.numel():
        raise ValueError(f"{where} (single-step): input of shape {tuple(x.shape)} ({x.numel()} elements) does not "
                         f"fit the neuron's state of {held.numel()} elements from the previous step; call reset() "
                         f"(or spikeDE.reset_net) before a sequence with another batch size")


def first_non_finite(x: torch.Tensor) -> tuple | None:
    """Index (tuple) of the first non-finite entry of ``x`` in row-major order, or ``None`` if all are finite."""
    bad = ~torch.isfinite(x)
    if not bool(bad.any()):
        return None
    return tuple(int(i) for i in bad.nonzero()[0])


def check_finite(x: torch.Tensor, name: str, where: str | None = None, order=None) -> torch.Tensor:
    """Raise a ``ValueError`` naming the first non-finite entry of ``x``. ``order`` permutes the axes before
    searching (e.g. ``(1, 0, 2)`` finds the earliest time step of a ``[B, L, H]`` tensor); the position reported
    is always in ``x``'s own axes."""
    y = x if order is None else x.permute(*order)
    pos = first_non_finite(y)
    if pos is None:
        return x
    if order is not None:
        inv = [0] * len(order)
        for k, o in enumerate(order):
            inv[o] = pos[k]
        pos = tuple(inv)
    prefix = f"{where}: " if where else ""
    raise ValueError(f"{prefix}{name}[{', '.join(map(str, pos))}] = {float(x[pos])} is not finite; every "
                     f"entry of {name} must be finite")
