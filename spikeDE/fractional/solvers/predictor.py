r"""Fractional Adams–Bashforth (product rectangle rule) for the Caputo problem.

    ``y_{n+1} = y_0 + h^alpha / Gamma(alpha+1) * sum_{j=0}^{n} r_{n-j} f(t_j, y_j)``,

with ``r_k = (k+1)^alpha - k^alpha`` (:func:`~spikeDE.fractional.weights.rectangle_weights`). First order;
``alpha = 1`` (all ``r_k = 1``) gives explicit Euler. Short memory truncates the sum over ``f_j`` (kernel
``r_k ~ alpha k^{alpha-1}``, not summable), so its error grows with ``t`` and with ``alpha``.
"""
from __future__ import annotations

from .base import Problem, fused, history, march, scheme_factors

__all__ = ["solve_predictor"]


def solve_predictor(pb: Problem) -> tuple:
    N = pb.steps
    factors = scheme_factors("rectangle", pb)
    hists = [history(pb, [([("rectangle", a, 1.0)], 0)], N, y0) for a, y0 in zip(pb.alpha, pb.y0)]
    comps = [(hs, c, y0, fused(c)) for hs, c, y0 in zip(hists, factors, pb.y0)]

    def step(n, y, _, f):
        return tuple([hs.push(fc, scale=c, base=y0) if fz else y0 + c * hs.push(fc)
                      for (hs, c, y0, fz), fc in zip(comps, f)])

    return march(pb, hists, step)
