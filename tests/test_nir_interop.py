"""NIR interoperability with Norse and snnTorch (skipped unless both the library and its NIR importer are
installed). A reset-to-zero LIF network goes spikeDE -> NIR -> library and library -> NIR -> spikeDE; the spikes
of the two simulations are compared step by step.

Conventions met on the way (see the README's NIR section): snnTorch's importer and exporter fix the step at
dt = 1e-4 (so spikeDE exports with dt = 1e-4 for it); Norse's exporter writes ``tau = dt / tau_mem_inv`` instead
of ``1 / tau_mem_inv`` (Norse issue #411), i.e. a time constant ``dt`` times too small, which is undone on import
by reading the graph with the step ``dt**2``. nirtorch's generic executor, given the NIR equations of the
primitives, runs spikeDE's subtractive-reset cycle and fractional subgraph.
"""
import numpy as np
import pytest
import torch
from torch import nn

nir = pytest.importorskip("nir")
pytest.importorskip("nirtorch")

from spikeDE import CubaLIFNeuron, LIFNeuron, SNNWrapper  # noqa: E402
from spikeDE.nir import from_nir, to_nir  # noqa: E402

T, B = 400, 4


def _scaled(layer, gain):
    with torch.no_grad():
        layer.weight.mul_(gain)
        layer.bias.mul_(gain)
    return layer


def _spikede_net():
    torch.manual_seed(0)
    base = nn.Sequential(_scaled(nn.Linear(8, 16), 4.0), LIFNeuron(tau=2.0, reset="zero"),
                         _scaled(nn.Linear(16, 4), 4.0), LIFNeuron(tau=3.0, reset="zero"))
    return SNNWrapper(base, integrator="odeint")


def _input():
    return torch.rand(T, B, 8, generator=torch.Generator().manual_seed(1)) * 1.5


def _agreement(a, b):
    return float((a == b).float().mean())


def test_spikede_to_norse():
    norse = pytest.importorskip("norse.torch")
    model, x, dt = _spikede_net(), _input(), 1e-3
    with torch.no_grad():
        ref = model(x)
        net = norse.from_nir(to_nir(model, dt=dt), dt=dt)
        state, outs = None, []
        for t in range(T):
            z, state = net(x[t], state)
            outs.append(z)
    assert ref.mean() > 0.01
    assert _agreement(torch.stack(outs), ref) >= 0.999


def test_spikede_cubalif_to_norse():
    """A CubaLIFNeuron network (reset to zero) exports as NIR CubaLIF nodes, which Norse runs spike for spike.
    (snnTorch's importer asserts its own CubaLIF scaling, r = tau_mem / dt and w_in = tau_syn / dt, and so
    refuses the NIR equations with r = w_in = 1.)"""
    norse = pytest.importorskip("norse.torch")
    torch.manual_seed(0)
    layers = [_scaled(nn.Linear(8, 16), 4.0), _scaled(nn.Linear(16, 4), 4.0)]
    with torch.no_grad():
        for layer in layers:
            layer.bias.add_(1.5)
    model = SNNWrapper(nn.Sequential(layers[0], CubaLIFNeuron(tau=2.0, tau_syn=3.0, reset="zero"),
                                     layers[1], CubaLIFNeuron(tau=3.0, tau_syn=1.5, reset="zero")),
                       integrator="odeint")
    x, dt = _input(), 1e-3
    with torch.no_grad():
        ref = model(x)
        net = norse.from_nir(to_nir(model, dt=dt), dt=dt)
        state, outs = None, []
        for t in range(T):
            z, state = net(x[t], state)
            outs.append(z)
    assert 0.01 < ref.mean() < 0.7
    assert _agreement(torch.stack(outs), ref) >= 0.999


