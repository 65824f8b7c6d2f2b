"""Event-driven LIF layer against analytic spike times (closed forms written here, Lambert W, scipy roots)."""
import math

import mpmath as mp
import numpy as np
import pytest
import torch
from scipy.special import lambertw

from spikeDE.events import ODELIFDynamics, SpikingODELayer


def _constant_drive(dyn, currents, n_intervals, interval, dtype):
    """Layer with identity weights driven by constant currents: returns (counts, train, layer)."""
    n = len(currents)
    layer = SpikingODELayer(n, n, dynamics=dyn, dtype=dtype)
    layer.W = torch.eye(n, dtype=dtype)
    x = torch.tensor(currents, dtype=dtype).expand(n_intervals, n)
    counts, train = layer.forward(x, interval=interval, return_spikes=True)
    return counts, train, layer


def _analytic_train(dyn, current, t_end):
    """Spike times of a LIF neuron from rest under constant current (plain logs, no log1p)."""
    v_inf = dyn.v_rest + dyn.tau_mem * current / dyn.C_mem
    if v_inf <= dyn.v_threshold:
        return []
    t1 = dyn.tau_mem * math.log((v_inf - dyn.v_rest) / (v_inf - dyn.v_threshold))
    period = dyn.t_ref + dyn.tau_mem * math.log((v_inf - dyn.v_reset) / (v_inf - dyn.v_threshold))
    times, t = [], t1
    while t <= t_end:
        times.append(t)
        t += period
    return times


DYNS = [
    ODELIFDynamics(tau_mem=20.0),
    ODELIFDynamics(tau_mem=20.0, v_rest=-0.2, v_threshold=1.0, v_reset=0.1, C_mem=2.0, t_ref=2.5),
    ODELIFDynamics(tau_mem=7.0, v_rest=0.3, v_threshold=1.5, v_reset=-0.5, C_mem=0.5, t_ref=0.3),
]


@pytest.mark.parametrize("dyn", DYNS)
@pytest.mark.parametrize("interval", [1.0, 0.37])
def test_constant_input_spike_times_float64(dyn, interval):
    # currents from silent to several spikes per interval; refractoriness spans interval boundaries
    theta_current = (dyn.v_threshold - dyn.v_rest) * dyn.C_mem / dyn.tau_mem
    currents = [0.5 * theta_current, 1.2 * theta_current, 2 * theta_current, 10 * theta_current, 80 * theta_current]
    n_int = 300
    counts, train, _ = _constant_drive(dyn, currents, n_int, interval, torch.float64)
    t_end = n_int * interval
    for i, cur in enumerate(currents):
        ref = _analytic_train(dyn, cur, t_end)
        assert int(counts[:, i].sum()) == len(ref) == int(train.counts[i])
        got = train.times[i, : len(ref)].detach().numpy()
        assert np.max(np.abs(got - np.array(ref)), initial=0.0) <= 1e-9
    if dyn.t_ref == 0:
        assert int(counts.max()) > 1  # several spikes in one interval occurred


@pytest.mark.parametrize("dyn", DYNS[:2])
def test_constant_input_spike_times_float32(dyn):
    theta_current = (dyn.v_threshold - dyn.v_rest) * dyn.C_mem / dyn.tau_mem
    currents = [1.3 * theta_current, 3 * theta_current, 25 * theta_current]
    counts, train, _ = _constant_drive(dyn, currents, 200, 1.0, torch.float32)
    assert counts.dtype == torch.float32 and train.times.dtype == torch.float32
    for i, cur in enumerate(currents):
        ref = _analytic_train(dyn, cur, 200.0)
        assert int(train.counts[i]) == len(ref)
        got = train.times[i, : len(ref)].detach().double().numpy()
        assert np.max(np.abs(got - np.array(ref))) <= 1e-4 * dyn.tau_mem


def test_firing_rate_formula():
    dyn = ODELIFDynamics(tau_mem=20.0, t_ref=2.0, v_reset=0.2)
    currents = [0.06, 0.1, 0.3]
    duration = 2000.0
    counts, train, _ = _constant_drive(dyn, currents, 2000, 1.0, torch.float64)
    for i, cur in enumerate(currents):
        v_inf = dyn.tau_mem * cur
        rate = 1.0 / (dyn.t_ref + dyn.tau_mem * math.log((v_inf - dyn.v_reset) / (v_inf - dyn.v_threshold)))
        isi = np.diff(train.times[i, : int(train.counts[i])].detach().numpy())
        assert np.allclose(1.0 / isi, rate, rtol=1e-12)
        assert abs(float(counts[:, i].detach().sum()) - rate * duration) <= 1.0 + 1e-9


def test_no_simulated_time_dropped_subthreshold():
    # below threshold the membrane must follow v_inf + (v0 - v_inf) exp(-t/tau) over the whole duration
    dyn = ODELIFDynamics(tau_mem=20.0, v_rest=0.1)
    currents = [0.01, 0.03, -0.02]
    counts, _, layer = _constant_drive(dyn, currents, 137, 0.73, torch.float64)
    t = 137 * 0.73
    assert counts.sum() == 0
    assert layer.time == pytest.approx(t, rel=1e-15)
    for i, cur in enumerate(currents):
        v_inf = dyn.v_rest + dyn.tau_mem * cur
        expected = v_inf + (dyn.v_rest - v_inf) * math.exp(-t / dyn.tau_mem)
        assert float(layer.voltage[i]) == pytest.approx(expected, abs=1e-13)


