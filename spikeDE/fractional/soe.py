r"""Sum-of-exponentials (SOE) compression of the power-law history kernels.

Each kernel ``k(n)`` of :mod:`spikeDE.fractional.weights` is, for lags ``n >= 1``, a Laplace transform

    ``k(n) = integral_0^inf phi_alpha(s) exp(-s n) ds``

with an explicit density (``rho = 1/Gamma(1-alpha) = (1-alpha)/Gamma(2-alpha)``):

=============  ============================================================================
kernel         ``phi_alpha(s)``
=============  ============================================================================
``power``      ``s^{beta-1} / Gamma(beta)``                          (``k(n) = n^{-beta}``)
``gl``         ``-(rho/Gamma(alpha)) e^{alpha s} (1 - e^{-s})^alpha`` (GL weights ``w_n``)
``l1``         ``((1-alpha)/Gamma(alpha)) s^{alpha-2} (1 - e^{-s})``  (L1 weights ``b_n``)
``rectangle``  ``alpha rho s^{-alpha-1} (1 - e^{-s})``               (``(n+1)^alpha - n^alpha``)
``trapezoid``  ``alpha (alpha+1) rho s^{-alpha} (2 sinh(s/2)/s)^2``  (second difference of ``n^{alpha+1}``)
=============  ============================================================================

Substituting ``s = e^u`` and applying the trapezoidal rule with step ``du`` on ``[u_min, u_max]`` gives

    ``k(n) ~ omega_0 + sum_{m=1}^{M} omega_m exp(-lambda_m n)``,  ``lambda_m = e^{u_m}``,
    ``omega_m = du * lambda_m * phi_alpha(lambda_m)``,

where the slow modes below ``lambda_1`` are lumped into one constant mode (``lambda_0 = 0``): their
trapezoidal sum, in closed form from the small-``s`` expansion of ``s phi_alpha(s)`` (geometric series). The rates depend only on ``(n_min, n_max, tol)``, not on ``alpha``: the fractional memory is a fixed
bank of leaky compartments whose weights carry ``alpha`` (and its gradient).

Error bound: for ``n_min <= n <= n_max`` the relative error ``|k_SOE(n) - k(n)| / |k(n)|`` is below ``tol``
(the integrands have one sign, so the trapezoidal error, ``~exp(-pi^2/du)``, and the truncation errors
are relative). Past ``n_max`` the error grows slowly, like ``tol * n / n_max``. The number of modes is
``M ~ (log(n_max/n_min) + log(1/tol)) / du`` with ``du ~ pi^2 / log(1/tol)``: 20-60 for usual settings.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._checks import check_alpha
from .weights import rgamma_one_minus

__all__ = ["SOE", "soe_rates", "soe_weights", "soe_approximation", "soe_eval", "KERNELS"]

_F64 = torch.float64
KERNELS = ("power", "gl", "l1", "rectangle", "trapezoid")


@dataclass
class SOE:
    """``k(n) ~ sum_m weights[m] * exp(-rates[m] * n)`` for ``n_min <= n <= n_max`` (``rates[0] = 0``)."""

    rates: torch.Tensor
    weights: torch.Tensor
    n_min: int
    n_max: int
    tol: float

    def __call__(self, n: torch.Tensor) -> torch.Tensor:
        return soe_eval(self.rates, self.weights, n)

    @property
    def modes(self) -> int:
        return int(self.rates.numel())


def soe_rates(n_min: int, n_max: int, tol: float = 1e-9, *, device=None):
    """Fixed decay rates for lags ``n_min..n_max`` at relative tolerance ``tol``.

    Returns ``(rates, du)``: ``rates[0] = 0`` (the lumped slow mode) followed by ``e^{u_m}`` on a uniform grid
    of step ``du`` in ``u = log s``; float64.
    """
    if isinstance(n_min, bool) or not isinstance(n_min, int) or n_min < 2:
        raise ValueError(f"n_min must be an int >= 2 (the first lag the SOE covers), got {n_min!r}")
    if isinstance(n_max, bool) or not isinstance(n_max, int) or n_max < n_min:
        raise ValueError(f"n_max must be an int >= n_min = {n_min}, got {n_max!r}")
    if not (isinstance(tol, (int, float)) and 1e-15 <= tol < 1):
        raise ValueError(f"tol must be a number in [1e-15, 1), got {tol!r}")
    log_inv = math.log(1.0 / tol)
    du = math.pi**2 / (log_inv + 6.5)
    # Upper cut: exp(-s (n_min - 1)) times at most polynomial growth is below tol/10.
    s_max = (log_inv + 2.3 + 2.0 * math.log(log_inv + 10.0)) / (n_min - 1.0)
    # Lower cut: e^{-s n} ~ 1 - s n for s < s_c, so lumping costs ~ s_c n_max.
    s_c = 0.25 * tol / n_max
    u_min = math.log(s_c) + du / 2
    m = int(math.ceil((math.log(s_max) - u_min) / du)) + 1
    u = u_min + du * torch.arange(m, dtype=_F64, device=device)
    return torch.cat([torch.zeros(1, dtype=_F64, device=device), torch.exp(u)]), du


def _as_alpha(alpha, device) -> torch.Tensor:
    """A 0-d float64 tensor, or ``alpha[..., None]`` for a tensor of several orders (one weight row each)."""
    if isinstance(alpha, torch.Tensor):
        if alpha.numel() > 1:
            return alpha.to(dtype=_F64, device=device).unsqueeze(-1)
        return alpha.reshape(()).to(dtype=_F64, device=device)
    return torch.tensor(float(alpha), dtype=_F64, device=device)


def _x_over_expm1(x: torch.Tensor) -> torch.Tensor:
    """``x / (e^x - 1)``, smooth through ``x = 0`` (value 1)."""
    small = x.abs() < 1e-4
    xs = torch.where(small, torch.ones_like(x), x)
    return torch.where(small, 1.0 - x / 2 + x * x / 12, xs / torch.expm1(xs))


def _lumped_tail(terms, s0: torch.Tensor, du: float) -> torch.Tensor:
    """Trapezoidal sum of ``s phi(s)`` over the nodes ``s0 e^{-k du}``, ``k >= 1``, for
    ``s phi(s) = sum_i c_i s^{p_i}``: ``sum_i (c_i/p_i) s0^{p_i} x_i/(e^{x_i} - 1)``, ``x_i = p_i du``.

    ``terms`` holds ``(c_i/p_i, p_i)`` pairs (the small-``s`` expansion of the density).
    """
    return sum(c_over_p * s0**p * _x_over_expm1(p * du) for c_over_p, p in terms)


def soe_weights(kernel: str, alpha, rates: torch.Tensor, du: float, *, beta=None) -> torch.Tensor:
    """Weights ``omega`` of ``kernel`` on the fixed ``rates`` of :func:`soe_rates` (differentiable in ``alpha``).

    ``kernel`` is one of ``power`` (``n^{-beta}``, needs ``beta > 0``), ``gl``, ``l1``, ``rectangle``,
    ``trapezoid`` (see the module docstring). Float64, on the device of ``rates``. A tensor ``alpha`` of
    shape ``S`` (several orders, e.g. one per channel) gives weights of shape ``S + (len(rates),)``.
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; valid: {', '.join(KERNELS)}")
    s = rates[1:]
    s0 = s[0]
    if kernel == "power":
        if beta is None:
            raise ValueError("kernel 'power' needs beta > 0")
        b = _as_alpha(beta, rates.device)
        if not bool(b.detach() > 0):
            raise ValueError(f"beta must be > 0, got {beta!r}")
        w = du * torch.exp(b * torch.log(s) - torch.lgamma(b))  # du * s * phi(s)
        w0 = _lumped_tail([(torch.exp(-torch.lgamma(b + 1.0)), b)], s0, du)
        return torch.cat([w0.reshape(1), w])

    check_alpha(alpha)
    a = _as_alpha(alpha, rates.device)
    rho = rgamma_one_minus(a)  # 1/Gamma(1-alpha), 0 at alpha = 1
    one_m_exp = -torch.expm1(-s)
    if kernel == "gl":
        c = -rho * torch.exp(-torch.lgamma(a))
        w = du * c * s * torch.exp(a * s + a * torch.log(one_m_exp))
        terms = [(c / (a + 1), a + 1), (c * a / 2 / (a + 2), a + 2)]
    elif kernel == "l1":
        c = (1.0 - a) * torch.exp(-torch.lgamma(a))
        w = du * c * s ** (a - 1.0) * one_m_exp
        terms = [((1.0 - a) * torch.exp(-torch.lgamma(a + 1.0)), a),
                 (-c / 2 / (a + 1), a + 1), (c / 6 / (a + 2), a + 2)]
    elif kernel == "rectangle":
        c = a * rho
        w = du * c * s ** (-a) * one_m_exp
        terms = [(a * torch.exp(-torch.lgamma(2.0 - a)), 1.0 - a),
                 (-c / 2 / (2 - a), 2.0 - a), (c / 6 / (3 - a), 3.0 - a)]
    else:  # trapezoid
        c = a * (a + 1) * rho
        w = du * c * s ** (1.0 - a) * (2.0 * torch.sinh(s / 2) / s) ** 2
        terms = [(a * (a + 1) * torch.exp(-torch.lgamma(2.0 - a)), 1.0 - a), (c / 12 / (3 - a), 3.0 - a)]
    tail = _lumped_tail(terms, s0, du)
    return torch.cat([tail.expand(w.shape[:-1] + (1,)) if a.dim() else tail.reshape(1), w], -1)


def soe_approximation(kernel: str, alpha, n_min: int, n_max: int, tol: float = 1e-9, *, beta=None,
                      device=None) -> SOE:
    """The :class:`SOE` of ``kernel`` for lags ``n_min..n_max`` at relative tolerance ``tol``."""
    rates, du = soe_rates(n_min, n_max, tol, device=device)
    return SOE(rates, soe_weights(kernel, alpha, rates, du, beta=beta), n_min, n_max, tol)


def soe_eval(rates: torch.Tensor, weights: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """``sum_m weights[m] * exp(-rates[m] * n)`` for every entry of ``n``."""
    n = n.to(rates.dtype)
    return (weights * torch.exp(-n.unsqueeze(-1) * rates)).sum(-1)