def test_spikede_to_snntorch():
    pytest.importorskip("snntorch")
    from snntorch.import_nir import import_from_nir

    model, x = _spikede_net(), _input()
    with torch.no_grad():
        ref = model(x)
        net = import_from_nir(to_nir(model, dt=1e-4))  # snnTorch's importer assumes dt = 1e-4
        for m in net.modules():
            if hasattr(m, "reset_mem"):
                m.reset_mem()
        outs = []
        for t in range(T):
            z = net(x[t])
            outs.append(z[0] if isinstance(z, tuple) else z)
    assert ref.mean() > 0.01
    assert _agreement(torch.stack(outs), ref) >= 0.999


def test_snntorch_to_spikede():
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(2)
    net = nn.Sequential(
        _scaled(nn.Linear(8, 16), 3.0),
        snn.Leaky(beta=torch.full((16,), 0.8), threshold=torch.ones(16), reset_mechanism="zero", init_hidden=True),
        _scaled(nn.Linear(16, 4), 3.0),
        snn.Leaky(beta=torch.full((4,), 0.7), threshold=torch.ones(4), reset_mechanism="zero", init_hidden=True,
                  output=True))
    x = _input()
    graph = export_to_nir(net, x[0, :1], ignore_dims=[0])
    for m in net.modules():
        if hasattr(m, "reset_mem"):
            m.reset_mem()
    with torch.no_grad():
        ref = torch.stack([net(x[t])[0] for t in range(T)])
        got = from_nir(graph, dt=1e-4)(x)
    assert ref.mean() > 0.01
    assert _agreement(got, ref) >= 0.999


def test_norse_to_spikede():
    norse = pytest.importorskip("norse.torch")
    torch.manual_seed(3)
    dt, tau_inv = 1e-3, (500.0, 1000.0 / 3.0)
    net = norse.SequentialState(
        _scaled(nn.Linear(8, 16), 6.0), norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.tensor(tau_inv[0])), dt=dt),
        _scaled(nn.Linear(16, 4), 6.0), norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.tensor(tau_inv[1])), dt=dt))
    x = _input()
    graph = norse.to_nir(net, x[0, 0], dt=dt)
    tau = np.asarray(graph.nodes["1"].tau, dtype=np.float64)
    if np.allclose(tau, 1.0 / tau_inv[0]):
        dt_read = dt  # a Norse whose exporter writes the time constant itself
    else:
        np.testing.assert_allclose(tau, dt / tau_inv[0], rtol=1e-6)  # Norse #411: tau written as dt / tau_mem_inv
        dt_read = dt * dt
    with torch.no_grad():
        state, outs = None, []
        for t in range(T):
            z, state = net(x[t], state)
            outs.append(z)
        ref = torch.stack(outs)
        got = from_nir(graph, dt=dt_read)(x)
    assert ref.mean() > 0.01
    assert _agreement(got, ref) >= 0.999


def test_snntorch_synaptic_to_spikede():
    """snnTorch's Synaptic is exported as CubaLIF; with an immediate reset (reset_delay=False) it is NIR's CubaLIF."""
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(4)
    kw = dict(reset_mechanism="zero", init_hidden=True, reset_delay=False)
    net = nn.Sequential(
        nn.Linear(8, 16), snn.Synaptic(alpha=torch.full((16,), 0.6), beta=torch.full((16,), 0.8),
                                       threshold=torch.ones(16), **kw),
        nn.Linear(16, 4), snn.Synaptic(alpha=torch.full((4,), 0.5), beta=torch.full((4,), 0.7),
                                       threshold=torch.ones(4), output=True, **kw))
    x = _input()
    graph = export_to_nir(net, x[0, :1], ignore_dims=[0])
    assert isinstance(graph.nodes["1"], nir.CubaLIF)
    for m in net.modules():
        if hasattr(m, "reset_mem"):
            m.reset_mem()
    with torch.no_grad():
        ref = torch.stack([net(x[t])[0] for t in range(T)])
        got = from_nir(graph, dt=1e-4)(x)
    assert ref.mean() > 0.01
    assert _agreement(got, ref) >= 0.999


