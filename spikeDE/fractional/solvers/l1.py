r"""L1 scheme (explicit) for the Caputo problem.

    ``y_{n+1} = y_n + Gamma(2-alpha) h^alpha f(t_n, y_n) - sum_{j=1}^{n} b_j (y_{n+1-j} - y_{n-j})``,

with ``b_j = (j+1)^{1-alpha} - j^{1-alpha}`` (:func:`~spikeDE.fractional.weights.l1_weights`). The history
is the sequence of increments ``d_i = y_{i+1} - y_i``:
``y_{n+1} = y_n + Gamma(2-alpha) h^alpha f_n - sum_{i<=n-1} b_{n-i} d_i``. First order with the
explicit right-hand side; ``alpha = 1`` (``b = [1, 0, 0, ...]``) gives explicit Euler.
"""
from __future__ import annotations

from .base import Problem, add_scaled, fused, history, march, scheme_factors

__all__ = ["solve_l1"]


def solve_l1(pb: Problem) -> tuple:
    N = pb.steps
    factors = scheme_factors("l1", pb)
    hists = [history(pb, [([("l1", a, 1.0)], 1)], N - 1, y0) if N > 1 else None
             for a, y0 in zip(pb.alpha, pb.y0)]
    comps = [(hs, c, fused(c)) for hs, c in zip(hists, factors)]

    def step(n, y, y_old, f):
        if n == 0:
            return tuple([add_scaled(yc, fc, c) for yc, fc, c in zip(y, f, factors)])
        return tuple([_step(hs, n, yc, yo, fc, c, fz) for (hs, c, fz), yc, yo, fc in zip(comps, y, y_old, f)])

    return march(pb, hists, step)


def _step(hs, n, y, y_old, f, c, fz):
    """``y_{n+1} = y_n + c f_n - sum_{i<=n-1} b_{n-i} d_i``; the history is the chain of increments ``d_i``."""
    if fz:
        return hs.push(y - y_old if n == 1 else None, scale=-1.0, f=f, coef=c, base=y, chain=True)
    return y + c * f - hs.push(y - y_old)
