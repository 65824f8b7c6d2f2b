r"""``fdeint``: solve a Caputo fractional initial-value problem on a uniform grid.

    ``D^alpha y(t) = func(t, y(t))``,   ``y(t_0) = y0``,   ``0 < alpha <= 1``,

where ``D^alpha`` is the Caputo derivative (so ``y0`` enters as the initial value, and ``alpha = 1`` is
the ordinary ODE ``y' = func(t, y)``). Returns the solution at every grid point, like
``torchdiffeq.odeint``.
"""
from __future__ import annotations

from numbers import Real

import torch

from .._checks import check_alpha, check_floating
from .memory import DEFAULT_BLOCK_SIZE, parse_memory
from .schemes import resolve
from .solvers import SOLVERS
from .solvers.base import Problem

__all__ = ["fdeint", "METHODS"]

METHODS = tuple(SOLVERS)


def _method_name(method) -> str:
    """The canonical name (:mod:`spikeDE.fractional.schemes`, the table shared with the neurons)."""
    try:
        return resolve(method, "fdeint")
    except (TypeError, ValueError) as e:
        raise ValueError(f"fdeint: {e}") from None


def _check_grid(t) -> tuple[torch.Tensor, float]:
    """``t`` must be a 1-D, finite, strictly increasing, uniform grid. Returns ``(t, h)``."""
    if not isinstance(t, torch.Tensor):
        try:
            t = torch.as_tensor(t, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as e:
            raise TypeError(f"fdeint: t must be a 1-D tensor of times, got {type(t).__name__}") from e
    if not t.is_floating_point():
        t = t.to(torch.float64)
    if t.dim() != 1 or t.numel() < 1:
        raise ValueError(f"fdeint: t must be a non-empty 1-D tensor, got shape {tuple(t.shape)}")
    if t.requires_grad:
        raise ValueError("fdeint: gradients with respect to t are not supported; pass t.detach()")
    t64 = t.detach().to(torch.float64)
    if not bool(torch.isfinite(t64).all()):
        raise ValueError("fdeint: t contains non-finite values")
    if t.numel() == 1:
        return t, 0.0
    N = t.numel() - 1
    h = float(t64[-1] - t64[0]) / N
    dt = t64.diff()
    if not bool((dt > 0).all()):
        k = int(torch.nonzero(dt <= 0)[0])
        raise ValueError(f"fdeint: t must be strictly increasing, but t[{k + 1}] = {float(t64[k + 1])!r} <= "
                         f"t[{k}] = {float(t64[k])!r}")
    # Uniform up to rounding: of the grid's dtype, and of float32 (a float32 grid cast to float64), the
    # latter capped at 0.1% of the step.
    tmax = float(t64.abs().max())
    tol = 8 * torch.finfo(t.dtype).eps * tmax + min(1e-6 * tmax, 1e-3 * h)
    dev = (dt - h).abs()
    if float(dev.max()) > tol:
        k = int(dev.argmax())
        raise ValueError(f"fdeint: t must be a uniform grid (the schemes assume a constant step); step {k} is "
                         f"t[{k + 1}] - t[{k}] = {float(dt[k])!r}, but the mean step is {h!r} (tolerance {tol:.2g})")
    return t, h


def _as_order(a, name: str, device) -> object:
    """A validated order: a float, or a 0-d float64 tensor on ``device`` (graph kept)."""
    if isinstance(a, torch.Tensor):
        if a.numel() != 1:
            raise ValueError(f"fdeint: {name} must be a single order here, got a tensor of shape {tuple(a.shape)}")
        check_alpha(a, name=name, where="fdeint")
        return a.reshape(()).to(dtype=torch.float64, device=device)
    check_alpha(a, name=name, where="fdeint")
    return float(a)


def _orders(alpha, n_comp: int, device) -> tuple:
    """One order per component: a single value is shared; a sequence must have one entry per component."""
    if isinstance(alpha, torch.Tensor) and alpha.dim() > 0 and alpha.numel() > 1:
        alpha = list(alpha.unbind(0)) if alpha.dim() == 1 else alpha
    if isinstance(alpha, (list, tuple)):
        if n_comp == 1:
            raise ValueError(f"fdeint: alpha must be one order for a single tensor y0 (a list of orders is for "
                             f"a tuple y0, one per component, or for method='glmulti'), got {alpha!r}")
        if len(alpha) != n_comp:
            raise ValueError(f"fdeint: alpha has {len(alpha)} entries but y0 has {n_comp} components; give one "
                             f"order, or one per component")
        return tuple(_as_order(a, f"alpha[{i}]", device) for i, a in enumerate(alpha))
    if isinstance(alpha, torch.Tensor) and alpha.numel() != 1:
        raise ValueError(f"fdeint: alpha must be a number, a 0-d tensor or one order per tuple component, got a "
                         f"tensor of shape {tuple(alpha.shape)} (per-element orders are not supported)")
    return (_as_order(alpha, "alpha", device),) * n_comp


def _term_list(values, name: str) -> list:
    if isinstance(values, torch.Tensor):
        if values.dim() > 1:
            raise ValueError(f"fdeint(glmulti): {name} must be a 1-D sequence, got shape {tuple(values.shape)}")
        return list(values.reshape(-1).unbind(0))
    if isinstance(values, (list, tuple)):
        return list(values)
    return [values]


def _multiterm(alpha, coefficients, device):
    orders = _term_list(alpha, "alpha")
    if not orders:
        raise ValueError("fdeint(glmulti): alpha must list at least one order")
    orders = [_as_order(a, f"alpha[{i}]", device) for i, a in enumerate(orders)]
    if coefficients is None:
        coefs = [1.0] * len(orders)
    else:
        coefs = _term_list(coefficients, "coefficients")
        if len(coefs) != len(orders):
            raise ValueError(f"fdeint(glmulti): coefficients has {len(coefs)} entries but alpha has {len(orders)}")
        for i, c in enumerate(coefs):
            if isinstance(c, torch.Tensor):
                if not c.is_floating_point() or not bool(torch.isfinite(c.detach()).all()):
                    raise ValueError(f"fdeint(glmulti): coefficients[{i}] must be a finite float, got {c!r}")
            elif isinstance(c, bool) or not isinstance(c, Real) or not torch.isfinite(torch.tensor(float(c))):
                raise ValueError(f"fdeint(glmulti): coefficients[{i}] must be a finite number, got {c!r}")
        coefs = [c.reshape(()).to(dtype=torch.float64, device=device) if isinstance(c, torch.Tensor) else float(c)
                 for c in coefs]
    return tuple(orders), tuple(coefs)


class _Func:
    """Calls the user's ``func`` on tuples; checks the shape and dtype of its first output."""

    def __init__(self, func, y0: tuple, single: bool):
        self.func, self.y0, self.single = func, y0, single
        self.checked = False

    def __call__(self, t, y: tuple) -> tuple:
        out = (self.func(t, y[0]),) if self.single else self.func(t, y)
        if not self.checked:
            self._check(out)
            self.checked = True
        return out

    def _check(self, out) -> None:
        if not isinstance(out, (tuple, list)) or len(out) != len(self.y0):
            raise ValueError(f"fdeint: func must return a tuple of {len(self.y0)} tensors for a tuple y0, "
                             f"got {type(out).__name__}")
        for i, (f, y0) in enumerate(zip(out, self.y0)):
            what = "func(t, y)" if self.single else f"func(t, y)[{i}]"
            if not isinstance(f, torch.Tensor):
                raise TypeError(f"fdeint: {what} must be a tensor, got {type(f).__name__}")
            if f.shape != y0.shape:
                raise ValueError(f"fdeint: {what} has shape {tuple(f.shape)}, but y0 has shape "
                                 f"{tuple(y0.shape)}; they must match exactly")
            if f.dtype != y0.dtype or f.device != y0.device:
                raise ValueError(f"fdeint: {what} has dtype {f.dtype} on {f.device}, but y0 has dtype {y0.dtype} "
                                 f"on {y0.device}; they must match")


def fdeint(func, y0, t, alpha, *, method: str = "l1", memory=None, **options):
    r"""Solve the Caputo problem ``D^alpha y = func(t, y)``, ``y(t[0]) = y0``, on the uniform grid ``t``.

    Args:
        func: ``func(t, y) -> dy`` with ``t`` a 0-d tensor (a grid point) and ``dy`` of the shape and dtype
            of ``y``; for a tuple ``y0``, ``y`` and ``dy`` are tuples. May hold parameters (gradients flow).
        y0: initial value, a floating tensor of any shape (or a tuple of them).
        t: 1-D strictly increasing uniform grid (``len(t) >= 1``); a non-uniform grid is a ``ValueError``.
        alpha: the order, ``0 < alpha <= 1``: a float or a 0-d tensor (possibly learnable: gradients reach it,
            Gamma factors included); for a tuple ``y0`` optionally one per component. For ``glmulti``: the
            list of orders ``alpha_m`` of the terms.
        method: a scheme of :mod:`spikeDE.fractional.schemes`: ``"l1"`` (default), ``"gl"`` (alias
            ``"grunwald"``; Grünwald–Letnikov on ``y - y0``), ``"predictor"`` (alias
            ``"pred"``, fractional Adams–Bashforth), ``"corrector"`` (alias ``"trap"``,
            Adams–Bashforth–Moulton predictor–corrector, order ``1 + alpha``), ``"glmulti"`` (multi-term
            ``sum_m c_m D^{alpha_m} y = func``). ``alpha = 1`` gives explicit Euler (``gl``, ``l1``,
            ``predictor``, one-term ``glmulti``); ``corrector`` becomes the trapezoidal rule with a
            rectangle-rule predictor on ``y = y0 + int f``.
        memory: ``None`` (full history, exact), an int ``K`` (short-memory principle: keep the kernel lags
            ``1..K``; per step the history sum changes by at most ``sum_{j>K}|k_j| max|x|``, for GL
            ``~ K^{-alpha}/Gamma(1-alpha) max|y - y0|``), or ``"soe"`` (sum-of-exponentials compression of
            the kernel for lags ``>= 2 block_size``, relative kernel error ``<= soe_tol`` up to lag
            ``len(t)``; ``O(M)`` state per element, ``O(T M)`` time).
        **options: ``soe_tol`` (``memory="soe"``, default ``1e-6``,
            :data:`spikeDE.fractional.schemes.DEFAULT_SOE_TOL`; results match full history to about ``1e-6``
            relative), ``block_size`` (steps per block of the history engine, default 32),
            ``coefficients`` (``glmulti``: the ``c_m``, floats or tensors; default all ones).

    Returns:
        ``[len(t), *y0.shape]`` tensor (a tuple of them for a tuple ``y0``), dtype and device of ``y0``.
    """
    name = _method_name(method)
    allowed = {"soe_tol", "block_size"} | ({"coefficients"} if name == "glmulti" else set())
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"fdeint: unexpected option(s) {unknown} for method '{name}'; valid options: "
                         f"{sorted(allowed)}")
    single = isinstance(y0, torch.Tensor)
    if single:
        comps = (y0,)
    elif isinstance(y0, (tuple, list)) and len(y0) > 0:
        comps = tuple(y0)
    else:
        raise TypeError(f"fdeint: y0 must be a tensor or a non-empty tuple of tensors, got {type(y0).__name__}")
    for i, c in enumerate(comps):
        check_floating(c, "y0" if single else f"y0[{i}]", where="fdeint")
    device = comps[0].device
    t, h = _check_grid(t)
    spec = parse_memory(memory, options.get("soe_tol"))
    block = options.get("block_size", DEFAULT_BLOCK_SIZE)
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"fdeint: block_size must be an int >= 1, got {block!r}")
    coefficients = None
    if name == "glmulti":
        orders, coefficients = _multiterm(alpha, options.get("coefficients"), device)
    else:
        orders = _orders(alpha, len(comps), device)
    if t.numel() == 1:
        out = tuple(c.unsqueeze(0) for c in comps)
        return out[0] if single else out
    if all(c.numel() == 0 for c in comps):  # empty in, empty out (func is never called)
        out = tuple(c.new_zeros((t.numel(), *c.shape)) for c in comps)
        return out[0] if single else out
    for i, c in enumerate(comps):
        if c.numel() == 0:
            raise ValueError(f"fdeint: y0[{i}] is empty (shape {tuple(c.shape)}) while other components are not; "
                             f"drop the empty component")
    pb = Problem(func=_Func(func, comps, single), y0=comps, ts=t, h=h, alpha=orders,
                 memory=spec, block_size=block, coefficients=coefficients)
    out = SOLVERS[name](pb)
    return out[0] if single else out
