r"""The functional core of the spiking neurons: explicit parameters and state, pure sequence and step functions.

A neuron layer is ``tau D^alpha v = -lambda v + I`` (``lambda = 1``: LIF, ``0``: IF) with spike and reset
(:mod:`.spiking`), stepped by a :class:`Dynamics` (order(s) as tensors, scheme, memory, step). Two calls:

* :func:`membrane_sequence` ``(x [T, D], theta, params, dyn) -> (S, V)``: the whole sequence from rest with the
  fused kernels (:func:`.lif.lif_sequence` at integer order, :func:`.fractional.fractional_sequence` otherwise,
  hand-written backward passes).
* :func:`membrane_step` ``(x [D], theta, state, params, dyn) -> (s, v, state)``: one step from a
  :class:`MembraneState` (autograd through the step; the same arithmetic as the sequence). ``theta`` may be one
  value per neuron (``[D]``), which is how an adaptive threshold plugs in (:mod:`.adaptive`).

:func:`make_dynamics` builds the :class:`Dynamics` of a call (the orders evaluated now); :func:`check_memory` and
:func:`check_integrator` validate its settings.

A new neuron type changes one piece and keeps the rest: its input drive (a synapse, :mod:`.synapse`, in front of
:func:`membrane_sequence`), its threshold (per step, :mod:`.adaptive`) or its reset (:class:`.spiking.SpikeConfig`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import torch

from ..fractional.memory import parse_memory
from ..fractional.schemes import DEFAULT_SOE_TOL, SOE_HORIZON
from ..fractional.soe import far_field_soe
from .fractional import DEFAULT_BLOCK, DEFAULT_SOE_BLOCK, DEFAULT_SUB_BLOCK, MemoryPlan, StreamState, fractional_sequence
from .lif import lif_sequence, lif_step
from .schemes import SOE_METHODS, far_soe_weights, membrane_recurrence, multiterm_kernel
from .spiking import SpikeConfig

__all__ = ["Dynamics", "MembraneParams", "MembraneState", "membrane_sequence", "membrane_step", "check_integrator",
           "check_memory", "make_dynamics"]


@dataclass
class Dynamics:
    """The time stepping of one call: ``alpha`` (order tensor(s) with their graph; ``None``: integer order),
    ``coefficients`` (multi-term weights or ``None``), ``method``, ``memory`` (``None``, ``L`` or ``'soe'``),
    ``dt``; ``integer``: take the integer-order kernel."""

    integrator: str
    alpha: torch.Tensor | None
    coefficients: torch.Tensor | None
    method: str
    memory: object
    dt: float
    soe_tol: float = DEFAULT_SOE_TOL
    soe_horizon: int = SOE_HORIZON
    block: int | None = None  # None: DEFAULT_BLOCK (exact / short memory) or DEFAULT_SOE_BLOCK (SOE)
    sub_block: int = DEFAULT_SUB_BLOCK
    integer: bool = False


class MembraneParams(NamedTuple):
    """``tau`` (0-d tensor, graph kept when learnable), ``leak`` (LIF or IF) and the spike/reset config."""

    tau: torch.Tensor
    leak: bool
    spike: SpikeConfig


class MembraneState(NamedTuple):
    """Single-step state (all ``None`` at rest): ``v`` (integer order), ``stream`` (the fractional history,
    :class:`.fractional.StreamState`, advanced in place), ``kernel`` (cached ``(c_X, K', omega)``); ``du`` is
    unused (kept for states saved by earlier versions)."""

    v: torch.Tensor | None = None
    stream: StreamState | None = None
    kernel: tuple | None = None
    du: float | None = None


def _integer_tau(params: MembraneParams, dyn: Dynamics, like: torch.Tensor) -> torch.Tensor:
    """``tau / dt`` of the integer-order step (``sum_i c_i dV/dt = f`` divides by ``sum_i c_i``)."""
    tau = params.tau.to(dtype=like.dtype, device=like.device)
    if dyn.coefficients is not None:
        tau = tau * dyn.coefficients.to(like.dtype).sum()
    return tau / dyn.dt if dyn.dt != 1.0 else tau


def _plan(dyn: Dynamics) -> MemoryPlan:
    if dyn.memory == "soe":
        if dyn.method not in SOE_METHODS:
            raise ValueError(f"memory='soe' is available for methods {', '.join(SOE_METHODS)}, got method "
                             f"{dyn.method!r}")
        return MemoryPlan("soe", None, dyn.block or DEFAULT_SOE_BLOCK, dyn.sub_block)
    return MemoryPlan("exact", dyn.memory, dyn.block or DEFAULT_BLOCK, dyn.sub_block)


def _far_field(plan: MemoryPlan, dyn: Dynamics):
    """``(plan with the SOE rates, weights omega)`` of the far lags ``block+1 .. horizon`` of ``dyn``'s orders: the
    shared rule :func:`spikeDE.fractional.soe.far_field_soe` (optimal SOE for fixed orders, the quadrature SOE with
    exact ``alpha``-gradients for learnable ones)."""
    def weights_of(rates, du):
        return far_soe_weights(dyn.method, dyn.alpha, dyn.coefficients, rates, du, dyn.dt)

    ((rates, omega),) = far_field_soe(weights_of, plan.block + 1, max(dyn.soe_horizon, plan.block + 2), dyn.soe_tol)
    return replace(plan, rates=rates), omega


def _recurrence(params: MembraneParams, dyn: Dynamics, n: int, like: torch.Tensor):
    """``(c_X, K')`` (dtype of ``like``) covering lags ``< n``."""
    g, k = multiterm_kernel(dyn.method, dyn.alpha, dyn.coefficients, max(n, 2), dyn.dt)
    cx, kp = membrane_recurrence(dyn.method, g, k, params.tau, params.leak, dyn.alpha.reshape(-1)[0], dyn.dt)
    return cx.to(like.dtype), kp.to(like.dtype)


def membrane_sequence(x: torch.Tensor, theta: torch.Tensor, params: MembraneParams, dyn: Dynamics):
    """Spikes and membranes ``(S, V)`` (``[T, D]``) of the whole sequence ``x`` (``[T, D]``) from rest."""
    T = x.shape[0]
    if dyn.integer:
        return lif_sequence(x, _integer_tau(params, dyn, x), theta, params.leak, params.spike)
    plan = _plan(dyn)
    if plan.kind == "soe":
        cx, kp = _recurrence(params, dyn, min(T, 2 * plan.block), x)
        if T > 2 * plan.block:
            plan, omega = _far_field(plan, dyn)
        else:  # every lag lies in the exact window (lags < 2C): no far field to build
            plan, omega = replace(plan, rates=torch.zeros(0, dtype=torch.float64, device=x.device)), x.new_zeros(0)
        return fractional_sequence(x, cx, kp, theta, params.spike, plan, omega.to(x.dtype))
    cx, kp = _recurrence(params, dyn, T if plan.length is None else min(T, plan.length + 1), x)
    return fractional_sequence(x, cx, kp, theta, params.spike, plan)


def membrane_step(x: torch.Tensor, theta: torch.Tensor, state: MembraneState, params: MembraneParams,
                  dyn: Dynamics, xi: torch.Tensor | None = None):
    """One step ``(S_t, V_t, new state)`` from ``x = X_t`` (``[D]``); ``xi``: threshold noise or ``None``."""
    if dyn.integer:
        v = state.v if state.v is not None else torch.zeros_like(x)
        s, v = lif_step(x, v, _integer_tau(params, dyn, x), theta, params.leak, params.spike, xi)
        return s, v, state._replace(v=v)
    if state.stream is None:
        state = state._replace(stream=StreamState(_plan(dyn)))
    st, kernel = state.stream, state.kernel
    if st.plan.kind == "soe":
        if kernel is None:
            cx, kp = _recurrence(params, dyn, 2 * st.plan.block, x)
            plan, omega = _far_field(st.plan, dyn)
            if st.t > 0 and not torch.equal(plan.rates, st.plan.rates):
                raise ValueError("the orders changed in the middle of a stream (its SOE modes hold the old ones); "
                                 "call reset() before stepping with new orders")
            st.plan = plan
            kernel = (cx, kp, omega.to(x.dtype))
    else:
        L = st.plan.length
        need = st.t + 1 if L is None else min(st.t + 1, L + 1)
        if kernel is None or kernel[1].numel() < need:
            kernel = _recurrence(params, dyn, max(64, 2 * need) if L is None else L + 1, x) + (None,)
    s, v = st.step(x, kernel[0], kernel[1], theta, params.spike, kernel[2], xi)
    return s, v, state._replace(kernel=kernel)


# ---------------------------------------------------------------------------------------------- building a Dynamics
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


def make_dynamics(integrator: str, order, coefficients, method: str, memory, dt: float, **kwargs) -> Dynamics:
    """:class:`Dynamics` with the orders evaluated now (graph kept for learnable ones): ``order`` and
    ``coefficients`` are callables returning ``alpha`` and the multi-term weights (:class:`spikeDE.order.
    FractionalOrder`, :class:`spikeDE.order.MultiTermCoefficients`, or ``None``). Integer order for
    ``integrator='odeint'`` or a fixed order of exactly 1 (except for ``heun``, Heun's step at 1)."""
    if integrator == "odeint" or order is None:
        return Dynamics("odeint", None, None, method, memory, dt, integer=True, **kwargs)
    coefs = coefficients() if coefficients is not None else None
    integer = order.is_one() and method != "heun"
    return Dynamics(integrator, order(), coefs, method, memory, dt, integer=integer, **kwargs)
