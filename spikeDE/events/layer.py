r"""``SpikingODELayer``: a fully connected layer of LIF neurons simulated exactly, event by event.

Each output neuron ``i`` receives ``I_i = sum_j W_ij x_j`` and follows :class:`ODELIFDynamics`. Without a
synapse, sample ``x[t]`` is held for ``interval`` ms (zero-order hold) and the whole interval, spikes included,
is solved in closed form; with a synapse (``tau_syn``), ``x[t]`` is a volley of input spikes at the start of
interval ``t`` (``I`` jumps by ``W x[t]``), or inputs are given as individual spike events at arbitrary times
(:meth:`SpikingODELayer.forward_events`). Threshold crossings between events are located by a bracketed root
finder that cannot miss a crossing (:mod:`spikeDE.events.crossing`). No time step: no simulated time is
dropped, no spike is snapped to a grid.

Gradients. Spike times are differentiable (implicit function theorem at every crossing, through every reset).
Spike counts are integers; their gradient is a surrogate: per interval the count is returned as
``n + H(m) - sg(H(m))`` with ``m = v(end of interval) - v_threshold`` and ``H`` the Heaviside step with the
surrogate derivative of ``surrogate`` (``sg`` = stop-gradient). The value is exactly ``n``; the gradient is
``g(m) dm/dp``, the discrete-time surrogate of "one more spike would occur if the end-of-interval membrane
reached threshold", where ``m`` itself depends on the exact spike times of the interval (so it also moves with
the last reset). More drive raises ``m``, hence the gradient has the sign of the true change of the count, also
for neurons that are silent so far.
"""
from __future__ import annotations

import math
import warnings
from numbers import Integral


import torch
from torch import nn

from .._checks import check_positive
from ..surrogate import get_surrogate
from .crossing import default_root_iterations, default_slope_floor
from .dynamics import ODELIFDynamics
from .inputs import as_input_tensor, check_interval, schedule_events
from .interval import LIFState, synaptic_segment, zoh_interval
from .spike_train import SpikeTrain

__all__ = ["SpikingODELayer"]

_STEP_SIZE_ARGS = ("dt_init", "dt_min", "max_steps_per_interval", "max_steps")


def _like_input(counts: torch.Tensor, inputs):
    """Counts as a NumPy array (detached) for NumPy inputs, else the tensor (with its surrogate gradient)."""
    if isinstance(inputs, torch.Tensor):
        return counts
    return counts.detach().cpu().numpy()


