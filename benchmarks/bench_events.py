"""Event-driven spiking ODE layer vs fixed-step and adaptive Euler: speed and spike-time error, one table.

Setups (held input, LIF tau_mem = 20 ms, threshold 1, reset 0, no refractoriness, 1 ms intervals):
  * tutorial: 32 inputs -> 16 neurons, 100 samples, no batch;
  * batched:  B = 64, 32 inputs -> 1024 neurons, 1000 intervals.
Inputs ~ N(0, 0.25), weights ~ N(0, 2/32).

Methods:
  * exact: ``SpikingODELayer`` (closed form between events), float64 and float32;
  * Euler dt = 0.1 / 0.01 ms: fixed-step forward Euler, reset at threshold, spike placed on the step's end
    (what a fixed-step SNN does);
  * adaptive Euler (baseline): a plain re-implementation of the published "spiking neural ODE" approach:
    forward Euler with one step size shared by the layer (start 0.1 ms, halved when any membrane is within
    10% of threshold, else grown x1.5 up to 0.1 ms, floor 0.001 ms), a crossing step shortened by up to 5
    halvings, at most 100 steps per interval and the interval abandoned once the remaining time is below the
    floor step. The "simulated time" column shows how much of the input time it actually integrates.

Truth: each spike time recomputed event by event in 30-digit arithmetic (mpmath) for a subset of neurons
(all 16 of the tutorial; 32 neurons of the first batch element in the batched setup). Error columns: for every
spike a method reports, the distance to the nearest true spike of the same neuron; "spikes" is found/true.
Throughput: neuron-intervals per second, median of repeats, CPU (``--threads``, default 1), all methods in
this run. The Euler
baselines are timed on the first ``--slow-intervals`` intervals of the batched setup (the rate is per
neuron-interval, so it compares directly); their errors always use all intervals.

    python benchmarks/bench_events.py            # full (a few minutes on 2 cores)
    python benchmarks/bench_events.py --quick    # smoke run
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import mpmath as mp
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import median_time, print_table  # noqa: E402

from spikeDE.events import ODELIFDynamics, SpikingODELayer  # noqa: E402

TAU, THETA, V_RESET, V_REST, C_MEM = 20.0, 1.0, 0.0, 0.0, 1.0
INTERVAL = 1.0


# ------------------------------------------------------------------------------------------ truth
def mp_reference(currents: np.ndarray, interval: float = INTERVAL, dps: int = 30):
    """Spike times per neuron for held currents ``[T, M]``, event by event in ``dps``-digit arithmetic."""
    mp.mp.dps = dps
    T, M = currents.shape
    tau, theta, vr, vrest = mp.mpf(TAU), mp.mpf(THETA), mp.mpf(V_RESET), mp.mpf(V_REST)
    L = mp.mpf(interval)
    out = []
    for m in range(M):
        v, spikes = vrest, []
        for k in range(T):
            v_inf = vrest + tau * mp.mpf(float(currents[k, m])) / C_MEM
            t = mp.mpf(0)
            while True:
                if v_inf > theta:
                    ts = t + tau * mp.log((v_inf - v) / (v_inf - theta))
                    if ts <= L:
                        spikes.append(float(k * L + ts))
                        v, t = vr, ts
                        continue
                v = v_inf + (v - v_inf) * mp.exp(-(L - t) / tau)
                break
        out.append(spikes)
    return out


def spike_errors(found, truth):
    """(found count, true count, mean and max distance of found spikes to the nearest true spike)."""
    errs, n_found, n_true = [], 0, 0
    for f, t in zip(found, truth):
        n_found += len(f)
        n_true += len(t)
        if f and t:
            t = np.asarray(t)
            f = np.asarray(f)
            idx = np.clip(np.searchsorted(t, f), 1, len(t) - 1) if len(t) > 1 else np.zeros(len(f), int)
            d = np.abs(f - t[idx])
            if len(t) > 1:
                d = np.minimum(d, np.abs(f - t[idx - 1]))
            errs.append(d)
    e = np.concatenate(errs) if errs else np.array([math.nan])
    return n_found, n_true, float(e.mean()), float(e.max())


# ------------------------------------------------------------------------------------------ baselines
def _record(spikes, spk, n_record, t):
    """Append time ``t`` for the recorded neurons (the first ``n_record`` of a ``[N]`` run) that spiked."""
    hit = spk[:n_record]
    if bool(hit.any()):
        ts = t if isinstance(t, float) else None
        for m in torch.nonzero(hit).flatten().tolist():
            spikes[m].append(ts if ts is not None else float(t[m]))


def euler_fixed(currents: torch.Tensor, dt: float, n_record: int = 0):
    """Fixed-step forward Euler on held currents ``[T, (B,) N]``; spike on the step end, reset to v_reset.

    With ``n_record`` (unbatched ``[T, N]`` input) the spike times of the first ``n_record`` neurons are kept.
    """
    n_sub = int(round(INTERVAL / dt))
    v = torch.full(currents.shape[1:], V_REST, dtype=currents.dtype)
    counts = torch.zeros_like(v)
    decay = 1.0 - dt / TAU
    spikes = [[] for _ in range(n_record)]
    for k in range(currents.shape[0]):
        drive = currents[k] * (dt / C_MEM) + (dt / TAU) * V_REST
        for s in range(n_sub):
            v.mul_(decay).add_(drive)
            spk = v >= THETA
            v.masked_fill_(spk, V_RESET)
            counts += spk
            if n_record:
                _record(spikes, spk, n_record, k * INTERVAL + (s + 1) * dt)
    return counts, spikes, 1.0


def euler_adaptive(currents: torch.Tensor, n_record: int = 0, dt_init=0.1, dt_min=0.001, max_steps=100,
                   n_bisect=5):
    """Baseline: adaptive forward Euler with halving near threshold (the published approach, re-implemented).

    One step size per sequence, shared by all its neurons (the published layer has no batch dimension; here
    each sequence of a batch runs its own copy of that control loop, vectorised). Per interval: step
    ``dt = min(dt, remaining)``; stop the interval when ``dt < dt_min`` or after ``max_steps`` steps (the rest
    of the interval is not integrated); Euler step; if any neuron crossed, halve the step up to ``n_bisect``
    times while some neuron still crosses at the half step, count the neurons that crossed the full step,
    reset them; then halve ``dt`` (floor ``dt_min``) if some membrane is within 10% of threshold, else grow it
    x1.5 (cap ``dt_init``). Returns counts, recorded spike lists, fraction of the input time integrated.
    """
    unbatched = currents.dim() == 2
    cur = currents.unsqueeze(1) if unbatched else currents  # [T, B, N]
    T, B, N = cur.shape
    v = torch.full((B, N), V_REST, dtype=cur.dtype)
    counts = torch.zeros_like(v)
    spikes = [[] for _ in range(n_record)]
    covered = 0.0
    for k in range(T):
        i_k = cur[k]
        t = torch.zeros(B, dtype=cur.dtype)
        dt = torch.full((B,), dt_init, dtype=cur.dtype)
        active = torch.ones(B, dtype=torch.bool)
        for _ in range(max_steps):
            dt = torch.minimum(dt, INTERVAL - t)
            active &= (t < INTERVAL) & (dt >= dt_min)
            if not bool(active.any()):
                break
            dv = -(v - V_REST) / TAU + i_k / C_MEM
            v_new = v + dt[:, None] * dv
            crossed = (v_new >= THETA) & active[:, None]
            cont = crossed.any(1)
            for _ in range(n_bisect):
                if not bool(cont.any()):
                    break
                half = dt / 2
                v_mid = v + half[:, None] * dv
                cont = cont & (v_mid >= THETA).any(1)
                dt = torch.where(cont, half, dt)
                v_new = torch.where(cont[:, None], v_mid, v_new)
            counts += crossed
            if n_record:
                _record(spikes, crossed[0], n_record, float(k * INTERVAL + t[0] + dt[0]))
            v_new = v_new.masked_fill(crossed, V_RESET)
            v = torch.where(active[:, None], v_new, v)
            t = torch.where(active, t + dt, t)
            near = (THETA - v).amin(1) < 0.1 * THETA
            dt = torch.where(near, torch.clamp(dt * 0.5, min=dt_min), torch.clamp(dt * 1.5, max=dt_init))
        covered += float(t.mean())
    return (counts[0] if unbatched else counts), spikes, covered / (T * INTERVAL)


# ------------------------------------------------------------------------------------------ runs
def make_setup(T, B, N, n_in=32, seed=0):
    rng = np.random.default_rng(seed)
    shape = (T, n_in) if B is None else (T, B, n_in)
    x = rng.standard_normal(shape) * 0.5
    w = rng.standard_normal((N, n_in)) * math.sqrt(2.0 / n_in)
    return x, w


def exact_layer(w, dtype):
    layer = SpikingODELayer(w.shape[1], w.shape[0], dynamics=ODELIFDynamics(tau_mem=TAU), dtype=dtype)
    layer.W = w
    return layer


def run_setup(name, T, B, N, n_sub, repeats, slow_intervals, rows):
    x, w = make_setup(T, B, N)
    x64 = torch.from_numpy(x)
    cur64 = torch.matmul(x64, torch.from_numpy(w).t())  # [T, (B,) N]
    sub64 = cur64 if B is None else cur64[:, 0]
    sub64 = sub64[:, :n_sub]
    t0 = time.perf_counter()
    truth = mp_reference(sub64.numpy())
    t_truth = time.perf_counter() - t0
    n_total = T * (1 if B is None else B) * N
    print(f"[{name}] T={T} B={B} N={N}: truth for {n_sub} neurons in {t_truth:.1f} s", flush=True)

    for dtype in (torch.float64, torch.float32):
        layer = exact_layer(w, dtype)
        xin = x64.to(dtype)

        def run():
            with torch.no_grad():
                return layer(xin, interval=INTERVAL, return_spikes=True)

        sec = median_time(run, repeats=repeats, warmup=1)
        _, train = run()
        lists = train.to_list()
        found = lists[:n_sub] if B is None else lists[0][:n_sub]
        nf, nt, emean, emax = spike_errors(found, truth)
        rows.append([name, f"exact ({str(dtype)[6:]})", n_total / sec, sec, f"{nf}/{nt}", emean, emax, "100%"])
        print(f"  exact {dtype}: {sec:.3f} s", flush=True)

    cur32 = torch.matmul(x64.float(), torch.from_numpy(w).float().t())
    t_slow = T if B is None else min(T, slow_intervals)
    n_slow = t_slow * (1 if B is None else B) * N
    seq0 = (cur32 if B is None else cur32[:, 0]).contiguous()  # one whole sequence, all N neurons
    baselines = [
        ("Euler dt=0.1 (float32)", lambda c, r: euler_fixed(c, 0.1, r)),
        ("Euler dt=0.01 (float32)", lambda c, r: euler_fixed(c, 0.01, r)),
        ("adaptive Euler, baseline (float32)", lambda c, r: euler_adaptive(c, r)),
    ]
    for label, fn in baselines:
        sec = median_time(lambda: fn(cur32[:t_slow], 0), repeats=repeats, warmup=0 if B else 1)
        # errors (and the fraction of time integrated) from the first sequence over all intervals
        _, found, covered = fn(seq0, n_sub)
        nf, nt, emean, emax = spike_errors(found, truth)
        note = "" if t_slow == T else f" [timed on {t_slow} intervals]"
        rows.append([name, label + note, n_slow / sec, sec * T / t_slow, f"{nf}/{nt}", emean, emax,
                     f"{100 * covered:.0f}%"])
        print(f"  {label}: {sec:.3f} s", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small batched setup, one repeat")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--slow-intervals", type=int, default=30,
                   help="intervals on which the Euler baselines are timed in the batched setup")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads for every method (default 1: stable figures on a shared machine)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    if args.quick:
        run_setup("tutorial", 100, None, 16, 16, 1, 100, rows)
        run_setup("batched", 100, 8, 128, 8, 1, 10, rows)
    else:
        run_setup("tutorial", 100, None, 16, 16, args.repeats, 100, rows)
        run_setup("batched", 1000, 64, 1024, 32, args.repeats, args.slow_intervals, rows)
    print()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    print_table(
        ["setup", "method", "neuron-intervals/s", "time for all intervals [s]", "spikes found/true",
         "mean |dt| [ms]", "max |dt| [ms]", "simulated time"],
        rows,
    )
    # headline ratios from the batched rows of this run
    by = {r[1].split(" [")[0]: r for r in rows if r[0] == "batched"}
    ex32, ex64, e001 = by.get("exact (float32)"), by.get("exact (float64)"), by.get("Euler dt=0.01 (float32)")
    if ex32 and e001:
        print(f"\nbatched: exact float32 is {ex32[2] / e001[2]:.1f}x the throughput of Euler dt=0.01; "
              f"mean error {e001[5] / max(ex64[5], 1e-300):.2g}x (float64 exact) / "
              f"{e001[5] / max(ex32[5], 1e-300):.2g}x (float32 exact) smaller")


if __name__ == "__main__":
    main()
