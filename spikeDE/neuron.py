r"""Fractional-order spiking neurons (``nn.Module`` s), single-step and multi-step, and :func:`reset_net`.

A neuron layer integrates the Caputo equation ``tau * D^alpha v = -v + I`` (LIF; IF: ``tau D^alpha v = I``)
with input ``X_t`` held over step ``t``, fires ``S_t = Heaviside(H_t - theta)`` on the charged membrane ``H_t``
and resets (``V_t = H_t - theta S_t`` or ``v_reset``). ``alpha = 1`` is the discrete LIF/IF neuron bit for bit
(``H = V + (X - V)/tau``); ``0 < alpha < 1`` adds the power-law memory of the membrane history
(:mod:`spikeDE.dynamics.schemes` gives every scheme). The reset is a jump of the state and enters that memory.

Calling conventions (``step_mode``):

* ``'m'`` (multi-step, default): ``neuron(x)`` with ``x`` of shape ``[T, B, ...]`` runs the whole sequence from
  rest (``V_0 = 0``) with the fused kernels of :mod:`spikeDE.dynamics` and returns spikes ``[T, B, ...]``. Each
  call is an independent sequence.
* ``'s'`` (single-step, streaming): ``neuron(x_t)`` with ``x_t`` of shape ``[B, ...]`` advances one step and keeps
  the state (membrane, fractional history / SOE modes) until :meth:`BaseNeuron.reset` or :func:`reset_net`.
  Single-step and multi-step give the same results (up to floating-point rounding for ``alpha < 1``).

Inside :class:`spikeDE.SNNWrapper` the wrapper sets the order, scheme, memory and step of every neuron layer
(its own settings apply when the neuron runs on its own).

State for monitors: ``neuron.v`` / ``neuron.spike`` hold the membrane (after reset) and the spikes of the last
step (``[B, ...]``, detached); with ``neuron.record = True`` a multi-step call also keeps ``neuron.v_seq`` and
``neuron.spike_seq`` (``[T, B, ...]``, detached).

Defaults that differ from spikeDE 0.1.0: ``tau = 2.0`` for LIF (0.1.0: ``0.5``, which at ``dt = 1`` over-relaxes
the membrane, ``V + 2(X - V)``) and ``tau = 1.0`` for IF (so ``H = V + X``, the standard IF); ``reset='subtract'``
subtracts ``theta`` (0.1.0 subtracts ``theta / tau``, which is not the standard LIF at ``alpha = 1``);
the hard-reset neuron really sets ``V = v_reset``.
"""
from __future__ import annotations

import copy

from dataclasses import dataclass

import torch
from torch import nn

from ._checks import check_floating, check_positive
from .dynamics.fractional import (DEFAULT_BLOCK, DEFAULT_SOE_BLOCK, DEFAULT_SUB_BLOCK, MemoryPlan, StreamState,
                                  fractional_sequence, soe_plan_rates, soe_reduce)
from .dynamics.lif import lif_sequence, lif_step
from .dynamics.schemes import (SOE_METHODS, canonical_method, far_soe_weights, membrane_recurrence,
                               multiterm_kernel)
from .dynamics.spiking import check_reset, spike_config
from .order import FractionalOrder
from .surrogate import get_surrogate

__all__ = ["BaseNeuron", "IFNeuron", "LIFNeuron", "HardResetLIFNeuron", "NoisyLIFNeuron",
           "MultiTermCoefficients", "Dynamics", "reset_net", "check_memory", "check_integrator"]

SOE_TOL = 1e-4
SOE_HORIZON = 1 << 14
_INTEGRATORS = {"odeint": "odeint", "odeint_adjoint": "odeint", "fdeint": "fdeint", "fdeint_adjoint": "fdeint"}


def check_integrator(integrator: str) -> str:
    """``'odeint'`` (integer order) or ``'fdeint'`` (fractional); the ``*_adjoint`` names of spikeDE are
    accepted (the hand-written backward passes are already memory-lean)."""
    if not isinstance(integrator, str) or integrator.strip().lower() not in _INTEGRATORS:
        raise ValueError(f"integrator must be 'odeint' or 'fdeint' (or their '_adjoint' names), got {integrator!r}")
    return _INTEGRATORS[integrator.strip().lower()]


