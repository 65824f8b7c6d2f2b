r"""Triton kernels for the within-block part of the fractional kernel (:mod:`.fractional`).

The fractional membrane ``H_t = c_X X_t - sum_k K_k V_{t-k}`` is evaluated block by block (``C`` steps). The
history that lies before a block (far field: exact memory by a block Toeplitz GEMM, SOE memory through the
decaying modes, and the previous block for SOE) is added to the block's rows by the PyTorch code with one or
two GEMMs per block, on any device. What remains is sequential: the lags inside the block,

    ``H_t -= sum_{s <= j < t} K_{t-j} V_j``,  then spike and reset  (forward, ``t = s .. e-1``),
    ``R_t -= sum_{t < j < e} K_{j-t} L_j``,   ``L_t = R_t m_t + q_t``  (backward, ``t = e-1 .. s``),

(``R``: adjoint of the membranes, ``L``: adjoint of the charges, ``m``/``q`` of :mod:`.spiking`). One launch
per block runs these ``C`` steps for all neurons, each program owning ``BLOCK`` neurons and keeping its rows on
chip, instead of ``C`` small operations per step. Sums run in another order than the PyTorch path's
sub-block GEMMs, so results agree to rounding (float64: ~1e-15), not bit for bit.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["block_forward", "block_backward", "compute_theta"]

_BLOCK = 128


@triton.jit
def _block_fwd(H, S, V, K, THETA, s, n, D, v_reset, ZERO: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < D
    theta = tl.load(THETA)  # the compute dtype (float64, or float32 for float32 / bfloat16 storage)
    for i in range(n):
        row = (s + i) * D + offs
        h = tl.load(H + row, mask=mask, other=0.0).to(theta.dtype)
        for j in range(i):
            kk = tl.load(K + i - j).to(theta.dtype)
            vj = tl.load(V + (s + j) * D + offs, mask=mask, other=0.0).to(theta.dtype)
            h -= kk * vj
        sp = tl.where(h >= theta, 1.0, 0.0).to(theta.dtype)
        if ZERO:
            v = h - h * sp
            v = v + v_reset * sp
        else:
            v = tl.where(sp > 0, h - theta, h)  # h - theta s, also for theta = +inf (never fires)
        tl.store(H + row, h.to(H.dtype.element_ty), mask=mask)
        tl.store(S + row, sp.to(S.dtype.element_ty), mask=mask)
        tl.store(V + row, v.to(V.dtype.element_ty), mask=mask)


@triton.jit
def _block_bwd(R, L, M, Q, K, s, n, D, HAS_M: tl.constexpr, HAS_Q: tl.constexpr, F64: tl.constexpr,
               BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < D
    for a in range(n):
        i = n - 1 - a
        row = (s + i) * D + offs
        if F64:
            r = tl.load(R + row, mask=mask, other=0.0).to(tl.float64)
        else:
            r = tl.load(R + row, mask=mask, other=0.0).to(tl.float32)
        for j in range(i + 1, n):
            kk = tl.load(K + j - i).to(r.dtype)
            lj = tl.load(L + (s + j) * D + offs, mask=mask, other=0.0).to(r.dtype)
            r -= kk * lj
        tl.store(R + row, r.to(R.dtype.element_ty), mask=mask)
        if HAS_M:
            lam = r * tl.load(M + row, mask=mask, other=0.0).to(r.dtype)
            if HAS_Q:
                lam += tl.load(Q + row, mask=mask, other=0.0).to(r.dtype)
            tl.store(L + row, lam.to(L.dtype.element_ty), mask=mask)


def compute_theta(theta: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The threshold as the 1-element tensor :func:`block_forward` takes (compute dtype; once per sequence)."""
    dtype = torch.float64 if like.dtype == torch.float64 else torch.float32
    return theta.detach().to(device=like.device, dtype=dtype).reshape(1)


def block_forward(H, S, V, K, theta, s: int, e: int, cfg) -> None:
    """Rows ``s .. e-1`` of ``H`` (far history already subtracted), ``S`` and ``V``, in place; ``theta`` from
    :func:`compute_theta`."""
    D = H.shape[1]
    if e <= s or D == 0:
        return
    _block_fwd[(triton.cdiv(D, _BLOCK),)](H, S, V, K, theta, s, e - s, D, float(cfg.v_reset),
                                          ZERO=cfg.reset == "zero", BLOCK=_BLOCK)


def block_backward(R, L, m, q, K, s: int, e: int) -> None:
    """Rows ``s .. e-1`` of ``R`` (later blocks already subtracted) and ``L = R m + q`` in place; with ``m``
    ``None`` the adjoint needs no factor and ``L`` is ``R`` itself (``q`` already added)."""
    D = R.shape[1]
    if e <= s or D == 0:
        return
    _block_bwd[(triton.cdiv(D, _BLOCK),)](R, L, m if m is not None else R, q if q is not None else R, K, s, e - s,
                                          D, HAS_M=m is not None, HAS_Q=q is not None,
                                          F64=R.dtype == torch.float64, BLOCK=_BLOCK)
