r"""``FractionalSSM``: a diagonal state-space layer of fractional (Caputo) order, trained in parallel by FFT
convolution and run step by step with a compressed, constant-size fractional memory.

Continuous model, per channel ``h = 1..H`` (``M = d_state // 2`` complex modes, conjugate pairs implied):

    ``D^a s(t) = A s(t) + B x(t)``,  ``y(t) = 2 Re(C s(t)) + D x(t)``,  ``s(0) = 0``

with Caputo order ``0 < a <= 1`` (per layer or per channel) and a learnable step ``Delta``.

The diagonal ``A`` is parameterised through an S4D-type ``P = -exp(log_A_real) + i A_imag`` (``Re P < 0``,
S4D-Lin/Inv initialisation) as

    ``A = -|P|^a exp(i (2 - a) arg(-P))``   (default ``A_parameterization="sector"``).

Reason: a fractional mode ``1/(s^a - A)`` is stable iff ``|arg A| > a pi/2`` (Matignon) and oscillates (has a
pole on the principal sheet) iff ``|arg A| < a pi``. The map sends the stable half-plane of ``P``
(``|arg(-P)| < pi/2``) smoothly onto the whole stable sector, keeps the time scale (``|A|^{1/a} = |P|``),
sends a real ``P`` to a real ``A`` (pure Mittag-Leffler relaxation) and is the identity at ``a = 1``
(S4D's ``A = P``). Modes with ``|arg(-P)| > pi (1-a)/(2-a)`` oscillate, as S4D-Lin's modes do. Taking
``A = P`` for every ``a`` (``"direct"``) is also stable, but then for ``a <= 1/2`` no mode can oscillate
(``|arg P| > pi/2 >= a pi``): the frequency basis of S4D-type layers is lost and the layer trains markedly
worse (sequential digits, see the README).

Discretisation (stated, exact): implicit (backward) Grünwald–Letnikov on the grid ``t_n = n Delta``,

    ``sum_{j=0}^{n} w_j s_{n-j} = Delta^a (A s_n + B x_n)``,  ``(1 - z)^a = sum_j w_j z^j``,

i.e. the recurrence ``s_n = (Delta^a B x_n - sum_{j>=1} w_j s_{n-j}) / (1 - Delta^a A)`` and the transfer
function ``Delta^a C B / ((1 - z)^a - Delta^a A)``. Why this one: with zero initial state the GL and Caputo
derivatives coincide, the discrete mode is stable exactly when the continuous one is (``|arg A| > a pi/2``,
for every ``Delta``, like backward Euler: ``(1 - z)^a`` stays in ``|arg| <= a pi/2`` on ``|z| <= 1``), its
transfer function is known in closed form (so the kernel is exact up to round-off, see
:mod:`spikeDE.ssm.kernel`), it keeps the continuous power law (``K_n ~ n^{-1-a}``) and at ``a = 1``
(``w = [1, -1, 0, ...]``) it is exactly the backward-Euler S4D-type diagonal SSM
``s_n = (s_{n-1} + Delta B x_n) / (1 - Delta A)``.

Two ways to run the same map ``x -> y``:

* **parallel** (:meth:`FractionalSSM.forward`): the kernel ``K [H, L]`` (``O(H L)`` memory, ``O(H M L)`` time,
  float64 contour FFT) is applied by FFT convolution, ``O(B H L log L)``.
* **streaming** (:meth:`FractionalSSM.step`): the recurrence above with the history sum split into an exact
  near window (lags ``1..W``) and the sum-of-exponentials (SOE) compression of the GL weights for lags
  ``>= W + 1`` (:mod:`spikeDE.fractional.soe`: the optimal SOE of each channel's order, by balanced
  truncation, by the rule shared with ``fdeint`` and the neurons, :func:`spikeDE.fractional.soe.far_field_soe`;
  rates per channel, ``alpha`` differentiably in the weights). State per mode: ``W + Q`` complex numbers, constant
  in time (defaults ``W = 4``, ``stream_tol = 1e-6``, ``stream_n_max = 2^20``: ``Q = 30-33`` depending on ``alpha``). The SOE's relative error on the GL weights is below ``stream_tol`` for
  lags up to ``stream_n_max`` and grows only like ``stream_tol * n / stream_n_max`` beyond; the streamed
  output differs from the parallel one by a few ``1e-2 * stream_tol`` (relative; measured 0.012-0.025 stream_tol).

Layout: input and output are ``[B, L, H]`` (batch, length, channels), as in S4-style code, not the time-first
``[T, B, ...]`` of the neurons; a spiking block transposes once around the neuron.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from .._checks import check_finite, check_floating, check_positive
from ..fractional.history import soe_block
from ..fractional.soe import far_field_soe, soe_weights
from ..fractional.weights import gl_weights
from ..fractional.schemes import DEFAULT_SOE_TOL, STREAM_HORIZON, STREAM_WINDOW
from ..order import FractionalOrder
from .kernel import gl_ssm_kernel

__all__ = ["FractionalSSM", "FractionalSSMState"]

_F64 = torch.float64
_C128 = torch.complex128


class FractionalSSMState(NamedTuple):
    """Streaming state of a :class:`FractionalSSM` (real tensors; the last axis holds the ``M`` complex modes
    as (real, imag) pairs, ``torch.view_as_complex(t.reshape(*t.shape[:-1], M, 2))``).

    ``near``: ``[B, H, W, 2M]``, the last ``W`` states ``s_{n-1}, ..., s_{n-W}``;
    ``far``: ``[B, H, Q, 2M]``, the SOE accumulators of the history beyond the window, discounted from lag
    ``W + 1``: ``G_q = sum_{k>=0} exp(-rate_q k) s_{n-W-1-k}``.

    The states made by :meth:`FractionalSSM.default_state` and :meth:`FractionalSSM.step` are two views of
    one contiguous history buffer ``[H, W + Q, B, 2M]`` (entry ``j`` of a channel: ``near`` for ``j < W``,
    ``far`` after), so that one batched product gives the whole history sum. Any other tensors of these
    shapes (e.g. ``torch.zeros``) are accepted too; the step then copies them into that layout once.
    """

    near: torch.Tensor
    far: torch.Tensor


class FractionalSSM(nn.Module):
    r"""Fractional-order diagonal state-space layer ``D^a s = A s + B x``, ``y = 2 Re(C s) + D x``.

    See the module docstring for the equations and the discretisation. Input/output ``[B, L, H]``.

    Args:
        d_model: number of channels ``H`` (independent SSMs, one per channel).
        d_state: state size ``N`` per channel, stored as ``N // 2`` complex modes whose conjugates are
            implied (as in S4D); must be even.
        alpha: fractional order(s) in ``(0, 1]``: a number, or ``H`` numbers with ``alpha_per_channel``.
        learn_alpha: learn the order (``alpha = sigmoid(logit)`` in ``(0, 1)``; an initial 1 starts at
            ``1 - 1e-3``). Use ``learn_alpha=False, alpha=1`` for the exact integer-order layer.
        dt_min, dt_max: the step ``Delta`` of each channel starts log-uniform in ``[dt_min, dt_max]``.
        bidirectional: add a second, anti-causal kernel (own ``C``; shared ``A, B, Delta, alpha``) applied to
            the time-reversed sequence: ``y_j = sum_{n<=j} K0_{j-n} x_n + sum_{n>=j} K1_{n-j} x_n + D x_j``.
            Not streamable.
        alpha_per_channel: one order per channel (``True``) or one per layer.
        init: initial ``P``: ``"lin"`` (S4D-Lin: ``P_m = -1/2 + i pi m``) or ``"inv"`` (S4D-Inv:
            ``P_m = -1/2 + i (N/pi) (N/(2m+1) - 1)``); ``B = 1``; ``C`` complex normal; ``D`` normal.
        A_parameterization: ``"sector"`` (default): ``A = -|P|^a exp(i (2 - a) arg(-P))`` with
            ``P = -exp(log_A_real) + i A_imag``; ``"direct"``: ``A = P``. See the module docstring.
        d_skip: include the skip term ``D x``.
        kernel_oversample: contour points per lag for the kernel (1: rel. error ~1e-8, 2: ~1e-10);
            ``None`` picks 2 for float64 inputs and 1 otherwise.
        stream_window: exact near-history window ``W >= 1`` of the streaming mode (a fixed ``alpha = 1`` needs
            only ``s_{n-1}`` and no SOE memory).
        stream_n_max, stream_tol: SOE range and relative tolerance of the streaming memory.
        name: used in error messages.

    Attributes:
        order (FractionalOrder): the order; ``alpha`` (property) is its current value, shape ``()`` or ``[H]``.
        log_dt ``[H]``, log_A_real ``[H, M]``, A_imag ``[H, M]`` (the S4D-type ``P``), B ``[H, M, 2]``,
        C ``[S, H, M, 2]`` (real views of complex numbers; ``S = 2`` when bidirectional), D ``[H]`` (when
        ``d_skip``); ``modes = M``, ``stream_modes = Q``.
    """

    def __init__(self, d_model: int, d_state: int = 64, alpha=0.5, learn_alpha: bool = True,
                 dt_min: float = 1e-3, dt_max: float = 1e-1, bidirectional: bool = False, *,
                 alpha_per_channel: bool = True, init: str = "lin", A_parameterization: str = "sector",
                 d_skip: bool = True,
                 kernel_oversample: int | None = None, stream_window: int = STREAM_WINDOW, stream_n_max: int = STREAM_HORIZON,
                 stream_tol: float = DEFAULT_SOE_TOL, name: str | None = None, device=None, dtype=None):
        super().__init__()
        where = f"FractionalSSM {name!r}" if name else "FractionalSSM"
        self._where = where
        for arg, v in (("d_model", d_model), ("d_state", d_state), ("stream_window", stream_window)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{where}: {arg} must be an int >= 1, got {v!r}")
        if d_state % 2:
            raise ValueError(f"{where}: d_state must be even (d_state // 2 complex conjugate pairs), "
                             f"got {d_state}")
        check_positive(dt_min, "dt_min", where)
        check_positive(dt_max, "dt_max", where)
        if dt_min > dt_max:
            raise ValueError(f"{where}: dt_min must be <= dt_max, got dt_min={dt_min}, dt_max={dt_max}")
        if init not in ("lin", "inv"):
            raise ValueError(f"{where}: init must be 'lin' or 'inv', got {init!r}")
        if A_parameterization not in ("sector", "direct"):
            raise ValueError(f"{where}: A_parameterization must be 'sector' or 'direct', "
                             f"got {A_parameterization!r}")
        self.A_parameterization = A_parameterization
        if kernel_oversample is not None and kernel_oversample not in (1, 2, 3, 4):
            raise ValueError(f"{where}: kernel_oversample must be None, 1, 2, 3 or 4, got {kernel_oversample!r}")
        if isinstance(stream_n_max, bool) or not isinstance(stream_n_max, int) or stream_n_max < stream_window + 1:
            raise ValueError(f"{where}: stream_n_max must be an int >= stream_window + 1, got {stream_n_max!r}")
        if not (isinstance(stream_tol, float) and 1e-12 <= stream_tol < 1e-2):
            raise ValueError(f"{where}: stream_tol must be a float in [1e-12, 1e-2), got {stream_tol!r}")

        H, M = d_model, d_state // 2
        self.d_model, self.d_state, self.modes = H, d_state, M
        self.bidirectional = bool(bidirectional)
        self.kernel_oversample = kernel_oversample
        self.stream_window, self.stream_n_max, self.stream_tol = stream_window, stream_n_max, stream_tol
        fk = dict(device=device, dtype=dtype or torch.get_default_dtype())
        self.order = FractionalOrder(alpha, learnable=learn_alpha, shape=(H,) if alpha_per_channel else (),
                                     name=where)
        self.order.to(**fk)

        log_dt = torch.rand(H, **fk) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.log_dt = nn.Parameter(log_dt)
        self.log_A_real = nn.Parameter(torch.full((H, M), math.log(0.5), **fk))
        m = torch.arange(M, **fk)
        imag = math.pi * m if init == "lin" else (d_state / math.pi) * (d_state / (2 * m + 1) - 1)
        self.A_imag = nn.Parameter(imag.expand(H, M).clone())
        B = torch.zeros(H, M, 2, **fk)
        B[..., 0] = 1.0
        self.B = nn.Parameter(B)
        S = 2 if self.bidirectional else 1
        self.C = nn.Parameter(torch.randn(S, H, M, 2, **fk) * math.sqrt(0.5))
        self.D = nn.Parameter(torch.randn(H, **fk)) if d_skip else None
        self._stream_cache = self._stream_shape_cache = None

    # ----------------------------------------------------------------------------------------------------
    @property
    def alpha(self) -> torch.Tensor:
        """The current order (with its graph when learnable): shape ``[H]`` or ``()``."""
        return self.order()

    def _param_dtype(self):
        return self.log_dt.dtype

    def discrete(self):
        r"""Float64/complex128 ``(alpha, lam = Delta^a A [H, M], c = Delta^a B C [S, H, M], Delta^a B [H, M])``.

        ``A = -|P|^a exp(i (2 - a) arg(-P))`` (``"sector"``) or ``A = P`` (``"direct"``),
        ``P = -exp(log_A_real) + i A_imag``.
        """
        a = self.order().to(_F64)
        a_h = a if a.dim() else a.expand(self.d_model)
        da = torch.exp(a_h * self.log_dt.to(_F64))  # Delta^a, [H]
        P = torch.complex(-torch.exp(self.log_A_real.to(_F64)), self.A_imag.to(_F64))
        if self.A_parameterization == "sector":  # A = -|P|^a exp(i (2 - a) arg(-P))
            ah = a_h.unsqueeze(-1)
            A = -torch.exp(ah * torch.log(P.abs()) + 1j * ((2.0 - ah) * torch.angle(-P)))
        else:
            A = P
        B = torch.view_as_complex(self.B.to(_F64))
        C = torch.view_as_complex(self.C.to(_F64))
        dB = da.unsqueeze(-1) * B
        return a, da.unsqueeze(-1) * A, C * dB, dB

    def kernel(self, length: int, *, dtype=None, oversample: int | None = None) -> torch.Tensor:
        r"""The convolution kernel(s) ``[S, H, L]`` (``S = 2`` when bidirectional: causal, anti-causal).

        ``K[s, h, n] = 2 Re sum_m [z^n] Delta^a B C_s / ((1 - z)^a - Delta^a A)``, generated in float64 and
        returned in ``dtype`` (default: the parameters' dtype).
        """
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"{self._where}: length must be an int >= 1, got {length!r}")
        dtype = dtype or self._param_dtype()
        if oversample is None:
            oversample = self.kernel_oversample or (2 if dtype == torch.float64 else 1)
        a, lam, c, _ = self.discrete()
        return gl_ssm_kernel(lam, c, a, length, oversample=oversample).to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Parallel mode: ``x [B, L, H] -> y [B, L, H]`` (FFT convolution with :meth:`kernel`).

        Non-finite input is a ``ValueError`` naming its first position (earliest step): the FFT mixes every
        sample into every output, so a NaN at step ``t`` would also change the outputs before ``t``. The
        streaming :meth:`step` is causal and propagates a NaN forward from its step. An empty ``x`` (``B = 0``
        or ``L = 0``) gives an empty output. float16 / bfloat16 inputs are computed in float32 (the FFT has no
        half-precision CPU path and loses the kernel's accuracy in half precision) and cast back.
        """
        check_floating(x, "x", self._where)
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"{self._where}: x must have shape [batch, length, {self.d_model}] "
                             f"(batch-first, channels last), got {tuple(x.shape)}")
        if x.numel() == 0:
            return torch.zeros_like(x)
        check_finite(x, "x", self._where, order=(1, 0, 2))  # causality: refuse rather than smear a NaN backwards
        if x.dtype in (torch.float16, torch.bfloat16):
            return self.forward(x.float()).to(x.dtype)
        L = x.shape[1]
        K = self.kernel(L, dtype=x.dtype).to(x.device)
        nfft = 1 << (2 * L - 1).bit_length()
        Kf = torch.fft.rfft(K, n=nfft)  # [S, H, F]
        if self.bidirectional:
            Kf = Kf[0] + Kf[1].conj()  # correlation with K1 = the anti-causal part
        else:
            Kf = Kf[0]
        xf = torch.fft.rfft(x.transpose(1, 2), n=nfft)  # [B, H, F]
        y = torch.fft.irfft(xf * Kf, n=nfft)[..., :L].transpose(1, 2)
        if self.D is not None:
            y = y + x * self.D.to(x.dtype)
        return y

    # ----------------------------------------------------------------------------------------------------
    def _stream_key(self):
        """Identity and version of every parameter and buffer: the streaming caches are valid while it holds."""
        return tuple((id(t), t._version) for m in self.modules() for d in (m._parameters, m._buffers)
                     for t in d.values() if t is not None)

    def _stream_shape(self):
        """``(W, Q)``: ``(1, 0)`` for a fixed order 1 (the GL history is just ``s_{n-1}``), else the near window
        and the number of SOE accumulators (rate 0 included). Cached while the parameters are unchanged."""
        if self.order.is_one():
            return 1, 0
        key = self._stream_key()
        if self._stream_shape_cache is not None and self._stream_shape_cache[0] == key:
            return self._stream_shape_cache[1]
        with torch.no_grad():
            a, _, _, _ = self.discrete()
            rates, _ = self._stream_soe(a.detach())
        shape = (self.stream_window, int(rates.shape[-1]))
        self._stream_shape_cache = (key, shape)
        return shape

    def _stream_soe(self, a):
        """``(rates [H, Q], omega [H, Q])``: the far-field SOE of the GL weights for lags ``>= W + 1`` of each
        channel's order, from the shared rule :func:`spikeDE.fractional.soe.far_field_soe` (the optimal SOE; channels
        sharing an order share its reduction; zero-weight padding to the largest count). ``omega`` follows ``alpha``
        differentiably (least-squares derivative on the reduced rates)."""
        W, H = self.stream_window, self.d_model
        a_h = a if a.dim() else a.expand(H)
        rows = far_field_soe(lambda rates, du: soe_weights("gl", a_h, rates, du), W + 1, self.stream_n_max,
                             self.stream_tol, grad_tol=1.0, device=a.device)
        Q = max(r.numel() for r, _ in rows)
        rates = torch.stack([torch.cat([r, r.new_zeros(Q - r.numel())]) for r, _ in rows])
        omega = torch.stack([torch.cat([w, w.new_zeros(Q - w.numel())]) for _, w in rows])
        return rates, omega

    @property
    def stream_modes(self) -> int:
        """Number ``Q`` of SOE accumulators per state entry in the streaming mode (0 for a fixed ``alpha = 1``)."""
        return self._stream_shape()[1]

    def _stream_coefficients(self, dtype, device):
        r"""The step's coefficients in ``dtype`` (complex: the matching complex dtype) on ``device``:
        ``(coef [H, 1, W+Q], decay [H, W+Q, 1, 1], in_gain [H, 1, M], fb [H, 1, M], C2 [H, 2M, 1], D [H], W, Q)``.

        ``coef = -(w_1, ..., w_W, omega_1 e^{-r_1 (W+1)}, ..., omega_Q e^{-r_Q (W+1)})`` weighs the history
        buffer, ``decay = (0, ..., 0, e^{-r_1}, ..., e^{-r_Q})`` (zero on the ``W`` near rows), ``in_gain = Delta^a B / (1 - Delta^a A)``, ``fb = 1 / (1 - Delta^a A)``,
        ``C2 = 2 (Re C_m, -Im C_m)_m`` (so that ``2 Re(C s) = C2 . view_as_real(s)``). Cached under
        ``torch.no_grad()`` (recomputed when a parameter changes); differentiable with gradients enabled.
        """
        key = None
        if not torch.is_grad_enabled():
            key = (dtype, device) + self._stream_key()
            if self._stream_cache is not None and self._stream_cache[0] == key:
                return self._stream_cache[1]
        (W, Q), H, M = self._stream_shape(), self.d_model, self.modes  # the state's shape
        a, lam, _, dB = self.discrete()
        a_h = a if a.dim() else a.expand(H)
        if Q:
            rates, omega = self._stream_soe(a)  # [H, Q]: lags >= W + 1 (Q of the current orders)
            rates, omega = rates[:, :Q], omega[:, :Q]
        else:  # a fixed order 1
            rates = omega = lam.real.new_zeros(H, 0)
        w_near = gl_weights(a_h, W + 1).reshape(H, W + 1)[:, 1:]  # lags 1..W
        prop = soe_block(rates, 1, W)  # the engine's propagators for one-step blocks, the modes W steps behind
        # far weights omega e^{-r (W+1)}: the accumulators count from lag W + 1
        coef = -torch.cat([w_near, omega * prop.absorb[..., 0] * prop.emit[..., 0, :]], -1).reshape(H, 1, W + Q)
        inv = 1.0 / (1.0 - lam)
        cdt = _C128 if dtype == torch.float64 else torch.complex64
        C = torch.view_as_complex(self.C.to(_F64))[0]
        C2 = (2.0 * torch.stack([C.real, -C.imag], -1)).reshape(H, 2 * M, 1)
        decay = torch.cat([rates.new_zeros(H, W), prop.decay], -1).reshape(H, W + Q, 1, 1)
        out = (coef.to(dtype), decay.to(dtype), (dB * inv).unsqueeze(1).to(cdt),
               inv.unsqueeze(1).to(cdt), C2.to(dtype), None if self.D is None else self.D.to(dtype))
        out = tuple(None if t is None else t.to(device) for t in out) + (W, Q)
        if key is not None:
            self._stream_cache = (key, out)
        return out

    def _state_views(self, buf: torch.Tensor, W: int) -> FractionalSSMState:
        """``FractionalSSMState`` views of a history buffer ``[H, W + Q, B, 2M]``."""
        H, J, B, K = buf.shape
        stride, off = (K, J * B * K, B * K, 1), buf.storage_offset()
        return FractionalSSMState(buf.as_strided((B, H, W, K), stride, off),
                                  buf.as_strided((B, H, J - W, K), stride, off + W * B * K))

    def default_state(self, batch: int, *, device=None, dtype=None) -> FractionalSSMState:
        """Zero streaming state for ``batch`` sequences (``dtype``: the real dtype of the inputs)."""
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"{self._where}: batch must be an int >= 1, got {batch!r}")
        kw = {"dtype": dtype or self._param_dtype(), "device": device or self.log_dt.device}
        W, Q = self._stream_shape()
        return self._state_views(torch.zeros(self.d_model, W + Q, batch, 2 * self.modes, **kw), W)

    def _state_buffer(self, state, batch: int, W: int, Q: int, dtype) -> torch.Tensor:
        """The history buffer ``[H, W + Q, B, 2M]`` of ``state``: the buffer itself (no copy) when ``state``
        holds two views of one buffer in the layout of :meth:`_state_views`, else a validated contiguous copy."""
        if not isinstance(state, tuple) or len(state) != 2:
            raise ValueError(f"{self._where}: state must be a FractionalSSMState (from default_state) or None "
                             f"(start at zero), got {type(state).__name__}")
        near, far = state
        H, K, J = self.d_model, 2 * self.modes, W + Q
        if (isinstance(near, torch.Tensor) and isinstance(far, torch.Tensor) and near.dtype == dtype
                and far.dtype == dtype and near.shape == (batch, H, W, K) and far.shape == (batch, H, Q, K)
                and near.stride() == (K, J * batch * K, batch * K, 1) and far.stride() == near.stride()
                and far.storage_offset() == near.storage_offset() + W * batch * K):
            if near.requires_grad or far.requires_grad:  # keep the graph: the views' own base
                buf = near._base
                if (buf is not None and far._base is buf and buf.shape == (H, J, batch, K) and buf.is_contiguous()
                        and buf.storage_offset() == near.storage_offset()):
                    return buf
            elif near.untyped_storage().data_ptr() == far.untyped_storage().data_ptr():
                return near.as_strided((H, J, batch, K), (J * batch * K, batch * K, K, 1))
        for t, rows, what in ((near, W, "near"), (far, Q, "far")):
            if not isinstance(t, torch.Tensor) or tuple(t.shape) != (batch, H, rows, K) or t.dtype != dtype:
                got = (tuple(t.shape), t.dtype) if isinstance(t, torch.Tensor) else type(t).__name__
                raise ValueError(f"{self._where}: state does not match the input/layer: {what} is {got}, expected "
                                 f"shape {(batch, H, rows, K)} and dtype {dtype}; build it with "
                                 "default_state(batch, dtype=...)")
        return torch.cat([near.permute(1, 2, 0, 3), far.permute(1, 2, 0, 3)], 1)

    def step(self, x_t: torch.Tensor, state: FractionalSSMState | None):
        r"""One streaming step: ``x_t [B, H] -> (y_t [B, H], new state)`` (the given state is not modified).

        ``s_n = (Delta^a B x_n - sum_{j=1}^{W} w_j s_{n-j} - sum_q omega_q e^{-r_q (W+1)} G_q) / (1 - Delta^a A)``
        with the SOE accumulators ``G_q = sum_{k>=0} e^{-r_q k} s_{n-W-1-k}`` (so that
        ``omega_q e^{-r_q (W+1)} G_q = sum_{j>=W+1} omega_q e^{-r_q j} s_{n-j}``), updated as
        ``G_q <- e^{-r_q} G_q + s_{n-W}``; ``y_n = 2 Re(C s_n) + D x_n``. The whole history sum is one batched
        product of the ``W + Q`` weights with the state buffer (:class:`FractionalSSMState`). Cost
        ``O(B H M (W+Q))``; a fixed order 1 keeps only ``s_{n-1}`` (``W = 1, Q = 0``: the ordinary SSM
        recurrence). Coefficients are cached under ``torch.no_grad()`` (recomputed when a parameter changes);
        with gradients enabled the step is differentiable. ``state=None`` starts from zero
        (:meth:`default_state`).
        """
        if self.bidirectional:
            raise RuntimeError(f"{self._where}: a bidirectional layer looks at the future and cannot be run "
                               "step by step; build it with bidirectional=False for streaming")
        check_floating(x_t, "x_t", self._where)
        if x_t.dim() != 2 or x_t.shape[-1] != self.d_model:
            raise ValueError(f"{self._where}: x_t must have shape [batch, {self.d_model}], got {tuple(x_t.shape)}")
        Bt, H, M = x_t.shape[0], self.d_model, self.modes
        coef, decay, in_gain, fb, C2, D, W, Q = self._stream_coefficients(x_t.dtype, x_t.device)
        J = W + Q
        if state is None:
            buf = x_t.new_zeros(H, J, Bt, 2 * M)
        else:
            buf = self._state_buffer(state, Bt, W, Q, x_t.dtype)
        flat = buf.view(H, J, Bt * 2 * M)
        hist = torch.bmm(coef, flat) if J > 1 else coef * flat  # the history sum, [H, 1, B * 2M]
        hist = torch.view_as_complex(hist.view(H, Bt, M, 2))
        gx = in_gain * x_t.t().unsqueeze(-1)  # [H, B, M]
        if torch.is_grad_enabled():
            s = torch.addcmul(gx, fb, hist)
            parts = [torch.view_as_real(s).reshape(H, 1, Bt, 2 * M), buf[:, :W - 1]]
            if Q:
                parts.append(torch.addcmul(buf[:, W - 1:W], buf[:, W:], decay[:, W:]))
            new = torch.cat(parts, 1)
        else:  # the same in one pass over the buffer (far rows; near rows zero-decayed), then the near rows
            new = torch.addcmul(buf[:, W - 1:W], buf, decay) if Q else torch.empty_like(buf)
            if not new.is_contiguous():  # the layout the state views assume
                new = new.contiguous()
            torch.addcmul(gx, fb, hist, out=torch.view_as_complex(new[:, 0].view(H, Bt, M, 2)))
            if W > 1:
                new[:, 1:W].copy_(buf[:, :W - 1])
        y = torch.bmm(new[:, 0], C2).view(H, Bt).t()
        if D is not None:
            y = torch.addcmul(y, x_t, D)
        return (y if y.is_contiguous() else y.contiguous()), self._state_views(new, W)

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, d_state={self.d_state}, A={self.A_parameterization}, "
                f"bidirectional={self.bidirectional}, d_skip={self.D is not None}")
