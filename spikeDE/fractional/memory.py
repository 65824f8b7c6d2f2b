r"""The history sum shared by every ``fdeint`` solver, advanced online with full, short or SOE memory.

Each history-based scheme spends its work in the causal convolution

    ``S_n[r] = sum_{i=0}^{n} kappa_r[n - i] x_i``,   ``r = 0..R-1``,

where ``x_i`` is the scheme's history value (``y_i - y_0``, a difference ``y_{i+1} - y_i``, or ``f_i``)
and ``kappa_r`` its kernels (``R = 2`` for the predictor–corrector). The solve is sequential (``x_n``
depends on ``S_{n-1}``), so :class:`HistorySum` takes one value per step and returns ``S_n``, with a
constant number of tensor operations per step (never a Python loop over the history):

* Steps are grouped in blocks of ``C`` (``block_size``). When a block opens, the contribution of the
  finished blocks to all ``C`` steps of the new block is one matrix product (the far history); inside the
  block each step adds its near part, ``kappa[0..p]`` against the block's values so far (one small
  matrix product).
* ``memory=None`` (full): exact, ``O(T^2 D)`` work in matrix products, ``O(T D)`` storage.
* ``memory=K`` (short-memory principle): only lags ``j <= K`` of the original kernel are kept
  (``kappa`` truncated), ``O(T K D)`` work, ``O(K D)`` storage. The history sum then changes by at most
  ``sum_{j > K} |k_j| * max_i |x_i|`` per step (see :func:`short_memory_bound`).
* ``memory="soe"``: lags ``< 2C`` exact, older lags through the sum-of-exponentials kernel of
  :mod:`spikeDE.fractional.soe` on fixed rates ``lambda_m``: ``kappa(j) ~ sum_m omega_m exp(-lambda_m j)``
  with relative error ``<= soe_tol`` for every lag up to ``len(t)``, so
  ``|S_n - S_n^{SOE}| <= soe_tol * sum_j |kappa_j| |x_{n-j}|``. The far history is ``M`` decaying modes
  ``Z_m`` (``O(M D)`` state): per block they decay by ``exp(-lambda_m C)`` and absorb one finished block
  (one ``[M, C] x [C, D]`` product); their contribution to the ``C`` steps of a block is one
  ``[C, M] x [M, D]`` product. ``O(T (M + C) D)`` work.

Gradients: each step is one node of a small custom autograd function. Its backward runs the adjoint of
the same blocked algorithm (transposed Toeplitz blocks, or adjoint SOE modes decaying backward in time),
so nothing per step is saved beyond the kernel and, when kernel gradients are needed (a learnable
``alpha``), the stacked history values. Each node also takes the previous step's output as an input, which
fixes the backward order (newest step first) that the adjoint relies on. Gradients reach the kernels (and
through them ``alpha``) by correlating the step gradients with the stored history blockwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral

import torch
from torch.autograd.function import once_differentiable

from .schemes import DEFAULT_SOE_TOL, HISTORY_BLOCK
from .history import scatter_lags, soe_block, toeplitz_block
from .soe import far_field_soe, soe_weights
from .weights import gl_weights, l1_weights, rectangle_weights, trapezoid_weights

__all__ = ["HistorySum", "MemorySpec", "parse_memory", "short_memory_bound", "DEFAULT_SOE_TOL",
           "DEFAULT_BLOCK_SIZE"]

_F64 = torch.float64
DEFAULT_BLOCK_SIZE = HISTORY_BLOCK

_GENERATORS = {"gl": gl_weights, "l1": l1_weights, "rectangle": rectangle_weights, "trapezoid": trapezoid_weights}


@dataclass(frozen=True)
class MemorySpec:
    """How much history a solver keeps: ``kind`` is ``"full"``, ``"short"`` (``steps = K``) or ``"soe"``."""

    kind: str = "full"
    steps: int | None = None
    tol: float = DEFAULT_SOE_TOL


def parse_memory(memory, soe_tol=None) -> MemorySpec:
    """Validate the ``memory`` argument of ``fdeint``: ``None``, an int ``K >= 1`` or ``"soe"``."""
    if soe_tol is not None and memory != "soe":
        raise ValueError(f"soe_tol is only used with memory='soe', got memory={memory!r}")
    if memory is None:
        return MemorySpec("full")
    if isinstance(memory, str):
        if memory == "soe":
            tol = DEFAULT_SOE_TOL if soe_tol is None else soe_tol
            if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not (1e-15 <= tol < 1e-1):
                raise ValueError(f"soe_tol must be a number in [1e-15, 0.1), got {soe_tol!r}")
            return MemorySpec("soe", tol=float(tol))
        if memory == "full":
            return MemorySpec("full")
        raise ValueError(f"memory must be None (full history), an int K >= 1 (last K steps) or 'soe', "
                         f"got {memory!r}")
    if isinstance(memory, Integral) and not isinstance(memory, bool):
        if memory < 1:
            raise ValueError(f"memory (short-memory length K) must be >= 1, got {memory!r}")
        return MemorySpec("short", steps=int(memory))
    raise ValueError(f"memory must be None (full history), an int K >= 1 (last K steps) or 'soe', got {memory!r}")


def short_memory_bound(kind: str, alpha: float, K: int) -> float:
    r"""``sum_{j > K} |k_j|`` for the GL kernel (``kind="gl"``) or ``2 b_{K+1}`` for L1 (``kind="l1"``).

    Dropping the lags ``j > K`` changes the history sum of one step by at most this number times
    ``max_i |y_i - y_0|``. GL: ``sum_{j>K} |w_j| = sum_{j<=K} w_j = Gamma(K+1-alpha)/(Gamma(1-alpha) K!)
    ~ K^{-alpha}/Gamma(1-alpha)``. L1 (by summation by parts, ``b_j`` decreasing to 0):
    ``|sum_{j>K} b_j (y_{n+1-j} - y_{n-j})| <= 2 b_{K+1} max|y - y0|``, ``b_{K+1} ~ (1-alpha) K^{-alpha}``.
    """
    a = float(alpha)
    if kind == "gl":
        if a == 1.0:
            return 0.0
        return math.exp(math.lgamma(K + 1 - a) - math.lgamma(1 - a) - math.lgamma(K + 1))
    if kind == "l1":
        return 2.0 * ((K + 2) ** (1 - a) - (K + 1) ** (1 - a))
    raise ValueError(f"short_memory_bound: kind must be 'gl' or 'l1', got {kind!r}")


def _as64(v, device):
    if isinstance(v, torch.Tensor):
        return v.to(dtype=_F64, device=device)
    return torch.tensor(float(v), dtype=_F64, device=device)


def _exact_kernel(terms, shift: int, length: int, device) -> torch.Tensor:
    """``kappa[j] = sum_terms coef * k_kind(alpha)[j + shift]``, ``j < length`` (float64, with graph)."""
    out = None
    for kind, alpha, coef in terms:
        k = _GENERATORS[kind](alpha, length + shift, device=device)[shift:]
        k = k * _as64(coef, device) if not (isinstance(coef, (int, float)) and coef == 1) else k
        out = k if out is None else out + k
    return out


def _soe_kernel(terms, shift: int, rates: torch.Tensor, du: float) -> torch.Tensor:
    """SOE weights of the shifted kernel: ``exp(-lambda_m shift) sum_terms coef * omega_m(kind, alpha)``."""
    out = None
    for kind, alpha, coef in terms:
        w = soe_weights(kind, alpha, rates, du)
        w = w * _as64(coef, rates.device) if not (isinstance(coef, (int, float)) and coef == 1) else w
        out = w if out is None else out + w
    return out * torch.exp(-rates * shift)


def _far_soe(kernels, n_min: int, n_max: int, tol: float, dev):
    """Rates ``[M]`` and weights ``[R, M]`` of the far kernels (float64), from the shared rule
    :func:`spikeDE.fractional.soe.far_field_soe` applied to each unshifted kernel on its lags ``[n_min, n_max]``;
    a shift ``s`` then multiplies the weights by ``exp(-lambda s)``. Rows reduced to different rates are
    concatenated (kernel ``r`` has zero weight on the others' rates)."""
    parts = far_field_soe(lambda rates, du: torch.stack([_soe_kernel(terms, 0, rates, du) for terms, _ in kernels]),
                          n_min, n_max, tol, exact_grad=True, device=dev)
    parts = [(r, w * torch.exp(-r * s)) for (r, w), (_, s) in zip(parts, kernels)]
    if all(r is parts[0][0] for r, _ in parts):
        return parts[0][0], torch.stack([w for _, w in parts])
    rr = torch.cat([r for r, _ in parts])
    rows, off = [], 0
    for r, w in parts:
        rows.append(torch.cat([w.new_zeros(off), w, w.new_zeros(rr.numel() - off - r.numel())]))
        off += r.numel()
    return rr, torch.stack(rows)


def _low_rank(mat: torch.Tensor, rel: float):
    """``mat ~ left @ right`` with the singular values below ``rel * s_max`` dropped (float64)."""
    U, S, Vh = torch.linalg.svd(mat, full_matrices=False)
    r = max(1, int((S > rel * S[0]).sum()))
    return U[:, :r] * S[:r], Vh[:r]


class HistorySum:
    r"""Online ``S_n[r] = sum_{i<=n} kappa_r[n-i] x_i`` with full, short (last K) or SOE memory.

    Args:
        kernels: one entry per output ``r``: ``(terms, shift)`` where ``terms`` is a list of
            ``(kind, alpha, coef)`` with ``kind`` in ``gl, l1, rectangle, trapezoid`` (the generators of
            :mod:`spikeDE.fractional.weights`) and ``kappa_r[j] = sum coef * k_kind(alpha)[j + shift]``.
            ``alpha`` and ``coef`` may be tensors with gradients.
        n_steps: number of values that will be pushed.
        like: a tensor with the shape, dtype and device of the values ``x``.
        memory: a :class:`MemorySpec`. Short memory keeps the original lags ``j + shift <= K``.
        block_size: ``C``, the block length.

    :meth:`push` takes ``x_n`` and returns ``S_n`` (shape of ``x``, with a leading ``R`` axis when
    ``R > 1``), or the affine combination ``base + scale * S_n + coef * f`` computed inside the same node.
    Call :meth:`close` after the last push to release forward-only buffers.
    """

    def __init__(self, kernels, n_steps: int, like: torch.Tensor, memory: MemorySpec = MemorySpec(),
                 block_size: int = DEFAULT_BLOCK_SIZE):
        self.shape = tuple(like.shape)
        self.D = D = max(1, like.numel())
        self.dtype, self.device = dt, dev = like.dtype, like.device
        self.R = R = len(kernels)
        self.C = C = int(block_size)
        self.P = P = int(n_steps)
        if P < 1:
            raise ValueError(f"HistorySum: n_steps must be >= 1, got {n_steps!r}")
        self.nb = nb = -(-P // C)
        self.n = 0
        self._last = None
        shifts = [s for _, s in kernels]

        kind = memory.kind
        if kind == "soe" and P - 1 < C + 1:
            kind = "full"  # every lag lies in the exact window: identical to full history
        self.kind = kind
        if kind == "full":
            L = P
        elif kind == "short":
            L = min(P, memory.steps + 1)
        else:
            L = min(P, 2 * C)
        self.L = L

        exact = torch.stack([_exact_kernel(terms, s, L, dev) for terms, s in kernels])  # [R, L] float64
        if kind == "short":
            lag = torch.arange(L, device=dev).unsqueeze(0) + torch.tensor(shifts, device=dev).unsqueeze(1)
            exact = exact * (lag <= memory.steps)
        self.kappa_in = exact.to(dt)  # graph input of every step
        self.Lmax = L - 1  # kappa is zero past this lag (far window of full/short memory)
        self.kpad = torch.zeros(R, max(L, 2 * C) + 1, dtype=dt, device=dev)
        self.kpad[:, :L] = self.kappa_in.detach()
        # Near part, two levels: sub-blocks of c steps. Inside a sub-block each step takes
        # Knear[q] = kappa[q..0] against the sub-block's values so far; when a sub-block opens, the earlier
        # sub-blocks of the same block enter all its c steps through Kmid[s] (one product).
        self.c = c = 8 if (C > 8 and C % 8 == 0) else C
        p_idx = torch.arange(C, device=dev)
        self.lag_near = lag_near = p_idx.unsqueeze(1) - p_idx.unsqueeze(0)  # [C, C]
        near = self.kpad[:, lag_near.clamp(min=0)] * (lag_near >= 0)  # [R, C, C]: kappa_r[p - q], q <= p
        Knear = near.permute(1, 0, 2).contiguous()  # [C, R, C]
        KT = self.kpad[:, :c].t().contiguous()  # [c, R]
        self._Kp = [Knear[q, :, :q + 1] for q in range(c)]
        self._KTrow = [KT[:c - q].reshape(1, -1) for q in range(c)]  # [1, (c - q) R]: adjoint of the near part
        self._Kmid = [None] + [Knear[s * c:(s + 1) * c, :, :s * c].reshape(c * R, s * c).contiguous()
                               for s in range(1, C // c)]
        self.soe_in = None
        if kind == "soe":
            self._init_soe(kernels, shifts, memory.tol)
            # The factored emit map multiplied out: one matrix product per block (the factors are for the
            # per-kernel adjoint modes of the weight gradients).
            self.Emat = self.Abd @ self.B  # [C R, M]: modes -> steps of a block, weights included

        self.kernel_grad = bool(torch.is_grad_enabled() and (
            self.kappa_in.requires_grad or (self.soe_in is not None and self.soe_in.requires_grad)))
        # Rings of stored blocks: forward values x (``slots`` blocks) and pending gradients (``gslots``).
        if kind == "full":
            window = nb
        elif kind == "short":
            window = -(-(self.Lmax + 1) // C) + 1
        else:
            window = 2
        self.slots = nb if (kind == "full" or self.kernel_grad) else min(nb, window + 1)
        self.gslots = nb if kind == "full" else min(nb, window + 1)
        self._out_shape = self.shape if R == 1 else (R,) + self.shape
        # Rows are written before they are read, except the unused tail of the last block, which the kernel
        # gradients read (times zero gradients): it is cleared. F is overwritten when a block opens.
        self.X = torch.empty(self.slots * C, D, dtype=dt, device=dev)
        last = ((nb - 1) % self.slots) * C
        self.X[last + P - (nb - 1) * C:last + C].zero_()
        self.F = torch.empty(C, R, D, dtype=dt, device=dev)
        self._Fp = self.F.unbind(0)  # [R, D] rows
        self._Fs = self.F.view((C,) + self._out_shape).unbind(0) if R == 1 else None  # the rows in x's shape
        self._Kq = [self._Kp[p % self.c] for p in range(C)]  # near kernel of step p of a block
        self._Fsub = [self.F[p:p + self.c].view(-1, D) for p in range(0, C, self.c)]
        self._views = {}
        self._scratch = None
        self._bwd_expect = None
        self._scale0, self._uniform = None, True  # the push scale, if every push used the same one

    def _init_soe(self, kernels, shifts, tol: float) -> None:
        """Modes for lags ``>= C+1``: ``kappa_r(j) ~ sum_m omega_{r,m} exp(-lambda_m j)``, propagated per block by
        the shared :func:`~spikeDE.fractional.history.soe_block` (offset ``C``: block ``b-2`` is absorbed when block
        ``b`` opens): ``absorb [M, C]`` (a finished block -> modes, kept as ``Gmat``) and ``emit [C, M]`` (modes ->
        steps), whose low numerical rank (~10) gives the truncated SVD factors (relative cut ``1e-3 * tol``) of the
        per-kernel adjoint modes of the weight gradients.
        """
        C, R, D, dev, dt = self.C, self.R, self.D, self.device, self.dtype
        n_min = C + 1 + min(shifts)
        n_max = max(self.P - 1 + max(shifts), n_min)
        rates, w = _far_soe(kernels, n_min, n_max, tol, dev)  # [M], [R, M] float64
        self.soe_in = w.to(dt)
        self.M = M = rates.numel()
        prop = soe_block(rates, C, C, dtype=_F64)
        rel = max(1e-3 * tol, 1e-14)
        EA, EB = _low_rank(prop.emit, rel)  # emit ~ EA @ EB: [C, rE] x [rE, M]
        rE = EA.shape[1]
        self.decay = prop.decay.to(dt)
        # Forward: F[(p, r)] = sum_m emit[p, m] w[r, m] Z_m = (Abd @ (B @ Z))[(p, r)]
        self.EB = EB.to(dt)
        self.B = (EB.unsqueeze(0) * w.detach().unsqueeze(1)).reshape(R * rE, M).to(dt)  # [(r, k), m]
        Abd = torch.zeros(C, R, R, rE, dtype=_F64, device=dev)
        for r in range(R):
            Abd[:, r, r] = EA
        self.Abd = Abd.reshape(C * R, R * rE).to(dt)
        self.rE = rE
        self.Gmat = prop.absorb.to(dt)  # [M, C]: a finished block -> modes
        # kappa lags C + p - c (1..2C-1): the previous block, exactly
        self.T1 = toeplitz_block(self.kpad, C, C, 0, C).transpose(0, 1).reshape(C * R, C).contiguous()
        self.Z = torch.zeros(M, D, dtype=dt, device=dev)

    # ------------------------------------------------------------------ helpers
    def _runs(self, b0: int, b1: int, slots: int):
        """Blocks ``b0..b1-1`` of a ring of ``slots`` blocks as contiguous runs
        ``(column offset in blocks, first slot, number of blocks)``."""
        runs, cur = [], b0
        while cur < b1:
            s = cur % slots
            cnt = min(b1 - cur, slots - s)
            runs.append((cur - b0, s, cnt))
            cur += cnt
        return runs

    def _window(self, b: int) -> int:
        """First block whose values reach some step of block ``b`` (full/short memory)."""
        if self.kind == "full":
            return 0
        return max(0, b * self.C - self.Lmax) // self.C

    def _far_kernel(self, b: int, b0: int) -> torch.Tensor:
        """``K[(p, r), c] = kappa_r[bC + p - (b0 C + c)]`` (zero past lag ``Lmax``), shape ``[C R, (b - b0) C]``."""
        C = self.C
        K = toeplitz_block(self.kpad[:, :self.Lmax + 1], b * C, C, b0 * C, (b - b0) * C)  # [R, C, W]
        return K.transpose(0, 1).reshape(C * self.R, -1)

    def _slot_views(self, slot: int):
        """Row views, per-step sub-block prefixes and the whole block of one ring slot (cached)."""
        views = self._views.get(slot)
        if views is None:
            C, c, s0 = self.C, self.c, slot * self.C
            views = (self.X[s0:s0 + C].view((C,) + self.shape).unbind(0),
                     [self.X[s0 + p - p % c:s0 + p + 1] for p in range(C)], self.X[s0:s0 + C])
            if self.slots <= 8:
                self._views[slot] = views
        return views

    def _block(self, b: int) -> torch.Tensor:
        s = (b % self.slots) * self.C
        return self.X[s:s + self.C]

    def _hg_block(self, b: int) -> torch.Tensor:
        s = (b % self.gslots) * self.C
        return self.HG[s:s + self.C]

    # ------------------------------------------------------------------ forward
    def _open_block(self, b: int) -> None:
        """Far history of every step of block ``b`` (one or two matrix products)."""
        C, R, D = self.C, self.R, self.D
        Fv = self.F.view(C * R, D)
        self._rows, self._prefix, self._xblock = self._slot_views(b % self.slots)
        if self.kind == "soe":
            if b >= 2:  # absorb block b-2 into the modes, then evaluate them at the C steps
                self.Z.mul_(self.decay.unsqueeze(1)).addmm_(self.Gmat, self._block(b - 2))
                torch.mm(self.Emat, self.Z, out=Fv)
                Fv.addmm_(self.T1, self._block(b - 1))
            elif b == 1:
                torch.mm(self.T1, self._block(0), out=Fv)
            else:
                Fv.zero_()
            return
        b0 = self._window(b)
        if b0 < b:
            K = self._far_kernel(b, b0)
            for i, (off, s, cnt) in enumerate(self._runs(b0, b, self.slots)):
                Kc, Xc = K[:, off * C:(off + cnt) * C], self.X[s * C:(s + cnt) * C]
                torch.mm(Kc, Xc, out=Fv) if i == 0 else Fv.addmm_(Kc, Xc)
        else:
            Fv.zero_()

    def _next_row(self, n: int) -> torch.Tensor:
        """View (shape of ``x``) of the buffer row that will hold ``x_{n+1}`` (a scratch row after the last step)."""
        m = n + 1
        if m >= self.P:
            if self._scratch is None:
                self._scratch = torch.empty(self.shape, dtype=self.dtype, device=self.device)
            return self._scratch
        p = m % self.C
        if p:  # same block
            return self._rows[p]
        r = ((m // self.C) % self.slots) * self.C
        return self.X[r].view(self.shape)

    def _forward(self, x, scale=1.0, f=None, coef=0.0, base=None, chain=False) -> torch.Tensor:
        n = self.n
        if n >= self.P:
            raise RuntimeError(f"HistorySum: more than n_steps={self.P} values pushed")
        p = n % self.C
        if p % self.c == 0:
            if p == 0:
                self._open_block(n // self.C)
            else:  # earlier sub-blocks of this block -> the c steps of the new sub-block
                self._Fsub[p // self.c].addmm_(self._Kmid[p // self.c], self._xblock[:p])
        if x is not None:
            self._rows[p].copy_(x)
        self.n = n + 1
        if chain:  # inc = scale S_n + coef f is the next history value x_{n+1}; out = base + inc
            # F[p] (used by this step only) becomes scale S_n in place; the increment goes to the next row
            self._Fp[p].addmm_(self._Kq[p], self._prefix[p], beta=scale, alpha=scale)
            row = self._rows[p + 1] if (p + 1 < self.C and n + 1 < self.P) else self._next_row(n)
            inc = torch.add(self._Fs[p], f, alpha=coef, out=row) if f is not None else row.copy_(self._Fs[p])
            return torch.add(base, inc) if base is not None else inc.clone()
        out = torch.addmm(self._Fp[p], self._Kq[p], self._prefix[p], beta=scale, alpha=scale)
        out = out.view(self._out_shape)
        if f is not None:
            out.add_(f, alpha=coef)
        if base is not None:
            out.add_(base)
        return out

    def push(self, x: torch.Tensor | None = None, *, scale: float = 1.0, f: torch.Tensor | None = None,
             coef: float = 0.0, base: torch.Tensor | None = None, chain: bool = False) -> torch.Tensor:
        """Push the newest history value ``x_n`` and return ``out_n = base + scale * S_n + coef * f``.

        ``scale`` and ``coef`` are numbers; ``f`` and ``base`` optional tensors of the shape of ``x`` (only for
        ``R = 1``). With ``chain=True`` the history is the sequence of increments: ``x_{n+1} = out_n - base_n``
        is recorded inside the step, so ``x`` is given only for the first push (``x_0``) and omitted after.
        Everything happens inside one autograd node.
        """
        if (x is None) != (chain and self.n > 0):
            raise ValueError("HistorySum.push: give x for every push, or (chain=True) only for the first one")
        if scale != self._scale0:
            if self._scale0 is None:
                self._scale0 = scale
            else:
                self._uniform = False
        prev = self._last
        if torch.is_grad_enabled() and (self.kernel_grad or (x is not None and x.requires_grad)
                                        or (prev is not None and prev.requires_grad)
                                        or (f is not None and f.requires_grad)
                                        or (base is not None and base.requires_grad)):
            out = _apply_step(self, self.kappa_in, self.soe_in, prev,
                              (self.n, scale, coef, chain, x is not None, f is not None, base is not None), x, f, base)
        else:
            out = self._forward(x, scale, f, coef, base, chain)
        self._last = out
        return out

    def close(self) -> None:
        """Release forward-only state (call after the last push; backward still works)."""
        self._last = None
        self.Z = None
        if not self.kernel_grad:
            self.X = None
        self.F = self._Fp = self._Fs = self._rows = self._prefix = self._xblock = self._scratch = None
        self._views = {}

    # ------------------------------------------------------------------ backward
    def _reset_backward(self, n: int) -> None:
        """Fresh adjoint state for a backward pass that starts at step ``n``."""
        C, R, D, c = self.C, self.R, self.D, self.c
        kw = dict(dtype=self.dtype, device=self.device)
        # Gradients of the current block's sums. With one push scale s for all steps, GS holds the gradients of
        # s * S_n (of the step outputs) and s enters the adjoint products as a factor (``_bs``); otherwise GS
        # holds the gradients of S_n and ``_bs = 1``.
        self._fold = self._uniform and self._scale0 is not None
        self._bs = float(self._scale0) if self._fold else 1.0
        self.GS = torch.empty(C, R, D, **kw)
        self.GS[n % C + 1:].zero_()  # steps after n (none, or not in this pass); earlier rows are written first
        self._GSrows = self.GS.view((C,) + self._out_shape).unbind(0)
        self._GStail = [self.GS[p:p - p % c + c].view(-1, D) for p in range(C)]  # rows p .. end of sub-block
        # far-history gradients of older blocks; with SOE memory a block's rows are overwritten before they are
        # accumulated into, except for the first two blocks of the pass
        if self.kind == "soe":
            self.HG = torch.empty(self.gslots * C, D, **kw)
            for b in (n // C, n // C - 1):
                if b >= 0:
                    self._hg_block(b).zero_()
        else:
            self.HG = torch.zeros(self.gslots * C, D, **kw)
        self._HGrows = self.HG.view(-1, 1, D).unbind(0)
        self._HGs = self.HG.view((-1,) + self.shape).unbind(0)  # the same rows in the shape of x
        self._pending = None  # gradient of the next history value (chained pushes)
        if self.kind == "soe":
            self.Zbar = torch.zeros(self.M, D, **kw)
            if self.soe_in.requires_grad:
                self.Abar = torch.zeros(R, self.M, D, **kw)

    def _backward(self, n: int, g: torch.Tensor, scale: float = 1.0, chain: bool = False):
        """Step ``n``: ``g`` is the gradient of the step output; returns the gradient of ``x_n``, the gradient
        ``u`` of ``scale * S_n`` (with ``chain``: ``g`` plus the gradient that ``x_{n+1}``, this step's increment,
        received from the later steps), and the kernel gradients when block ``n // C`` closes."""
        if self._bwd_expect != n:
            self._reset_backward(n)
        C = self.C
        p = n % C
        q = p % self.c
        row, pend = self._GSrows[p], self._pending
        if self._fold:
            u = torch.add(g, pend, out=row) if (chain and pend is not None) else row.copy_(g)
        else:
            u = g + pend if (chain and pend is not None) else g
            torch.mul(u, scale, out=row)
        h0 = (n // C % self.gslots) * C
        if chain and n > 0 and (p or self.kind != "short"):
            # in place: the HG row (not read again in this pass; short memory clears a closed block's rows)
            # becomes the gradient of x_n
            self._HGrows[h0 + p].addmm_(self._KTrow[q], self._GStail[p], alpha=self._bs)
            gx = self._HGs[h0 + p]
        else:  # a new tensor (it may be handed to autograd)
            gx = torch.addmm(self._HGrows[h0 + p], self._KTrow[q], self._GStail[p], alpha=self._bs).view(self.shape)
        gk = gw = None
        if q == 0:
            if p > 0:  # the sub-block's gradients reach the earlier sub-blocks of the same block
                self.HG[h0:h0 + p].addmm_(self._Kmid[p // self.c].t(), self._GStail[p], alpha=self._bs)
            else:
                gk, gw = self._close_block(n // C)
        self._pending = gx
        self._bwd_expect = n - 1 if n > 0 else None
        return gx, u, gk, gw

    def _scatter(self, gk: torch.Tensor, vals: torch.Tensor, lag0: int) -> None:
        """``gk[r, lag0 + p - c] += vals[p, r, c]`` for lags inside ``[0, L)``."""
        scatter_lags(gk, vals, lag0, 0)

    def _close_block(self, b: int):
        """All step gradients of block ``b`` are known: send them to older blocks and to the kernels."""
        C, R, D, bs = self.C, self.R, self.D, self._bs
        GSf = self.GS.view(C * R, D)
        gk = gw = None
        if self.kernel_grad:
            gk = torch.zeros(R, self.L, dtype=self.dtype, device=self.device)
            self._scatter(gk, (GSf @ self._block(b).t()).view(C, R, C), 0)
        if self.kind == "soe":
            if b >= 1:
                self._hg_block(b - 1).addmm_(self.T1.t(), GSf, alpha=bs)
                if gk is not None:
                    self._scatter(gk, (GSf @ self._block(b - 1).t()).view(C, R, C), C)
            if b >= 2:
                if self.soe_in.requires_grad:  # per-kernel adjoint modes, for the weight gradients
                    Y = self.Abd.t() @ GSf  # [(r, k), D]
                    self.Abar.mul_(self.decay.view(1, -1, 1))
                    self.Abar.baddbmm_(self.EB.t().expand(R, -1, -1), Y.view(R, self.rE, D), alpha=bs)
                    zbar = (self.soe_in.detach().unsqueeze(2) * self.Abar).sum(0)
                    gz = self.Gmat @ self._block(b - 2)  # what block b-2 added to the modes
                    gw = (gz.unsqueeze(0) * self.Abar).sum(2)
                else:
                    zbar = self.Zbar.mul_(self.decay.unsqueeze(1)).addmm_(self.Emat.t(), GSf, alpha=bs)
                # First contribution to block b-2 in this pass: overwrite (the ring slot holds stale data).
                torch.mm(self.Gmat.t(), zbar, out=self._hg_block(b - 2))
        else:
            b0 = self._window(b)
            if b0 < b:
                K = self._far_kernel(b, b0)
                for off, s, cnt in self._runs(b0, b, self.gslots):
                    self.HG[s * C:(s + cnt) * C].addmm_(K[:, off * C:(off + cnt) * C].t(), GSf, alpha=bs)
                if gk is not None:
                    for off, s, cnt in self._runs(b0, b, self.slots):
                        vals = (GSf @ self.X[s * C:(s + cnt) * C].t()).view(C, R, cnt * C)
                        self._scatter(gk, vals, (b - b0 - off) * C)
            if self.kind == "short":
                self._hg_block(b).zero_()  # the ring slot is reused by an older block
        if gk is not None and not self.kappa_in.requires_grad:
            gk = None
        if gk is not None and bs != 1.0:
            gk.mul_(bs)
        return gk, gw


def _step_backward(ctx, g):
    n, scale, coef, chain, has_x, has_f, has_base = ctx.cfg
    gx, u, gk, gw = ctx.hist._backward(n, g, scale, chain)
    return (None, gk, gw, None, None, gx if has_x else None, u * coef if has_f else None, g if has_base else None)


_step_backward_once = once_differentiable(_step_backward)


class _HistoryStep(torch.autograd.Function):
    """One step of :class:`HistorySum`: ``out = base + scale * S_n + coef * f``
    (``cfg = (n, scale, coef, chain, has_x, has_f, has_base)``).

    The backward is the adjoint of the blocked algorithm; it relies on the ``prev`` edge (the previous
    step's output is an input), which makes autograd differentiate the steps newest first. It is not itself
    differentiable (a double backward raises).
    """

    @staticmethod
    def forward(ctx, hist, kappa, soe_w, prev, cfg, x, f, base):
        ctx.hist, ctx.cfg = hist, cfg
        return hist._forward(x, cfg[1], f, cfg[2], base, cfg[3])

    @staticmethod
    def backward(ctx, g):
        if torch.is_grad_enabled():  # create_graph: outputs that raise when differentiated
            return _step_backward_once(ctx, g)
        return _step_backward(ctx, g)


# The C-level apply that torch.autograd.Function.apply ends in (bound to _HistoryStep).
_apply_fast = super(torch.autograd.Function, _HistoryStep).apply


def _apply_step(*args):
    """``_HistoryStep.apply`` without the Python-level dispatch of :meth:`torch.autograd.Function.apply` when
    no functorch transform is active (the common case; that dispatch costs a few microseconds per step)."""
    if torch._C._are_functorch_transforms_active():
        return _HistoryStep.apply(*args)
    return _apply_fast(*args)
