r"""The mechanics under the neuron modules of :mod:`spikeDE.neuron`: argument checks, the layout of one call
(multi-step ``[T, B, ...]`` or single-step ``[B, ...]``, on its own or inside :class:`spikeDE.SNNWrapper`) and
the bookkeeping of the streaming state, as plain functions, and :class:`StepModule`, the template that registers
the state and dispatches a call (as SpikingJelly's memory modules: ``reset()``, ``reset_net``, ``step_mode``).

A neuron keeps only its parameters (``tau``, ``theta``, the order) and its state: the membrane state of
:func:`spikeDE.dynamics.functional.membrane_step` (``V`` at integer order; the history or SOE modes of
``tau D^alpha v = -v + I`` otherwise) in the attributes :data:`MEMBRANE_STATE`, plus any state of its own (a
synaptic current, an adaptive threshold) named in its ``STREAM_STATE``.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from ._checks import check_floating, check_positive, check_stream_batch, check_threshold
from .dynamics.functional import Dynamics, MembraneState
from .order import FractionalOrder, MultiTermCoefficients

__all__ = ["StepModule", "CallContext", "MEMBRANE_STATE", "check_neuron_args", "check_step_mode", "call_layout",
           "fixed_orders", "check_stream_state", "private_copy", "get_membrane", "set_membrane", "check_step_batch",
           "record_sequence", "sequence_by_steps"]

#: the neuron attributes holding the fields of :class:`spikeDE.dynamics.functional.MembraneState`, in order
MEMBRANE_STATE = ("_v_state", "_stream", "_stream_kernel", "_stream_du")
_STEP_MODES = {"m": "m", "multi": "m", "multi_step": "m", "s": "s", "single": "s", "single_step": "s"}


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
    last_step: int | None = None  # 'single' mode: the step the layer last ran


def check_neuron_args(where: str, tau, threshold, surrogate_grad_scale, dt) -> None:
    """``tau > 0``, a finite number ``threshold``, ``surrogate_grad_scale > 0`` and ``dt > 0``."""
    check_positive(float(tau) if not isinstance(tau, torch.Tensor) else tau, "tau", where)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, torch.Tensor)):
        raise TypeError(f"{where}: threshold must be a number, got {type(threshold).__name__}")
    check_threshold(threshold, where)
    check_positive(float(surrogate_grad_scale), "surrogate_grad_scale", where)
    check_positive(float(dt), "dt", where)


def check_step_mode(step_mode: str) -> str:
    """``'m'`` (multi-step) or ``'s'`` (single-step); the long names of SpikingJelly are accepted."""
    key = _STEP_MODES.get(step_mode if isinstance(step_mode, str) else None)
    if key is None:
        raise ValueError(f"step_mode must be 'm' (multi-step) or 's' (single-step), got {step_mode!r}")
    return key


def call_layout(x: torch.Tensor, context: CallContext | None, step_mode: str, where: str) -> tuple | None:
    """The layout of one call of a neuron layer on ``x``: the sequence shape ``(T, B, ...)`` of a multi-step call
    (the wrapper's folded ``[T*B, ...]`` or the layer's own ``[T, B, ...]``), or ``None`` for one step."""
    if context is None:
        if step_mode == "m":
            if x.dim() < 2:
                raise ValueError(f"{where} (multi-step mode) expects input [T, B, ...] with at least 2 dimensions, "
                                 f"got shape {tuple(x.shape)}; use step_mode='s' for one step [B, ...]")
            return tuple(x.shape)
        if x.dim() < 1:
            raise ValueError(f"{where} (single-step mode) expects input [B, ...], got a scalar")
        return None
    if not isinstance(context, CallContext):
        raise TypeError(f"{where}: context must be a CallContext (passed by SNNWrapper) or None, "
                        f"got {type(context).__name__}")
    if context.mode != "fold":
        if context.step_index == context.last_step:
            raise RuntimeError(f"{where} '{context.name}' was called twice in one time step; "
                               f"a neuron layer keeps one state, use a separate instance per call")
        context.last_step = context.step_index
        return None
    expected = context.steps * context.batch
    context.calls += 1
    if context.calls > 1:  # recurrence: the folded sequence cannot hold feedback from later steps
        raise RuntimeError(
            f"{where} '{context.name}' was called twice in one forward of a multi-step SNNWrapper: a recurrent "
            f"network (its output fed back) cannot run on the folded sequence, use SNNWrapper(..., "
            f"step_mode='single'); a layer reused in a feed-forward network needs a separate instance per call")
    if x.dim() < 1 or x.shape[0] != expected:
        raise RuntimeError(
            f"{where} '{context.name}': SNNWrapper runs the network once on the sequence folded into the batch "
            f"(first dimension T*B = {context.steps}*{context.batch} = {expected}), but this neuron received shape "
            f"{tuple(x.shape)}. The network mixes the batch dimension or calls neurons on other tensors; use "
            f"SNNWrapper(..., step_mode='single').")
    return (context.steps, context.batch) + tuple(x.shape[1:])


def fixed_orders(order: FractionalOrder, coefficients: MultiTermCoefficients | None, where: str, owner: str):
    """``None`` if neither the order nor the multi-term weights are learnable; else both fixed at their current
    values (a learnable order of a neuron inside ``owner``, which owns the orders, would never receive a gradient),
    with a warning naming what to write instead."""
    learn_a = order.learnable
    learn_c = coefficients is not None and coefficients.learnable
    if not (learn_a or learn_c):
        return None
    warnings.warn(f"{where}: its own learnable order/weights (learn_alpha / learn_coefficient) are unused inside "
                  f"{owner}, which owns the orders; they are fixed here. Write {owner}(..., alpha=..., "
                  f"learn_alpha=True) instead.", UserWarning, stacklevel=4)
    value = order.value
    order = FractionalOrder(value, learnable=False, shape=tuple(value.shape), name=where)
    if learn_c:
        coefficients = MultiTermCoefficients(coefficients().detach(), False, where)
    return order, coefficients


# ---------------------------------------------------------------------------------------------- streaming state
def check_stream_state(state, keys: tuple, where: str) -> None:
    """``state`` must be a tuple with one entry per name in ``keys`` (a neuron's ``STREAM_STATE``)."""
    if not isinstance(state, tuple) or len(state) != len(keys):
        raise ValueError(f"{where}.load_stream_state: expected a tuple of {len(keys)} entries from stream_state(), "
                         f"got {type(state).__name__} of length {len(state) if isinstance(state, tuple) else '-'}")


def private_copy(obj):
    """A copy of a stream-state entry whose containers a step may advance without touching the original
    (tensors are never modified in place by a step, they are replaced)."""
    if obj is None or isinstance(obj, (tuple, torch.Tensor, float, int)):
        return obj
    new = copy.copy(obj)
    for k, v in vars(new).items():
        if isinstance(v, (list, dict)):
            setattr(new, k, type(v)(v))
    return new


def get_membrane(state: dict) -> MembraneState:
    """The :class:`MembraneState` held in a neuron's attributes ``state`` (its ``__dict__``)."""
    return MembraneState(state["_v_state"], state["_stream"], state["_stream_kernel"], state["_stream_du"])


def set_membrane(state: dict, membrane: MembraneState) -> None:
    """Store ``membrane`` in a neuron's attributes ``state`` (its ``__dict__``)."""
    state.update(_v_state=membrane.v, _stream=membrane.stream, _stream_kernel=membrane.kernel, _stream_du=membrane.du)


def check_step_batch(x: torch.Tensor, state: dict, where: str) -> None:
    """A single step must keep the number of neurons of the state held in ``state`` (a batch change without
    ``reset()`` is an error)."""
    stream = state["_stream"]
    held = state["_v_state"] if state["_v_state"] is not None else (
        stream.window[-1] if stream is not None and stream.window else None)
    check_stream_batch(x, held, where)


def record_sequence(state: dict, S: torch.Tensor, V: torch.Tensor, shape: tuple, record: bool) -> None:
    """The monitor attributes after a multi-step call: ``v``, ``spike`` (last step, ``shape[1:]``) and, with
    ``record``, ``v_seq``, ``spike_seq`` (``shape``); all detached."""
    state["v"], state["spike"] = V[-1].detach().reshape(shape[1:]), S[-1].detach().reshape(shape[1:])
    if record:
        state["v_seq"], state["spike_seq"] = V.detach().reshape(shape), S.detach().reshape(shape)


def sequence_by_steps(state: dict, keys: tuple, step, seq: torch.Tensor):
    """``(S, V)`` (``[T, D]``) of ``seq`` run by ``step(x_t) -> (s_t, v_t)`` from rest (the attributes ``keys``
    of ``state`` cleared); the streaming state held before is restored afterwards."""
    saved = [state[k] for k in keys]  # a multi-step call is its own sequence from rest
    state.update(dict.fromkeys(keys))
    try:
        steps = [step(seq[t]) for t in range(seq.shape[0])]
    finally:
        state.update(zip(keys, saved))
    return torch.stack([s for s, _ in steps]), torch.stack([v for _, v in steps])


class StepModule(nn.Module):
    """Template of a stateful spiking layer: the streaming state is the attributes named in ``STREAM_STATE``
    (``None`` at rest; with the monitor attributes ``v``, ``spike``, ``v_seq``, ``spike_seq``), forgotten by
    :meth:`reset` (and :func:`spikeDE.reset_net`); a call runs a sequence (:meth:`_run_sequence`, ``[T, D]``) or
    one step (:meth:`_run_step`) with the layer's own :class:`Dynamics` (:meth:`own_dynamics`) or the wrapper's."""

    stateful = True  # reset by reset_net
    STREAM_STATE: tuple = ()

    def __init__(self):
        super().__init__()
        self.record = False  # keep v_seq / spike_seq of a multi-step call
        self._clear_state()

    def _clear_state(self):
        # plain attributes (never parameters or buffers), written to __dict__ as nn.Module.__setattr__ would
        self.__dict__.update(dict.fromkeys(self.STREAM_STATE), v=None, spike=None, v_seq=None, spike_seq=None)

    def reset(self):
        """Forget the state (membrane, fractional history, recorded sequences): the next call starts at rest."""
        self._clear_state()

    def stream_state(self) -> tuple:
        """The single-step state as an opaque tuple (all ``None`` at rest), to keep several streams apart:
        ``state = n.stream_state()`` ... ``n.load_stream_state(state)`` continues that stream."""
        return tuple(self.__dict__[k] for k in self.STREAM_STATE)

    def load_stream_state(self, state: tuple) -> None:
        """Continue from ``state`` (from :meth:`stream_state`, or ``(None,) * len(STREAM_STATE)`` for rest).
        The layer works on a copy: later steps never change ``state`` itself."""
        check_stream_state(state, self.STREAM_STATE, type(self).__name__)
        self.__dict__.update({k: private_copy(v) for k, v in zip(self.STREAM_STATE, state)})

    def forward(self, x: torch.Tensor, context: CallContext | None = None) -> torch.Tensor:
        """Spikes for ``x`` (see :mod:`spikeDE.neuron`); ``context``: the orders and call layout from
        :class:`spikeDE.SNNWrapper` (``None``: the layer's own settings)."""
        check_floating(x, "input", type(self).__name__)
        shape = call_layout(x, context, self.step_mode, type(self).__name__)
        dyn = self.own_dynamics() if context is None else context.dynamics
        if shape is None:
            return self._run_step(x, dyn)
        if x.numel() == 0:
            return torch.zeros_like(x)
        return self._run_sequence(x.reshape(shape[0], -1), dyn, shape).reshape(x.shape)

    def own_dynamics(self) -> Dynamics:
        """The time stepping of a call outside :class:`spikeDE.SNNWrapper`."""
        raise NotImplementedError

    def _run_sequence(self, seq: torch.Tensor, dyn: Dynamics, shape: tuple) -> torch.Tensor:
        """Spikes ``[T, D]`` of the sequence ``seq`` (``[T, D]``, the layer's shape ``shape``) from rest."""
        raise NotImplementedError

    def _run_step(self, x: torch.Tensor, dyn: Dynamics) -> torch.Tensor:
        """Spikes of one step ``x`` (``[B, ...]``) from the streaming state, which it advances."""
        raise NotImplementedError
