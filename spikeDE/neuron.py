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

import torch
from torch import nn

from ._checks import check_positive
from .dynamics.functional import (Dynamics, MembraneParams, check_integrator, check_memory, make_dynamics,
                                  membrane_sequence, membrane_step)
from .dynamics.schemes import canonical_method
from .dynamics.spiking import check_reset, spike_config
from .fractional.schemes import DEFAULT_SOE_TOL, SOE_HORIZON  # noqa: F401  (re-exported defaults)
from .neuron_base import (MEMBRANE_STATE, CallContext, StepModule, check_neuron_args, check_step_batch,
                          check_step_mode, fixed_orders, get_membrane, record_sequence, set_membrane)
from .order import MultiTermCoefficients, make_orders
from .surrogate import get_surrogate

__all__ = ["BaseNeuron", "IFNeuron", "LIFNeuron", "HardResetLIFNeuron", "NoisyLIFNeuron",
           "MultiTermCoefficients", "Dynamics", "CallContext", "make_dynamics", "reset_net", "check_memory",
           "check_integrator"]

SOE_TOL = DEFAULT_SOE_TOL  # the defaults of spikeDE.fractional.schemes


class BaseNeuron(StepModule):
    r"""Common base of spikeDE's spiking neurons: LIF dynamics ``tau D^alpha v = -v + I`` with spike and reset.

    Subclasses change the drift (``leak = False``: IF), the input drive (:meth:`input_sequence` /
    :meth:`input_step`), the reset defaults or the spike noise (:meth:`threshold_noise`); the time stepping
    (:mod:`spikeDE.dynamics.functional`: integer or fractional, exact / short / SOE memory) and the call layout
    (:mod:`spikeDE.neuron_base`: single- or multi-step, on its own or in :class:`spikeDE.SNNWrapper`) are shared.

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
    #: attributes that hold the single-step (streaming) state: membrane, history / SOE modes, cached kernel
    STREAM_STATE = MEMBRANE_STATE

    def __init__(self, tau: float = 2.0, threshold: float = 1.0, surrogate_grad_scale: float = 5.0,
                 surrogate_opt: str = "arctan_surrogate", tau_learnable: bool = False, *,
                 threshold_learnable: bool = False, reset: str = "subtract", v_reset: float = 0.0,
                 detach_reset: bool = True, alpha=1.0, method: str = "gl", memory=None, multi_coefficient=None,
                 learn_alpha: bool = False, learn_coefficient: bool = False, integrator: str = "fdeint",
                 dt: float = 1.0, step_mode: str = "m"):
        super().__init__()
        where = type(self).__name__
        check_neuron_args(where, tau, threshold, surrogate_grad_scale, dt)
        self.surrogate, self.surrogate_grad_scale = get_surrogate(surrogate_opt), float(surrogate_grad_scale)
        # Fixed tau / threshold stay Python floats (full precision in float32 and float64 models); learnable ones
        # are parameters (tau as log_tau, so that it stays positive).
        self.tau_learnable, self.threshold_learnable = bool(tau_learnable), bool(threshold_learnable)
        if self.tau_learnable:
            self.log_tau = nn.Parameter(torch.log(torch.as_tensor(float(tau), dtype=torch.get_default_dtype())))
        else:
            self.tau_value = float(tau)
        self.threshold = (nn.Parameter(torch.as_tensor(float(threshold), dtype=torch.get_default_dtype()))
                          if self.threshold_learnable else float(threshold))
        self.reset_mode, self.v_reset, self.detach_reset = check_reset(reset, where), float(v_reset), bool(detach_reset)
        self.order, self.coefficients = make_orders(alpha, multi_coefficient, learn_alpha, learn_coefficient, where)
        self.method, self.memory = canonical_method(method), check_memory(memory, where)
        self.integrator, self.dt, self.step_mode = check_integrator(integrator), float(dt), check_step_mode(step_mode)

    # ----------------------------------------------------------------- parameters
    @property
    def tau(self) -> torch.Tensor:
        """Membrane time constant (0-d tensor; ``exp(log_tau)`` when learnable, else float64)."""
        return torch.exp(self.log_tau) if self.tau_learnable else torch.tensor(self.tau_value, dtype=torch.float64)

    def get_tau(self) -> torch.Tensor:
        """The membrane time constant (spikeDE's name)."""
        return self.tau

    def theta(self, like: torch.Tensor) -> torch.Tensor:
        """The threshold as a 0-d tensor with the dtype and device of ``like`` (graph kept when learnable)."""
        if self.threshold_learnable:
            return self.threshold.to(dtype=like.dtype, device=like.device)
        return torch.tensor(self.threshold, dtype=like.dtype, device=like.device)

    def threshold_noise(self, shape, like: torch.Tensor):
        """Threshold noise ``xi`` (spike if ``H - theta + xi >= 0``) or ``None``; overridden by noisy neurons."""
        return None

    def spike_config(self, noise=None):
        """The :class:`spikeDE.dynamics.spiking.SpikeConfig` of this neuron."""
        return spike_config(self.reset_mode, self.v_reset, self.detach_reset, self.surrogate,
                            self.surrogate_grad_scale, noise, getattr(self, "noise_in_grad", True))

    def membrane_params(self, noise=None) -> MembraneParams:
        """The :class:`spikeDE.dynamics.functional.MembraneParams` of this neuron (``noise``: threshold noise)."""
        return MembraneParams(self.tau, self.leak, self.spike_config(noise))

    def own_dynamics(self) -> Dynamics:
        """The time stepping this neuron uses on its own (outside :class:`spikeDE.SNNWrapper`)."""
        return make_dynamics(self.integrator, self.order, self.coefficients, self.method, self.memory, self.dt)

    def yield_orders(self, owner: str = "SNNWrapper") -> None:
        """Hand the order over to ``owner``: a learnable order (or multi-term weights) of the neuron's own becomes
        fixed at its current value, with a warning (:func:`spikeDE.neuron_base.fixed_orders`)."""
        fixed = fixed_orders(self.order, self.coefficients, type(self).__name__, owner)
        if fixed is not None:
            self.order, self.coefficients = fixed

    # ----------------------------------------------------------------- dynamics (state and dispatch: StepModule)
    def input_sequence(self, seq: torch.Tensor, dyn: Dynamics) -> torch.Tensor:
        """The membrane's input ``X_t`` (``[T, D]``) from the layer input ``seq``; identity here. A neuron with a
        synapse (:class:`spikeDE.CubaLIFNeuron`) filters it."""
        return seq

    def input_step(self, x: torch.Tensor, dyn: Dynamics) -> torch.Tensor:
        """The single-step counterpart of :meth:`input_sequence` (may keep state in :attr:`STREAM_STATE`)."""
        return x

    def _run_sequence(self, seq: torch.Tensor, dyn: Dynamics, shape: tuple) -> torch.Tensor:
        seq = self.input_sequence(seq, dyn)
        noise = self.threshold_noise(seq.shape, seq)
        S, V = membrane_sequence(seq, self.theta(seq), self.membrane_params(noise), dyn)
        record_sequence(self.__dict__, S, V, shape, self.record)
        return S

    def _run_step(self, x: torch.Tensor, dyn: Dynamics) -> torch.Tensor:
        check_step_batch(x, self.__dict__, type(self).__name__)
        flat = self.input_step(x.reshape(-1), dyn)
        s, v = self._membrane_step(flat, dyn, self.theta(flat), self.threshold_noise(flat.shape, flat))
        self.__dict__.update(v=v.detach().reshape(x.shape), spike=s.detach().reshape(x.shape))
        return s.reshape(x.shape)

    def _membrane_step(self, flat: torch.Tensor, dyn: Dynamics, theta: torch.Tensor, xi=None):
        """One step ``(S_t, V_t)`` of the membrane from the streaming state (kept in :attr:`STREAM_STATE`), with
        the threshold ``theta`` (0-d, or one value per neuron ``[D]``). Autograd through the step."""
        s, v, state = membrane_step(flat, theta, get_membrane(self.__dict__), self.membrane_params(), dyn, xi)
        set_membrane(self.__dict__, state)
        return s, v

    def extra_repr(self) -> str:
        reset = f"reset={self.reset_mode!r}" + (f", v_reset={self.v_reset:g}" if self.reset_mode == "zero" else "")
        return (f"tau={float(self.tau):.4g}, threshold={float(self.threshold):.4g}, surrogate="
                f"{self.surrogate.name}(scale={self.surrogate_grad_scale:g}), {reset}, method={self.method!r}, "
                f"memory={self.memory!r}, dt={self.dt:g}, step_mode={self.step_mode!r}")


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
