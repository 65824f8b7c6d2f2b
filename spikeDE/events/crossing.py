r"""Threshold crossings of the exact LIF membrane: closed forms, a bracketed root finder, implicit gradients.

Zero-order hold (held current ``I``, no synapse). ``v(t) = v_inf + (w - v_inf) exp(-t/tau)`` crosses
``theta`` (from ``w < theta < v_inf``) at::

    t* = tau * log1p((theta - w) / (v_inf - theta))

and, after a reset to ``v_reset`` and the refractory period, every later spike of the same held current comes
one inter-spike interval later: ``D = t_ref + tau * log1p((theta - v_reset) / (v_inf - theta))``.

Synaptic current (``J exp(-u/tau_syn)`` on top of a held current). ``v(u) - theta`` is a sum of at most two
exponentials plus a constant, so ``v'`` changes sign at most once: with ``a = w - v_inf``,
``d = 1/tau_syn - 1/tau_mem`` and ``q = (tau_syn/tau_mem) * (a*C_mem/J - tau_mem)`` the only extremum is at::

    u_ext = -log1p(d*q) / d      (u_ext = -q when d = 0),  when J != 0 and 1 + d*q > 0.

From ``v(0) < theta`` the first crossing of ``[0, U]`` therefore lies in ``[0, u_ext]`` when the extremum is
inside and reaches ``theta`` (then ``v`` rises monotonically up to it), otherwise in ``[0, U]`` if
``v(U) >= theta``, otherwise nowhere: a crossing can never be missed, however briefly ``v`` grazes ``theta``.
Inside the bracket a safeguarded Newton iteration (a Newton step when it stays inside the bracket and at least
halves the previous step, a bisection otherwise) runs a fixed number of times, so that every neuron of a batch
does the same work and nothing waits on the slowest one.

Gradients (implicit function theorem). At a crossing ``v(t*; p) = theta`` so
``dt*/dp = -(dv/dp) / v'(t*)``. Given the root ``t0`` (found without gradient), :func:`implicit_crossing_time`
returns ``t0 - (r - r.detach()) / s`` with ``r = v(t0; p) - theta`` evaluated with the graph and
``s = max(v'(t0), slope_floor)`` detached: its value is exactly ``t0`` and its gradient is exactly the implicit
one. The crossing is upwards, so ``v'(t*) >= 0``; at a grazing crossing ``v'(t*) -> 0`` and the true gradient
diverges. The clamp at ``slope_floor`` (default ``sqrt(eps) * (theta - v_reset) / tau_mem``, i.e. about
``1.5e-8`` resp. ``3.5e-4`` threshold units per ``tau_mem`` in float64 resp. float32) caps it to a large finite
value instead of ``inf``/``NaN``. Only crossings that slow are affected; their spike time is ill-conditioned
anyway (an input change of ``eps`` moves it by ``eps / v'``).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .dynamics import ODELIFDynamics

__all__ = [
    "zoh_first_and_period",
    "zoh_crossing_time",
    "zoh_interspike_interval",
    "membrane_extremum",
    "bracket_first_crossing",
    "safeguarded_newton",
    "first_crossing",
    "implicit_crossing_time",
    "default_slope_floor",
    "default_root_iterations",
]


def default_slope_floor(dyn: ODELIFDynamics, dtype: torch.dtype) -> float:
    """``sqrt(eps(dtype)) * (v_threshold - v_reset) / tau_mem``: the clamp on ``v'`` in implicit gradients."""
    return math.sqrt(torch.finfo(dtype).eps) * (dyn.v_threshold - dyn.v_reset) / dyn.tau_mem


def default_root_iterations(dtype: torch.dtype) -> int:
    """Fixed iteration count of the root finder: 48 in float64, 26 in float32 (each iteration at least
    halves the step in the worst case, so the bracket is resolved to ``~2^-iterations`` of its width)."""
    return 48 if dtype == torch.float64 else 26


# ---------------------------------------------------------------------------------------------- closed forms
def zoh_first_and_period(w: torch.Tensor, v_inf: torch.Tensor, dyn: ODELIFDynamics):
    """Closed forms under a held current, sharing one reciprocal: ``(t1, D, can_fire)``.

    ``t1 = tau*log1p(max(theta - w, 0)/(v_inf - theta))`` (first crossing from ``w``; ``0`` if ``w >= theta``),
    ``D = t_ref + tau*log1p((theta - v_reset)/(v_inf - theta))`` (inter-spike interval), ``can_fire = v_inf > theta``.
    Where ``can_fire`` is False, ``t1 = 0`` and ``D = t_ref`` (finite stand-ins; mask with ``can_fire``).
    """
    theta, tau = dyn.v_threshold, dyn.tau_mem
    gap = v_inf - theta
    can = gap > 0
    if torch.is_grad_enabled() and (w.requires_grad or v_inf.requires_grad):
        inv = torch.where(can, 1.0 / torch.where(can, gap, torch.ones_like(gap)), torch.zeros_like(gap))
        t1 = tau * torch.log1p(torch.clamp(theta - w, min=0) * inv)
        period = dyn.t_ref + tau * torch.log1p((theta - dyn.v_reset) * inv)
        return t1, period, can
    # no graph: same formulas, in place on temporaries
    inv = torch.where(can, gap.reciprocal_(), 0.0)
    t1 = (theta - w).clamp_(min=0).mul_(inv).log1p_().mul_(tau)
    period = inv.mul_(theta - dyn.v_reset).log1p_().mul_(tau).add_(dyn.t_ref)
    return t1, period, can


