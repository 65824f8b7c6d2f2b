r"""Convolution weights of the standard discretisations of the Caputo derivative of order ``0 < alpha <= 1``.

Every history-based scheme on a uniform grid ``t_n = t_0 + n h`` is a causal convolution with one of these
kernels. All generators are differentiable in ``alpha`` (a float or a 0-d tensor, possibly a learnable
parameter), are computed in float64 and returned in the requested ``dtype``; ``alpha = 1`` gives the
integer-order (explicit Euler) kernel exactly. :func:`gl_weights` also takes a tensor of several orders.

* Grünwald–Letnikov: ``(1 - z)^alpha = sum_j w_j z^j``, ``w_0 = 1``, ``w_j = w_{j-1} (1 - (1 + alpha)/j)``;
  ``D^alpha y(t_n) ~ h^{-alpha} sum_{j=0}^{n} w_j (y_{n-j} - y_0)``.
* L1: ``b_j = (j+1)^{1-alpha} - j^{1-alpha}``;
  ``D^alpha y(t_{n+1}) ~ (h^{-alpha}/Gamma(2-alpha)) sum_{j=0}^{n} b_j (y_{n+1-j} - y_{n-j})``.
* Product rectangle rule (fractional Adams–Bashforth predictor):
  ``y_{n+1} = y_0 + (h^alpha/Gamma(alpha+1)) sum_{j=0}^{n} r_{n-j} f_j`` with ``r_k = (k+1)^alpha - k^alpha``.
* Product trapezoidal rule (Adams–Bashforth–Moulton corrector, Diethelm–Ford–Freed):
  ``y_{n+1} = y_0 + (h^alpha/Gamma(alpha+2)) (f_{n+1} + sum_{j=1}^{n} c_{n+1-j} f_j + a_{n+1} f_0)`` with the
  Toeplitz part ``c_0 = 1``, ``c_k = (k+1)^{alpha+1} - 2 k^{alpha+1} + (k-1)^{alpha+1}`` (k >= 1) and the
  starting weight ``a_{n+1} = n^{alpha+1} - (n - alpha)(n+1)^alpha``.

Differences of powers are evaluated as ``k^p expm1(p log1p(1/k))`` to avoid cancellation at large ``k``.
"""
from __future__ import annotations

import torch

from .._checks import check_alpha

__all__ = [
    "gl_weights",
    "l1_weights",
    "rectangle_weights",
    "trapezoid_weights",
    "trapezoid_start_weights",
    "scheme_factor",
    "rgamma_one_minus",
]

_F64 = torch.float64


def _alpha64(alpha, device) -> torch.Tensor:
    check_alpha(alpha)
    if isinstance(alpha, torch.Tensor):
        if alpha.numel() != 1:
            raise ValueError(f"alpha must be a scalar here, got shape {tuple(alpha.shape)}")
        return alpha.reshape(()).to(dtype=_F64, device=device)
    return torch.tensor(float(alpha), dtype=_F64, device=device)


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n (number of weights) must be an int >= 1, got {n!r}")
    return n


