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

Inside :class:`spikeDE.SNNWrapper` the wrapper owns the orders and passes them, with the scheme, memory and step,
explicitly to every neuron layer's forward (``context=``); the neuron's own settings apply when it runs on its
own (a learnable order of its own is fixed when it is wrapped, since it would never receive a gradient).

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
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from ._checks import check_floating, check_positive, check_stream_batch, check_threshold
from .dynamics.functional import Dynamics, MembraneParams, MembraneState, membrane_sequence, membrane_step
from .dynamics.schemes import canonical_method
from .dynamics.spiking import check_reset, spike_config
from .fractional.memory import parse_memory
from .fractional.schemes import DEFAULT_SOE_TOL, SOE_HORIZON  # noqa: F401  (re-exported defaults)
from .order import FractionalOrder, MultiTermCoefficients, make_orders
from .surrogate import get_surrogate

__all__ = ["BaseNeuron", "IFNeuron", "LIFNeuron", "HardResetLIFNeuron", "NoisyLIFNeuron",
           "MultiTermCoefficients", "Dynamics", "CallContext", "make_dynamics", "reset_net", "check_memory",
           "check_integrator"]

SOE_TOL = DEFAULT_SOE_TOL  # the defaults of spikeDE.fractional.schemes
_INTEGRATORS = {"odeint": "odeint", "odeint_adjoint": "odeint", "fdeint": "fdeint", "fdeint_adjoint": "fdeint"}


def check_integrator(integrator: str) -> str:
    """``'odeint'`` (integer order) or ``'fdeint'`` (fractional); the ``*_adjoint`` names of spikeDE are
    accepted (the hand-written backward passes are already memory-lean)."""
    if not isinstance(integrator, str) or integrator.strip().lower() not in _INTEGRATORS:
        raise ValueError(f"integrator must be 'odeint' or 'fdeint' (or their '_adjoint' names), got {integrator!r}")
    return _INTEGRATORS[integrator.strip().lower()]


def check_memory(memory, where: str | None = None):
    """``None`` (full memory), an int ``L >= 1`` (short memory: the last ``L`` steps) or ``'soe'``, validated by
    the one parser :func:`spikeDE.fractional.memory.parse_memory`; spikeDE's ``memory=-1`` means full memory."""
    if isinstance(memory, int) and not isinstance(memory, bool) and memory == -1:
        return None
    if isinstance(memory, str):
        memory = memory.strip().lower()
    try:
        spec = parse_memory(memory)
    except ValueError:
        prefix = f"{where}: " if where else ""
        raise ValueError(f"{prefix}memory must be None (full), an int >= 1 (short memory) or 'soe', "
                         f"got {memory!r}") from None
    return {"full": None, "short": spec.steps, "soe": "soe"}[spec.kind]


def make_dynamics(integrator: str, order: FractionalOrder | None, coefficients: MultiTermCoefficients | None,
                  method: str, memory, dt: float, **kwargs) -> Dynamics:
    """:class:`Dynamics` with the orders evaluated now (graph kept for learnable ones); integer order for
    ``integrator='odeint'`` or a fixed order of exactly 1 (except for ``heun``, Heun's step at 1)."""
    if integrator == "odeint" or order is None:
        return Dynamics("odeint", None, None, method, memory, dt, integer=True, **kwargs)
    coefs = coefficients() if coefficients is not None else None
    integer = order.is_one() and method != "heun"
    return Dynamics(integrator, order(), coefs, method, memory, dt, integer=integer, **kwargs)