def zoh_crossing_time(w: torch.Tensor, v_inf: torch.Tensor, dyn: ODELIFDynamics) -> torch.Tensor:
    """First time ``v(t) = v_inf + (w - v_inf) exp(-t/tau_mem)`` reaches ``theta``:
    ``tau*log1p((theta - w)/(v_inf - theta))``; ``0`` where ``w >= theta``, ``inf`` where it never does."""
    t1, _, can = zoh_first_and_period(w, v_inf, dyn)
    return torch.where(can | (w >= dyn.v_threshold), t1, torch.full_like(t1, math.inf))


def zoh_interspike_interval(v_inf: torch.Tensor, dyn: ODELIFDynamics) -> torch.Tensor:
    """``D = t_ref + tau_mem * log1p((theta - v_reset) / (v_inf - theta))``; ``inf`` where ``v_inf <= theta``."""
    _, period, can = zoh_first_and_period(v_inf, v_inf, dyn)
    return torch.where(can, period, torch.full_like(period, math.inf))


# ---------------------------------------------------------------------------------------------- bracketing
def membrane_extremum(dyn: ODELIFDynamics, w: torch.Tensor, syn_current: torch.Tensor, current=None):
    """Time ``u_ext`` of the only extremum of ``v`` (formula in the module docstring); ``NaN`` where there is none."""
    if dyn.tau_syn is None:
        raise ValueError("membrane_extremum: the dynamics have no synapse (tau_syn is None)")
    v_inf = dyn.v_rest if current is None else dyn.steady_state(current)
    a = w - v_inf
    has = syn_current != 0
    j = torch.where(has, syn_current, torch.ones_like(syn_current))
    q = (dyn.tau_syn / dyn.tau_mem) * (a * dyn.C_mem / j - dyn.tau_mem)
    d = 1.0 / dyn.tau_syn - 1.0 / dyn.tau_mem
    if d == 0.0:
        u = -q
        ok = has
    else:
        arg = d * q
        ok = has & (arg > -1)
        u = -torch.log1p(torch.where(ok, arg, torch.zeros_like(arg))) / d
    return torch.where(ok, u, torch.full_like(u, math.nan))


def bracket_first_crossing(dyn: ODELIFDynamics, w, span, current=None, syn_current=None):
    """Bracket the first crossing of ``theta`` in ``[0, span]`` (module docstring).

    Returns ``(hi, crosses, immediate)``: ``crosses`` where ``v`` reaches ``theta`` in ``[0, span]``;
    ``immediate`` where ``w >= theta`` (crossing at ``0``); otherwise the crossing lies in ``[0, hi]`` with
    ``v(0) < theta <= v(hi)`` and exactly one sign change of ``v - theta`` there.
    """
    theta = dyn.v_threshold
    immediate = w >= theta
    hi = span
    if syn_current is not None:
        u_ext = membrane_extremum(dyn, w, syn_current, current)
        inside = (u_ext > 0) & (u_ext < span)  # False for NaN
        u_safe = torch.where(inside, u_ext, torch.zeros_like(u_ext))
        peak = dyn.membrane(w, u_safe, current, syn_current)
        hi = torch.where(inside & (peak >= theta), u_safe, span)
    v_hi = dyn.membrane(w, hi, current, syn_current)
    crosses = immediate | (v_hi >= theta)
    return hi, crosses, immediate