def _pow_diff(k: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``(k+1)^p - k^p`` for ``k >= 1``, without cancellation."""
    return k**p * torch.expm1(p * torch.log1p(1.0 / k))


def _out(w: torch.Tensor, dtype) -> torch.Tensor:
    return w if dtype is None else w.to(dtype)


def gl_weights(alpha, n: int, *, dtype=None, device=None) -> torch.Tensor:
    """Grünwald–Letnikov weights ``w_0..w_{n-1}``: ``w_0 = 1``, ``w_j = w_{j-1} (1 - (1+alpha)/j)``.

    They are the Taylor coefficients of ``(1 - z)^alpha``; for ``0 < alpha < 1``, ``w_j < 0`` (j >= 1),
    ``sum_{j>=1} w_j = -1`` and ``w_j ~ -alpha j^{-1-alpha} / Gamma(1-alpha)``. For ``alpha = 1``:
    ``[1, -1, 0, 0, ...]``. A tensor ``alpha`` of shape ``S`` (several orders) gives shape ``S + (n,)``.
    """
    n = _check_n(n)
    if isinstance(alpha, torch.Tensor) and alpha.numel() > 1:
        check_alpha(alpha)
        a = alpha.to(dtype=_F64, device=device).unsqueeze(-1)
    else:
        a = _alpha64(alpha, device)
    j = torch.arange(1, n, dtype=_F64, device=a.device)
    w = torch.cumprod(1.0 - (1.0 + a) / j, dim=-1)
    return _out(torch.cat([torch.ones(w.shape[:-1] + (1,), dtype=_F64, device=a.device), w], -1), dtype)


def l1_weights(alpha, n: int, *, dtype=None, device=None) -> torch.Tensor:
    """L1 weights ``b_j = (j+1)^{1-alpha} - j^{1-alpha}``, ``j = 0..n-1`` (``b_0 = 1``; ``alpha=1``: ``[1,0,..]``).

    Scheme factor ``Gamma(2-alpha) h^alpha`` (see :func:`scheme_factor`).
    """
    n = _check_n(n)
    a = _alpha64(alpha, device)
    k = torch.arange(1, n, dtype=_F64, device=a.device)
    return _out(torch.cat([torch.ones(1, dtype=_F64, device=a.device), _pow_diff(k, 1.0 - a)]), dtype)


def rectangle_weights(alpha, n: int, *, dtype=None, device=None) -> torch.Tensor:
    """Product rectangle (fractional Adams–Bashforth) weights ``r_k = (k+1)^alpha - k^alpha``, ``k = 0..n-1``.

    ``r_0 = 1``; ``alpha = 1`` gives all ones (explicit Euler). Scheme factor ``h^alpha / Gamma(alpha+1)``.
    """
    n = _check_n(n)
    a = _alpha64(alpha, device)
    k = torch.arange(1, n, dtype=_F64, device=a.device)
    return _out(torch.cat([torch.ones(1, dtype=_F64, device=a.device), _pow_diff(k, a)]), dtype)


def trapezoid_weights(alpha, n: int, *, dtype=None, device=None) -> torch.Tensor:
    """Toeplitz part of the product trapezoidal rule: ``c_0 = 1``,
    ``c_k = (k+1)^{alpha+1} - 2 k^{alpha+1} + (k-1)^{alpha+1}`` for ``k = 1..n-1``.

    ``alpha = 1`` gives ``[1, 2, 2, ...]`` (the trapezoidal rule times 2). Scheme factor
    ``h^alpha / Gamma(alpha+2)``; the weight of ``f_0`` is :func:`trapezoid_start_weights`.
    """
    n = _check_n(n)
    a = _alpha64(alpha, device)
    p = a + 1.0
    k = torch.arange(1, n, dtype=_F64, device=a.device)
    # Small k: k^p [expm1(p log1p(1/k)) + expm1(p log1p(-1/k))] (k = 1: 2^p - 2 exactly).
    km = k.clamp(min=2)
    direct = k**p * (torch.expm1(p * torch.log1p(1.0 / k)) + torch.expm1(p * torch.log1p(-1.0 / km)))
    direct = torch.where(k == 1, 2.0**p - 2.0, direct)
    # Large k: (1+x)^p + (1-x)^p - 2 = 2 sum_{m>=1} binom(p, 2m) x^{2m}, x = 1/k (no cancellation).
    x2 = 1.0 / k**2
    coef, series, xp = torch.ones_like(p), torch.zeros_like(k), torch.ones_like(k)
    for m in range(1, 6):
        coef = coef * (p - (2 * m - 2)) * (p - (2 * m - 1)) / ((2 * m - 1) * (2 * m))
        xp = xp * x2
        series = series + coef * xp
    c = torch.where(k >= 64, 2.0 * k**p * series, direct)
    return _out(torch.cat([torch.ones(1, dtype=_F64, device=a.device), c]), dtype)


def trapezoid_start_weights(alpha, n: int, *, dtype=None, device=None) -> torch.Tensor:
    """Weights of ``f_0`` in the product trapezoidal rule for steps ``m = 1..n``:
    ``a_m = (m-1)^{alpha+1} - (m-1-alpha) m^alpha``.

    ``alpha = 1``: ``a_m = 1`` (the trapezoidal end weight, times 2).
    """
    n = _check_n(n)
    a = _alpha64(alpha, device)
    m = torch.arange(1, n + 1, dtype=_F64, device=a.device)
    return _out((m - 1.0) ** (a + 1.0) - (m - 1.0 - a) * m**a, dtype)


def rgamma_one_minus(alpha) -> torch.Tensor:
    """``1/Gamma(1-alpha) = (1-alpha)/Gamma(2-alpha)``: smooth in ``alpha`` and exactly 0 at ``alpha = 1``."""
    a = alpha if isinstance(alpha, torch.Tensor) else torch.tensor(float(alpha), dtype=_F64)
    return (1.0 - a) * torch.exp(-torch.lgamma(2.0 - a))


def scheme_factor(method: str, alpha, h) -> torch.Tensor:
    """The factor multiplying ``f`` in each scheme: ``gl``: ``h^alpha``; ``l1``: ``Gamma(2-alpha) h^alpha``;
    ``rectangle``: ``h^alpha/Gamma(alpha+1)``; ``trapezoid``: ``h^alpha/Gamma(alpha+2)``.

    Gamma functions enter through ``torch.lgamma`` so that gradients in ``alpha`` (and ``h``) are complete.
    Returns a 0-d tensor (float64 unless ``alpha`` or ``h`` is a tensor of another dtype).
    """
    ref = alpha if isinstance(alpha, torch.Tensor) else h if isinstance(h, torch.Tensor) else None
    kw = dict(dtype=_F64) if ref is None else dict(dtype=ref.dtype, device=ref.device)
    a = alpha if isinstance(alpha, torch.Tensor) else torch.tensor(float(alpha), **kw)
    hh = h if isinstance(h, torch.Tensor) else torch.tensor(float(h), **kw)
    hp = hh**a
    if method == "gl":
        return hp
    if method == "l1":
        return hp * torch.exp(torch.lgamma(2.0 - a))
    if method == "rectangle":
        return hp * torch.exp(-torch.lgamma(a + 1.0))
    if method == "trapezoid":
        return hp * torch.exp(-torch.lgamma(a + 2.0))
    raise ValueError(f"unknown scheme {method!r}; valid: gl, l1, rectangle, trapezoid")
