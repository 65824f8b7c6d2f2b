r"""Fractional spiking dynamics: a fused multi-step kernel with a hand-written backward, and streaming steps.

Every scheme of :mod:`.schemes` is the explicit recurrence on the membrane history (``V_0 = 0``)

    ``H_t = c_X X_t - sum_{k=1}^{t-1} K_k V_{t-k}``,   then spike and reset (:mod:`.spiking`),

whose history sum is a causal convolution, evaluated without a Python loop over the history:

* **exact** (``memory=None``) and **short** memory (``memory=L``: lags ``k <= L`` only). Time is cut in blocks
  of ``C`` steps and sub-blocks of ``c`` steps. At a block start the far history of the whole block is one
  GEMM ``toeplitz_block(K, s, C, lo, s-lo) @ V[lo:s]``; at a sub-block start the earlier part of the block is
  one small GEMM; inside a sub-block each step adds its ``< c`` newest lags with one matrix-vector product.
  The charge, spike and reset of a step are three fused tensor operations.
* **SOE** (``memory='soe'``): lags up to ``2C-1`` exactly as above (the previous block and the current one),
  older lags through sum-of-exponentials modes ``K_k ~ sum_m omega_m exp(-lambda_m k)`` (rates fixed,
  :mod:`spikeDE.fractional.soe`). The mode state ``M[m] = sum_{j < s-C} exp(-lambda_m (s-C-j)) V_j`` is updated
  once per block (decay + one ``[M, C] x [C, D]`` GEMM) and gives the far part of a whole block with one
  ``[C, M] x [M, D]`` GEMM. Cost ``O(T (C + M) D)``, memory ``O(M D)`` besides the outputs.

Backward: the adjoint recurrence runs in reverse time with the transposed (anti-causal) kernel, blocked the same
way (``lambda_V_j = gV_j - sum_k K_k lambda_H_{j+k}``, ``lambda_H_j = lambda_V_j m_j + q_j``); for SOE the adjoint
modes ``U[m] = sum_t exp(-lambda_m (t - s')) lambda_H_t`` run backwards like the forward modes. Parameter
gradients: ``dL/dc_X = sum lambda_H X``; ``dL/dK_k = -sum_t <lambda_H_t, V_{t-k}>`` (a lag correlation by banded
block GEMMs; for SOE over the exactly treated pairs only); ``dL/domega_m`` = the inner products of adjoint and
forward mode states, per block. Gradients with respect to ``alpha``, ``tau`` and ``dt`` follow by autograd
through :mod:`.schemes`.

Streaming (:class:`StreamState`, one ``[B, ...]`` step per call) keeps exactly the same state (the window of
past membranes, the SOE modes updated at the same block boundaries), so it reproduces the multi-step result up
to floating-point rounding.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..fractional.schemes import NEURON_BLOCK, NEURON_SOE_BLOCK, SUB_BLOCK
from ..fractional.history import lag_correlation, lower_toeplitz, scatter_lags, soe_block, toeplitz_block
from .backend import use_triton
from .lif import fire_and_reset, fire_reset_rows
from .spiking import SpikeConfig, adjoint_factors, nan_spikes_, threshold_grad

__all__ = ["MemoryPlan", "fractional_sequence", "StreamState", "lag_correlation", "DEFAULT_BLOCK",
           "DEFAULT_SOE_BLOCK", "DEFAULT_SUB_BLOCK"]

DEFAULT_BLOCK = NEURON_BLOCK  # exact / short memory
DEFAULT_SOE_BLOCK = NEURON_SOE_BLOCK  # SOE: exact lags < 2C, older lags through the (optimal) modes
DEFAULT_SUB_BLOCK = SUB_BLOCK


@dataclass(frozen=True)
class MemoryPlan:
    """How the history sum is evaluated.

    ``kind``: ``'exact'`` (``length=None``: full memory; ``length=L``: lags ``<= L``) or ``'soe'``
    (``rates``: the fixed SOE rates, float64). ``block``/``sub_block``: ``C`` and ``c`` above.
    """

    kind: str = "exact"
    length: int | None = None
    block: int = DEFAULT_BLOCK
    sub_block: int = DEFAULT_SUB_BLOCK
    rates: torch.Tensor | None = None

    def near_lags(self) -> int:
        """Largest lag the kernel must cover exactly for SOE (``2C - 1``)."""
        return 2 * self.block - 1


_FULL_TOEPLITZ_BYTES = 64 * 2**20


class _Geometry:
    """Per-call constants: padded kernel, block Toeplitz pieces, SOE propagators (input dtype/device)."""

    def release(self):
        """Drop the ``T x T`` matrix (rebuilt on demand) so that it does not stay alive until the backward pass."""
        self.full = None

    def block(self, row0, rows, col0, cols):
        """``K[row0 + r - (col0 + c)]`` (``rows x cols``): a view of the full matrix when it is cached."""
        if self.full is None and self._want_full:
            self.full = lower_toeplitz(self.K, self.T)
        if self.full is not None:
            return self.full[row0:row0 + rows, col0:col0 + cols]
        return toeplitz_block(self.K, row0, rows, col0, cols)

    def __init__(self, kernel, omega, plan: MemoryPlan, T, dtype, device):
        C, c = plan.block, plan.sub_block
        if c > C or C % c:
            raise ValueError(f"sub_block ({c}) must divide block ({C})")
        self.C, self.c, self.T = C, c, T
        self.kind, self.L = plan.kind, plan.length
        n = max(kernel.numel(), 2 * C + 1)
        kx = torch.zeros(n, dtype=dtype, device=device)
        kx[: kernel.numel()] = kernel.detach().to(dtype)
        if plan.kind == "exact" and plan.length is not None:
            kx[plan.length + 1:] = 0
        self.K = kx
        kcol = kx[1:c].unsqueeze(1)  # [K_1, ..., K_{c-1}]^T
        kflip = kx[1:c].flip(0).unsqueeze(1)  # [K_{c-1}, ..., K_1]^T
        self.push_fwd = [kcol[:j] for j in range(c)]  # lags 1..j to the next j steps
        self.push_bwd = [kflip[c - 1 - j:] for j in range(c)]  # lags j..1 to the previous j steps
        lt = lower_toeplitz(kx, 2 * C)  # every block-local piece is a view of this
        self.ksub = {r: lt[r:r + c, :r] for r in range(c, C, c)}  # targets u+i, sources s+j: lag r+i-j
        self.ksub_t = lt[c:C, :c].T  # sources u+j, later targets ue+r: lag c+r-j ([c, C-c]; first columns)
        self.kprev = lt[C:2 * C, :C]  # targets s+i, sources s-C+j: lag C+i-j
        self.full = None
        self._want_full = (plan.kind == "exact" and plan.length is None
                           and T * T * kx.element_size() <= _FULL_TOEPLITZ_BYTES)
        if self._want_full:
            self.full = lower_toeplitz(kx, T)
        if plan.kind == "soe":  # the shared SOE propagators: block b-2 enters the modes when block b opens
            prop = soe_block(plan.rates, C, C, dtype=torch.float64, device=device)
            om = omega.detach().to(device=device, dtype=torch.float64)
            self.decay = prop.decay.to(dtype)
            self.e_abs = prop.absorb.to(dtype)  # [M, C]
            self.e_far = (om * prop.emit).to(dtype)  # [C, M]
            self.e_up = prop.emit.T.contiguous().to(dtype)  # [M, C], adjoint of emit
            self.e_w = (om.unsqueeze(1) * prop.absorb).T.contiguous().to(dtype)  # [C, M], adjoint of absorb
            self.M = prop.decay.numel()


_PARALLEL_MACS = 1 << 25  # GEMMs below this run on one thread inside the kernels
_GRAIN = 32768  # PyTorch runs elementwise CPU ops on fewer elements on one thread anyway


class _Threads:
    """Thread policy of a kernel's loop on CPU: the per-step operations and the small block GEMMs run on one
    thread (their parallel fork/join costs more than it saves and stalls badly on a busy machine), GEMMs of at
    least ``2^25`` multiply-adds on all threads. Only for rows shorter than PyTorch's parallel grain, where the
    elementwise steps are single-threaded anyway; restores the thread count on exit."""

    def __init__(self, x: torch.Tensor):
        self.n = torch.get_num_threads() if x.device.type == "cpu" and x.shape[1] < _GRAIN else 1

    def __enter__(self):
        if self.n > 1:
            torch.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self.n > 1:
            torch.set_num_threads(self.n)

    def addmm_(self, out, a, b, alpha=-1.0):
        """``out += alpha * a @ b``"""
        if self.n > 1 and a.shape[0] * a.shape[1] * b.shape[1] >= _PARALLEL_MACS:
            torch.set_num_threads(self.n)
            out.addmm_(a, b, alpha=alpha)
            torch.set_num_threads(1)
        else:
            out.addmm_(a, b, alpha=alpha)


def _triton_blocks(x: torch.Tensor, cfg: SpikeConfig):
    """The Triton within-block kernels (:mod:`.triton_fractional`) when they run ``x``, else ``None``."""
    if use_triton(x, supported=cfg.noise is None):
        from . import triton_fractional
        return triton_fractional
    return None


class _FractionalSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, cx, kernel, theta, omega, plan, cfg):
        T, D = x.shape
        tri = _triton_blocks(x, cfg)
        geo = _Geometry(kernel, omega, plan, T, x.dtype, x.device)
        C, c = geo.C, geo.c
        H = x * float(cx)
        S, V = torch.empty_like(x), torch.empty_like(x)
        thr = None if cfg.noise is None else float(theta) - cfg.noise.reshape(T, D).to(x.dtype)
        push = geo.push_fwd  # push[j]: K_1..K_j as a column, adds V_t to the next j steps of its sub-block
        modes = x.new_zeros(geo.M, D) if geo.kind == "soe" else None
        th_tri = tri.compute_theta(theta, x) if tri is not None else None
        with _Threads(x) as mm:
            for s in range(0, T, C):
                e = min(s + C, T)
                n = e - s
                if geo.kind == "exact":
                    if s > 0:
                        lo = 0 if geo.L is None else max(0, s - geo.L)
                        if lo < s:
                            mm.addmm_(H[s:e], geo.block(s, n, lo, s - lo), V[lo:s])
                else:
                    if s >= C:
                        mm.addmm_(H[s:e], geo.kprev[:n], V[s - C:s])
                    if s >= 2 * C:
                        mm.addmm_(modes.mul_(geo.decay[:, None]), geo.e_abs, V[s - 2 * C:s - C], alpha=1.0)
                        mm.addmm_(H[s:e], geo.e_far[:n], modes)
                if tri is not None:  # the lags inside the block: one kernel launch
                    tri.block_forward(H, S, V, geo.K, th_tri, s, e, cfg)
                    continue
                # row views of this block only (views of all T rows at once cost ~1 KiB per step)
                fire = fire_reset_rows(H[s:e].unbind(0), S[s:e].unbind(0), V[s:e].unbind(0), theta, cfg,
                                       None if thr is None else thr[s:e].unbind(0))
                Vrow = V[s:e].unsqueeze(1).unbind(0)  # [1, D] views
                for u in range(s, e, c):
                    ue = min(u + c, e)
                    if u > s:
                        mm.addmm_(H[u:ue], geo.ksub[u - s][: ue - u], V[s:u])
                    for t in range(u, ue):
                        fire(t - s)
                        if t + 1 < ue:
                            H[t + 1:ue].addcmul_(push[ue - t - 1], Vrow[t - s], value=-1.0)
        nan_spikes_(S, H)  # non-finite charge -> NaN spike (never a silent 0)
        ctx.save_for_backward(x, H, S, V, cx, kernel, theta, omega)
        ctx.set_materialize_grads(False)  # an unused output (S or V) gets None, not zeros
        geo.release()
        ctx.cfg, ctx.geo, ctx.tri = cfg, geo, tri
        return S, V

    @staticmethod
    def backward(ctx, gS, gV):
        x, H, S, V, cx, kernel, theta, omega = ctx.saved_tensors
        cfg, geo = ctx.cfg, ctx.geo
        T, D = x.shape
        C, c = geo.C, geo.c
        th = float(theta)
        need_x, need_cx, need_k, need_theta, need_omega = ctx.needs_input_grad[:5]
        sg, m, q = adjoint_factors(H, S, th, cfg, gS)
        # R accumulates lambda_V_t = gV_t - sum_k K_k lambda_H_{t+k}; lambda_H_t = R_t m_t + q_t.
        if m is None:  # lambda_H = lambda_V + q: one buffer
            R = q if q is not None else torch.zeros_like(x)
            if gV is not None:
                R += gV
            L = R
        else:
            R = gV.clone() if gV is not None else torch.zeros_like(x)
            L = torch.empty_like(x)
            cq = q if q is not None else torch.zeros_like(x)
        push = geo.push_bwd  # push[j]: K_j..K_1 as a column, adds lambda_H_t to the previous j steps
        soe = geo.kind == "soe"
        U = x.new_zeros(geo.M, D) if soe else None
        d_omega = torch.zeros(geo.M, dtype=x.dtype, device=x.device) if soe and need_omega else None
        nb = (T + C - 1) // C
        with _Threads(x) as mm:
            for b in range(nb - 1, -1, -1):
                s, e = b * C, min(b * C + C, T)
                n = e - s
                if not soe:
                    if e < T:
                        hi = T if geo.L is None else min(T, e + geo.L)
                        if hi > e:
                            mm.addmm_(R[s:e], geo.block(e, hi - e, s, n).T, L[e:hi])
                else:
                    if b + 1 < nb:
                        s1, e1 = s + C, min(s + 2 * C, T)
                        mm.addmm_(R[s:e], geo.kprev[: e1 - s1, :n].T, L[s1:e1])
                    if b + 2 < nb:
                        s2, e2 = s + 2 * C, min(s + 3 * C, T)
                        mm.addmm_(U.mul_(geo.decay[:, None]), geo.e_up[:, : e2 - s2], L[s2:e2], alpha=1.0)
                        mm.addmm_(R[s:e], geo.e_w[:n], U)
                        if d_omega is not None:
                            W = geo.e_abs[:, :n] @ V[s:e]
                            d_omega -= (U * W).sum(1)
                if ctx.tri is not None:  # the lags inside the block: one kernel launch
                    ctx.tri.block_backward(R, L, m, None if m is None else cq, geo.K, s, e)
                    continue
                Lrow = L[s:e].unsqueeze(1).unbind(0)  # [1, D] views of this block only
                if m is not None:
                    Lr, Rr, mr, cqr = L[s:e].unbind(0), R[s:e].unbind(0), m[s:e].unbind(0), cq[s:e].unbind(0)
                for u in range(s + ((n - 1) // c) * c, s - 1, -c):
                    ue = min(u + c, e)
                    if ue < e:
                        mm.addmm_(R[u:ue], geo.ksub_t[:, : e - ue], L[ue:e])
                    for t in range(ue - 1, u - 1, -1):
                        if m is not None:
                            torch.addcmul(cqr[t - s], Rr[t - s], mr[t - s], out=Lr[t - s])
                        if t > u:
                            R[u:t].addcmul_(push[t - u], Lrow[t - s], value=-1.0)
        dcx = (L * x).sum().to(cx.dtype).reshape(cx.shape) if need_cx else None
        dk = None
        if need_k:
            nk = kernel.numel()
            dk = torch.zeros(nk, dtype=x.dtype, device=x.device)
            if not soe:
                max_lag = min(nk - 1, T - 1) if geo.L is None else min(nk - 1, T - 1, geo.L)
                if max_lag >= 1:
                    dk[1:max_lag + 1] = -lag_correlation(L, V, max_lag)[1:]
            else:
                for s in range(0, T, C):  # the exactly treated pairs (lags < 2C), blockwise
                    e = min(s + C, T)
                    lo = max(0, s - C)
                    scatter_lags(dk, -(L[s:e] @ V[lo:e].T), s, lo, lo=1)
            dk = dk.to(kernel.dtype)
        dtheta = None
        if need_theta:
            lam_V = R - gS * sg if (m is None and gS is not None) else R  # R holds lambda_H when m = 1
            dtheta = threshold_grad(H, S, sg, lam_V, th, cfg, gS).to(theta.dtype).reshape(theta.shape)
        d_om = d_omega.to(omega.dtype) if d_omega is not None else None
        dx = L.mul_(float(cx)) if need_x else None
        return dx, dcx, dk, dtheta, d_om, None, None


def fractional_sequence(x: torch.Tensor, cx: torch.Tensor, kernel: torch.Tensor, theta: torch.Tensor,
                        cfg: SpikeConfig, plan: MemoryPlan, omega: torch.Tensor | None = None):
    """Spikes and membranes ``(S, V)`` (``[T, D]``) of ``H_t = c_X X_t - sum_k K_k V_{t-k}`` + spike/reset.

    ``kernel[k] = K_k`` (``kernel[0]`` unused); for ``plan.kind == 'soe'`` it must cover lags ``< 2C`` and
    ``omega`` holds the SOE weights of the far lags on ``plan.rates``.
    """
    if x.dim() != 2:
        raise ValueError(f"x must be [T, D], got shape {tuple(x.shape)}")
    if plan.kind == "soe":
        if omega is None or plan.rates is None:
            raise ValueError("memory plan 'soe' needs rates and weights omega")
        if kernel.numel() < min(x.shape[0], 2 * plan.block):
            raise ValueError(f"kernel must cover lags < {2 * plan.block} for SOE memory, got {kernel.numel()}")
    else:
        omega = x.new_zeros(0) if omega is None else omega
    return _FractionalSequence.apply(x.contiguous(), cx, kernel, theta, omega, plan, cfg)


class StreamState:
    """State of one neuron layer between single-step calls: the step counter, the window of past membranes
    (all of them for exact memory, the last ``L`` for short memory, those since the start of the previous
    block for SOE) and the SOE mode state. Same arithmetic as the multi-step kernel."""

    def __init__(self, plan: MemoryPlan):
        self.plan = plan
        self.t = 0
        self.window: list[torch.Tensor] = []
        self.window_start = 0  # time index of window[0]
        self.modes = None
        self._geo = None

    def step(self, x: torch.Tensor, cx: torch.Tensor, kernel: torch.Tensor, theta: torch.Tensor, cfg: SpikeConfig,
             omega: torch.Tensor | None = None, xi: torch.Tensor | None = None):
        """``(S_t, V_t)`` for the input ``x = X_t`` (``[D]``); ``kernel`` must cover lags ``<= t`` (exact)."""
        t, plan = self.t, self.plan
        C = plan.block
        dtype, device = x.dtype, x.device
        h = x * cx.to(dtype)
        if plan.kind == "soe":
            b, i = divmod(t, C)
            if i == 0 and b >= 2:  # absorb block b-2 into the modes, drop it from the window
                if self._geo is None:  # the propagators of the multi-step kernel
                    self._geo = soe_block(plan.rates, C, C, dtype=torch.float64, device=device)
                old = torch.stack(self.window[:C])
                upd = self._geo.absorb.to(dtype) @ old
                self.modes = upd if self.modes is None else self.modes * self._geo.decay.to(dtype)[:, None] + upd
                self.window = self.window[C:]
                self.window_start += C
            if b >= 2:
                e_far = (omega.to(torch.float64) * self._geo.emit[i]).to(dtype)
                h = h - e_far @ self.modes
            lags = t - self.window_start
            k = kernel[1:lags + 1].to(dtype)
            if lags:
                h = h - k.flip(0) @ torch.stack(self.window)
        else:
            lags = t if plan.length is None else min(t, plan.length)
            if lags:
                if kernel.numel() < lags + 1:
                    raise ValueError(f"kernel covers lags < {kernel.numel()}, step {t} needs {lags}")
                k = kernel[1:lags + 1].to(dtype)
                h = h - k.flip(0) @ torch.stack(self.window[-lags:])
        s_t, v_t = fire_and_reset(h, theta.to(dtype), cfg, xi)
        self.window.append(v_t)
        if plan.kind == "exact" and plan.length is not None and len(self.window) > plan.length:
            self.window = self.window[-plan.length:]
        self.t += 1
        return s_t, v_t
