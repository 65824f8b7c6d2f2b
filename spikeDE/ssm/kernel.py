r"""Convolution kernel of the Grünwald–Letnikov discretised fractional state-space model, by contour FFT.

The model (one channel, diagonal complex state ``h`` of ``M`` modes, step ``Delta``, order ``0 < a <= 1``):

    ``D^a h = A h + B x``,  ``y = 2 Re(C h)``

discretised with the implicit (backward) Grünwald–Letnikov rule

    ``sum_{j=0}^{n} w_j h_{n-j} = Delta^a (A h_n + B x_n)``,  ``(1 - z)^a = sum_j w_j z^j``.

In ``z`` (``x_n = sum x_n z^n``) every mode has the transfer function

    ``k_m(z) = c_m / ((1 - z)^a - lambda_m)``,  ``lambda_m = Delta^a A_m``,  ``c_m = Delta^a B_m C_m``,

and the layer's (real) kernel ``K_n = 2 Re sum_m [z^n] k_m(z)`` has the generating function

    ``K(z) = sum_m  c_m / (g - lambda_m) + conj(c_m) / (g - conj(lambda_m))``,  ``g = (1 - z)^a``.

``K_n`` are read off the Taylor coefficients by sampling ``K`` on ``P`` points of the circle ``|z| = r < 1``
(``z_k = r e^{-2 pi i k / P}``) and one inverse real FFT: ``r^n K_n + r^{n+P} K_{n+P} + ... = irfft(K(z_k))_n``.
The aliased terms are ``r^P = delta`` times smaller; the round-off of the FFT is amplified by ``r^{-n} <=
delta^{-L/P}``. Balancing the two gives ``delta = eps^{P/(P+L)}`` (``eps`` = float64 unit round-off), i.e.
a relative error ``~ eps^{1/2} ~ 1e-8`` for ``P = L`` and ``~ eps^{2/3} ~ 1e-11`` for ``P = 2L``.

Cost: the sum over modes is a Cauchy-type sum evaluated for ``H x (P/2 + 1)`` points (``g`` is shared by all
modes, the conjugate pair shares one denominator ``(g - lambda)(g - conj(lambda))``): ``O(H M P)`` time,
evaluated in chunks of points so that memory stays ``O(H P)`` (never ``O(H M L)``), in the forward and in
the hand-written backward pass. Everything runs in float64 (complex128).

Stability: for ``Re(A) < 0`` and ``0 < a <= 1``, ``(1 - z)^a`` (``|z| <= 1``) stays in the sector
``|arg| <= a pi / 2`` while ``lambda`` lies outside it, so ``K(z)`` is analytic on the closed unit disc and
``K_n -> 0``; for ``a < 1`` the decay is the power law ``K_n ~ -w_n * 2 Re sum_m c_m / lambda_m^2 ~ n^{-1-a}``.
"""
from __future__ import annotations

import math

import torch

__all__ = ["gl_ssm_kernel", "cauchy_pairs", "contour_radius"]

_F64 = torch.float64
_C128 = torch.complex128
_EPS64 = float(torch.finfo(torch.float64).eps)
_CHUNK_ELEMS = 1 << 17  # complex entries per (H, M, points) chunk: ~2 MiB, stays in cache


