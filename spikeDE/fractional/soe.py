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

This quadrature (:func:`soe_quadrature`) is accurate but generous: 30-100 modes. :func:`soe_approximation`
returns the **optimal** SOE instead, a balanced truncation of a fine quadrature SOE (tolerance ``tol / 10^5``):

* The fine SOE ``k(n) = sum_i c_i a_i^n`` (``a_i = e^{-lambda_i}``, every ``c_i`` of one sign) is the impulse
  response of the symmetric diagonal system ``A = diag(a)``, ``B = C^T = sqrt(|c| a^{n_min})``. Its
  controllability and observability Gramians coincide, so balancing is one SVD of the Gramian factor
  ``X[i, j] = B_i a_i^{n_j} rho_j`` (square-root method). The snapshot lags ``n_j`` are spread
  logarithmically over ``[0, (n_max - n_min)/2]`` with ``rho_j = 1 / sqrt(k(n_min + 2 n_j))`` (relative
  weighting: every decade of lags counts alike).
* Keeping the ``M`` leading singular vectors ``V`` gives the reduced system ``A_M = V^T A V``, ``B_M = V^T B``:
  still symmetric, so ``A_M = U diag(mu) U^T`` with real ``mu`` in ``(0, 1]`` (Ritz values of ``A``). The
  reduced SOE has the real rates ``-log mu_m >= 0`` and the positive weights ``(U^T B_M)_m^2 mu_m^{-n_min}``.
* ``M`` is the smallest count whose relative error against the fine SOE is below ``tol (1 - 10^-5)`` on
  **every** lag of ``[n_min, n_max]`` (checked on all lags, vectorised). Typical counts (lags 64..16384):
  10-13 modes at ``tol = 1e-4``, 10-17 at ``1e-6``.
* Results are cached per ``(kernel, alpha, n_min, n_max, tol)`` (and per fine SOE in
  :func:`balanced_truncation`).

**Learnable alpha.** The reduced rates depend on ``alpha``; they are computed at the current value of
``alpha`` (no gradient flows through them; a new ``alpha`` after an optimiser step gives new rates, from the
cache when it is seen again). The weights are ``omega_BT + P (omega_fine - omega_fine.detach())``: their
value is the balanced truncation's, their derivative is that of the relative least-squares fit ``P`` of the
fine SOE on the reduced rates. So ``d k_SOE(n)/d alpha`` is the least-squares SOE of ``d k(n)/d alpha`` on the
reduced rates (relative error ~1e-3 at ``tol = 1e-6``, measured in the tests against the exact kernel).

Error bound of the quadrature: for ``n_min <= n <= n_max`` the relative error ``|k_SOE(n) - k(n)| / |k(n)|`` is below ``tol``
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

__all__ = ["SOE", "soe_rates", "soe_weights", "soe_approximation", "soe_quadrature", "balanced_truncation",
           "far_field_soe", "soe_eval", "KERNELS", "SOE_CONSTRUCTION"]

_F64 = torch.float64
KERNELS = ("power", "gl", "l1", "rectangle", "trapezoid")


@dataclass
class SOE:
    """``k(n) ~ sum_m weights[m] * exp(-rates[m] * n)`` for ``n_min <= n <= n_max``.

    ``method``: ``"balanced"`` (rates ascending, all ``>= 0``, weights of one sign) or ``"quadrature"``
    (``rates[0] = 0``, the lumped slow mode). ``max_error``: the measured maximum relative error on the lags
    ``n_min..n_max`` (against the fine SOE, for ``"balanced"``; ``None`` for ``"quadrature"``).
    """

    rates: torch.Tensor
    weights: torch.Tensor
    n_min: int
    n_max: int
    tol: float
    method: str = "quadrature"
    max_error: float | None = None

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


def soe_quadrature(kernel: str, alpha, n_min: int, n_max: int, tol: float = 1e-9, *, beta=None,
                   device=None) -> SOE:
    """The quadrature :class:`SOE` of ``kernel`` (fixed rates :func:`soe_rates`, weights :func:`soe_weights`)
    for lags ``n_min..n_max`` at relative tolerance ``tol``: the reference construction (more modes)."""
    rates, du = soe_rates(n_min, n_max, tol, device=device)
    return SOE(rates, soe_weights(kernel, alpha, rates, du, beta=beta), n_min, n_max, tol, "quadrature")


