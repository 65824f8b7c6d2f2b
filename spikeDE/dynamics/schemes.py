r"""The fractional membrane equation as one explicit recurrence on the membrane history.

A spiking neuron integrates ``tau * D^alpha v = -lambda v + I`` (``lambda = 1``: LIF, ``lambda = 0``: IF) on the
grid ``t_n = n dt``, input ``X_n`` held over step ``n`` (it produces the spike ``S_n`` of the same step),
``V_0 = 0`` (rest, so Caputo and Riemann–Liouville derivatives coincide), reset after the step:

    ``H_n = g F_n - sum_{k=1}^{n-1} K_k V_{n-k}``,   ``F_n = (X_n - lambda V_{n-1}) / tau``,
    ``S_n = Heaviside(H_n - theta)``,   ``V_n = H_n - theta S_n``  (or ``v_reset`` where ``S_n = 1``).

``V`` (after reset) is what the history remembers, so a reset is a jump of the state that enters the
fractional memory. Every scheme is a discrete Caputo derivative ``D^alpha V(t_n) ~ (1/g) sum_k K_k V_{n-k}``
(``K_0 = 1``) set equal to the drift evaluated explicitly at ``(V_{n-1}, X_n)``:

=============  ===============================  ===================================================================
method         ``g``                            ``K_k`` (k >= 1)
=============  ===============================  ===================================================================
``gl``         ``dt^alpha``                     Grünwald–Letnikov weights ``w_k``
``l1``         ``Gamma(2-alpha) dt^alpha``      ``b_k - b_{k-1}``, L1 weights ``b_j = (j+1)^{1-alpha} - j^{1-alpha}``
``predictor``  ``dt^alpha / Gamma(alpha+1)``    ``q``: ``1 / sum_k r_k z^k``, ``r_k = (k+1)^alpha - k^alpha``
``heun``       as ``predictor``, then a trapezoidal correction of the newest step (below)
=============  ===============================  ===================================================================

* ``gl``: ``h^{-alpha} sum_k w_k V_{n-k}`` is the Grünwald–Letnikov derivative.
* ``l1``: ``(1/g) sum_{j=0}^{n-1} b_j (V_{n-j} - V_{n-j-1})`` is the L1 derivative (``V`` piecewise linear);
  with ``V_0 = 0`` it regroups into ``sum_k (b_k - b_{k-1}) V_{n-k}``.
* ``predictor``: the fractional Adams–Bashforth (product rectangle) rule ``V_n = g sum_m r_{n-m} G_m`` with
  ``G_m = F_m + J_m / g`` (the drift of step ``m`` held constant over the step, plus the reset jump
  ``J_m = V_m - H_m`` as an impulse), inverted into the membrane form above.
* ``heun`` (spikeDE's neuron ``corrector``; not fdeint's Adams–Bashforth–Moulton ``corrector``, which re-weights
  the whole history): predictor–corrector on the newest step. The predicted ``H^P_n`` is corrected by treating
  the drift of the
  newest step as linear between ``f(V_{n-1}, X_n)`` and ``f(H^P_n, X_n)`` (product trapezoid weight
  ``g_2 = dt^alpha / Gamma(alpha+2)``): ``H_n = H^P_n + g_2 (f(H^P_n, X_n) - f(V_{n-1}, X_n))``, i.e.
  ``H_n = (1 - kappa) H^P_n + kappa V_{n-1}`` with ``kappa = lambda g_2 / tau``. It evaluates the drift at
  the predicted membrane, so at ``alpha = 1`` it is Heun's (trapezoidal) LIF step, not the Euler LIF step.

At ``alpha = 1``: ``gl``, ``l1`` and ``predictor`` all give ``K = [1, -1, 0, ...]``, ``g = dt``, hence
``H_n = V_{n-1} + dt (X_n - lambda V_{n-1}) / tau``, the standard discrete LIF/IF step.

Distributed order (multi-term) ``sum_i c_i D^{alpha_i} V = f``: the discrete derivatives add,
``sum_i (c_i/g_i) sum_k K^{(i)}_k V_{n-k}``, which is again of the form above with
``g = 1 / sum_i (c_i/g_i)`` and ``K = g sum_i (c_i/g_i) K^{(i)}``.

Everything here is a differentiable function of ``alpha``, ``dt``, the coefficients and ``tau`` (weights in
float64); the neuron kernels only ever see the recurrence ``H_n = c_X X_n - sum_{k>=1} K'_k V_{n-k}``
built by :func:`membrane_recurrence`, and gradients flow back through these formulas by autograd.
"""
from __future__ import annotations