def check_memory(memory, where: str | None = None):
    """``None`` (full memory), an int ``L >= 1`` (short memory: the last ``L`` steps) or ``'soe'``.

    spikeDE's ``memory=-1`` means full memory and is accepted.
    """
    prefix = f"{where}: " if where else ""
    if memory is None or (isinstance(memory, int) and not isinstance(memory, bool) and memory == -1):
        return None
    if isinstance(memory, str):
        if memory.strip().lower() == "soe":
            return "soe"
    elif isinstance(memory, int) and not isinstance(memory, bool) and memory >= 1:
        return int(memory)
    raise ValueError(f"{prefix}memory must be None (full), an int >= 1 (short memory) or 'soe', got {memory!r}")


class MultiTermCoefficients(nn.Module):
    """Positive weights ``c_i`` of a distributed-order derivative ``sum_i c_i D^{alpha_i}``.

    A learnable set is stored as ``log_c`` (``c = exp(log_c)``, always positive); a fixed set is a buffer.
    """

    def __init__(self, values, learnable: bool = False, name: str | None = None):
        super().__init__()
        v = torch.as_tensor(values, dtype=torch.get_default_dtype()).reshape(-1).clone()
        check_positive(v, "multi_coefficient", where=name)
        self.learnable = bool(learnable)
        if self.learnable:
            self.log_c = nn.Parameter(torch.log(v))
        else:
            self.register_buffer("fixed", v)

    def forward(self) -> torch.Tensor:
        return torch.exp(self.log_c) if self.learnable else self.fixed

    def extra_repr(self) -> str:
        return f"coefficients={[round(float(c), 4) for c in self().detach()]}, learnable={self.learnable}"


@dataclass
class Dynamics:
    """The time stepping a neuron layer uses in one forward call (set by the wrapper or by the neuron)."""

    integrator: str
    order: FractionalOrder | None
    coefficients: MultiTermCoefficients | None
    method: str
    memory: object
    dt: float
    soe_tol: float = SOE_TOL
    soe_horizon: int = SOE_HORIZON
    block: int | None = None  # None: DEFAULT_BLOCK (exact / short memory) or DEFAULT_SOE_BLOCK (SOE)
    sub_block: int = DEFAULT_SUB_BLOCK


@dataclass
class _External:
    """Per-call context from :class:`spikeDE.SNNWrapper`."""

    dynamics: Dynamics
    mode: str  # 'fold' (sequence folded into the batch) or 'single'
    steps: int = 0
    batch: int = 0
    step_index: int = -1
    name: str = ""


def _private_copy(obj):
    """A copy of a stream-state entry whose containers a step may advance without touching the original
    (tensors are never modified in place by a step, they are replaced)."""
    if obj is None or isinstance(obj, (tuple, torch.Tensor, float, int)):
        return obj
    new = copy.copy(obj)
    for k, v in vars(new).items():
        if isinstance(v, (list, dict)):
            setattr(new, k, type(v)(v))
    return new


