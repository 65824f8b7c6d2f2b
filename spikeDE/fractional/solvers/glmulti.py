r"""Multi-term (distributed-order) Grünwald–Letnikov scheme: ``sum_m c_m D^{alpha_m} y = f(t, y)``.

Each Caputo derivative is discretised by GL on ``y - y0``,
``D^{alpha_m} y(t_{n+1}) ~ h^{-alpha_m} sum_{j=0}^{n+1} w_j^{(m)} (y_{n+1-j} - y_0)``, so all terms share one
Toeplitz kernel ``W_j = sum_m c_m h^{-alpha_m} w_j^{(m)}`` and the explicit step is

    ``y_{n+1} = y_0 + (f(t_n, y_n) - sum_{j=1}^{n+1} W_j (y_{n+1-j} - y_0)) / W_0``,
    ``W_0 = sum_m c_m h^{-alpha_m}`` (must be > 0).

One term with ``c = 1`` is the GL scheme. Orders and coefficients may be tensors with gradients.
"""
from __future__ import annotations

import torch

from .base import Problem
from .gl import gl_march

__all__ = ["solve_glmulti", "multiterm_weights"]


def multiterm_weights(orders, coefficients, h: float):
    """Per-term scales ``c_m h^{-alpha_m} / W_0`` and ``1 / W_0`` (floats, or tensors when any input is one)."""
    if any(isinstance(v, torch.Tensor) for v in (*orders, *coefficients)):
        ref = next(v for v in (*orders, *coefficients) if isinstance(v, torch.Tensor))
        kw = dict(dtype=torch.float64, device=ref.device)
        a = [v.to(**kw) if isinstance(v, torch.Tensor) else torch.tensor(float(v), **kw) for v in orders]
        c = [v.to(**kw) if isinstance(v, torch.Tensor) else torch.tensor(float(v), **kw) for v in coefficients]
        raw = [cm * torch.exp(-am * torch.log(torch.tensor(h, **kw))) for am, cm in zip(a, c)]
        w0 = sum(raw)
        w0_value = float(w0.detach())
    else:
        raw = [float(cm) * h ** (-float(am)) for am, cm in zip(orders, coefficients)]
        w0 = w0_value = sum(raw)
    if not w0_value > 0:
        raise ValueError(f"glmulti: the leading coefficient W_0 = sum_m c_m h^(-alpha_m) must be > 0, got "
                         f"{w0_value!r} (orders {list(orders)!r}, coefficients {list(coefficients)!r})")
    return [r / w0 for r in raw], 1.0 / w0


def solve_glmulti(pb: Problem) -> tuple:
    scales, inv_w0 = multiterm_weights(pb.alpha, pb.coefficients, pb.h)
    terms = [("gl", a, s) for a, s in zip(pb.alpha, scales)]
    factors = [inv_w0.to(y0.dtype) if isinstance(inv_w0, torch.Tensor) else inv_w0 for y0 in pb.y0]
    return gl_march(pb, [terms] * len(pb.y0), factors)
