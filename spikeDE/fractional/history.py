r"""Building blocks of history sums: the causal convolution ``y_n = sum_{j=0}^{n} k_{n-j} x_j``.

History-based fractional schemes spend their time in this convolution. These pure functions give its
pieces in matrix form, so that callers evaluate it with a few large matrix products instead of a Python
loop over the history:

* :func:`toeplitz_block`: the block ``K[r, c] = k_{(row0 + r) - (col0 + c)}`` (zero for negative lags or lags
  past the kernel) of the lower-triangular Toeplitz matrix. Far history of a block of ``C`` steps is one
  GEMM ``toeplitz_block(k, s, C, 0, s) @ x[:s]``; near history stays inside the block.
* :func:`causal_conv`: the whole convolution of a known sequence, by FFT (``O(T log T)`` per channel), for
  linear problems, adjoint (reverse-time) sums and tests. ``reverse=True`` gives the transpose
  ``z_j = sum_{n>=j} k_{n-j} x_n``.
* :func:`decay_matrix`: ``E[i, m] = exp(-rates[m] * lags[i])``, the propagator of sum-of-exponentials modes.
"""
from __future__ import annotations

import torch

__all__ = ["toeplitz_block", "causal_conv", "decay_matrix"]


def toeplitz_block(kernel: torch.Tensor, row0: int, rows: int, col0: int, cols: int) -> torch.Tensor:
    """``K[r, c] = kernel[(row0 + r) - (col0 + c)]`` where ``0 <= lag < len(kernel)``, else 0.

    Differentiable with respect to ``kernel``; shape ``[rows, cols]``, dtype/device of ``kernel``.
    """
    if kernel.dim() != 1:
        raise ValueError(f"kernel must be 1-D, got shape {tuple(kernel.shape)}")
    if rows < 0 or cols < 0:
        raise ValueError(f"rows and cols must be >= 0, got {rows}, {cols}")
    dev = kernel.device
    lag = (row0 + torch.arange(rows, device=dev)).unsqueeze(1) - (col0 + torch.arange(cols, device=dev))
    valid = (lag >= 0) & (lag < kernel.numel())
    padded = torch.cat([kernel, kernel.new_zeros(1)])
    return padded[torch.where(valid, lag, kernel.numel())]


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