def test_first_spike_from_nonrest_start():
    # a first interval of sub-threshold drive brings v to v0; then t* = tau ln((v_inf - v0)/(v_inf - theta))
    dyn = ODELIFDynamics(tau_mem=10.0)
    layer = SpikingODELayer(1, 1, dynamics=dyn, dtype=torch.float64)
    layer.W = [[1.0]]
    x = torch.tensor([[0.05], [0.25], [0.25], [0.25], [0.25], [0.25]], dtype=torch.float64)
    _, train = layer.forward(x, interval=1.0, return_spikes=True)
    v0 = 0.5 * (1 - math.exp(-0.1))
    v_inf = 2.5
    expected = 1.0 + 10.0 * math.log((v_inf - v0) / (v_inf - 1.0))
    assert float(train.first_spike_times()[0].detach()) == pytest.approx(expected, abs=1e-12)


# ------------------------------------------------------------------------------- synaptic current
def _syn_voltage(t, w, tau_m, tau_s, c=1.0):
    """v(t) after one input spike of weight w at t = 0 from v = 0 (v_rest = 0), written plainly."""
    if tau_m == tau_s:
        return w / c * t * math.exp(-t / tau_m)
    return w / c * tau_m * tau_s / (tau_m - tau_s) * (math.exp(-t / tau_m) - math.exp(-t / tau_s))


@pytest.mark.parametrize("tau_s", [5.0, 20.0, 35.0, 20.0 * (1 + 1e-9)])
def test_single_input_spike_crossing(tau_s):
    tau_m = 20.0
    dyn = ODELIFDynamics(tau_mem=tau_m, tau_syn=tau_s, C_mem=1.3)
    w = 0.6
    layer = SpikingODELayer(1, 1, dynamics=dyn, dtype=torch.float64)
    layer.W = [[w]]
    x = torch.zeros(30, 1, dtype=torch.float64)
    x[0, 0] = 1.0
    counts, train = layer.forward(x, interval=1.0, return_spikes=True)
    assert int(train.counts[0]) >= 1
    if tau_s == tau_m:
        # (w/C) t exp(-t/tau) = 1  <=>  t = -tau W0(-C/(w tau))
        expected = float(-tau_m * lambertw(-1.3 / (w * tau_m), 0).real)
    else:
        # 40-digit arithmetic: the plain difference of exponentials is exact enough even for tau_s ~ tau_m
        mp.mp.dps = 40
        tm, ts, wc = mp.mpf(tau_m), mp.mpf(tau_s), mp.mpf(w) / mp.mpf("1.3")
        peak = tm * ts / (tm - ts) * mp.log(tm / ts)
        v = lambda t: wc * tm * ts / (tm - ts) * (mp.exp(-t / tm) - mp.exp(-t / ts)) - 1
        expected = float(mp.findroot(v, (mp.mpf("1e-6"), peak), solver="anderson"))
    assert float(train.times[0, 0].detach()) == pytest.approx(expected, abs=1e-9)


def test_grazing_peak_inside_interval_is_found():
    # one input spike; the membrane peaks inside a long interval and is below threshold at both ends.
    # weights put the peak at theta*(1 +/- 1e-9): the first must spike, the second must not.
    tau_m, tau_s = 20.0, 5.0
    t_peak = tau_m * tau_s / (tau_m - tau_s) * math.log(tau_m / tau_s)
    k_peak = _syn_voltage(t_peak, 1.0, tau_m, tau_s)
    w = torch.tensor([[(1 + 1e-9) / k_peak, 0.0], [0.0, (1 - 1e-9) / k_peak]], dtype=torch.float64)
    dyn = ODELIFDynamics(tau_mem=tau_m, tau_syn=tau_s)
    layer = SpikingODELayer(2, 2, dynamics=dyn, dtype=torch.float64)
    layer.W = w
    x = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    counts, train = layer.forward(x, interval=60.0, return_spikes=True)
    assert _syn_voltage(60.0, float(w[0, 0]), tau_m, tau_s) < 0.5  # below threshold at the interval end
    assert counts[0].tolist() == [1.0, 0.0]
    # the crossing sits just before the peak: v(t) ~ theta (1 + 1e-9) - a (t - t_peak)^2
    t0 = float(train.times[0, 0].detach())
    assert t_peak - 0.05 < t0 < t_peak
    assert _syn_voltage(t0, float(w[0, 0]), tau_m, tau_s) == pytest.approx(1.0, abs=1e-12)


def test_grazing_float32_does_not_produce_nan():
    tau_m, tau_s = 20.0, 5.0
    t_peak = tau_m * tau_s / (tau_m - tau_s) * math.log(tau_m / tau_s)
    k_peak = _syn_voltage(t_peak, 1.0, tau_m, tau_s)
    dyn = ODELIFDynamics(tau_mem=tau_m, tau_syn=tau_s)
    layer = SpikingODELayer(1, 3, dynamics=dyn)
    layer.W = torch.tensor([[1.0 / k_peak], [(1 + 1e-6) / k_peak], [(1 + 1e-3) / k_peak]])
    counts, train = layer.forward(np.ones((1, 1), dtype=np.float32), interval=40.0, return_spikes=True)
    first = train.first_spike_times()
    first.masked_fill(~torch.isfinite(first), 0).sum().backward()
    assert torch.isfinite(layer.weight.grad).all()
    assert counts[0, 1:].tolist() == [1.0, 1.0]
    assert abs(float(first[2].detach()) - t_peak) < 2.0