class BaseNeuron(nn.Module):
    r"""Common base of spikeDE's spiking neurons: LIF dynamics ``tau D^alpha v = -v + I`` with spike and reset.

    Subclasses change the drift (``leak = False``: IF), the reset defaults or the spike noise
    (:meth:`threshold_noise`); the time stepping (integer or fractional, exact / short / SOE memory,
    single- or multi-step) is shared.

    Args:
        tau: membrane time constant (``> 0``).
        threshold: firing threshold ``theta``.
        surrogate_grad_scale: sharpness ``kappa`` of the surrogate gradient (:mod:`spikeDE.surrogate`).
        surrogate_opt: surrogate name (``'arctan_surrogate'``, ``'atan'``, ``'sigmoid'``, ``'fast_sigmoid'``, ...).
        tau_learnable: learn ``tau`` (stored as ``log_tau``, so it stays positive).
        threshold_learnable: learn ``theta`` (a parameter ``threshold``).
        reset: ``'subtract'`` (``V = H - theta S``) or ``'zero'`` (``V = v_reset`` where it spiked).
        v_reset: reset potential for ``reset='zero'``.
        detach_reset: do not backpropagate through the spike inside the reset (as spikeDE and snnTorch).
        alpha: fractional order ``0 < alpha <= 1`` when the neuron runs on its own (a list: multi-term orders).
        method: ``'gl'``, ``'l1'``, ``'predictor'`` or ``'corrector'`` (:mod:`spikeDE.dynamics.schemes`).
        memory: ``None`` (full), ``L`` (short memory) or ``'soe'`` (sum-of-exponentials compression).
        multi_coefficient: weights ``c_i`` of multi-term orders (default: ones).
        learn_alpha, learn_coefficient: make the neuron's own order / weights learnable.
        integrator: ``'fdeint'`` (fractional) or ``'odeint'`` (integer order, ``alpha`` ignored).
        dt: time step.
        step_mode: ``'m'`` (multi-step, ``[T, B, ...]``) or ``'s'`` (single-step, ``[B, ...]``).
    """

    leak: bool = True

    def __init__(self, tau: float = 2.0, threshold: float = 1.0, surrogate_grad_scale: float = 5.0,
                 surrogate_opt: str = "arctan_surrogate", tau_learnable: bool = False, *,
                 threshold_learnable: bool = False, reset: str = "subtract", v_reset: float = 0.0,
                 detach_reset: bool = True, alpha=1.0, method: str = "gl", memory=None, multi_coefficient=None,
                 learn_alpha: bool = False, learn_coefficient: bool = False, integrator: str = "fdeint",
                 dt: float = 1.0, step_mode: str = "m"):
        super().__init__()
        where = type(self).__name__
        check_positive(float(tau) if not isinstance(tau, torch.Tensor) else tau, "tau", where)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, torch.Tensor)):
            raise TypeError(f"{where}: threshold must be a number, got {type(threshold).__name__}")
        check_positive(float(surrogate_grad_scale), "surrogate_grad_scale", where)
        check_positive(float(dt), "dt", where)
        self.surrogate = get_surrogate(surrogate_opt)
        self.surrogate_grad_scale = float(surrogate_grad_scale)
        # Fixed tau / threshold are kept as Python floats, so that float32 and float64 models use them at full
        # precision; learnable ones are parameters (tau as log_tau, so that it stays positive).
        self.tau_learnable = bool(tau_learnable)
        if self.tau_learnable:
            self.log_tau = nn.Parameter(torch.log(torch.as_tensor(float(tau), dtype=torch.get_default_dtype())))
        else:
            self.tau_value = float(tau)
        self.threshold_learnable = bool(threshold_learnable)
        if self.threshold_learnable:
            self.threshold = nn.Parameter(torch.as_tensor(float(threshold), dtype=torch.get_default_dtype()))
        else:
            self.threshold = float(threshold)
        self.reset_mode = check_reset(reset, where)
        self.v_reset = float(v_reset)
        self.detach_reset = bool(detach_reset)
        if isinstance(alpha, (list, tuple)):
            if len(alpha) == 0:
                raise ValueError(f"{where}: alpha is an empty list")
            n_terms = len(alpha)
            alpha = list(alpha) if n_terms > 1 else alpha[0]
        else:
            n_terms = 1
        self.order = FractionalOrder(alpha, learnable=learn_alpha, shape=(n_terms,) if n_terms > 1 else (),
                                     name=where)
        if n_terms > 1 or multi_coefficient is not None:
            coefs = [1.0] * n_terms if multi_coefficient is None else multi_coefficient
            if len(coefs) != n_terms:
                raise ValueError(f"{where}: {n_terms} orders need {n_terms} multi_coefficient entries, "
                                 f"got {len(coefs)}")
            self.coefficients = MultiTermCoefficients(coefs, learn_coefficient, where)
        else:
            self.coefficients = None
        self.method = canonical_method(method)
        self.memory = check_memory(memory, where)
        self.integrator = check_integrator(integrator)
        self.dt = float(dt)
        self.step_mode = self._check_step_mode(step_mode)
        self.record = False
        object.__setattr__(self, "_external", None)
        self._clear_state()

    # ----------------------------------------------------------------- parameters
    @staticmethod
    def _check_step_mode(step_mode: str) -> str:
        key = {"m": "m", "multi": "m", "multi_step": "m", "s": "s", "single": "s", "single_step": "s"}.get(
            step_mode if isinstance(step_mode, str) else None)
        if key is None:
            raise ValueError(f"step_mode must be 'm' (multi-step) or 's' (single-step), got {step_mode!r}")
        return key

    @property
    def tau(self) -> torch.Tensor:
        """Membrane time constant (0-d tensor; ``exp(log_tau)`` when learnable, else float64)."""
        if self.tau_learnable:
            return torch.exp(self.log_tau)
        return torch.tensor(self.tau_value, dtype=torch.float64)

    def theta(self, like: torch.Tensor) -> torch.Tensor:
        """The threshold as a 0-d tensor with the dtype and device of ``like`` (graph kept when learnable)."""
        if self.threshold_learnable:
            return self.threshold.to(dtype=like.dtype, device=like.device)
        return torch.tensor(self.threshold, dtype=like.dtype, device=like.device)

    def get_tau(self) -> torch.Tensor:
        """The membrane time constant (spikeDE's name)."""
        return self.tau

    def threshold_noise(self, shape, like: torch.Tensor):
        """Threshold noise ``xi`` (spike if ``H - theta + xi >= 0``) or ``None``; overridden by noisy neurons."""
        return None

    def spike_config(self, noise=None):
        """The :class:`spikeDE.dynamics.spiking.SpikeConfig` of this neuron."""
        return spike_config(self.reset_mode, self.v_reset, self.detach_reset, self.surrogate,
                            self.surrogate_grad_scale, noise, getattr(self, "noise_in_grad", True))

    def own_dynamics(self) -> Dynamics:
        """The time stepping this neuron uses on its own (outside :class:`spikeDE.SNNWrapper`)."""
        return Dynamics(self.integrator, self.order, self.coefficients, self.method, self.memory, self.dt)

    # ----------------------------------------------------------------- state
    def _clear_state(self):
        # plain state attributes (never parameters or buffers): written to __dict__ directly, which is what
        # nn.Module.__setattr__ does for them after its checks, without the checks' cost on the hot path
        self.__dict__.update(_last_step=None, _v_state=None, _stream=None, _stream_kernel=None, _stream_du=None,
                             v=None, spike=None, v_seq=None, spike_seq=None)

    def reset(self):
        """Forget the state (membrane, fractional history, recorded sequences): the next call starts at rest."""
        self._clear_state()

    #: attributes that hold the single-step (streaming) state: membrane, history / SOE modes, cached kernel
    STREAM_STATE = ("_v_state", "_stream", "_stream_kernel", "_stream_du")

    def stream_state(self) -> tuple:
        """The single-step state as an opaque tuple (all ``None`` at rest), to keep several streams apart:
        ``state = n.stream_state()`` ... ``n.load_stream_state(state)`` continues that stream."""
        return tuple(self.__dict__[k] for k in self.STREAM_STATE)

    def load_stream_state(self, state: tuple) -> None:
        """Continue from ``state`` (from :meth:`stream_state`, or ``(None,) * len(STREAM_STATE)`` for rest).
        The neuron works on a copy: later steps never change ``state`` itself."""
        if not isinstance(state, tuple) or len(state) != len(self.STREAM_STATE):
            raise ValueError(f"{type(self).__name__}.load_stream_state: expected a tuple of {len(self.STREAM_STATE)} "
                             f"entries from stream_state(), got {type(state).__name__} of length "
                             f"{len(state) if isinstance(state, tuple) else '-'}")
        self.__dict__.update({k: _private_copy(v) for k, v in zip(self.STREAM_STATE, state)})

    # ----------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_floating(x, "input", type(self).__name__)
        ext = self._external
        if ext is not None:
            dyn = ext.dynamics
            if ext.mode == "fold":
                expected = ext.steps * ext.batch
                if x.dim() < 1 or x.shape[0] != expected:
                    raise RuntimeError(
                        f"{type(self).__name__} '{ext.name}': SNNWrapper runs the network once on the sequence "
                        f"folded into the batch (first dimension T*B = {ext.steps}*{ext.batch} = {expected}), but "
                        f"this neuron received shape {tuple(x.shape)}. The network mixes the batch dimension or "
                        f"calls neurons on other tensors; use SNNWrapper(..., step_mode='single').")
                seq = x.reshape(ext.steps, -1)
                out = self._run_sequence(seq, dyn, (ext.steps, ext.batch) + tuple(x.shape[1:]))
                return out.reshape(x.shape)
            if ext.step_index == getattr(self, "_last_step", None):
                raise RuntimeError(f"{type(self).__name__} '{ext.name}' was called twice in one time step; "
                                   f"a neuron layer keeps one state, use a separate instance per call")
            self.__dict__["_last_step"] = ext.step_index
            return self._run_step(x, dyn)
        dyn = self.own_dynamics()
        if self.step_mode == "m":
            if x.dim() < 2:
                raise ValueError(f"{type(self).__name__} (multi-step mode) expects input [T, B, ...] with at least "
                                 f"2 dimensions, got shape {tuple(x.shape)}; use step_mode='s' for one step [B, ...]")
            seq = x.reshape(x.shape[0], -1)
            return self._run_sequence(seq, dyn, tuple(x.shape)).reshape(x.shape)
        if x.dim() < 1:
            raise ValueError(f"{type(self).__name__} (single-step mode) expects input [B, ...], got a scalar")
        return self._run_step(x, dyn)

    # ----------------------------------------------------------------- dynamics
    @staticmethod
    def _orders(dyn: Dynamics):
        """(alpha tensor, coefficient tensor or None, integer-order?)"""
        if dyn.integrator == "odeint" or dyn.order is None:
            return None, None, True
        alpha = dyn.order()
        coefs = dyn.coefficients() if dyn.coefficients is not None else None
        integer = dyn.order.is_one() and dyn.method != "corrector"
        return alpha, coefs, integer

    def _integer_tau(self, dyn: Dynamics, coefs, like):
        """``tau / dt`` of the integer-order step (``sum_i c_i dV/dt = f`` divides by ``sum_i c_i``)."""
        tau = self.tau.to(dtype=like.dtype, device=like.device)
        if coefs is not None:
            tau = tau * coefs.to(like.dtype).sum()
        return tau / dyn.dt if dyn.dt != 1.0 else tau

    def _plan(self, dyn: Dynamics, alpha, coefs):
        if dyn.memory == "soe":
            if dyn.method not in SOE_METHODS:
                raise ValueError(f"{type(self).__name__}: memory='soe' is available for methods "
                                 f"{', '.join(SOE_METHODS)}, got method {dyn.method!r}")
            block = dyn.block or DEFAULT_SOE_BLOCK
            rates, du = soe_plan_rates(block, dyn.soe_horizon, dyn.soe_tol)
            return MemoryPlan("soe", None, block, dyn.sub_block, rates), du
        return MemoryPlan("exact", dyn.memory, dyn.block or DEFAULT_BLOCK, dyn.sub_block), None

    def _recurrence(self, dyn: Dynamics, alpha, coefs, n: int, like: torch.Tensor):
        """``(c_X, K')`` (dtype of ``like``) covering lags ``< n``."""
        g, k = multiterm_kernel(dyn.method, alpha, coefs, max(n, 2), dyn.dt)
        cx, kp = membrane_recurrence(dyn.method, g, k, self.tau, self.leak, alpha.reshape(-1)[0], dyn.dt)
        return cx.to(like.dtype), kp.to(like.dtype)

    def _run_sequence(self, seq: torch.Tensor, dyn: Dynamics, shape: tuple) -> torch.Tensor:
        T = seq.shape[0]
        noise = self.threshold_noise(seq.shape, seq)
        cfg = self.spike_config(noise)
        theta = self.theta(seq)
        alpha, coefs, integer = self._orders(dyn)
        if integer:
            S, V = lif_sequence(seq, self._integer_tau(dyn, coefs, seq), theta, self.leak, cfg)
        else:
            plan, du = self._plan(dyn, alpha, coefs)
            if plan.kind == "soe":
                n = min(T, 2 * plan.block)
                cx, kp = self._recurrence(dyn, alpha, coefs, n, seq)
                omega = far_soe_weights(dyn.method, alpha, coefs, plan.rates, du, dyn.dt)
                plan, omega = soe_reduce(plan, omega, dyn.soe_horizon, dyn.soe_tol)
                omega = omega.to(seq.dtype)
                S, V = fractional_sequence(seq, cx, kp, theta, cfg, plan, omega)
            else:
                n = T if plan.length is None else min(T, plan.length + 1)
                cx, kp = self._recurrence(dyn, alpha, coefs, n, seq)
                S, V = fractional_sequence(seq, cx, kp, theta, cfg, plan)
        state = self.__dict__
        state["v"], state["spike"] = V[-1].detach().reshape(shape[1:]), S[-1].detach().reshape(shape[1:])
        if self.record:
            state["v_seq"], state["spike_seq"] = V.detach().reshape(shape), S.detach().reshape(shape)
        return S

    def _run_step(self, x: torch.Tensor, dyn: Dynamics) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1)
        xi = self.threshold_noise(flat.shape, flat)
        cfg = self.spike_config(None)
        theta = self.theta(x)
        alpha, coefs, integer = self._orders(dyn)
        if integer:
            v = self._v_state if self._v_state is not None else torch.zeros_like(flat)
            s, v = lif_step(flat, v, self._integer_tau(dyn, coefs, flat), theta, self.leak, cfg, xi)
            self.__dict__["_v_state"] = v
        else:
            if self._stream is None:
                plan, du = self._plan(dyn, alpha, coefs)
                self.__dict__.update(_stream=StreamState(plan), _stream_du=du)
            st = self._stream
            plan = st.plan
            if plan.kind == "soe":
                if self._stream_kernel is None:
                    cx, kp = self._recurrence(dyn, alpha, coefs, 2 * plan.block, flat)
                    omega = far_soe_weights(dyn.method, alpha, coefs, plan.rates, self._stream_du, dyn.dt)
                    if st.t == 0:  # the stream's modes follow the orders it starts with
                        st.plan, omega = soe_reduce(plan, omega, dyn.soe_horizon, dyn.soe_tol)
                    self.__dict__["_stream_kernel"] = (cx, kp, omega.to(flat.dtype))
                cx, kp, omega = self._stream_kernel
            else:
                need = st.t + 1 if plan.length is None else min(st.t + 1, plan.length + 1)
                if self._stream_kernel is None or self._stream_kernel[1].numel() < need:
                    cap = max(64, 2 * need) if plan.length is None else plan.length + 1
                    self.__dict__["_stream_kernel"] = self._recurrence(dyn, alpha, coefs, cap, flat) + (None,)
                cx, kp, omega = self._stream_kernel
            s, v = st.step(flat, cx, kp, theta, cfg, omega, xi)
        self.__dict__.update(v=v.detach().reshape(shape), spike=s.detach().reshape(shape))
        return s.reshape(shape)

    def extra_repr(self) -> str:
        parts = [f"tau={float(self.tau):.4g}", f"threshold={float(self.threshold):.4g}",
                 f"surrogate={self.surrogate.name}(scale={self.surrogate_grad_scale:g})", f"reset={self.reset_mode!r}"]
        if self.reset_mode == "zero":
            parts.append(f"v_reset={self.v_reset:g}")
        parts += [f"method={self.method!r}", f"memory={self.memory!r}", f"dt={self.dt:g}",
                  f"step_mode={self.step_mode!r}"]
        return ", ".join(parts)