def _chunk(H: int, M: int) -> int:
    return max(1, _CHUNK_ELEMS // max(1, H * M))


def _cauchy_forward(g: torch.Tensor, lam: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    S, H, M = c.shape
    K = g.shape[-1]
    out = torch.empty(S, H, K, dtype=_C128, device=g.device)
    # 2 Re(c) g - 2 Re(c conj(lam)) over (g - lam)(g - conj(lam)), summed over modes by a batched product.
    p = (2.0 * c.real).transpose(0, 1)  # [H, S, M]
    t = (2.0 * (c * lam.conj()).real).transpose(0, 1)
    two_re_lam = (2.0 * lam.real).unsqueeze(-1)
    abs2_lam = (lam.real.square() + lam.imag.square()).unsqueeze(-1)
    pt = torch.cat([p, t], 1)  # [H, 2S, M]
    step = _chunk(H, M)
    for k0 in range(0, K, step):
        gk = g[:, k0:k0 + step]
        kc = gk.shape[-1]
        den = (gk.square().unsqueeze(1) - two_re_lam * gk.unsqueeze(1)) + abs2_lam  # [H, M, kc]
        inv = torch.view_as_real(den.reciprocal()).reshape(H, M, 2 * kc)
        sums = torch.view_as_complex(torch.bmm(pt, inv).reshape(H, 2 * S, kc, 2))  # [H, 2S, kc]
        out[:, :, k0:k0 + kc] = (gk.unsqueeze(1) * sums[:, :S] - sums[:, S:]).transpose(0, 1)
    return out


class _CauchyPairs(torch.autograd.Function):
    """``G[s, h, k] = sum_m c[s,h,m] / (g[h,k] - lam[h,m]) + conj(c[s,h,m]) / (g[h,k] - conj(lam[h,m]))``."""

    @staticmethod
    def forward(ctx, g, lam, c):
        ctx.save_for_backward(g, lam, c)
        return _cauchy_forward(g, lam, c)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, U):
        # PyTorch's complex convention: grad = dL/dRe + i dL/dIm. For a holomorphic dependence s(z) the
        # vector-Jacobian product is U conj(ds/dz); for an anti-holomorphic one s(conj z) it is conj(U) ds/dconj(z).
        g, lam, c = ctx.saved_tensors
        S, H, M = c.shape
        K = g.shape[-1]
        need_g, need_lam, need_c = ctx.needs_input_grad
        U = U.to(_C128)
        gc = torch.zeros(S, H, M, dtype=_C128, device=g.device) if (need_c or need_lam) else None
        glam_s = torch.zeros(S, H, M, dtype=_C128, device=g.device) if need_lam else None
        gg = torch.empty(H, K, dtype=_C128, device=g.device) if need_g else None
        lam_e, lamc_e = lam.unsqueeze(-1), lam.conj().unsqueeze(-1)
        c_h = c.transpose(0, 1)  # [H, S, M]
        step = _chunk(H, M)
        for k0 in range(0, K, step):
            gk = g[:, k0:k0 + step].unsqueeze(1)  # [H, 1, kc]
            Uk = U[:, :, k0:k0 + step].transpose(0, 1)  # [H, S, kc]
            inv1 = (gk - lam_e).reciprocal()  # [H, M, kc]
            inv2 = (gk - lamc_e).reciprocal()
            if need_c:
                gc += (torch.bmm(Uk, inv1.conj().transpose(1, 2))
                       + torch.bmm(Uk, inv2.conj().transpose(1, 2)).conj()).transpose(0, 1)
            sq1, sq2 = inv1.square(), inv2.square()
            if need_lam:
                glam_s += (torch.bmm(Uk, sq1.conj().transpose(1, 2))
                           + torch.bmm(Uk, sq2.conj().transpose(1, 2)).conj()).transpose(0, 1)
            if need_g:
                d = torch.bmm(c_h, sq1) + torch.bmm(c_h.conj(), sq2)  # [H, S, kc]
                gg[:, k0:k0 + Uk.shape[-1]] = -(Uk * d.conj()).sum(1)
        glam = (c.conj() * glam_s).sum(0) if need_lam else None
        return gg, glam, (gc if need_c else None)


def cauchy_pairs(g: torch.Tensor, lam: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    r"""Conjugate-pair Cauchy sum ``G[s,h,k] = sum_m c/(g - lam) + conj(c)/(g - conj(lam))``, chunked.

    ``g``: ``[H, K]``, ``lam``: ``[H, M]``, ``c``: ``[S, H, M]`` (complex; computed in complex128).
    Memory ``O(S H K)``: the ``[H, M, K]`` terms are never stored, in the forward or the backward pass.
    """
    if g.dim() != 2 or lam.dim() != 2 or c.dim() != 3:
        raise ValueError(f"cauchy_pairs: expected g [H, K], lam [H, M], c [S, H, M], got "
                         f"{tuple(g.shape)}, {tuple(lam.shape)}, {tuple(c.shape)}")
    if g.shape[0] != lam.shape[0] or tuple(c.shape[1:]) != tuple(lam.shape):
        raise ValueError(f"cauchy_pairs: shapes do not match: g {tuple(g.shape)}, lam {tuple(lam.shape)}, "
                         f"c {tuple(c.shape)}")
    return _CauchyPairs.apply(g.to(_C128), lam.to(_C128), c.to(_C128))


def contour_radius(length: int, points: int) -> float:
    """Radius ``r`` with ``r^P = eps^{P/(P+L)}``: balances aliasing (``r^P``) and round-off (``eps r^{-L}``)."""
    return math.exp(math.log(_EPS64) / (points + length))


def gl_ssm_kernel(lam: torch.Tensor, c: torch.Tensor, alpha: torch.Tensor, length: int, *,
                  oversample: int = 1) -> torch.Tensor:
    r"""Real kernel ``K[s, h, n] = 2 Re sum_m [z^n] c[s,h,m] / ((1 - z)^{alpha_h} - lam[h,m])``, ``n < length``.

    Args:
        lam: ``[H, M]`` complex, ``Delta^a A`` with ``Re < 0`` (stable).
        c: ``[S, H, M]`` complex, ``Delta^a B C`` for each of ``S`` outputs.
        alpha: order(s), shape ``()`` or ``[H]``, in ``(0, 1]`` (differentiable).
        length: number of lags ``L``.
        oversample: contour points ``P = oversample * L`` (1: relative error ~1e-8, 2: ~1e-10).

    Returns ``[S, H, L]`` float64. Differentiable in ``lam``, ``c`` and ``alpha``; ``O(S H M L)`` time and
    ``O(S H L)`` memory.
    """
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"gl_ssm_kernel: length must be an int >= 1, got {length!r}")
    if isinstance(oversample, bool) or oversample not in (1, 2, 3, 4):
        raise ValueError(f"gl_ssm_kernel: oversample must be 1, 2, 3 or 4, got {oversample!r}")
    H = lam.shape[0]
    P = max(2, oversample * length)
    r = contour_radius(length, P)
    dev = lam.device
    k = torch.arange(P // 2 + 1, dtype=_F64, device=dev)
    z = torch.polar(torch.full_like(k, r), -2.0 * math.pi * k / P)
    log1mz = torch.log1p(-z)  # [K]
    a = alpha.to(_F64)
    if a.dim() == 0:
        g = torch.exp(a * log1mz).expand(H, -1)
    else:
        g = torch.exp(a.reshape(-1, 1) * log1mz)
    G = cauchy_pairs(g, lam, c)
    coef = torch.fft.irfft(G, n=P)[..., :length]
    n = torch.arange(min(length, P), dtype=_F64, device=dev)
    return coef * torch.exp(-math.log(r) * n)