class SpikingODELayer(nn.Module):
    r"""Fully connected spiking layer with exact (event-driven) LIF dynamics and exact spike times.

    Args:
        n_inputs, n_neurons: sizes; the weight ``W`` has shape ``[n_neurons, n_inputs]`` and is initialised
            ``N(0, 2/n_inputs)``.
        dynamics: :class:`ODELIFDynamics` (default ``ODELIFDynamics()``: ``tau_mem = 20`` ms, threshold 1).
        surrogate, surrogate_scale: surrogate derivative used for the gradient of spike *counts*
            (:mod:`spikeDE.surrogate`; ``surrogate_scale`` is per threshold unit of membrane potential).
        root_iterations: fixed iteration count of the crossing root finder (synaptic dynamics only;
            default 48 in float64, 26 in float32).
        slope_floor: clamp on ``v'`` at a crossing in the implicit spike-time gradient (default
            ``sqrt(eps) * (v_threshold - v_reset) / tau_mem``); see :mod:`spikeDE.events.crossing`.
        seed: seeds the weight initialisation (a private generator), for reproducible layers.
        device, dtype: of the weight.
        dt_init, dt_min, max_steps_per_interval, max_steps: adaptive-stepping arguments of other event-driven
            layers; accepted and ignored with one warning (integration here is exact, there is no step).

    Calls (times in ms; ``T`` intervals; ``B`` optional batch):

    * ``forward(inputs, interval=1.0)``: ``inputs`` ``[T, n_inputs]`` or ``[T, B, n_inputs]`` (tensor or
      NumPy array) -> spike counts ``[T, (B,) n_neurons]`` in the input's float dtype: a tensor (with the
      surrogate gradient of the counts) for a tensor input, a NumPy array for a NumPy input. Starts from rest
      (``reset()``) unless ``keep_state=True``. ``return_spikes=True`` also returns the :class:`SpikeTrain`;
      the last one is always available as ``layer.spike_train``.
    * ``step(x, interval=1.0)``: one interval from the current state (online mode); ``x`` ``[n_inputs]`` or
      ``[B, n_inputs]``. ``forward`` equals ``reset()`` followed by ``T`` calls of ``step``.
    * ``forward_events(times, channels, duration, ...)``: input spike events (synaptic dynamics).
    * ``reset()``, ``voltage``, ``synaptic_current``, ``refractory``, ``time``, ``detach_state()``.
    """

    stateful = True  # spikeDE.reset_net calls reset()

    def __init__(
        self,
        n_inputs: int,
        n_neurons: int,
        dynamics: ODELIFDynamics | None = None,
        *,
        surrogate="atan",
        surrogate_scale: float = 5.0,
        root_iterations: int | None = None,
        slope_floor: float | None = None,
        seed: int | None = None,
        device=None,
        dtype=None,
        **kwargs,
    ):
        super().__init__()
        where = "SpikingODELayer"
        stepping = {name: kwargs.pop(name) for name in _STEP_SIZE_ARGS if name in kwargs}
        if stepping:
            given = ", ".join(f"{k}={v!r}" for k, v in stepping.items())
            warnings.warn(f"{where}: {given} ignored: membrane and spike times are computed in closed form between "
                          f"events (exact integration, no step size to set); remove them", DeprecationWarning,
                          stacklevel=2)
        if kwargs:
            raise TypeError(f"{where}: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
        for name, val in (("n_inputs", n_inputs), ("n_neurons", n_neurons)):
            if isinstance(val, bool) or not isinstance(val, Integral) or val < 1:
                raise ValueError(f"{where}: {name} must be an integer >= 1, got {val!r}")
        if dynamics is None:
            dynamics = ODELIFDynamics()
        if not isinstance(dynamics, ODELIFDynamics):
            raise TypeError(f"{where}: dynamics must be an ODELIFDynamics, got {type(dynamics).__name__}")
        check_positive(surrogate_scale, "surrogate_scale", where)
        if root_iterations is not None and (
            isinstance(root_iterations, bool) or not isinstance(root_iterations, Integral) or root_iterations < 1
        ):
            raise ValueError(f"{where}: root_iterations must be an integer >= 1 or None, got {root_iterations!r}")
        if slope_floor is not None:
            check_positive(slope_floor, "slope_floor", where)
        self.n_inputs = int(n_inputs)
        self.n_neurons = int(n_neurons)
        self.dynamics = dynamics
        self.surrogate = get_surrogate(surrogate)
        self.surrogate_scale = float(surrogate_scale)
        self.root_iterations = None if root_iterations is None else int(root_iterations)
        self.slope_floor = None if slope_floor is None else float(slope_floor)
        w = torch.empty(self.n_neurons, self.n_inputs, device=device, dtype=dtype or torch.get_default_dtype())
        gen = None
        if seed is not None:
            gen = torch.Generator(device=w.device)
            gen.manual_seed(int(seed))
        with torch.no_grad():
            w.normal_(0.0, math.sqrt(2.0 / self.n_inputs), generator=gen)
        self.weight = nn.Parameter(w)
        self._state: LIFState | None = None
        self._clock = 0.0
        self.spike_train: SpikeTrain | None = None

    # ------------------------------------------------------------------ weights and state
    @property
    def W(self) -> torch.Tensor:
        """The weight ``[n_neurons, n_inputs]`` (alias of ``weight``); assign an array to overwrite it."""
        return self.weight

    @W.setter
    def W(self, value):
        t = torch.as_tensor(value, dtype=self.weight.dtype, device=self.weight.device)
        if t.shape != self.weight.shape:
            raise ValueError(f"SpikingODELayer.W: expected shape {tuple(self.weight.shape)}, got {tuple(t.shape)}")
        with torch.no_grad():
            self.weight.copy_(t)

    def reset(self) -> None:
        """Back to rest: ``v = v_rest``, no refractoriness, no synaptic current, clock at 0."""
        self._state = None
        self._clock = 0.0
        self.spike_train = None

    def detach_state(self) -> None:
        """Cut the autograd graph of the carried state (truncated backpropagation in online mode)."""
        if self._state is not None:
            s = self._state
            self._state = LIFState(s.v.detach(), s.refractory.detach(), None if s.i_syn is None else s.i_syn.detach())

    def __getstate__(self):
        # copies and pickles carry the state and the last spike train without their autograd graph
        # (deepcopy refuses non-leaf tensors)
        state = self.__dict__.copy()
        s = state.get("_state")
        if s is not None:
            state["_state"] = LIFState(*(None if t is None else t.detach() for t in s))
        if state.get("spike_train") is not None:
            state["spike_train"] = state["spike_train"].detach()
        return state

    def _state_view(self, field: str) -> torch.Tensor:
        if self._state is None:
            dyn = self.dynamics
            value = {"v": dyn.v_rest, "refractory": 0.0, "i_syn": 0.0}[field]
            return torch.full((self.n_neurons,), value, dtype=self.weight.dtype, device=self.weight.device)
        t = getattr(self._state, field)
        if t is None:
            return torch.zeros_like(self._state.v)
        return t.detach().clone()

    @property
    def voltage(self) -> torch.Tensor:
        """Membrane potential ``[(B,) n_neurons]`` now (a detached copy)."""
        return self._state_view("v")

    @property
    def synaptic_current(self) -> torch.Tensor:
        """Synaptic current ``[(B,) n_neurons]`` now (zeros without a synapse)."""
        return self._state_view("i_syn")

    @property
    def refractory(self) -> torch.Tensor:
        """Remaining refractory time ``[(B,) n_neurons]`` in ms."""
        return self._state_view("refractory")

    @property
    def time(self) -> float:
        """Simulated time since the last ``reset()`` (ms)."""
        return self._clock

    def _current_state(self, shape, dtype, device, where) -> LIFState:
        dyn = self.dynamics
        if self._state is None:
            v = torch.full(shape, dyn.v_rest, dtype=dtype, device=device)
            i = torch.zeros(shape, dtype=dtype, device=device) if dyn.has_synapse else None
            return LIFState(v, torch.zeros(shape, dtype=dtype, device=device), i)
        s = self._state
        if tuple(s.v.shape) != tuple(shape):
            raise ValueError(f"{where}: the layer's state has shape {tuple(s.v.shape)} from earlier calls but this "
                             f"input gives {tuple(shape)}; call reset() first (or keep the batch size)")
        if s.v.dtype != dtype:
            raise ValueError(f"{where}: the layer's state is {s.v.dtype} from earlier calls but this input is "
                             f"{dtype}; call reset() first (or keep the dtype)")
        return s

    # ------------------------------------------------------------------ public calls
    def forward(self, inputs, interval: float = 1.0, *, keep_state: bool = False, return_spikes: bool = False):
        """Spike counts ``[T, (B,) n_neurons]`` for ``inputs`` ``[T, (B,) n_inputs]``, each held ``interval`` ms."""
        where = "SpikingODELayer.forward"
        interval = check_interval(interval, where)
        x = as_input_tensor(inputs, self.n_inputs, (2, 3), "[T, n_inputs] or [T, B, n_inputs]", where, self.weight)
        if not keep_state:
            self.reset()
        counts, train = self._run_dense(x, interval, where)
        counts = _like_input(counts, inputs)
        return (counts, train) if return_spikes else counts

    def step(self, x, interval: float = 1.0, *, return_spikes: bool = False):
        """Advance one interval from the current state; spike counts ``[(B,) n_neurons]``."""
        where = "SpikingODELayer.step"
        interval = check_interval(interval, where)
        x_in = x
        x = as_input_tensor(x, self.n_inputs, (1, 2), "[n_inputs] or [B, n_inputs]", where, self.weight)
        counts, train = self._run_dense(x.unsqueeze(0), interval, where)
        counts = _like_input(counts[0], x_in)
        return (counts, train) if return_spikes else counts

    def forward_events(
        self,
        times,
        channels,
        duration: float,
        *,
        interval: float | None = None,
        batch_index=None,
        batch_size: int | None = None,
        amplitudes=None,
        keep_state: bool = False,
        return_spikes: bool = False,
    ):
        """Drive the synapses with input spike events; spike counts per ``interval`` ``[T, (B,) n_neurons]``.

        Event ``e`` at ``times[e]`` ms on input ``channels[e]`` (of sequence ``batch_index[e]``, ``batch_size``
        sequences in all) makes the synaptic currents jump by ``amplitudes[e] * W[:, channels[e]]``. Spikes are
        simulated over ``[0, duration]``; counts are reported per ``interval`` (default: one interval, the whole
        ``duration``). Spike times are differentiable with respect to the weights, the amplitudes and the
        event times. Computes in the dtype of ``times`` (integer times: the weight's dtype). Needs
        ``dynamics.tau_syn``. Cost: one exact segment update (all neurons, all sequences) per event and per
        interval boundary, since the sequences of a batch share one time line.
        """
        where = "SpikingODELayer.forward_events"
        dyn = self.dynamics
        if not dyn.has_synapse:
            raise ValueError(f"{where}: spike-event input needs a synapse; set ODELIFDynamics(tau_syn=...) (without "
                             f"it, inputs are currents held over each interval: use forward)")
        if interval is None:
            interval = duration
        sched = schedule_events(times, channels, duration, interval, self.n_inputs, batch_index, batch_size,
                                amplitudes, self.weight, where)
        interval = check_interval(interval, where)
        if not keep_state:
            self.reset()
        dtype, device = sched.starts.dtype, sched.starts.device
        shape = (self.n_neurons,) if sched.batch_size is None else (sched.batch_size, self.n_neurons)
        state = self._current_state(shape, dtype, device, where)
        W = self.weight.to(dtype)
        with_grad = self._needs_grad(W, sched.starts, sched.amplitudes, *state)
        t0 = self._clock
        counts = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(sched.n_intervals)]
        groups = []
        for k, e in enumerate(sched.event):
            jump = None
            if e >= 0:
                col = sched.amplitudes[e] * W[:, sched.channels[e]]
                if sched.batch is None:
                    jump = col
                else:
                    onehot = torch.zeros(sched.batch_size, 1, dtype=dtype, device=device)
                    onehot[sched.batch[e]] = 1.0
                    jump = onehot * col
            state, gs, n = synaptic_segment(
                state, jump, sched.lengths[k], dyn, t0 + sched.starts[k], self._iters(dtype),
                self._floor(dtype), with_grad,
            )
            groups.extend(gs)
            i = sched.interval_index[k]
            counts[i] = counts[i] + n.to(dtype)
            if sched.closes_interval[k] and with_grad:
                counts[i] = counts[i] + self._count_surrogate(state.v)
        self._state = state
        self._clock = t0 + float(duration)
        train = SpikeTrain(groups, shape, t0, float(duration), dtype, device)
        self.spike_train = train
        out = torch.stack(counts)
        return (out, train) if return_spikes else out

    # ------------------------------------------------------------------ internals
    def _iters(self, dtype) -> int:
        return self.root_iterations if self.root_iterations is not None else default_root_iterations(dtype)

    def _floor(self, dtype) -> float:
        return self.slope_floor if self.slope_floor is not None else default_slope_floor(self.dynamics, dtype)

    @staticmethod
    def _needs_grad(*tensors) -> bool:
        return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)

    def _count_surrogate(self, v_end: torch.Tensor) -> torch.Tensor:
        """``H(m) - sg(H(m))`` with ``m = v_end - theta``: zero value, surrogate gradient ``g(m) dm/dp``."""
        s = self.surrogate(v_end - self.dynamics.v_threshold, self.surrogate_scale)
        return s - s.detach()

    def _run_dense(self, x: torch.Tensor, interval: float, where: str):
        dyn = self.dynamics
        dtype, device = x.dtype, x.device
        W = self.weight.to(dtype)
        drive = torch.matmul(x, W.t())  # [T, (B,) N]: held currents, or synaptic jumps
        n_steps = drive.shape[0]
        shape = tuple(drive.shape[1:])
        state = self._current_state(shape, dtype, device, where)
        with_grad = self._needs_grad(drive, *state)
        t0 = self._clock
        floor = self._floor(dtype)
        counts, groups = [], []
        for k in range(n_steps):
            start = t0 + k * interval
            if dyn.has_synapse:
                state, gs, n = synaptic_segment(state, drive[k], interval, dyn, start, self._iters(dtype), floor,
                                                with_grad)
                groups.extend(gs)
            else:
                state, g, n = zoh_interval(state, drive[k], interval, dyn, start, floor, with_grad)
                groups.append(g)
            c = n.to(dtype)
            if with_grad:
                c = c + self._count_surrogate(state.v)
            counts.append(c)
        self._state = state
        self._clock = t0 + n_steps * interval
        train = SpikeTrain(groups, shape, t0, n_steps * interval, dtype, device)
        self.spike_train = train
        out = torch.stack(counts) if counts else torch.zeros((0, *shape), dtype=dtype, device=device)
        return out, train

    def extra_repr(self) -> str:
        return f"n_inputs={self.n_inputs}, n_neurons={self.n_neurons}, dynamics={self.dynamics}"