_FINE = 1e-5  # the fine SOE's tolerance relative to the target (every reduction of spikeDE)
_SNAPSHOTS = 400  # log-spaced snapshot lags of the Gramian factor
_EXTEND = 10  # beyond n_max the error may grow like tol * n / n_max up to lag _EXTEND * n_max
_CACHE: dict = {}
_CACHE_SIZE = 512


def _cached(key, make):
    out = _CACHE.get(key)
    if out is None:
        out = make()
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = out
    return out


def _soe_on_lags(rates, weights, n_min, n_max) -> torch.Tensor:
    """``sum_m weights_m e^{-rates_m n}`` for every lag of ``[n_min, n_max]``, as one GEMM: with
    ``n = n_min + 1024 j + i``, ``k(n) = sum_m e^{-rates_m i} (weights_m e^{-rates_m (n_min + 1024 j)})``."""
    count = n_max - n_min + 1
    blk = min(1024, count)
    i = torch.arange(blk, dtype=_F64)
    j = torch.arange(-(-count // blk), dtype=_F64)
    E = torch.exp(-i.unsqueeze(1) * rates)  # [blk, M]
    Wj = weights.unsqueeze(1) * torch.exp(-rates.unsqueeze(1) * (n_min + blk * j))  # [M, nj]
    return (E @ Wj).t().reshape(-1)[:count]


def _snapshot_lags(n_min: int, n_max: int) -> torch.Tensor:
    half = (_EXTEND * n_max - n_min) // 2
    j = torch.logspace(0.0, math.log10(half + 1.0), _SNAPSHOTS, dtype=_F64).round() - 1.0
    return torch.unique(j)


def _reduce(rates: torch.Tensor, c: torch.Tensor, n_min: int, n_max: int, tol: float):
    """Balanced truncation of ``sum_i c_i e^{-rates_i n}`` (``c >= 0``), float64 on the CPU:
    ``(rates_M, weights_M, max_error)`` with the smallest ``M`` meeting ``tol`` on every lag."""
    keep = c > 0
    rates, c = rates[keep], c[keep]
    if rates.numel() == 0:
        return torch.zeros(1, dtype=_F64), torch.zeros(1, dtype=_F64), 0.0
    b = torch.sqrt(c) * torch.exp(-rates * (n_min / 2.0))  # B = C^T, impulse response from lag n_min
    a = torch.exp(-rates)
    j = _snapshot_lags(n_min, n_max)
    snap = b.unsqueeze(1) * torch.exp(-rates.unsqueeze(1) * j)  # A^j B
    k = (snap * snap).sum(0)  # k(n_min + 2 j)
    U, S, _ = torch.linalg.svd(snap / k.sqrt(), full_matrices=False)
    target = tol * (1.0 - _FINE)
    ref = _soe_on_lags(rates, c, n_min, n_max).abs()
    ext = torch.unique(torch.logspace(math.log10(n_max), math.log10(_EXTEND * n_max), 512, dtype=_F64).round())
    ref_ext = soe_eval(rates, c, ext).abs() * (ext / n_max)
    best = None
    lo, hi = 1, int(min(rates.numel(), (S > S[0] * 1e-15).sum()))

    def trial(m):
        V = U[:, :m]
        mu, Q = torch.linalg.eigh(V.t() @ (a.unsqueeze(1) * V))
        mu = mu.clamp(min=1e-300, max=1.0)
        lam = -torch.log(mu)
        w = (Q.t() @ (V.t() @ b)) ** 2 * torch.exp(lam * n_min)
        order = torch.argsort(lam)
        lam, w = lam[order], w[order]
        err = float(((_soe_on_lags(lam, w, n_min, n_max) - ref).abs() / ref).max())
        grow = float(((soe_eval(lam, w, ext) - soe_eval(rates, c, ext)).abs() / ref_ext).max())  # ~tol n/n_max
        return lam, w, max(err, grow)

    # Errors fall (almost) monotonically with M: bisection on the count, then confirm.
    while lo < hi:
        mid = (lo + hi) // 2
        res = trial(mid)
        if res[2] <= target:
            hi, best = mid, res
        else:
            lo = mid + 1
    if best is None or best[0].numel() != lo:
        best = trial(lo)
    if best[2] > target:  # numerical floor reached: keep the fine SOE
        return rates.clone(), c.clone(), 0.0
    return best


def balanced_truncation(rates: torch.Tensor, weights: torch.Tensor, n_min: int, n_max: int, tol: float):
    r"""The smallest SOE that matches the fine one ``sum_i weights_i e^{-rates_i n}`` to relative error ``tol``
    on every lag ``n_min <= n <= n_max`` (balanced truncation, see the module docstring).

    ``weights`` must be of one sign (zeros allowed), ``rates >= 0``. Returns ``(rates_M, weights_M)`` (dtypes
    and device of ``rates`` and ``weights``; the reduction itself runs in float64): rates real, ascending and ``>= 0``, weights of the sign of ``weights``. The
    reduced rates are constants; ``weights_M`` is differentiable with respect to ``weights``: its value is the
    balanced truncation's, its derivative that of the relative least-squares fit of the fine SOE on
    ``rates_M``. A ``weights`` of shape ``S + (len(rates),)`` (several kernels on the same rates) is reduced
    row by row and padded with zero-weight modes to the largest count. Cached per fine SOE.
    """
    return _balanced(rates, weights, n_min, n_max, tol)[:2]


def _balanced(rates, weights, n_min, n_max, tol):
    """:func:`balanced_truncation` plus the measured maximum relative error (``None`` for several rows)."""
    _check_range(n_min, n_max, tol)
    if rates.dim() != 1 or weights.shape[-1] != rates.numel():
        raise ValueError(f"rates must be 1-d and weights [..., {rates.numel()}], got {tuple(rates.shape)} and "
                         f"{tuple(weights.shape)}")
    if weights.dim() > 1:
        rows = [balanced_truncation(rates, w, n_min, n_max, tol) for w in weights.reshape(-1, rates.numel())]
        m = max(r.numel() for r, _ in rows)
        pad = [(torch.cat([r, r.new_zeros(m - r.numel())]), torch.cat([w, w.new_zeros(m - w.numel())]))
               for r, w in rows]
        return (torch.stack([r for r, _ in pad]).reshape(weights.shape[:-1] + (m,)),
                torch.stack([w for _, w in pad]).reshape(weights.shape[:-1] + (m,)), None)
    dev = rates.device
    r64 = rates.detach().to(device="cpu", dtype=_F64)
    w64 = weights.detach().to(device="cpu", dtype=_F64)
    if bool((r64 < 0).any()) or not bool(torch.isfinite(w64).all()):
        raise ValueError("balanced_truncation: rates must be >= 0 and weights finite")
    sign = -1.0 if float(w64.sum()) < 0 else 1.0
    if bool((w64 * sign < 0).any()):
        raise ValueError("balanced_truncation: the weights must all have one sign (a completely monotone kernel)")
    key = ("bt", tuple(r64.tolist()), tuple(w64.tolist()), n_min, n_max, float(tol))

    def make():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small dense problems: threading costs more than it saves
        try:
            lam, w, err = _reduce(r64, w64 * sign, n_min, n_max, tol)
        finally:
            torch.set_num_threads(threads)
        P = None
        if weights.requires_grad:
            j = _snapshot_lags(n_min, n_max) * 2.0 + n_min
            j = torch.unique(torch.cat([j, torch.arange(n_min, min(n_max, n_min + 64) + 1, dtype=_F64)]))
            ref = soe_eval(r64, w64 * sign, j).unsqueeze(1)
            Er = torch.exp(-j.unsqueeze(1) * lam) / ref
            Ef = torch.exp(-j.unsqueeze(1) * r64) / ref
            P = torch.linalg.lstsq(Er, Ef, driver="gelsd").solution  # [M, M_fine]
        return lam, w * sign, err, P

    lam, w, err, P = _cached(key + (weights.requires_grad,), make)
    dt = weights.dtype if weights.is_floating_point() else _F64
    rates_m, w_m = lam.to(device=dev, dtype=rates.dtype), w.to(device=dev, dtype=dt)
    if weights.requires_grad:
        w_m = w_m + P.to(device=dev, dtype=dt) @ (weights - weights.detach())
    return rates_m, w_m, err


def _check_range(n_min, n_max, tol):
    if isinstance(n_min, bool) or not isinstance(n_min, int) or n_min < 2:
        raise ValueError(f"n_min must be an int >= 2 (the first lag the SOE covers), got {n_min!r}")
    if isinstance(n_max, bool) or not isinstance(n_max, int) or n_max < n_min:
        raise ValueError(f"n_max must be an int >= n_min = {n_min}, got {n_max!r}")
    if isinstance(tol, bool) or not (isinstance(tol, (int, float)) and 1e-12 <= tol < 1):
        raise ValueError(f"tol must be a number in [1e-12, 1), got {tol!r}")


def soe_approximation(kernel: str, alpha, n_min: int, n_max: int, tol: float = 1e-9, *, beta=None,
                      device=None) -> SOE:
    """The optimal (balanced-truncation) :class:`SOE` of ``kernel`` for lags ``n_min..n_max``: relative error
    ``<= tol`` on every lag, the smallest mode count ``.modes`` this construction reaches (see the module
    docstring). Rates ascending, ``>= 0``; weights of one sign (the kernel's), differentiable in ``alpha``
    (and ``beta``). A tensor ``alpha`` with several entries gives weights of shape ``alpha.shape + (M,)`` on
    rates of the same shape (each row its own rates, zero-weight padding to the common ``M``).
    """
    _check_range(n_min, n_max, tol)
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; valid: {', '.join(KERNELS)}")
    fine_tol = max(tol * _FINE, 1e-15)
    rates, du = soe_rates(n_min, n_max, fine_tol, device=device)
    w = soe_weights(kernel, alpha, rates, du, beta=beta)
    lam, wm, err = _balanced(rates, w, n_min, n_max, tol)
    return SOE(lam, wm, n_min, n_max, tol, "balanced", err)


#: How :func:`far_field_soe` builds every far field of spikeDE (``fdeint``, the neurons, the SSM streaming step):
#: ``"balanced"`` (default, the optimal SOE) or ``"quadrature"`` (the reference construction; benchmarks switch it).
SOE_CONSTRUCTION = "balanced"


def far_field_soe(weights_of, n_min: int, n_max: int, tol: float, *, exact_grad: bool = False, grad_tol: float = 1e-2,
                  device=None):
    r"""The far-field SOE of one or several history kernels: the single rule shared by ``fdeint``
    (:class:`~spikeDE.fractional.memory.HistorySum`), the spiking neurons and the SSM streaming step.

    ``weights_of(rates, du)`` gives the quadrature weights ``[..., M_q]`` of the kernels (one row per kernel or
    channel, float64) on the quadrature rates of :func:`soe_rates`. Returns one ``(rates, weights)`` pair per row
    (rows flattened) with ``k_r(n) ~ sum_m weights_m exp(-rates_m n)`` to relative error ``<= tol`` on every lag
    of ``[n_min, n_max]``:

    * fixed orders: the optimal SOE of each row, the balanced truncation (:func:`balanced_truncation`) of its fine
      quadrature SOE (tolerance ``tol / 10^5``); a row whose weights change sign (a multi-term order with a
      negative coefficient) keeps its fine SOE;
    * orders that need a gradient (weights with a graph while autograd records): the reduction at
      ``tol * grad_tol``; the rates are those of the current orders and the weights' ``alpha``-derivative is the
      least-squares fit of the fine one on them (:func:`balanced_truncation`). The neurons take ``grad_tol =
      1e-2`` (their ``alpha``-gradient within about ``1e-4`` of the exact-memory one); the SSM streaming step
      ``grad_tol = 1`` (the same rates with and without gradients, so that a state built in one mode stays valid
      in the other). ``exact_grad=True`` (``fdeint``, whose gradients are checked by finite differences) takes the
      quadrature SOE at ``tol`` instead: rates that do not depend on ``alpha``, so the ``alpha``-gradient is the
      exact gradient of the SOE memory (30-50 modes instead of 10-20);
    * :data:`SOE_CONSTRUCTION` ``= "quadrature"``: the quadrature SOE at ``tol`` for every row.
    """
    fine = 1.0 if SOE_CONSTRUCTION == "quadrature" else _FINE
    rates, du = soe_rates(n_min, n_max, max(tol * fine, 1e-15), device=device)
    w = weights_of(rates, du)
    rows = w.reshape(-1, rates.numel())
    if fine == 1.0:
        return [(rates, row) for row in rows]
    if w.requires_grad and torch.is_grad_enabled():
        if exact_grad:
            rates, du = soe_rates(n_min, n_max, tol, device=device)
            return [(rates, row) for row in weights_of(rates, du).reshape(-1, rates.numel())]
        tol = max(tol * grad_tol, 1e-12)
    out = []
    for row in rows:
        try:
            out.append(balanced_truncation(rates, row, n_min, n_max, tol))
        except ValueError:  # weights of both signs: not completely monotone, keep the fine SOE
            out.append((rates, row))
    return out


def soe_eval(rates: torch.Tensor, weights: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """``sum_m weights[m] * exp(-rates[m] * n)`` for every entry of ``n``."""
    n = n.to(rates.dtype)
    return (weights * torch.exp(-n.unsqueeze(-1) * rates)).sum(-1)
