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
a relative error ``~ eps^{1/2}`` (measured 1e-8 to 1e-7 up to ``L = 65536``) for ``P = L`` and ``~ eps^{2/3}``
(measured 1e-11 to 1e-9) for ``P = 2L``.

Cost: the sum over modes is a Cauchy-type sum evaluated for ``H x (P/2 + 1)`` points (``g`` is shared by all
modes, the conjugate pair shares one denominator ``(g - lambda)(g - conj(lambda))``): ``O(H M P)`` time,
evaluated in chunks of points so that memory stays ``O(H P)`` (never ``O(H M L)``), in the forward and in
the hand-written backward pass. Everything runs in float64 (complex128).

Stability: for ``|arg A| > a pi / 2`` (the stability sector of the continuous mode; ``Re(A) < 0`` suffices),
``(1 - z)^a`` (``|z| <= 1``) stays in the sector ``|arg| <= a pi / 2`` while ``lambda`` lies outside it, so
``K(z)`` is analytic on the closed unit disc and ``K_n -> 0``; for ``a < 1`` the tail is the power law
``K_n ~ -w_n * 2 Re sum_m c_m / lambda_m^2 ~ n^{-1-a}``.
"""
from __future__ import annotations

import math

import torch

__all__ = ["gl_ssm_kernel", "cauchy_pairs", "contour_radius"]

_F64 = torch.float64
_C128 = torch.complex128
_EPS64 = float(torch.finfo(torch.float64).eps)
_CHUNK_ELEMS = 1 << 17  # complex entries per (H, M, points) chunk: ~2 MiB, stays in cache


def _chunks(H: int, M: int, K: int):
    step = max(1, _CHUNK_ELEMS // max(1, H * M))
    return [(k0, min(K, k0 + step)) for k0 in range(0, K, step)]


def _as_real_rows(z: torch.Tensor) -> torch.Tensor:
    """``[..., R, k]`` complex -> ``[..., R, 2k]`` real (interleaved re, im): a view for contiguous input."""
    return torch.view_as_real(z).reshape(*z.shape[:-1], 2 * z.shape[-1])


def _inverse_denominators(gk, a, b):
    """``R = 1 / (g^2 - a g + b)`` for one chunk of points: ``[H, M, kc]`` complex."""
    return ((gk * gk).unsqueeze(1) - a.unsqueeze(-1) * gk.unsqueeze(1) + b.unsqueeze(-1)).reciprocal()


class _PairSum(torch.autograd.Function):
    r"""``G[s, h, k] = sum_m (p[s,h,m] g[h,k] - t[s,h,m]) / (g[h,k]^2 - a[h,m] g[h,k] + b[h,m])``.

    ``g`` complex, ``p, t, a, b`` real. With ``p = 2 Re c``, ``t = 2 Re(c conj(lam))``, ``a = 2 Re lam``,
    ``b = |lam|^2`` this is ``sum_m c/(g - lam) + conj(c)/(g - conj(lam))`` (the two poles of a conjugate pair
    over one common denominator). Every sum over modes or points is a real batched matrix product with the
    chunk's ``R = 1/den`` (or ``R^2``); the ``[H, M, K]`` terms are recomputed chunk by chunk in the backward
    pass instead of being stored.
    """

    @staticmethod
    def forward(ctx, g, p, t, a, b):
        ctx.save_for_backward(g, p, t, a, b)
        S, H, M = p.shape
        K = g.shape[-1]
        pt = torch.cat([p, t], 0).transpose(0, 1)  # [H, 2S, M]
        out = torch.empty(S, H, K, dtype=g.dtype, device=g.device)
        for k0, k1 in _chunks(H, M, K):
            gk = g[:, k0:k1]
            R = _as_real_rows(_inverse_denominators(gk, a, b))  # [H, M, 2kc]
            sums = torch.view_as_complex(torch.bmm(pt, R).reshape(H, 2 * S, k1 - k0, 2)).transpose(0, 1)
            out[:, :, k0:k1] = gk * sums[:S] - sums[S:]
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, U):
        # grad convention: dL = Re(sum conj(U) dG); real theta: Re(sum conj(U) dG/dtheta); complex g
        # (holomorphic): U conj(dG/dg).  Re(sum_k V_k R_k) = real product of view_as_real(conj(V)) and R.
        g, p, t, a, b = ctx.saved_tensors
        S, H, M = p.shape
        K = g.shape[-1]
        need_g = ctx.needs_input_grad[0]
        Uh = U.transpose(0, 1)  # [H, S, K]
        gp, gt = torch.zeros_like(p.transpose(0, 1)), torch.zeros_like(p.transpose(0, 1))  # [H, S, M]
        x2, x1, x0 = (torch.zeros_like(gp) for _ in range(3))
        gg = torch.empty_like(g) if need_g else None
        ph, th = p.transpose(0, 1), t.transpose(0, 1)
        rows_r = ph.contiguous()
        rows_r2 = torch.cat([ph, th, ph * a.unsqueeze(1), th * a.unsqueeze(1)], 1)  # [H, 4S, M]
        for k0, k1 in _chunks(H, M, K):
            gk, Uk = g[:, k0:k1], Uh[:, :, k0:k1]
            R = _inverse_denominators(gk, a, b)
            R2 = R * R
            Rr, R2r = _as_real_rows(R), _as_real_rows(R2)
            ugc = Uk * gk.conj().unsqueeze(1)
            v1 = _as_real_rows(torch.cat([ugc, Uk], 1))  # conj of (conj(U) g, conj(U))
            re1 = torch.bmm(v1, Rr.transpose(1, 2))  # [H, 2S, M]
            gp += re1[:, :S]
            gt -= re1[:, S:]
            v2 = _as_real_rows(torch.cat([ugc * gk.conj().unsqueeze(1), ugc, Uk], 1))
            re2 = torch.bmm(v2, R2r.transpose(1, 2))  # [H, 3S, M]
            x2 += re2[:, :S]
            x1 += re2[:, S:2 * S]
            x0 += re2[:, 2 * S:]
            if need_g:
                kc = k1 - k0
                pr = torch.view_as_complex(torch.bmm(rows_r, Rr).reshape(H, S, kc, 2))
                r2 = torch.view_as_complex(torch.bmm(rows_r2, R2r).reshape(H, 4 * S, kc, 2))
                pr2, tr2, par2, tar2 = r2[:, :S], r2[:, S:2 * S], r2[:, 2 * S:3 * S], r2[:, 3 * S:]
                gkk = gk.unsqueeze(1)
                dG = pr - (2.0 * gkk * (gkk * pr2 - tr2) - (gkk * par2 - tar2))
                gg[:, k0:k1] = (Uk * dG.conj()).sum(1)
        ga = (ph * x2 - th * x1).sum(1)
        gb = -(ph * x1 - th * x0).sum(1)
        return gg, gp.transpose(0, 1), gt.transpose(0, 1), ga, gb


def cauchy_pairs(g: torch.Tensor, lam: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    r"""Conjugate-pair Cauchy sum ``G[s,h,k] = sum_m c/(g - lam) + conj(c)/(g - conj(lam))``, chunked.

    ``g``: ``[H, K]``, ``lam``: ``[H, M]``, ``c``: ``[S, H, M]`` (complex; computed in complex128).
    Memory ``O(S H K + H M)``: the ``[H, M, K]`` terms are never stored, in the forward or the backward pass.
    """
    if g.dim() != 2 or lam.dim() != 2 or c.dim() != 3:
        raise ValueError(f"cauchy_pairs: expected g [H, K], lam [H, M], c [S, H, M], got "
                         f"{tuple(g.shape)}, {tuple(lam.shape)}, {tuple(c.shape)}")
    if g.shape[0] != lam.shape[0] or tuple(c.shape[1:]) != tuple(lam.shape):
        raise ValueError(f"cauchy_pairs: shapes do not match: g {tuple(g.shape)}, lam {tuple(lam.shape)}, "
                         f"c {tuple(c.shape)}")
    g, lam, c = g.to(_C128), lam.to(_C128), c.to(_C128)
    p = 2.0 * c.real
    t = 2.0 * (c.real * lam.real + c.imag * lam.imag)  # 2 Re(c conj(lam))
    return _PairSum.apply(g, p, t, 2.0 * lam.real, lam.real.square() + lam.imag.square())


def contour_radius(length: int, points: int) -> float:
    """Radius ``r`` with ``r^P = eps^{P/(P+L)}``: balances aliasing (``r^P``) and round-off (``eps r^{-L}``)."""
    return math.exp(math.log(_EPS64) / (points + length))


def gl_ssm_kernel(lam: torch.Tensor, c: torch.Tensor, alpha: torch.Tensor, length: int, *,
                  oversample: int = 1) -> torch.Tensor:
    r"""Real kernel ``K[s, h, n] = 2 Re sum_m [z^n] c[s,h,m] / ((1 - z)^{alpha_h} - lam[h,m])``, ``n < length``.

    Args:
        lam: ``[H, M]`` complex, ``Delta^a A`` with ``|arg| > a pi / 2`` (stable).
        c: ``[S, H, M]`` complex, ``Delta^a B C`` for each of ``S`` outputs.
        alpha: order(s), shape ``()`` or ``[H]``, in ``(0, 1]`` (differentiable).
        length: number of lags ``L``.
        oversample: contour points ``P = oversample * L`` (1: relative error ~1e-8, 2: ~1e-10; see above).

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
