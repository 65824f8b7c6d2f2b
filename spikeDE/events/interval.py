r"""Advance a batch of LIF neurons exactly across one input interval (functional core, explicit state).

State (all ``[..., n_neurons]``): membrane ``v``, remaining refractory time ``refractory`` (ms, ``>= 0``; while
it is positive ``v == v_reset``) and, with a synapse, the synaptic current ``i_syn``.

* :func:`zoh_interval`: held current ``I`` over ``[0, L]`` (zero-order hold, no synapse). Everything is closed
  form: free evolution starts at ``s0 = min(refractory, L)``; the first spike is at
  ``t1 = s0 + tau*log1p((theta - v)/(v_inf - theta))``; the next ones follow every
  ``D = t_ref + tau*log1p((theta - v_reset)/(v_inf - theta))``, so the interval holds
  ``n = floor((L - t1)/D) + 1`` spikes (``0`` if ``t1 > L``) at ``t1 + k D`` and no per-spike loop is needed.
  After the last spike ``t_n`` the membrane restarts from ``v_reset`` at ``t_n + t_ref``.
* :func:`synaptic_segment`: the synaptic current jumps at the segment start, then decays. Each round finds,
  for every neuron at once, its next crossing with :func:`~spikeDE.events.crossing.first_crossing`, resets the
  neurons that crossed and repeats until no neuron crosses before ``L`` (one host check per round).

Spike times carry implicit gradients (:mod:`spikeDE.events.crossing`); the post-spike state depends on the
spike time, so gradients flow through every reset into later spikes. Spikes are returned as *groups*
``(base, step, count)``: neuron ``i`` spikes at ``base[i] + k * step[i]`` for ``k < count[i]``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .crossing import first_crossing, zoh_first_and_period
from .dynamics import ODELIFDynamics

__all__ = ["LIFState", "SpikeGroup", "zoh_interval", "synaptic_segment"]


def _positive_part(x: torch.Tensor) -> torch.Tensor:
    """``max(x, 0)`` whose gradient is 0 at ``x == 0`` (``clamp`` would pass it): a refractory period that has
    just run out must not carry the derivative of its end into the next segment."""
    return torch.where(x > 0, x, torch.zeros_like(x))


class LIFState(NamedTuple):
    """Membrane ``v``, remaining refractory time ``refractory`` (ms) and synaptic current ``i_syn`` (or None)."""

    v: torch.Tensor
    refractory: torch.Tensor
    i_syn: torch.Tensor | None = None


class SpikeGroup(NamedTuple):
    """Spikes at ``base + k * step`` for ``k < count`` (absolute times in ms; ``count`` integer-valued, in the
    floating dtype of the times)."""

    base: torch.Tensor
    step: torch.Tensor
    count: torch.Tensor


def zoh_interval(
    state: LIFState,
    current: torch.Tensor,
    length: float,
    dyn: ODELIFDynamics,
    t_start=0.0,
    slope_floor: float = 0.0,
    with_grad: bool = True,
):
    """Exact update over one interval of ``length`` ms with the current ``current`` held constant.

    Returns ``(new_state, group, count)`` with ``count`` the number of spikes per neuron (float dtype) in
    ``[0, length]`` (a crossing exactly at the end belongs to this interval; the next one starts from the
    reset) and ``group`` their absolute times (``t_start`` + local time). With ``with_grad`` the first spike
    time and the inter-spike interval carry implicit gradients (slope ``(v_inf - theta)/tau_mem`` at every
    crossing, clamped below at ``slope_floor``).
    """
    tau, theta, v_reset, t_ref = dyn.tau_mem, dyn.v_threshold, dyn.v_reset, dyn.t_ref
    v, refr = state.v, state.refractory
    v_inf = dyn.steady_state(current)
    s0 = torch.clamp(refr, max=length) if t_ref > 0 else None  # free evolution starts after refractoriness
    with torch.no_grad():
        w, vi = v.detach(), v_inf.detach()
        dt1, isi_0, can = zoh_first_and_period(w, vi, dyn)
        t1_0 = dt1 if s0 is None else dt1.add_(s0.detach())
        first = (t1_0 <= length).logical_and_(can | (w >= theta))
        # spikes after the first: floor((L - t1)/D), isi_0 > 0 wherever it is used
        extra = torch.where(first & can, (length - t1_0).div_(isi_0).floor_(), 0.0)
        n = first.to(extra.dtype).add_(extra)
        t1_0 = torch.where(first, t1_0, 0.0)  # finite stand-in where unused
    if with_grad:
        slope = (vi - theta).clamp(min=slope_floor * tau) / tau  # v' where v = theta, clamped
        r1 = dyn.membrane(v, t1_0 if s0 is None else t1_0 - s0, current) - theta  # ~0, carries dv/dp
        t1 = t1_0 - (r1 - r1.detach()) / slope
        r2 = dyn.membrane(torch.full_like(v, v_reset), isi_0 - t_ref, current) - theta
        isi = isi_0 - (r2 - r2.detach()) / slope
    else:
        t1, isi = t1_0, isi_0
    if s0 is None:
        quiet_weight = -math.expm1(-length / tau)  # v_quiet = v + (v_inf - v) * (1 - exp(-L/tau))
        if with_grad:
            last = t1 + extra * isi  # last spike (= t1 where at most one)
            v_after_spike = v_reset - (v_inf - v_reset) * torch.expm1((last - length) / tau)
        else:  # same formula, in place on temporaries (inference speed)
            decay = extra.mul_(isi).add_(t1).sub_(length).div_(tau).expm1_()
            v_after_spike = (v_inf - v_reset).mul_(decay).neg_().add_(v_reset)
        v_quiet = torch.lerp(v, v_inf, quiet_weight)
        refr_new = refr
    else:
        release = t1 + extra * isi + t_ref  # end of the refractory period after the last spike
        after = _positive_part(length - release)  # 0 while still refractory: v stays at v_reset
        v_after_spike = v_reset - (v_inf - v_reset) * torch.expm1(-after / tau)
        v_quiet = v - (v_inf - v) * torch.expm1(-(length - s0) / tau)
        refr_new = torch.where(first, _positive_part(release - length), _positive_part(refr - length))
    v_new = torch.where(first, v_after_spike, v_quiet)
    # where count == 0 (resp. <= 1) base (resp. step) is an unused finite stand-in
    group = SpikeGroup(base=t_start + t1, step=isi, count=n)
    return LIFState(v_new, refr_new, None), group, n


def synaptic_segment(
    state: LIFState,
    jump: torch.Tensor | None,
    length,
    dyn: ODELIFDynamics,
    t_start=0.0,
    iterations: int | None = None,
    slope_floor: float | None = None,
    with_grad: bool = True,
):
    """Exact update over one segment of ``length`` ms: ``i_syn`` jumps by ``jump`` at the start, then decays.

    ``length`` may be a tensor (with a graph: its gradient is exact). Returns
    ``(new_state, groups, count)``: one :class:`SpikeGroup` per round that produced spikes (one spike per
    neuron at most per round, in time order), and the spike count per neuron in ``[0, length]`` (float dtype).
    """
    tau_syn, v_reset, t_ref = dyn.tau_syn, dyn.v_reset, dyn.t_ref
    if tau_syn is None:
        raise ValueError("synaptic_segment: the dynamics have no synapse (tau_syn is None)")
    v, refr, i0 = state.v, state.refractory, state.i_syn
    if jump is not None:
        i0 = i0 + jump
    length = torch.as_tensor(length, dtype=v.dtype, device=v.device)
    c = torch.zeros_like(v)  # local time up to which each neuron has been advanced
    count = torch.zeros(v.shape, dtype=v.dtype, device=v.device)
    groups = []
    while True:
        # end of refractoriness (free evolution starts); a tie goes to c + refr so that a segment of zero
        # length still passes the full derivative with respect to its length
        ready = c + refr
        s0 = torch.where(ready <= length, ready, length)
        j = i0 * torch.exp(-s0 / tau_syn)
        span = length - s0
        u, crosses = first_crossing(
            dyn, v, span, None, j, iterations=iterations, slope_floor=slope_floor, with_grad=with_grad
        )
        v_end = dyn.membrane(v, span, None, j)
        refr_end = _positive_part(c + refr - length)
        if not bool(crosses.any()):
            v, refr = v_end, refr_end
            break
        t_spike = s0 + u
        groups.append(
            SpikeGroup(
                base=t_start + torch.where(crosses, t_spike, torch.zeros_like(t_spike)),
                step=torch.zeros_like(t_spike),
                count=crosses.to(v.dtype),
            )
        )
        count = count + crosses.to(v.dtype)
        v = torch.where(crosses, torch.full_like(v, v_reset), v_end)
        refr = torch.where(crosses, torch.full_like(refr, t_ref), refr_end)
        c = torch.where(crosses, t_spike, length.expand_as(c))
    i_end = i0 * torch.exp(-length / tau_syn)
    return LIFState(v, refr, i_end), groups, count
