r"""Integer-order LIF / IF dynamics: a fused multi-step kernel with a hand-written backward, and one step.

The discrete neuron (input ``X_t`` produces the spike ``S_t`` of the same step, ``V_0 = 0``):

    ``H_t = V_{t-1} + (X_t - V_{t-1}) / tau``   (LIF; IF: ``H_t = V_{t-1} + X_t / tau``)
    ``S_t = Heaviside(H_t - theta)``,  ``V_t = H_t - theta S_t``  (or ``v_reset``, see :mod:`.spiking`)

with ``tau`` already divided by the step (``tau / dt``). The expression is evaluated exactly in this form and
order (``X - V``, divided by ``tau``, added to ``V``), so for ``dt = 1`` the result is bit for bit the standard
discrete LIF neuron.

Backward (adjoint, reverse time), with ``a = dH_{t+1}/dV_t = 1 - lambda/tau``:

    ``lambda_V_t = gV_t + a lambda_H_{t+1}``,   ``lambda_H_t = lambda_V_t m_t + q_t``,
    ``dL/dX_t = lambda_H_t / tau``,   ``dL/dtau = -sum_t lambda_H_t (X_t - lambda V_{t-1}) / tau^2``,

one fused multiply-add per step (``m``, ``q`` from :func:`.spiking.adjoint_factors`).
"""
from __future__ import annotations

import torch

from .backend import SURROGATE_CODES, use_triton
from .spiking import SpikeConfig, adjoint_factors, nan_spikes_, threshold_grad

__all__ = ["lif_sequence", "lif_step", "fire_and_reset", "fire_reset_rows"]


def fire_reset_rows(H, S, V, theta, cfg: SpikeConfig, thr_rows=None):
    """Per-step closures of spike and reset on preallocated rows (shared by the multi-step kernels).

    Returns ``step(t)``: ``S[t] = H[t] >= theta`` (or the noisy threshold row), then
    ``V[t] = H[t] - theta S[t]`` (subtract) or ``H[t] - H[t] S[t] (+ v_reset S[t])`` (zero; exactly ``H`` or
    ``v_reset``). Two or three fused tensor operations, no allocation.
    """
    th_t = torch.tensor(float(theta), dtype=H[0].dtype, device=H[0].device)
    th = float(theta)
    vr = cfg.v_reset
    zero = cfg.reset == "zero"
    never = th == float("inf") and thr_rows is None  # theta = inf: no spike, V = H (not H - inf * 0)

    def step(t):
        h, s = H[t], S[t]
        torch.ge(h, th_t if thr_rows is None else thr_rows[t], out=s)
        if never:
            V[t].copy_(h)
        elif zero:
            torch.addcmul(h, h, s, value=-1.0, out=V[t])
            if vr != 0.0:
                V[t].add_(s, alpha=vr)
        else:
            torch.sub(h, s, alpha=th, out=V[t])

    return step


_ROW_BLOCK = 256


def _row_blocks(T: int) -> list:
    """``(start, end)`` of consecutive blocks of at most :data:`_ROW_BLOCK` time steps."""
    return [(s, min(s + _ROW_BLOCK, T)) for s in range(0, T, _ROW_BLOCK)]


class _LIFSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, tau, theta, leak, cfg):
        T, D = x.shape
        tau_t = tau.detach().to(x.dtype)
        H, S, V = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
        thr = None if cfg.noise is None else float(theta) - cfg.noise.reshape(T, D).to(x.dtype)
        v = x.new_zeros(D)
        tmp = x.new_empty(D)
        for s, e in _row_blocks(T):  # row views of one block at a time (views of all T rows cost ~1 KiB a step)
            Hr, Vr, xr = H[s:e].unbind(0), V[s:e].unbind(0), x[s:e].unbind(0)
            fire = fire_reset_rows(Hr, S[s:e].unbind(0), Vr, theta, cfg, None if thr is None else thr[s:e].unbind(0))
            for t in range(e - s):
                if leak:
                    torch.sub(xr[t], v, out=tmp)
                    torch.addcdiv(v, tmp, tau_t, out=Hr[t])
                else:
                    torch.addcdiv(v, xr[t], tau_t, out=Hr[t])
                fire(t)
                v = Vr[t]
        nan_spikes_(S, H)  # non-finite charge -> NaN spike (never a silent 0)
        ctx.save_for_backward(x, H, S, V, tau, theta)
        ctx.set_materialize_grads(False)  # an unused output (S or V) gets None, not zeros
        ctx.leak, ctx.cfg = leak, cfg
        return S, V

    @staticmethod
    def backward(ctx, gS, gV):
        x, H, S, V, tau, theta = ctx.saved_tensors
        cfg, leak = ctx.cfg, ctx.leak
        th, tau_f = float(theta), float(tau)
        a = 1.0 - 1.0 / tau_f if leak else 1.0
        T = x.shape[0]
        need_x, need_tau, need_theta = ctx.needs_input_grad[:3]
        sg, m, q = adjoint_factors(H, S, th, cfg, gS)
        # lambda_H_t = c_t + mm_t lambda_H_{t+1}, c = gV m + q, mm = a m (m = 1: mm = a), in place in L.
        if m is None:
            L = q if q is not None else torch.zeros_like(x)
            if gV is not None:
                L += gV
        else:
            L = gV * m if gV is not None else torch.zeros_like(x)
            if q is not None:
                L += q
        nxt = None  # lambda_H_{t+1}
        for s, e in reversed(_row_blocks(T)):
            Lr = L[s:e].unbind(0)
            mr = None if m is None else (m[s:e] * a).unbind(0)
            for t in range(e - s - 1, -1, -1):
                if nxt is not None:
                    if mr is None:
                        torch.add(Lr[t], nxt, alpha=a, out=Lr[t])
                    else:
                        torch.addcmul(Lr[t], mr[t], nxt, out=Lr[t])
                nxt = Lr[t]
        dtau = dtheta = None
        if need_theta:
            lam_V = torch.zeros_like(x) if gV is None else gV.clone()
            lam_V[:-1] += a * L[1:]
            dtheta = threshold_grad(H, S, sg, lam_V, th, cfg, gS).to(theta.dtype).reshape(theta.shape)
        if need_tau:
            v_prev = torch.cat([V.new_zeros(1, V.shape[1]), V[:-1]])
            drive = x - v_prev if leak else x
            dtau = -(L * drive).sum() / (tau_f * tau_f)
            dtau = dtau.to(tau.dtype).reshape(tau.shape)
        dx = L.div_(tau.to(x.dtype)) if need_x else None
        return dx, dtau, dtheta, None, None