def test_norse_lifcell_to_spikede():
    """Norse's LIFCell exports as CubaLIF with both time constants dt times too small (#411) and w_in = 1, while
    its current jumps by the input (NIR: by w_in x dt / tau_syn): with tau read at dt**2 and w_in = tau_syn / dt
    the spikes agree."""
    norse = pytest.importorskip("norse.torch")
    torch.manual_seed(5)
    dt = 1e-3
    p = norse.LIFParameters(tau_syn_inv=torch.tensor(200.0), tau_mem_inv=torch.tensor(100.0))
    net = norse.SequentialState(_scaled(nn.Linear(8, 16), 6.0), norse.LIFCell(p, dt=dt),
                                _scaled(nn.Linear(16, 4), 6.0), norse.LIFCell(p, dt=dt))
    x = _input()
    graph = norse.to_nir(net, x[0, 0], dt=dt)
    with torch.no_grad():
        state, outs = None, []
        for t in range(T):
            z, state = net(x[t], state)
            outs.append(z)
        ref = torch.stack(outs)
    assert ref.mean() > 0.01
    tau_syn = float(np.asarray(graph.nodes["1"].tau_syn))
    if not np.isclose(tau_syn, 1.0 / 200.0):
        np.testing.assert_allclose(tau_syn, dt / 200.0, rtol=1e-6)
        dt = dt * dt
    for k in ("1", "3"):
        node = graph.nodes[k]
        node.w_in = np.full(np.asarray(node.v_threshold).shape, float(np.asarray(node.tau_syn)) / dt)
    assert _agreement(from_nir(graph, dt=dt)(x), ref) >= 0.999


class _EulerLI(nn.Module):
    """NIR LI / I by forward Euler with step dt, with the state argument nirtorch threads through the graph."""

    def __init__(self, node, dt):
        super().__init__()
        self.leaky = isinstance(node, nir.LI)
        self.tau = torch.tensor(np.asarray(node.tau if self.leaky else node.r), dtype=torch.float32)
        self.r = torch.tensor(np.asarray(node.r), dtype=torch.float32)
        self.dt = dt

    def forward(self, x, state=None):
        v = torch.zeros_like(x) if state is None else state
        v = v + self.dt / self.tau * (self.r * x - v) if self.leaky else v + self.dt * self.r * x
        return v, v


class _Threshold(nn.Module):
    def __init__(self, node):
        super().__init__()
        self.theta = torch.tensor(np.asarray(node.threshold), dtype=torch.float32)

    def forward(self, x):
        return (x >= self.theta).to(x.dtype)


class _Scale(nn.Module):
    def __init__(self, node):
        super().__init__()
        self.scale = torch.tensor(np.asarray(node.scale), dtype=torch.float32)

    def forward(self, x):
        return x * self.scale


def _affine(node):
    layer = nn.Linear(node.weight.shape[1], node.weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(node.weight))
        layer.bias.copy_(torch.as_tensor(node.bias))
    return layer


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_nirtorch_executes_reset_cycle_and_fractional_graph(alpha):
    """nirtorch's generic graph executor, given the NIR equations of LI, I, Threshold and Scale, runs the
    subtractive-reset cycle and the fractional SOE subgraph with spikeDE's spikes."""
    nirtorch = pytest.importorskip("nirtorch")
    torch.manual_seed(6)
    model = SNNWrapper(nn.Sequential(_scaled(nn.Linear(6, 12), 4.0), LIFNeuron(tau=2.0)), alpha=alpha)
    graph = to_nir(model, dt=1.0)
    node_map = {nir.LI: lambda n: _EulerLI(n, 1.0), nir.I: lambda n: _EulerLI(n, 1.0), nir.Threshold: _Threshold,
                nir.Scale: _Scale, nir.Affine: _affine}
    net = nirtorch.nir_to_torch(graph, node_map)
    x = torch.rand(T, 1, 6, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        ref = model(x)[:, 0]
        state, outs = None, []
        for t in range(T):
            z, state = net(x[t, 0], state)
            outs.append(z)
    assert ref.mean() > 0.05
    assert _agreement(torch.stack(outs), ref) >= 0.999