import torch

from ..fractional.history import causal_conv
from ..fractional.schemes import SCHEMES, resolve
from ..fractional.soe import soe_weights
from ..fractional.weights import gl_weights, l1_weights, rectangle_weights, scheme_factor

__all__ = [
    "METHODS", "canonical_method", "series_inverse", "derivative_kernel", "multiterm_kernel",
    "membrane_recurrence", "far_soe_weights", "SOE_METHODS",
]

_F64 = torch.float64
METHODS = tuple(s.name for s in SCHEMES.values() if s.neurons)
SOE_METHODS = tuple(s.name for s in SCHEMES.values() if s.neurons and s.soe)


def canonical_method(method: str) -> str:
    """Canonical name of a neuron scheme (``gl``, ``l1``, ``predictor``, ``heun``) from the shared table
    :mod:`spikeDE.fractional.schemes`; spikeDE's ``pred`` is accepted, its ``corrector``/``trap`` mean ``heun``
    (with a ``DeprecationWarning``)."""
    return resolve(method, "neurons")


def series_inverse(r: torch.Tensor) -> torch.Tensor:
    """Coefficients ``q`` of ``1 / sum_k r_k z^k`` (mod ``z^n``) for ``r[0] = 1``; Newton's iteration
    ``q <- q (2 - r q)`` with FFT products, ``O(n log n)``, differentiable."""
    if r.dim() != 1 or r.numel() == 0:
        raise ValueError(f"r must be a non-empty 1-D tensor, got shape {tuple(r.shape)}")
    n = r.numel()
    q = torch.ones(1, dtype=r.dtype, device=r.device) / r[:1]
    m = 1
    while m < n:
        m = min(2 * m, n)
        qm = torch.cat([q, q.new_zeros(m - q.numel())])
        e = causal_conv(r[:m], qm)  # r q mod z^m
        two_minus = -e
        two_minus = two_minus + torch.cat([e.new_full((1,), 2.0), e.new_zeros(m - 1)])
        q = causal_conv(qm, two_minus)
    return q


def derivative_kernel(method: str, alpha, n: int, dt=1.0):
    """``(g, K)`` with ``D^alpha V(t_m) ~ (1/g) sum_{k=0}^{m-1} K_k V_{m-k}`` (``K_0 = 1``, length ``n``).

    ``alpha``: float or 0-d tensor (gradients kept); ``dt``: float or 0-d tensor. Float64.
    ``heun`` uses the predictor's kernel (its correction is applied by :func:`membrane_recurrence`).
    """
    scheme = SCHEMES[canonical_method(method)]  # kernel and factor from the shared table
    a = alpha.reshape(()).to(_F64) if isinstance(alpha, torch.Tensor) else torch.tensor(float(alpha), dtype=_F64)
    h = dt.reshape(()).to(_F64) if isinstance(dt, torch.Tensor) else torch.tensor(float(dt), dtype=_F64)
    g = scheme_factor(scheme.factor[0], a, h)
    kind = scheme.kernel[0]
    if kind == "gl":
        return g, gl_weights(a, n)
    if kind == "l1":  # the L1 derivative of differences, regrouped on V (V_0 = 0)
        b = l1_weights(a, n)
        return g, torch.cat([b[:1], b[1:] - b[:-1]])
    # rectangle (predictor, heun): the membrane form inverts the product-rectangle weights
    return g, series_inverse(rectangle_weights(a, n))


def multiterm_kernel(method: str, alphas, coefficients, n: int, dt=1.0):
    """``(g, K)`` of ``sum_i c_i D^{alpha_i}`` (see module docstring); one term gives :func:`derivative_kernel`.

    ``alphas``: sequence of floats or a 1-D tensor; ``coefficients``: same length, positive (or ``None``
    for a single term).
    """
    if isinstance(alphas, torch.Tensor):
        terms = [alphas.reshape(-1)[i] for i in range(alphas.numel())]
    else:
        terms = list(alphas) if isinstance(alphas, (list, tuple)) else [alphas]
    if coefficients is None:
        if len(terms) != 1:
            raise ValueError(f"{len(terms)} orders need {len(terms)} coefficients, got None")
        return derivative_kernel(method, terms[0], n, dt)
    if isinstance(coefficients, torch.Tensor):
        coefs = [coefficients.reshape(-1)[i] for i in range(coefficients.numel())]
    else:
        coefs = list(coefficients)
    if len(coefs) != len(terms):
        raise ValueError(f"{len(terms)} orders need {len(terms)} coefficients, got {len(coefs)}")
    if canonical_method(method) == "heun" and len(terms) > 1:
        raise ValueError("method 'heun' supports a single order; use gl, l1 or predictor for multi-term")
    total, acc = None, None
    for a, c in zip(terms, coefs):
        g, k = derivative_kernel(method, a, n, dt)
        c64 = c.to(_F64) if isinstance(c, torch.Tensor) else torch.tensor(float(c), dtype=_F64)
        weight = c64 / g
        total = weight if total is None else total + weight
        acc = weight * k if acc is None else acc + weight * k
    g = 1.0 / total
    return g, g * acc


