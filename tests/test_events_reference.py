"""Event-driven layer against a fine fixed-step reference (dt = 1e-5 ms, crossings by linear interpolation)."""
import numpy as np
import pytest
import torch

from spikeDE.events import ODELIFDynamics, SpikingODELayer

DT = 1e-5


def fine_reference(dyn, drive, interval, dt=DT):
    """Forward Euler at step ``dt``, written plainly: ``drive`` ``[T, M]`` is the held current per interval
    (no synapse) or the synaptic jump at each interval start (synapse). A crossing inside a step is placed by
    linear interpolation; refractoriness and the rest of the step after it are integrated as partial steps.
    Returns (spike-time lists per neuron, final membrane, simulated time)."""
    T, M = drive.shape
    steps = int(round(interval / dt))
    assert abs(steps * dt - interval) < 1e-12
    v = np.full(M, dyn.v_rest)
    i_syn = np.zeros(M)
    free_at = np.zeros(M)  # end of the refractory period
    spikes = [[] for _ in range(M)]
    theta, syn = dyn.v_threshold, dyn.tau_syn is not None

    def rhs(vv, ii):
        return -(vv - dyn.v_rest) / dyn.tau_mem + ii / dyn.C_mem

    t_now = 0.0
    for k in range(T):
        if syn:
            i_syn = i_syn + drive[k]
        else:
            i_syn = drive[k].copy()
        for n in range(steps):
            t = k * interval + n * dt
            t_next = t + dt
            h = np.clip(t_next - np.maximum(t, free_at), 0.0, dt)  # free (non-refractory) part of the step
            v_new = v + h * rhs(v, i_syn)
            cross = (h > 0) & (v_new >= theta)
            if cross.any():
                for m in np.flatnonzero(cross):
                    s = t_next - h[m]
                    tc = s + h[m] * (theta - v[m]) / (v_new[m] - v[m])
                    spikes[m].append(tc)
                    free_at[m] = tc + dyn.t_ref
                    rest = max(t_next - free_at[m], 0.0)
                    v_new[m] = dyn.v_reset + rest * rhs(dyn.v_reset, i_syn[m])
            v = v_new
            if syn:
                i_syn = i_syn - dt * i_syn / dyn.tau_syn
            t_now = t_next
    return spikes, v, t_now


def _compare(dyn, seed):
    rng = np.random.default_rng(seed)
    T, B, n_in, N = 3, 3, 5, 4
    x = rng.uniform(0, 1, size=(T, B, n_in))
    layer = SpikingODELayer(n_in, N, dynamics=dyn, dtype=torch.float64)
    scale = 1.2 if dyn.tau_syn is None else 1.5
    layer.W = rng.uniform(-0.2, 1.0, size=(N, n_in)) * scale
    counts, train = layer.forward(x, interval=1.0, return_spikes=True)
    drive = (x @ layer.W.detach().numpy().T).reshape(T, B * N)
    ref, v_ref, t_ref_end = fine_reference(dyn, drive, 1.0)
    got = train.to_list()
    got = [got[b][n] for b in range(B) for n in range(N)]
    n_total = sum(len(r) for r in ref)
    assert n_total >= 8, "the random case should produce spikes"
    assert max(len(r) for r in ref) >= 3
    for r, g in zip(ref, got):
        assert len(g) == len(r)
        if r:
            assert np.max(np.abs(np.array(g) - np.array(r))) < 1e-4
    # the whole duration was simulated: same final membrane, same clock
    assert layer.time == pytest.approx(t_ref_end, abs=1e-9)
    assert np.allclose(layer.voltage.reshape(-1).numpy(), v_ref, atol=1e-4)
    # per-interval counts agree with the reference spike times binned by interval
    binned = np.zeros((T, B * N))
    for m, r in enumerate(ref):
        for t in r:
            binned[min(int(t // 1.0), T - 1), m] += 1
    assert np.array_equal(np.asarray(counts).reshape(T, B * N), binned)  # NumPy inputs give NumPy counts


def test_against_fine_reference_held_current():
    _compare(ODELIFDynamics(tau_mem=5.0, t_ref=0.2, v_reset=0.1), seed=1)


def test_against_fine_reference_synaptic():
    _compare(ODELIFDynamics(tau_mem=5.0, tau_syn=2.0, t_ref=0.15), seed=2)


def test_grazing_inputs_against_fine_reference():
    # one input spike per neuron; the membrane peaks inside the interval at theta * (1 + delta) and is below
    # threshold at both ends of it: a method that only looks at interval ends misses every one of these
    dyn = ODELIFDynamics(tau_mem=1.0, tau_syn=0.5)  # peak of K at ln 2 ms, K(ln 2) = 1/4
    deltas = np.array([1e-2, -1e-2, 3e-2, -1e-3, 0.05])
    layer = SpikingODELayer(5, 5, dynamics=dyn, dtype=torch.float64)
    layer.W = np.diag(4.0 * (1.0 + deltas))
    x = np.ones((1, 5))
    counts, train = layer.forward(x, interval=1.0, return_spikes=True)
    k_end = np.exp(-1.0) - np.exp(-2.0)  # K(1) / (tau_m tau_s / (tau_m - tau_s)) with that factor = 1
    assert np.all(4.0 * (1.0 + deltas) * k_end < dyn.v_threshold)  # below threshold at the interval end
    ref, v_ref, _ = fine_reference(dyn, x @ layer.W.detach().numpy().T, 1.0)
    assert [len(r) for r in ref] == [1, 0, 1, 0, 1]
    assert counts[0].tolist() == [1.0, 0.0, 1.0, 0.0, 1.0]
    got = train.to_list()
    for r, g in zip(ref, got):
        assert len(g) == len(r)
        if r:
            assert abs(g[0] - r[0]) < 1e-4
    assert np.allclose(layer.voltage.numpy(), v_ref, atol=1e-4)
