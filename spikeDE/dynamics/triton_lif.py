r"""Fused multi-step LIF / IF kernels in Triton: one launch per layer and sequence, forward and backward.

Each program owns ``BLOCK`` neurons and walks the whole sequence in registers (the membrane never leaves the
chip between steps). Forward, as :func:`spikeDE.dynamics.lif.lif_sequence` (``tau`` already ``tau / dt``):

    ``H_t = V_{t-1} + (X_t - V_{t-1}) / tau``  (IF: ``V_{t-1} + X_t / tau``),  ``S_t = [H_t >= theta]``,
    ``V_t = H_t - theta S_t``  or  ``H_t - H_t S_t + v_reset S_t``,

evaluated in this order with correctly rounded division, so float32 spikes and membranes equal the PyTorch
path bit for bit. Backward, in reverse time (``a = 1 - 1/tau``, IF: ``a = 1``; ``g`` the surrogate derivative
at ``H_t - theta``):

    ``lambda_V_t = gV_t + a lambda_H_{t+1}``,   ``lambda_H_t = lambda_V_t m_t + gS_t g_t``,
    ``m_t = 1`` (subtract, detached reset), ``1 - theta g_t`` (subtract), ``1 - S_t`` (zero, detached),
    ``1 - S_t + (v_reset - H_t) g_t`` (zero),

    ``dL/dX_t = lambda_H_t / tau``,   ``dL/dtau = -sum_t lambda_H_t (X_t - lambda V_{t-1}) / tau^2``,
    ``dL/dtheta = -sum_t lambda_S_t g_t - [subtract] sum_t lambda_V_t S_t``,
    ``lambda_S_t = gS_t + [not detached] lambda_V_t dV_t/dS_t``.

The parameter sums are reduced per program and then over programs. Storage may be float32, float64 or bfloat16;
bfloat16 is computed in float32 (the membrane is carried in float32 between steps).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from .backend import SURROGATE_CODES
from .spiking import SpikeConfig, nan_spikes_

__all__ = ["lif_sequence_triton"]

_BLOCK = 128


@triton.jit
def _surrogate(u, k, CODE: tl.constexpr):
    """``g(u)`` of :mod:`spikeDE.surrogate` (the code selects the function)."""
    if CODE == 0:
        z = 1.5707963267948966 * k * u
        g = (k / 2) / (1 + z * z)
    elif CODE == 1:
        sig = 1 / (1 + tl.exp(-k * u))
        g = k * sig * (1 - sig)
    elif CODE == 2:
        d = 1 + k * tl.abs(u)
        g = (k / 2) / (d * d)
    elif CODE == 3:
        g = k * tl.maximum(1 - k * tl.abs(u), 0.0)
    elif CODE == 4:
        g = tl.where(tl.abs(u) < 1 / k, k / 2, 0.0)
    else:
        ku = k * u
        g = (k * 0.5641895835477563) * tl.exp(-(ku * ku))
    return g


@triton.jit
def _lif_forward(X, H, S, V, TAU, THETA, T, D, v_reset,
                 LEAK: tl.constexpr, ZERO: tl.constexpr, F64: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < D
    tau = tl.load(TAU)  # the compute dtype (float64, or float32 for float32 / bfloat16 storage)
    theta = tl.load(THETA)
    v = tl.zeros([BLOCK], dtype=tau.dtype)
    for t in range(T):
        ptr = t * D + offs
        x = tl.load(X + ptr, mask=mask, other=0.0).to(v.dtype)
        if LEAK:
            d = x - v
        else:
            d = x
        if F64:
            h = v + d / tau
        else:
            h = v + tl.math.div_rn(d, tau)
        s = tl.where(h >= theta, 1.0, 0.0).to(v.dtype)
        if ZERO:
            v = h - h * s
            v = v + v_reset * s
        else:
            v = tl.where(s > 0, h - theta, h)  # h - theta s, also for theta = +inf (never fires)
        tl.store(H + ptr, h.to(H.dtype.element_ty), mask=mask)
        tl.store(S + ptr, s.to(S.dtype.element_ty), mask=mask)
        tl.store(V + ptr, v.to(V.dtype.element_ty), mask=mask)


@triton.jit
def _lif_backward(X, H, S, V, GS, GV, DX, PART, TAU, THETA, T, D, v_reset, k,
                  LEAK: tl.constexpr, ZERO: tl.constexpr, DETACH: tl.constexpr, HAS_GS: tl.constexpr,
                  HAS_GV: tl.constexpr, CODE: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < D
    tau = tl.load(TAU)  # the compute dtype
    theta = tl.load(THETA)
    zero = tl.zeros([BLOCK], dtype=tau.dtype)
    if LEAK:
        a = 1 - 1 / tau
    else:
        a = tau / tau
    lam_next = zero
    acc_tau = zero
    acc_theta = zero
    for i in range(T):
        t = T - 1 - i
        ptr = t * D + offs
        h = tl.load(H + ptr, mask=mask, other=0.0).to(zero.dtype)
        s = tl.load(S + ptr, mask=mask, other=0.0).to(zero.dtype)
        g = _surrogate(h - theta, k, CODE)
        lam_v = a * lam_next
        if HAS_GV:
            lam_v += tl.load(GV + ptr, mask=mask, other=0.0).to(zero.dtype)
        if ZERO:
            m = 1 - s
            if not DETACH:
                m += (v_reset - h) * g
        else:
            if DETACH:
                m = zero + 1
            else:
                m = 1 - theta * g
        lam_h = lam_v * m
        lam_s = zero
        if HAS_GS:
            gs = tl.load(GS + ptr, mask=mask, other=0.0).to(zero.dtype)
            lam_h += gs * g
            lam_s += gs
        if not DETACH:
            if ZERO:
                lam_s += lam_v * (v_reset - h)
            else:
                lam_s -= lam_v * theta
        acc_theta -= lam_s * g
        if not ZERO:
            acc_theta -= lam_v * s
        x = tl.load(X + ptr, mask=mask, other=0.0).to(zero.dtype)
        if LEAK:
            first = t == 0
            v_prev = tl.load(V + (t - 1 + first) * D + offs, mask=mask, other=0.0).to(zero.dtype)
            drive = x - tl.where(first, 0.0, v_prev)
        else:
            drive = x
        acc_tau += lam_h * drive
        tl.store(DX + ptr, (lam_h / tau).to(DX.dtype.element_ty), mask=mask)
        lam_next = lam_h
    acc_tau = tl.where(mask, acc_tau, 0.0)
    acc_theta = tl.where(mask, acc_theta, 0.0)
    tl.store(PART + pid * 2, tl.sum(acc_tau, axis=0))
    tl.store(PART + pid * 2 + 1, tl.sum(acc_theta, axis=0))


def _scalar(p: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``p`` as a 1-element tensor in the kernels' compute dtype (float64 for float64 storage, else float32)."""
    dtype = torch.float64 if like.dtype == torch.float64 else torch.float32
    return p.detach().to(device=like.device, dtype=dtype).reshape(1).contiguous()