def lif_sequence(x: torch.Tensor, tau: torch.Tensor, theta: torch.Tensor, leak: bool, cfg: SpikeConfig):
    """Spikes and membranes ``(S, V)``, both ``[T, D]``, of the LIF (``leak``) or IF neuron driven by ``x``.

    ``tau`` (already ``tau / dt``) and ``theta`` are 0-d tensors (learnable or not). CUDA tensors run the fused
    Triton kernels of :mod:`.triton_lif` when ``triton`` is installed (see :mod:`.backend`).
    """
    if use_triton(x, supported=cfg.noise is None and cfg.surrogate.name in SURROGATE_CODES):
        from .triton_lif import lif_sequence_triton
        return lif_sequence_triton(x, tau, theta, leak, cfg)
    return _LIFSequence.apply(x.contiguous(), tau, theta, bool(leak), cfg)


class _StepSpike(torch.autograd.Function):
    """``S = Heaviside(H - theta + xi)`` with the surrogate backward of :mod:`.spiking` (one step)."""

    @staticmethod
    def forward(ctx, h, theta, xi, cfg):
        thr = theta if xi is None else theta - xi
        s = nan_spikes_((h >= thr).to(h.dtype), h)  # non-finite charge -> NaN spike (never a silent 0)
        u = h - theta
        if xi is not None and cfg.noise_in_grad:
            u = u + xi
        ctx.save_for_backward(u)
        ctx.cfg = cfg
        ctx.theta_shape = theta.shape
        return s

    @staticmethod
    def backward(ctx, g):
        (u,) = ctx.saved_tensors
        gu = g * ctx.cfg.surrogate.derivative(u, ctx.cfg.scale)
        dtheta = None
        if ctx.needs_input_grad[1]:  # a per-neuron threshold (adaptive neurons) keeps its shape
            dtheta = -gu if tuple(ctx.theta_shape) == tuple(gu.shape) else (-gu).sum().reshape(ctx.theta_shape)
        return gu, dtheta, None, None


def fire_and_reset(h: torch.Tensor, theta: torch.Tensor, cfg: SpikeConfig, xi=None):
    """One step of firing and reset with autograd: ``(S, V)`` from the charge ``h`` (see :mod:`.spiking`)."""
    s = _StepSpike.apply(h, theta, xi, cfg)
    sr = s.detach() if cfg.detach_reset else s
    if theta.dim() == 0 and bool(torch.isinf(theta)):
        v = h  # theta = inf: never fires (h - inf * 0 would be nan)
    elif cfg.reset == "subtract":
        v = h - theta * sr
    else:
        v = h * (1.0 - sr) + cfg.v_reset * sr
    return s, v


def lif_step(x: torch.Tensor, v: torch.Tensor, tau: torch.Tensor, theta: torch.Tensor, leak: bool,
             cfg: SpikeConfig, xi=None):
    """One LIF/IF step ``(S_t, V_t)`` from ``X_t`` and ``V_{t-1}`` (autograd), identical to the multi-step kernel."""
    tau = tau.to(x.dtype)
    h = v + (x - v) / tau if leak else v + x / tau
    return fire_and_reset(h, theta.to(x.dtype), cfg, xi)
