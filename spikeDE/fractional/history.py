r"""The one history engine: the operators of the causal convolution ``y_n = sum_{j=0}^{n} k_{n-j} x_j``.

Every history-based fractional computation of spikeDE spends its time in this convolution, and all of them
evaluate it with the operators of this module, through thin drivers: the online push of ``fdeint``
(:class:`spikeDE.fractional.memory.HistorySum`), the fused spike-and-reset kernels and streaming steps of the
neurons (:mod:`spikeDE.dynamics.fractional`) and the streaming step of the fractional SSM
(:mod:`spikeDE.ssm.fractional_ssm`). Time is cut in blocks of ``C`` steps; never a Python loop over the history.

* **Near field, exact** (blocked Toeplitz): :func:`toeplitz_block` gives the block
  ``K[r, c] = k_{(row0 + r) - (col0 + c)}`` (zero for negative lags or lags past the kernel) of the
  lower-triangular Toeplitz matrix, for one kernel or a stack; :func:`lower_toeplitz` the whole ``n x n`` matrix
  as one strided view. The history of a block of ``C`` steps is one GEMM ``toeplitz_block(k, s, C, 0, s) @ x[:s]``.
* **Far field, sum of exponentials**: with ``k_j ~ sum_m w_m exp(-lambda_m j)`` for far lags (the construction
  is :func:`spikeDE.fractional.soe.far_field_soe`, shared by all drivers), the far history is ``M`` decaying
  modes. :func:`soe_block` gives their three propagators for blocks of ``C`` steps (:class:`SOEBlock`): a finished
  block enters the modes through ``absorb``, the modes decay by ``decay`` per block and reach the steps of a later
  block through ``emit``; the adjoint (reverse-time) pass uses the transposes.
* **Kernel gradients** (a learnable ``alpha``): ``dL/dk_j = sum_n <g_n, x_{n-j}>``, a lag correlation:
  :func:`lag_correlation` (whole sequences, banded block GEMMs) or :func:`scatter_lags` (from the blocks of
  ``g x^T`` that a blocked pass forms anyway).
* :func:`causal_conv`: the whole convolution of a known sequence, by FFT (``O(T log T)`` per channel), for
  linear problems, adjoint (reverse-time) sums and tests. ``reverse=True`` gives the transpose
  ``z_j = sum_{n>=j} k_{n-j} x_n``.
* :func:`decay_matrix`: ``E[i, m] = exp(-rates[m] * lags[i])``, the propagator of sum-of-exponentials modes.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["toeplitz_block", "lower_toeplitz", "SOEBlock", "soe_block", "lag_correlation", "scatter_lags",
           "causal_conv", "decay_matrix"]


def _lags(row0: int, rows: int, col0: int, cols: int, device) -> torch.Tensor:
    """``lag[r, c] = (row0 + r) - (col0 + c)``."""
    return (row0 + torch.arange(rows, device=device)).unsqueeze(1) - (col0 + torch.arange(cols, device=device))


def toeplitz_block(kernel: torch.Tensor, row0: int, rows: int, col0: int, cols: int) -> torch.Tensor:
    """``K[..., r, c] = kernel[..., (row0 + r) - (col0 + c)]`` where ``0 <= lag < kernel.shape[-1]``, else 0.

    ``kernel``: ``[L]`` or a stack ``[..., L]`` of kernels. Differentiable with respect to ``kernel``; shape
    ``[..., rows, cols]``, dtype/device of ``kernel``.
    """
    if kernel.dim() < 1:
        raise ValueError(f"kernel must be 1-D or a stack [..., L] of kernels, got shape {tuple(kernel.shape)}")
    if rows < 0 or cols < 0:
        raise ValueError(f"rows and cols must be >= 0, got {rows}, {cols}")
    n = kernel.shape[-1]
    lag = _lags(row0, rows, col0, cols, kernel.device)
    valid = (lag >= 0) & (lag < n)
    padded = torch.cat([kernel, kernel.new_zeros(kernel.shape[:-1] + (1,))], -1)
    return padded[..., torch.where(valid, lag, n)]


def lower_toeplitz(k: torch.Tensor, n: int) -> torch.Tensor:
    """``M[r, c] = k[r - c]`` for ``r >= c`` else 0 (``n x n``, ``k`` 1-D), one strided view of a padded copy."""
    kp = torch.cat([k.new_zeros(n - 1), k[:n], k.new_zeros(max(0, n - k.numel()))])
    return kp.as_strided((n, n), (1, 1)).flip(1)


class SOEBlock(NamedTuple):
    r"""Propagators of sum-of-exponentials modes over blocks of ``C`` steps (rates ``lambda [M]``).

    The modes ``Z_m`` of a sequence ``x`` hold ``sum_j exp(-lambda_m (e - j)) x_j`` over the absorbed values
    ``j < e`` (``e``: the end of the last absorbed block). Per block: ``Z <- decay * Z + absorb @ x_block``; the far
    history of the steps ``p = 0..C-1`` of a block that starts ``offset`` steps after ``e`` is
    ``sum_m w_m exp(-lambda_m (offset + p + e - j)) x_j = ((w * emit) @ Z)[p]``.
    """

    decay: torch.Tensor  # [M]     exp(-lambda C)
    absorb: torch.Tensor  # [M, C]  exp(-lambda (C - c)): the values of a finished block -> the modes
    emit: torch.Tensor  # [C, M]    exp(-lambda (offset + p)): the modes -> the steps of a later block


def soe_block(rates: torch.Tensor, block: int, offset: int, dtype=None, device=None) -> SOEBlock:
    """The :class:`SOEBlock` of ``rates`` ``[M]`` (or a stack ``[..., M]``: propagators ``[..., M]``,
    ``[..., M, C]``, ``[..., C, M]``), computed in float64 and returned in ``dtype`` (default that of ``rates``)."""
    r = rates.detach().to(device=device, dtype=torch.float64)
    i = torch.arange(block, dtype=torch.float64, device=r.device)
    dt = dtype or rates.dtype
    return SOEBlock(torch.exp(-r * block).to(dt), torch.exp(-r.unsqueeze(-1) * (block - i)).to(dt),
                    torch.exp(-(offset + i).unsqueeze(-1) * r.unsqueeze(-2)).to(dt))


def lag_correlation(a: torch.Tensor, b: torch.Tensor, max_lag: int, block: int = 256) -> torch.Tensor:
    """``c_k = sum_t sum_d a[t, d] b[t-k, d]`` for ``k = 0..max_lag`` (``a``, ``b``: ``[T, D]``).

    Banded and blocked: for each block of ``block`` rows of ``a`` one GEMM with the rows of ``b`` within
    ``max_lag`` before it, summed along the diagonals (:func:`scatter_lags`): ``O(T (max_lag + block) D)`` work in
    large matrix products, the order of the exact-memory forward pass it serves (an FFT along time was 3-25x
    slower for ``T <= 512`` on the CPU).
    """
    T = a.shape[0]
    out = torch.zeros(max_lag + 1, dtype=a.dtype, device=a.device)
    for s in range(0, T, block):
        e = min(s + block, T)
        lo = max(0, s - max_lag)
        scatter_lags(out, a[s:e] @ b[lo:e].T, s, lo)
    return out


def scatter_lags(out: torch.Tensor, vals: torch.Tensor, row0: int, col0: int, lo: int = 0) -> torch.Tensor:
    """``out[..., lag] += vals[p, ..., c]`` with ``lag = (row0 + p) - (col0 + c)``, for ``lo <= lag < out.shape[-1]``.

    ``vals``: ``[P, ..., W]``, e.g. the block ``g[rows] @ x[cols]^T`` of a kernel gradient
    ``dL/dk_j = sum_n <g_n, x_{n-j}>`` (with the kernels' axis in the middle). In place; returns ``out``.
    """
    P, W = vals.shape[0], vals.shape[-1]
    lag = _lags(row0, P, col0, W, out.device)
    ok = (lag >= lo) & (lag < out.shape[-1])
    v = (vals * ok.reshape((P,) + (1,) * (vals.dim() - 2) + (W,))).movedim(0, -2).reshape(out.shape[:-1] + (-1,))
    out.index_add_(out.dim() - 1, lag.clamp(0, out.shape[-1] - 1).reshape(-1), v)
    return out


def causal_conv(kernel: torch.Tensor, x: torch.Tensor, dim: int = 0, reverse: bool = False) -> torch.Tensor:
    """``y_n = sum_{j=0}^{n} kernel[n-j] x_j`` along ``dim`` (``reverse``: ``y_j = sum_{n>=j} kernel[n-j] x_n``).

    Uses a real FFT of length ``>= 2T`` (exact linear, not circular, convolution); entries of ``kernel``
    past ``T`` are ignored, a shorter kernel is zero-padded. Works for float32/float64 (computed in the
    input precision) and is differentiable in both arguments.
    """
    if kernel.dim() != 1:
        raise ValueError(f"kernel must be 1-D, got shape {tuple(kernel.shape)}")
    x_t = x.movedim(dim, -1)
    if reverse:
        x_t = x_t.flip(-1)
    T = x_t.shape[-1]
    k = kernel[:T].to(x.dtype)
    nfft = 1 << (2 * T - 1).bit_length()
    y = torch.fft.irfft(torch.fft.rfft(x_t, nfft) * torch.fft.rfft(k, nfft), nfft)[..., :T]
    if reverse:
        y = y.flip(-1)
    return y.movedim(-1, dim)


def decay_matrix(rates: torch.Tensor, lags: torch.Tensor) -> torch.Tensor:
    """``E[i, m] = exp(-rates[m] * lags[i])``: how much of mode ``m`` remains after ``lags[i]`` steps."""
    return torch.exp(-lags.to(rates.dtype).unsqueeze(-1) * rates)