def membrane_recurrence(method: str, g: torch.Tensor, kernel: torch.Tensor, tau, leak: bool, alpha=None, dt=1.0):
    """``(c_X, K')`` of ``H_n = c_X X_n - sum_{k>=1} K'_k V_{n-k}`` for the drift ``(X - lambda V)/tau``.

    ``K'_1 = K_1 + lambda g / tau`` (the leak evaluated at ``V_{n-1}``), ``K'_k = K_k`` otherwise,
    ``c_X = g / tau``. For ``heun`` (``alpha`` needed) both are then mixed with ``V_{n-1}`` as
    described in the module docstring. Float64 tensors with the graph of all inputs.
    """
    t64 = tau.reshape(()).to(_F64) if isinstance(tau, torch.Tensor) else torch.tensor(float(tau), dtype=_F64)
    lam = 1.0 if leak else 0.0
    cx = g / t64
    k1 = kernel[1:2] + lam * g / t64 if kernel.numel() > 1 else kernel[1:2]
    kp = torch.cat([kernel[:1], k1, kernel[2:]])
    if canonical_method(method) == "heun" and leak:
        a = alpha.reshape(()).to(_F64) if isinstance(alpha, torch.Tensor) else torch.tensor(float(alpha), dtype=_F64)
        h = dt.reshape(()).to(_F64) if isinstance(dt, torch.Tensor) else torch.tensor(float(dt), dtype=_F64)
        kappa = scheme_factor(SCHEMES["heun"].factor[1], a, h) / t64  # the trapezoid weight of the newest step
        cx = (1.0 - kappa) * cx
        kp = torch.cat([kp[:1], (1.0 - kappa) * kp[1:2] - kappa, (1.0 - kappa) * kp[2:]])
    return cx, kp


def far_soe_weights(method: str, alphas, coefficients, rates: torch.Tensor, du: float, dt=1.0):
    """Weights ``omega`` on the fixed ``rates`` with ``K_k ~ sum_m omega_m exp(-rates_m k)`` for far lags.

    ``gl``: the SOE of the GL weights; ``l1``: ``K_k = b_k - b_{k-1}``, so ``omega_m = omega^{b}_m (1 - e^{rates_m})``.
    Multi-term orders combine like the kernels (:func:`multiterm_kernel`). Float64, differentiable.
    """
    method = canonical_method(method)
    if method not in SOE_METHODS:
        raise ValueError(f"memory='soe' is available for methods {', '.join(SOE_METHODS)}; got method {method!r}")
    if isinstance(alphas, torch.Tensor):
        terms = [alphas.reshape(-1)[i] for i in range(alphas.numel())]
    else:
        terms = list(alphas) if isinstance(alphas, (list, tuple)) else [alphas]
    if coefficients is None:
        coefs = [1.0] * len(terms)
        if len(terms) != 1:
            raise ValueError(f"{len(terms)} orders need {len(terms)} coefficients, got None")
    elif isinstance(coefficients, torch.Tensor):
        coefs = [coefficients.reshape(-1)[i] for i in range(coefficients.numel())]
    else:
        coefs = list(coefficients)
    total, acc = None, None
    for a, c in zip(terms, coefs):
        g, _ = derivative_kernel(method, a, 2, dt)
        if method == "gl":
            w = soe_weights("gl", a, rates, du)
        else:
            w = soe_weights("l1", a, rates, du) * (-torch.expm1(rates))
        c64 = c.to(_F64) if isinstance(c, torch.Tensor) else torch.tensor(float(c), dtype=_F64)
        weight = c64 / g
        total = weight if total is None else total + weight
        acc = weight * w if acc is None else acc + weight * w
    return acc / total