@dataclass
class CallContext:
    """What :class:`spikeDE.SNNWrapper` passes to each neuron layer's forward for one call (``context=``)."""

    dynamics: Dynamics
    mode: str  # 'fold' (sequence folded into the batch) or 'single'
    steps: int = 0
    batch: int = 0
    step_index: int = -1
    name: str = ""
    calls: int = 0  # calls in this forward ('fold' mode: more than one means a recurrent network)


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
        method: ``'gl'``, ``'l1'``, ``'predictor'`` or ``'heun'`` (:mod:`spikeDE.fractional.schemes`).
        memory: ``None`` (full), ``L`` (short memory) or ``'soe'`` (sum-of-exponentials compression).
        multi_coefficient: weights ``c_i`` of multi-term orders (default: ones).
        learn_alpha, learn_coefficient: make the neuron's own order / weights learnable.
        integrator: ``'fdeint'`` (fractional) or ``'odeint'`` (integer order, ``alpha`` ignored).
        dt: time step.
        step_mode: ``'m'`` (multi-step, ``[T, B, ...]``) or ``'s'`` (single-step, ``[B, ...]``).
    """

    leak: bool = True
    stateful = True  # reset by reset_net

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
        check_threshold(threshold, where)
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
        self.order, self.coefficients = make_orders(alpha, multi_coefficient, learn_alpha, learn_coefficient, where)
        self.method = canonical_method(method)
        self.memory = check_memory(memory, where)
        self.integrator = check_integrator(integrator)
        self.dt = float(dt)
        self.step_mode = self._check_step_mode(step_mode)
        self.record = False
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
        return make_dynamics(self.integrator, self.order, self.coefficients, self.method, self.memory, self.dt)

    def yield_orders(self, owner: str = "SNNWrapper") -> None:
        """Hand the order over to a wrapper: a learnable order (or multi-term weights) of the neuron's own would
        never receive a gradient there, so it becomes fixed at its current value (a buffer, used only when the
        neuron runs on its own), with a warning naming what to write instead."""
        learn_a = self.order.learnable
        learn_c = self.coefficients is not None and self.coefficients.learnable
        if not (learn_a or learn_c):
            return
        where = type(self).__name__
        warnings.warn(f"{where}: its own learnable order/weights (learn_alpha / learn_coefficient) are unused inside "
                      f"{owner}, which owns the orders; they are fixed here. Write {owner}(..., alpha=..., "
                      f"learn_alpha=True) instead.", UserWarning, stacklevel=3)
        value = self.order.value
        self.order = FractionalOrder(value, learnable=False, shape=tuple(value.shape), name=where)
        if learn_c:
            self.coefficients = MultiTermCoefficients(self.coefficients().detach(), False, where)

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
    def forward(self, x: torch.Tensor, context: CallContext | None = None) -> torch.Tensor:
        """Spikes for ``x`` (see the module docstring); ``context``: the orders and call layout from
        :class:`spikeDE.SNNWrapper` (``None``: the neuron's own settings)."""
        check_floating(x, "input", type(self).__name__)
        ext = context
        if ext is not None and not isinstance(ext, CallContext):
            raise TypeError(f"{type(self).__name__}: context must be a CallContext (passed by SNNWrapper) or None, "
                            f"got {type(ext).__name__}")
        if ext is not None:
            dyn = ext.dynamics
            if ext.mode == "fold":
                expected = ext.steps * ext.batch
                ext.calls += 1
                if ext.calls > 1:  # recurrence: the folded sequence cannot hold feedback from later steps
                    raise RuntimeError(
                        f"{type(self).__name__} '{ext.name}' was called twice in one forward of a multi-step "
                        f"SNNWrapper: a recurrent network (its output fed back) cannot run on the folded "
                        f"sequence, use SNNWrapper(..., step_mode='single'); a layer reused in a feed-forward "
                        f"network needs a separate instance per call")
                if x.dim() < 1 or x.shape[0] != expected:
                    raise RuntimeError(
                        f"{type(self).__name__} '{ext.name}': SNNWrapper runs the network once on the sequence "
                        f"folded into the batch (first dimension T*B = {ext.steps}*{ext.batch} = {expected}), but "
                        f"this neuron received shape {tuple(x.shape)}. The network mixes the batch dimension or "
                        f"calls neurons on other tensors; use SNNWrapper(..., step_mode='single').")
                if x.numel() == 0:
                    return torch.zeros_like(x)
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
            if x.numel() == 0:
                return torch.zeros_like(x)
            seq = x.reshape(x.shape[0], -1)
            return self._run_sequence(seq, dyn, tuple(x.shape)).reshape(x.shape)
        if x.dim() < 1:
            raise ValueError(f"{type(self).__name__} (single-step mode) expects input [B, ...], got a scalar")
        return self._run_step(x, dyn)

    # ----------------------------------------------------------------- extension points and dynamics
    def input_sequence(self, seq: torch.Tensor, dyn: Dynamics) -> torch.Tensor:
        """The membrane's input ``X_t`` (``[T, D]``) from the layer input ``seq``; identity here. A neuron with a
        synapse (:class:`spikeDE.CubaLIFNeuron`) filters it."""
        return seq

    def input_step(self, x: torch.Tensor, dyn: Dynamics) -> torch.Tensor:
        """The single-step counterpart of :meth:`input_sequence` (may keep state in :attr:`STREAM_STATE`)."""
        return x

    def membrane_params(self, noise=None) -> MembraneParams:
        """The :class:`spikeDE.dynamics.functional.MembraneParams` of this neuron (``noise``: threshold noise)."""
        return MembraneParams(self.tau, self.leak, self.spike_config(noise))

    def _run_sequence(self, seq: torch.Tensor, dyn: Dynamics, shape: tuple) -> torch.Tensor:
        seq = self.input_sequence(seq, dyn)
        noise = self.threshold_noise(seq.shape, seq)
        S, V = membrane_sequence(seq, self.theta(seq), self.membrane_params(noise), dyn)
        state = self.__dict__
        state["v"], state["spike"] = V[-1].detach().reshape(shape[1:]), S[-1].detach().reshape(shape[1:])
        if self.record:
            state["v_seq"], state["spike_seq"] = V.detach().reshape(shape), S.detach().reshape(shape)
        return S

    def _run_step(self, x: torch.Tensor, dyn: Dynamics) -> torch.Tensor:
        shape = x.shape
        held = self._v_state if self._v_state is not None else (
            self._stream.window[-1] if self._stream is not None and self._stream.window else None)
        check_stream_batch(x, held, type(self).__name__)  # a batch change without reset() is an error
        flat = self.input_step(x.reshape(-1), dyn)
        xi = self.threshold_noise(flat.shape, flat)
        s, v = self._membrane_step(flat, dyn, self.theta(flat), xi)
        self.__dict__.update(v=v.detach().reshape(shape), spike=s.detach().reshape(shape))
        return s.reshape(shape)

    def _membrane_step(self, flat: torch.Tensor, dyn: Dynamics, theta: torch.Tensor, xi=None):
        """One step ``(S_t, V_t)`` of the membrane from the streaming state (kept in :attr:`STREAM_STATE`), with
        the threshold ``theta`` (0-d, or one value per neuron ``[D]``). Autograd through the step."""
        d = self.__dict__
        state = MembraneState(d["_v_state"], d["_stream"], d["_stream_kernel"], d["_stream_du"])
        s, v, state = membrane_step(flat, theta, state, self.membrane_params(), dyn, xi)
        d.update(_v_state=state.v, _stream=state.stream, _stream_kernel=state.kernel, _stream_du=state.du)
        return s, v

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
    """Reset the state of every stateful spikeDE layer in ``module`` (call between independent sequences in
    single-step mode): the neurons, the event-driven layer (:class:`spikeDE.events.SpikingODELayer`: membrane,
    clock, last spike train) and the spiking SSM blocks (last-call statistics; their streaming state is explicit).
    A layer takes part by defining ``reset()`` and the class attribute ``stateful = True``."""
    for m in module.modules():
        if isinstance(m, BaseNeuron) or getattr(type(m), "stateful", False) is True:
            m.reset()