class LIFNeuron(BaseNeuron):
    r"""Fractional leaky integrate-and-fire neuron ``tau D^alpha v = -v + I`` (``alpha = 1``: LIF).

    Discrete step (``alpha = 1``, ``dt = 1``): ``H = V + (X - V)/tau``, ``S = H >= theta``, ``V = H - theta S``.
    See :class:`BaseNeuron` for the arguments.
    """

    leak = True


class IFNeuron(BaseNeuron):
    r"""Fractional integrate-and-fire neuron ``tau D^alpha v = I`` (``alpha = 1``: ``H = V + X/tau``).

    Default ``tau = 1`` (the standard IF neuron ``H = V + X``). See :class:`BaseNeuron` for the arguments.
    """

    leak = False

    def __init__(self, tau: float = 1.0, threshold: float = 1.0, surrogate_grad_scale: float = 5.0,
                 surrogate_opt: str = "arctan_surrogate", tau_learnable: bool = False, **kwargs):
        super().__init__(tau, threshold, surrogate_grad_scale, surrogate_opt, tau_learnable, **kwargs)


class HardResetLIFNeuron(LIFNeuron):
    r"""LIF neuron with hard reset: after a spike the membrane is set to ``v_reset`` (default 0), and this
    post-reset value is what the fractional history remembers. ``reset='zero'`` of :class:`BaseNeuron`."""

    def __init__(self, tau: float = 2.0, threshold: float = 1.0, surrogate_grad_scale: float = 5.0,
                 surrogate_opt: str = "arctan_surrogate", tau_learnable: bool = False, *, v_reset: float = 0.0,
                 **kwargs):
        if kwargs.get("reset", "zero") not in ("zero", "hard"):
            raise ValueError("HardResetLIFNeuron: reset is always 'zero'; use LIFNeuron for reset='subtract'")
        kwargs["reset"] = "zero"
        super().__init__(tau, threshold, surrogate_grad_scale, surrogate_opt, tau_learnable, v_reset=v_reset,
                         **kwargs)