class _LIFSequenceTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, tau, theta, leak, cfg):
        T, D = x.shape
        H, S, V = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
        tau_s, th_s = _scalar(tau, x), _scalar(theta, x)
        grid = (triton.cdiv(D, _BLOCK),)
        if T > 0 and D > 0:
            _lif_forward[grid](x, H, S, V, tau_s, th_s, T, D, float(cfg.v_reset), LEAK=bool(leak),
                               ZERO=cfg.reset == "zero", F64=x.dtype == torch.float64, BLOCK=_BLOCK)
        nan_spikes_(S, H)  # non-finite charge -> NaN spike, as on the PyTorch path
        ctx.save_for_backward(x, H, S, V, tau, theta)
        ctx.set_materialize_grads(False)
        ctx.leak, ctx.cfg = leak, cfg
        return S, V

    @staticmethod
    def backward(ctx, gS, gV):
        x, H, S, V, tau, theta = ctx.saved_tensors
        cfg, leak = ctx.cfg, ctx.leak
        T, D = x.shape
        need_x, need_tau, need_theta = ctx.needs_input_grad[:3]
        dx = torch.empty_like(x)
        grid = (triton.cdiv(D, _BLOCK),)
        acc = torch.float64 if x.dtype == torch.float64 else torch.float32
        part = torch.zeros(max(grid[0], 1), 2, dtype=acc, device=x.device)
        tau_s, th_s = _scalar(tau, x), _scalar(theta, x)
        if T > 0 and D > 0:
            gs = gS.contiguous() if gS is not None else x
            gv = gV.contiguous() if gV is not None else x
            _lif_backward[grid](x, H, S, V, gs, gv, dx, part, tau_s, th_s, T, D, float(cfg.v_reset),
                                float(cfg.scale), LEAK=bool(leak), ZERO=cfg.reset == "zero",
                                DETACH=bool(cfg.detach_reset), HAS_GS=gS is not None, HAS_GV=gV is not None,
                                CODE=SURROGATE_CODES[cfg.surrogate.name], BLOCK=_BLOCK)
        else:
            dx.zero_()
        sums = part.sum(0)
        dtau = dtheta = None
        if need_tau:
            tau_f = tau_s[0]
            dtau = (-sums[0] / (tau_f * tau_f)).to(tau.dtype).reshape(tau.shape)
        if need_theta:
            dtheta = sums[1].to(theta.dtype).reshape(theta.shape)
        return (dx if need_x else None), dtau, dtheta, None, None


def lif_sequence_triton(x: torch.Tensor, tau: torch.Tensor, theta: torch.Tensor, leak: bool, cfg: SpikeConfig):
    """``(S, V)`` of :func:`spikeDE.dynamics.lif.lif_sequence` from the fused Triton kernels (no threshold noise)."""
    if cfg.noise is not None:
        raise ValueError("the Triton LIF kernel has no threshold noise; use the PyTorch path")
    if cfg.surrogate.name not in SURROGATE_CODES:
        raise ValueError(f"the Triton LIF kernel has no surrogate {cfg.surrogate.name!r}")
    return _LIFSequenceTriton.apply(x.contiguous(), tau, theta, bool(leak), cfg)
