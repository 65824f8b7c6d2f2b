r"""Grünwald–Letnikov scheme (explicit) for the Caputo problem, applied to ``y - y0``.

    ``y_{n+1} = y_0 + h^alpha f(t_n, y_n) - sum_{j=1}^{n+1} w_j (y_{n+1-j} - y_0)``,

with ``w_j`` the GL weights (:func:`~spikeDE.fractional.weights.gl_weights`). First order; ``alpha = 1``
(``w = [1, -1, 0, ...]``) gives explicit Euler. :func:`gl_march` is the same recursion for any kernel
``kappa`` and factor ``c``: ``y_{n+1} = y_0 + c f_n - sum_{i<=n} kappa[n-i] (y_i - y_0)``.
"""
from __future__ import annotations

import torch

from .base import Problem, fused, history, march, scheme_factors

__all__ = ["solve_gl", "gl_march"]


def gl_march(pb: Problem, terms: list, factors: list) -> tuple:
    """March ``y_{n+1} = y0 + c f(t_n, y_n) - sum_{i<=n} kappa[n-i] (y_i - y0)`` where, per component,
    ``kappa[j] = sum_terms coef * w_{j+1}(alpha)`` (``terms``: list of ``(kind, alpha, coef)``).

    The history values ``u_i = y_i - y0`` are the increments over ``y0`` of the steps (chained pushes).
    """
    hists = [history(pb, [(tm, 1)], pb.steps, y0) for tm, y0 in zip(terms, pb.y0)]
    comps = [(hs, y0, c, fused(c)) for hs, y0, c in zip(hists, pb.y0, factors)]
    return march(pb, hists, lambda n, y, _, f: tuple([_step(hs, n, yc, y0, fc, c, fz) for (hs, y0, c, fz), yc, fc
                                                      in zip(comps, y, f)]))


def _step(hs, n, y, y0, f, c, fz):
    if fz:
        return hs.push(torch.zeros_like(y0) if n == 0 else None, scale=-1.0, f=f, coef=c, base=y0, chain=True)
    return y0 + c * f - hs.push(y - y0)


def solve_gl(pb: Problem) -> tuple:
    """Grünwald–Letnikov: kernel ``w_{j+1}``, factor ``h^alpha``."""
    return gl_march(pb, [[("gl", a, 1.0)] for a in pb.alpha], scheme_factors("gl", pb))