class NoisyLIFNeuron(LIFNeuron):
    r"""LIF neuron with a noisy threshold: in training ``S = Heaviside(H - theta + xi)`` with i.i.d. logistic
    noise ``xi ~ Logistic(0, gamma)`` per neuron and step; in evaluation (``.eval()``) deterministic ``H >= theta``.

    The expected spike is ``P(S = 1 | H) = sigmoid((H - theta)/gamma)``, whose derivative, the logistic density
    ``(1/gamma) sigmoid(z)(1 - sigmoid(z))``, is the surrogate: ``surrogate_opt='sigmoid'`` with scale
    ``1/gamma`` by default. ``noise_in_grad=True`` evaluates it at the noisy point ``H - theta + xi``
    (straight-through of the sampled spike), ``False`` at ``H - theta`` (gradient of the expectation).

    Args:
        noise_scale: ``gamma > 0`` (spikeDE's ``gamma``; default 0.2).
        Other arguments as :class:`BaseNeuron`.
    """

    def __init__(self, tau: float = 2.0, threshold: float = 1.0, surrogate_grad_scale: float | None = None,
                 surrogate_opt: str = "sigmoid", tau_learnable: bool = False, *, noise_scale: float = 0.2,
                 gamma: float | None = None, noise_in_grad: bool = True, **kwargs):
        gamma = noise_scale if gamma is None else gamma
        check_positive(float(gamma), "noise_scale", "NoisyLIFNeuron")
        scale = 1.0 / gamma if surrogate_grad_scale is None else surrogate_grad_scale
        super().__init__(tau, threshold, scale, surrogate_opt, tau_learnable, **kwargs)
        self.noise_scale = float(gamma)
        self.noise_in_grad = bool(noise_in_grad)

    def threshold_noise(self, shape, like: torch.Tensor):
        if not self.training:
            return None
        u = torch.rand(shape, dtype=like.dtype, device=like.device)
        tiny = torch.finfo(like.dtype).tiny
        u = u.clamp(min=tiny, max=1.0 - torch.finfo(like.dtype).eps)
        return self.noise_scale * (torch.log(u) - torch.log1p(-u))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", noise_scale={self.noise_scale:g}"


def reset_net(module: nn.Module) -> None:
    """Reset the state of every spikeDE neuron in ``module`` (call between independent sequences in
    single-step mode)."""
    for m in module.modules():
        if isinstance(m, BaseNeuron):
            m.reset()

