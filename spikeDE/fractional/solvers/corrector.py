r"""Fractional Adams–Bashforth–Moulton predictor–corrector (Diethelm–Ford–Freed; product trapezoidal rule).

Predictor (product rectangle rule): ``y^P_{n+1} = y_0 + h^alpha/Gamma(alpha+1) sum_{j=0}^{n} r_{n-j} f_j``.
Corrector (product trapezoidal rule, one evaluation at the predicted value):

    ``y_{n+1} = y_0 + h^alpha/Gamma(alpha+2) (f(t_{n+1}, y^P_{n+1}) + sum_{j=1}^{n} c_{n+1-j} f_j
    + a_{n+1} f_0)``,

``f_j = f(t_j, y_j)``, with the Toeplitz weights ``c_k`` of
:func:`~spikeDE.fractional.weights.trapezoid_weights` and the starting weights ``a_m`` of
:func:`~spikeDE.fractional.weights.trapezoid_start_weights`. Order ``1 + alpha`` on smooth problems
(two evaluations of ``f`` per step). ``alpha = 1`` gives its integer-order counterpart on the integral form
``y = y0 + int f``: left-rectangle predictor ``y0 + h sum_{j<=n} f_j``, one trapezoidal correction (second
order). Short memory truncates the sums over ``f_j`` (kernels ``~k^{alpha-1}``, not summable), so its error
grows with ``t`` and with ``alpha``; prefer ``gl``/``l1`` with short memory.

Both sums run over the same history ``f_j``, so one :class:`~spikeDE.fractional.memory.HistorySum` with two
kernels serves them: ``r`` and ``c_{j+1}``; the ``f_0`` term is ``c_{n+1} f_0`` from the Toeplitz kernel
plus ``(a_{n+1} - c_{n+1}) f_0``.
"""
from __future__ import annotations

import torch

from ..weights import trapezoid_start_weights, trapezoid_weights
from .base import Problem, Trajectory, add_scaled, history, scheme_factors

__all__ = ["solve_corrector"]


def _start_correction(pb: Problem, a, y0: torch.Tensor) -> list:
    """``(a_{n+1} - c_{n+1})`` for ``n = 0..N-1`` (zero past a short memory of K steps)."""
    N = pb.steps
    st = trapezoid_start_weights(a, N, device=y0.device) - trapezoid_weights(a, N + 1, device=y0.device)[1:]
    if pb.memory.kind == "short":
        st = st * (torch.arange(1, N + 1, device=y0.device) <= pb.memory.steps)
    if isinstance(a, torch.Tensor):
        return list(st.to(y0.dtype).unbind(0))
    return st.tolist()


def solve_corrector(pb: Problem) -> tuple:
    N = pb.steps
    f_rect = scheme_factors("rectangle", pb)
    f_trap = scheme_factors("trapezoid", pb)
    hists = [history(pb, [([("rectangle", a, 1.0)], 0), ([("trapezoid", a, 1.0)], 1)], N, y0)
             for a, y0 in zip(pb.alpha, pb.y0)]
    starts = [_start_correction(pb, a, y0) for a, y0 in zip(pb.alpha, pb.y0)]
    f = f0 = pb.func(pb.ts[0], pb.y0)
    traj = Trajectory(pb)
    for n in range(N):
        sums = [hs.push(fc) for hs, fc in zip(hists, f)]
        y_pred = tuple(add_scaled(y0, s[0], c) for y0, s, c in zip(pb.y0, sums, f_rect))
        f_pred = pb.func(pb.ts[n + 1], y_pred)
        y = tuple(add_scaled(y0, add_scaled(fp + s[1], f0c, st[n]), c)
                  for y0, fp, s, f0c, st, c in zip(pb.y0, f_pred, sums, f0, starts, f_trap))
        traj.append(y)
        if n + 1 < N:
            f = pb.func(pb.ts[n + 1], y)
    for hs in hists:
        hs.close()
    return traj.result()