def safeguarded_newton(
    fdf: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    lo: torch.Tensor,
    hi: torch.Tensor,
    iterations: int,
    x0: torch.Tensor | None = None,
    check_every: int = 4,
) -> torch.Tensor:
    """Root of ``f`` in ``[lo, hi]`` with ``f(lo) < 0 <= f(hi)``, elementwise, in at most ``iterations`` steps.

    ``fdf(x)`` returns ``(f(x), f'(x))``; ``x0`` is the first point (default ``hi``). Each step evaluates
    ``f`` at the current point and shrinks the bracket to keep the sign change; the next point is the Newton
    point if it lies in the bracket and the Newton step is at most half of the previous step (or already at
    noise level, ``16 eps`` of the initial bracket), else the bracket midpoint: the safeguard of Numerical
    Recipes' ``rtsafe``, so steps at least halve and a crossing inside the bracket is always reached. All
    elements take the same steps (no per-element control flow); every ``check_every`` iterations one host
    check ends the loop early once *every* element's step is at noise level (``check_every=0``: never).
    """
    eps = torch.finfo(hi.dtype).eps
    x = hi.clone() if x0 is None else torch.minimum(torch.maximum(x0, lo), hi)
    step_old = hi - lo
    tol = 16 * eps * (hi - lo).abs()  # f is only known to ~eps near the root: finer steps are noise
    for k in range(iterations):
        f, df = fdf(x)
        below = f < 0
        lo = torch.where(below, x, lo)
        hi = torch.where(below, hi, x)
        ok_df = df > 0
        step = f / torch.where(ok_df, df, torch.ones_like(df))
        newton = x - step
        # Newton if it stays in the bracket and at least halves the step; a converged element (step at noise
        # level, possibly exactly 0 on a bracket end) keeps its point instead of bisecting away from it
        small = step.abs() <= tol
        use = ok_df & (newton >= lo) & (newton <= hi) & ((2 * step.abs() <= step_old.abs()) | small)
        x = torch.where(use, newton, 0.5 * (lo + hi))
        step_old = torch.where(use, step, 0.5 * (hi - lo))
        if check_every and (k + 1) % check_every == 0 and k + 1 < iterations:
            if bool((step_old.abs() <= tol).all()):
                break
    return torch.minimum(torch.maximum(x, lo), hi)


# ---------------------------------------------------------------------------------------------- gradients
def implicit_crossing_time(t0: torch.Tensor, residual: torch.Tensor, slope: torch.Tensor, slope_floor: float):
    """Value ``t0``; gradient ``-(d residual/dp) / max(slope, slope_floor)`` (implicit function theorem).

    ``t0``: the root, without graph. ``residual = v(t0; p) - theta`` evaluated *with* the graph at the detached
    ``t0`` (its value is ~0). ``slope = v'(t0)`` (detached here).
    """
    s = slope.detach().clamp_min(slope_floor)
    return t0.detach() - (residual - residual.detach()) / s


def first_crossing(
    dyn: ODELIFDynamics,
    w: torch.Tensor,
    span: torch.Tensor,
    current=None,
    syn_current=None,
    iterations: int | None = None,
    slope_floor: float | None = None,
    with_grad: bool = True,
):
    """First time ``u*`` in ``[0, span]`` at which ``v(u) = theta`` from ``v(0) = w`` (general solution, root finder).

    Returns ``(u_star, crosses)``. ``u_star`` is meaningful where ``crosses``, and is ``span`` elsewhere; with
    ``with_grad`` its gradient with respect to ``w``, ``current``, ``syn_current`` is the implicit one
    (``span`` only bounds the search and gets no gradient). Works for the held-current case too, where the
    closed form :func:`zoh_crossing_time` gives the same value.
    """
    dtype = w.dtype
    iterations = default_root_iterations(dtype) if iterations is None else int(iterations)
    slope_floor = default_slope_floor(dyn, dtype) if slope_floor is None else float(slope_floor)
    theta = dyn.v_threshold
    span = torch.as_tensor(span, dtype=dtype, device=w.device).expand_as(w)

    def det(x):
        return None if x is None else x.detach()

    wd, cd, jd, sd = w.detach(), det(current), det(syn_current), span.detach()
    with torch.no_grad():
        hi, crosses, immediate = bracket_first_crossing(dyn, wd, sd, cd, jd)
        if not bool(crosses.any()):  # nothing to locate (one host check; skips the root finder)
            return sd.clone(), crosses
        hi = torch.where(crosses & ~immediate, hi, torch.zeros_like(hi))

        def fdf(u):
            v = dyn.membrane(wd, u, cd, jd)
            return v - theta, dyn.membrane_slope(v, u, cd, jd)

        # first point: the secant (regula falsi) point of the bracket, f(0) = w - theta < 0 <= f(hi)
        f_lo = wd - theta
        f_hi = dyn.membrane(wd, hi, cd, jd) - theta
        den = f_hi - f_lo
        x0 = hi * (-f_lo) / torch.where(den > 0, den, torch.ones_like(den))
        root = safeguarded_newton(fdf, torch.zeros_like(hi), hi, iterations, x0=x0)
        root = torch.where(crosses & ~immediate, root, torch.where(immediate, torch.zeros_like(root), sd))
    if not with_grad:
        return root, crosses
    residual = dyn.membrane(w, root, current, syn_current) - theta
    slope = dyn.membrane_slope(residual.detach() + theta, root, cd, jd)
    u = implicit_crossing_time(root, residual, slope, slope_floor)
    u = torch.where(crosses & ~immediate, u, root)
    return u, crosses
