"""Spike-time gradients (implicit function theorem), count surrogate gradients, a temporal-coding fit."""
import math

import pytest
import torch
from torch.func import functional_call

from spikeDE.events import ODELIFDynamics, SpikingODELayer, first_crossing

D64 = torch.float64


def _times_fn(layer, interval=1.0):
    """f(W, x) -> spike times of all spikes present at the base point (fixed set, so f is smooth there)."""
    mask = {}

    def f(W, x):
        counts, train = functional_call(layer, {"weight": W}, (x,), {"interval": interval, "return_spikes": True})
        m = train.mask
        if "m" not in mask:
            mask["m"] = m
        assert torch.equal(m, mask["m"]), "a perturbation changed the spike count"
        return train.times[m]

    return f


@pytest.mark.parametrize(
    "dyn",
    [
        ODELIFDynamics(tau_mem=5.0, t_ref=0.3, v_reset=0.1),
        ODELIFDynamics(tau_mem=4.0, tau_syn=2.0, t_ref=0.2),
        ODELIFDynamics(tau_mem=3.0, tau_syn=3.0),
    ],
    ids=["held", "synapse", "synapse-equal-taus"],
)
def test_gradcheck_spike_times_weights_and_inputs(dyn):
    g = torch.Generator().manual_seed(3)
    layer = SpikingODELayer(3, 2, dynamics=dyn, dtype=D64)
    W = (torch.rand(2, 3, generator=g, dtype=D64) * 1.2 + 0.3).requires_grad_()
    x = (torch.rand(4, 2, 3, generator=g, dtype=D64) + 0.2).requires_grad_()
    f = _times_fn(layer)
    t = f(W, x)
    assert t.numel() >= 6  # several spikes, so gradients pass through resets to later spikes
    assert torch.autograd.gradcheck(f, (W, x), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_gradcheck_event_times_and_amplitudes():
    dyn = ODELIFDynamics(tau_mem=4.0, tau_syn=1.5, t_ref=0.1)
    layer = SpikingODELayer(3, 2, dynamics=dyn, dtype=D64)
    layer.W = torch.tensor([[1.5, 0.9, 0.4], [0.6, 1.8, 1.1]], dtype=D64)
    # two events at the same time (2.05 ms, in different sequences): a zero-length segment between them
    times = torch.tensor([0.2, 0.9, 1.3, 2.05, 2.05, 3.7], dtype=D64, requires_grad=True)
    channels = [0, 1, 2, 0, 1, 2]
    batch = [0, 1, 0, 1, 0, 1]
    amps = torch.tensor([1.0, 1.2, 0.8, 1.1, 0.9, 1.3], dtype=D64, requires_grad=True)
    mask = {}

    class Events(torch.nn.Module):  # forward_events as a module call, so functional_call can swap W
        def __init__(self):
            super().__init__()
            self.layer = layer

        def forward(self, tt, aa):
            return self.layer.forward_events(tt, channels, 6.0, interval=2.0, batch_index=batch, batch_size=2,
                                             amplitudes=aa, return_spikes=True)

    wrapper = Events()

    def f_events(W, tt, aa):
        _, train = functional_call(wrapper, {"layer.weight": W}, (tt, aa))
        mask.setdefault("m", train.mask)
        assert torch.equal(train.mask, mask["m"])
        return train.times[train.mask]

    W = layer.W.detach().clone().requires_grad_()
    t = f_events(W, times, amps)
    assert t.numel() >= 4
    assert torch.autograd.gradcheck(f_events, (W, times, amps), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_implicit_gradient_matches_closed_form():
    # held current: the root finder + implicit gradient must equal autograd through the closed form
    dyn = ODELIFDynamics(tau_mem=7.0, v_rest=-0.1, C_mem=1.5)
    w = torch.tensor([-0.3, 0.0, 0.5, 0.9], dtype=D64, requires_grad=True)
    cur = torch.tensor([0.4, 0.25, 1.0, 0.3], dtype=D64, requires_grad=True)
    u, crosses = first_crossing(dyn, w, torch.tensor(50.0, dtype=D64), current=cur)
    assert crosses.all()
    v_inf = dyn.v_rest + dyn.tau_mem * cur / dyn.C_mem
    closed = dyn.tau_mem * torch.log((v_inf - w) / (v_inf - dyn.v_threshold))
    assert torch.allclose(u, closed, rtol=0, atol=1e-12)
    gu = torch.autograd.grad(u.sum(), (w, cur))
    gc = torch.autograd.grad(closed.sum(), (w, cur))
    for a, b in zip(gu, gc):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def test_later_spike_gradient_matches_analytic_period():
    # k-th spike of a constant current: t_k = t1 + (k-1) P, both closed forms differentiated here
    dyn = ODELIFDynamics(tau_mem=10.0, t_ref=0.7, v_reset=0.2)
    layer = SpikingODELayer(1, 1, dynamics=dyn, dtype=D64)
    W = torch.tensor([[0.3]], dtype=D64, requires_grad=True)
    x = torch.ones(40, 1, dtype=D64)
    _, train = functional_call(layer, {"weight": W}, (x,), {"return_spikes": True})
    n = int(train.counts[0])
    assert n >= 4
    k = torch.arange(n, dtype=D64)
    v_inf = dyn.tau_mem * W[0, 0]
    t1 = dyn.tau_mem * torch.log(v_inf / (v_inf - 1.0))
    period = dyn.t_ref + dyn.tau_mem * torch.log((v_inf - dyn.v_reset) / (v_inf - 1.0))
    expected = t1 + k * period
    got = train.times[0, :n]
    assert torch.allclose(got, expected, atol=1e-10)
    for j in range(n):
        (g_got,) = torch.autograd.grad(got[j], W, retain_graph=True)
        (g_exp,) = torch.autograd.grad(expected[j], W, retain_graph=True)
        assert torch.allclose(g_got, g_exp, rtol=1e-9)


def test_grazing_crossing_gradient_is_finite_and_clamped():
    # v_inf only 1e-13 above threshold: the crossing is real (after ~600 ms) but v' ~ 5e-15 at it
    dyn = ODELIFDynamics(tau_mem=20.0)
    layer = SpikingODELayer(1, 1, dynamics=dyn, dtype=D64)
    W = torch.tensor([[(1.0 + 1e-13) / 20.0]], dtype=D64, requires_grad=True)
    x = torch.ones(1, 1, dtype=D64)
    counts, train = functional_call(layer, {"weight": W}, (x,), {"interval": 700.0, "return_spikes": True})
    assert int(train.counts[0]) == 1
    (g,) = torch.autograd.grad(train.times[0, 0] + counts.sum(), W)
    assert torch.isfinite(g).all()
    # true derivative -tau (theta - v0) / ((v_inf - theta) v_inf) * tau is ~ -1e16; the clamp caps it
    floor = math.sqrt(torch.finfo(D64).eps) / 20.0
    bound = 20.0 * 20.0 / floor * 1.01  # |dv/dW| <= tau * |x| at the crossing
    assert 0 < -float(g) <= bound


def test_count_surrogate_gradient_sign():
    # more input -> more spikes: d(count)/dW must be positive for positive inputs, also for a silent neuron
    dyn = ODELIFDynamics(tau_mem=10.0)
    layer = SpikingODELayer(2, 3, dynamics=dyn, dtype=D64)
    W = torch.tensor([[0.2, 0.1], [0.05, 0.03], [0.002, 0.001]], dtype=D64, requires_grad=True)
    x = torch.tensor([[1.0, 0.5]], dtype=D64).expand(30, 2)
    counts = functional_call(layer, {"weight": W}, (x,))
    totals = counts.sum(0)
    assert totals[0] > 0 and totals[2] == 0  # one spiking neuron, one silent one
    # the value of the count is exact (an integer), the surrogate only shapes the gradient
    assert torch.equal(counts.detach(), counts.detach().round())
    (g,) = torch.autograd.grad(totals.sum(), W)
    assert (g[:2] > 0).all()
    assert (g[2] >= 0).all()
    # and with respect to the inputs: d(count)/dx_j has the sign of sum_i W_ij
    xr = x.clone().requires_grad_()
    counts = functional_call(layer, {"weight": -W.detach()}, (xr,))
    (gx,) = torch.autograd.grad(counts.sum(), xr)
    assert (gx <= 0).all() and (gx < 0).any()


def test_temporal_coding_training_reaches_targets():
    # 4 input patterns, 3 output neurons: learn W so that each neuron's first spike hits a target time
    torch.manual_seed(0)
    dyn = ODELIFDynamics(tau_mem=10.0, t_ref=1.0)
    layer = SpikingODELayer(4, 3, dynamics=dyn, seed=1)
    with torch.no_grad():
        layer.weight.uniform_(0.1, 0.3)
    patterns = torch.tensor([[1.0, 0.2, 0.1, 0.5], [0.1, 1.0, 0.3, 0.2], [0.4, 0.1, 1.0, 0.1], [0.3, 0.5, 0.2, 1.0]])
    x = patterns.unsqueeze(0).expand(14, 4, 4)  # [T, B, n_inputs]
    target = torch.tensor([[3.0, 8.0, 12.0], [9.0, 4.0, 6.0], [5.0, 11.0, 3.5], [7.0, 6.0, 10.0]])
    opt = torch.optim.Adam(layer.parameters(), lr=0.03)

    def loss_fn():
        counts, train = layer(x, interval=1.0, return_spikes=True)
        first = train.first_spike_times()
        fired = torch.isfinite(first)
        err = torch.where(fired, first - target, torch.zeros_like(first))
        silent = (1.0 - counts.sum(0)).clamp(min=0) * (~fired)  # surrogate gradient revives silent neurons
        return (err**2).sum() / target.numel() + silent.sum(), fired

    loss0, _ = loss_fn()
    for _ in range(100):
        opt.zero_grad()
        loss, _ = loss_fn()
        loss.backward()
        opt.step()
    loss, fired = loss_fn()
    assert fired.all()
    # from ~20 ms^2 to below 1e-3 ms^2 (first-spike times within ~0.03 ms of their targets)
    assert float(loss.detach()) < 1e-4 * float(loss0.detach()) and float(loss.detach()) < 1e-3
