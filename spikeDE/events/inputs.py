"""Input checks and conversions for the event-driven layer: dense samples and spike events.

Dense inputs (``[T, n_inputs]`` or ``[T, B, n_inputs]``, NumPy or torch) become tensors on the layer's device;
float32/float64 keep their dtype, integer/bool arrays take the weight's dtype. Spike events
(``times``, ``channels``, optional ``batch_index`` and ``amplitudes``) become a time-ordered list of segments.
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import torch

from .._checks import check_positive

__all__ = ["as_input_tensor", "check_interval", "EventSchedule", "schedule_events"]


def check_interval(interval, where: str) -> float:
    """``interval`` (ms) as a float; must be finite and ``> 0``."""
    if isinstance(interval, torch.Tensor):
        if interval.numel() != 1:
            raise ValueError(f"{where}: interval must be a single number (ms), got a tensor of shape "
                             f"{tuple(interval.shape)}")
        interval = float(interval)
    check_positive(interval, "interval", where)
    return float(interval)


def _to_tensor(x, name: str, where: str, device, default_dtype):
    if isinstance(x, torch.Tensor):
        t = x
        if t.device != device:
            raise ValueError(f"{where}: {name} is on {t.device} but the layer's weights are on {device}; move "
                             f"one of them (e.g. layer.to({str(t.device)!r}))")
    elif isinstance(x, (np.ndarray, list, tuple, Real)):
        arr = np.asarray(x)
        if arr.dtype == object:
            raise TypeError(f"{where}: {name} must be a numeric array, got an array of Python objects")
        t = torch.from_numpy(np.ascontiguousarray(arr)).to(device)
    else:
        raise TypeError(f"{where}: {name} must be a torch.Tensor or a NumPy array, got {type(x).__name__}")
    if t.dtype in (torch.float32, torch.float64):
        return t
    if t.is_floating_point():
        raise TypeError(f"{where}: {name} has dtype {t.dtype}; use float32 or float64 (exact spike times need "
                        f"at least single precision)")
    if t.is_complex():
        raise TypeError(f"{where}: {name} must be real, got dtype {t.dtype}")
    return t.to(default_dtype)


def as_input_tensor(x, n_inputs: int, ndims: tuple[int, ...], layout: str, where: str, weight: torch.Tensor):
    """Dense input as a float tensor; checks the number of dimensions, the last one (``n_inputs``), finiteness."""
    t = _to_tensor(x, "inputs", where, weight.device, weight.dtype)
    if t.dim() not in ndims:
        raise ValueError(f"{where}: inputs must have shape {layout}, got shape {tuple(t.shape)}")
    if t.shape[-1] != n_inputs:
        raise ValueError(f"{where}: inputs must have shape {layout} with n_inputs={n_inputs} in the last "
                         f"dimension, got shape {tuple(t.shape)}")
    if t.numel() and not bool(torch.isfinite(t.detach()).all()):
        raise ValueError(f"{where}: inputs contain NaN or inf")
    return t


@dataclass
class EventSchedule:
    """Time-ordered segments between input events and interval boundaries.

    ``starts``: ``[K]`` segment start times (ms, with the graph of the event times), ``lengths``: ``[K]``,
    ``event``: for each segment the index of the event that opens it (``-1`` for an interval boundary),
    ``interval_index``: the output interval each segment lies in, ``closes_interval``: whether the segment
    ends at an interval boundary. ``channels``/``batch`` (host lists) and ``amplitudes`` are per event.
    """

    starts: torch.Tensor
    lengths: torch.Tensor
    event: list
    interval_index: list
    closes_interval: list
    channels: list
    batch: list | None
    amplitudes: torch.Tensor
    n_intervals: int
    batch_size: int | None


def _index_array(x, name, where, device):
    t = _to_tensor(x, name, where, device, torch.int64)
    if t.is_floating_point():
        if t.numel() and not bool((t == t.round()).all()):
            raise ValueError(f"{where}: {name} must hold integers, got non-integer values")
        t = t.to(torch.int64)
    if t.dim() != 1:
        raise ValueError(f"{where}: {name} must be one-dimensional [n_events], got shape {tuple(t.shape)}")
    return t.to(torch.int64)


def schedule_events(times, channels, duration, interval, n_inputs, batch_index, batch_size, amplitudes, weight,
                    where: str) -> EventSchedule:
    """Check spike events and order them (with the interval boundaries ``k * interval``) into segments.

    Events must satisfy ``0 <= time < duration`` and ``0 <= channel < n_inputs``; ``duration`` must be a whole
    number of intervals. An event exactly on an interval boundary belongs to the interval it opens.
    """
    device = weight.device
    t = _to_tensor(times, "times", where, device, weight.dtype)
    if t.dim() != 1:
        raise ValueError(f"{where}: times must be one-dimensional [n_events] (ms), got shape {tuple(t.shape)}")
    dtype = t.dtype
    ch = _index_array(channels, "channels", where, device)
    if ch.shape != t.shape:
        raise ValueError(f"{where}: channels has shape {tuple(ch.shape)} but times has {tuple(t.shape)}")
    if isinstance(duration, torch.Tensor) and duration.numel() == 1:
        duration = float(duration)
    check_positive(duration, "duration", where)
    duration = float(duration)
    interval = check_interval(interval, where)
    n_int = round(duration / interval)
    if n_int < 1 or abs(n_int * interval - duration) > 1e-9 * duration:
        raise ValueError(f"{where}: duration must be a whole number of intervals, got duration={duration} ms and "
                         f"interval={interval} ms")
    td = t.detach()
    if t.numel():
        if not bool(torch.isfinite(td).all()) or not bool(((td >= 0) & (td < duration)).all()):
            raise ValueError(f"{where}: event times must satisfy 0 <= time < duration={duration} ms, got values in "
                             f"[{float(td.min())}, {float(td.max())}]")
        if not bool(((ch >= 0) & (ch < n_inputs)).all()):
            raise ValueError(f"{where}: channels must satisfy 0 <= channel < n_inputs={n_inputs}, got values in "
                             f"[{int(ch.min())}, {int(ch.max())}]")
    if amplitudes is None:
        amp = torch.ones_like(td)
    else:
        amp = _to_tensor(amplitudes, "amplitudes", where, device, dtype).to(dtype)
        if amp.shape != t.shape:
            raise ValueError(f"{where}: amplitudes has shape {tuple(amp.shape)} but times has {tuple(t.shape)}")
        if amp.numel() and not bool(torch.isfinite(amp.detach()).all()):
            raise ValueError(f"{where}: amplitudes contain NaN or inf")
    batch = None
    if batch_index is not None:
        if batch_size is None:
            raise ValueError(f"{where}: batch_size is required with batch_index (the number of sequences, "
                             f"including those without events)")
        if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 1:
            raise ValueError(f"{where}: batch_size must be an integer >= 1, got {batch_size!r}")
        b = _index_array(batch_index, "batch_index", where, device)
        if b.shape != t.shape:
            raise ValueError(f"{where}: batch_index has shape {tuple(b.shape)} but times has {tuple(t.shape)}")
        if b.numel() and not bool(((b >= 0) & (b < batch_size)).all()):
            raise ValueError(f"{where}: batch_index must satisfy 0 <= index < batch_size={batch_size}")
        batch = b.tolist()
    elif batch_size is not None:
        raise ValueError(f"{where}: batch_size given without batch_index")

    grid = torch.arange(n_int, dtype=dtype, device=device) * interval
    allt = torch.cat([grid, t])  # grid first: a stable sort keeps a boundary before an event at the same time
    kind = torch.cat([torch.full((n_int,), -1, dtype=torch.int64, device=device),
                      torch.arange(t.numel(), dtype=torch.int64, device=device)])
    order = torch.sort(allt.detach(), stable=True).indices
    starts = allt[order]
    ev = kind[order].tolist()
    ends = torch.cat([starts[1:], torch.tensor([duration], dtype=dtype, device=device)])
    lengths = ends - starts
    interval_index, closes = [], []
    k = -1
    for i, e in enumerate(ev):
        if e < 0:
            k += 1
        interval_index.append(k)
        closes.append(i == len(ev) - 1 or ev[i + 1] < 0)
    return EventSchedule(
        starts=starts, lengths=lengths, event=ev, interval_index=interval_index, closes_interval=closes,
        channels=ch.tolist(), batch=batch, amplitudes=amp, n_intervals=n_int,
        batch_size=None if batch_index is None else int(batch_size),
    )
