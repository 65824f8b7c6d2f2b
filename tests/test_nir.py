"""NIR export / import: round trips against the spikeDE network itself and against a plainly written reference
executor of the NIR node equations (forward Euler with step dt; an edge that a depth-first search from the input
finds closing a cycle carries its source's output of the previous step, the other nodes run in topological
order)."""
import json

import numpy as np
import pytest
import torch
from torch import nn

nir = pytest.importorskip("nir")

from spikeDE import CubaLIFNeuron, HardResetLIFNeuron, IFNeuron, LIFNeuron, SNNWrapper  # noqa: E402
from spikeDE.nir import SOEBankNeuron, from_nir, to_nir  # noqa: E402


# ------------------------------------------------------------------------------ reference NIR executor
def _schedule(graph):
    """Back edges of a depth-first search from the input (edges in list order) and a topological order of the
    remaining acyclic graph."""
    succ = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
    start = [n for n, v in graph.nodes.items() if isinstance(v, nir.Input)][0]
    back, colour = set(), {}

    def dfs(n):
        colour[n] = "grey"
        for m in succ.get(n, []):
            if colour.get(m) == "grey":
                back.add((n, m))
            elif m not in colour:
                dfs(m)
        colour[n] = "black"

    dfs(start)
    indeg = {n: 0 for n in colour}
    for a, b in graph.edges:
        if (a, b) not in back and a in colour:
            indeg[b] += 1
    order, ready = [], [start]
    while ready:
        n = ready.pop(0)
        order.append(n)
        for m in succ.get(n, []):
            if (n, m) not in back:
                indeg[m] -= 1
                if indeg[m] == 0:
                    ready.append(m)
    return order, back


def reference_run(graph, x, dt):
    """Run a NIR graph on x [T, ...features] (float64 numpy, batch-free): the NIR equations, plainly."""
    order, back = _schedule(graph)
    preds = {}
    for a, b in graph.edges:
        preds.setdefault(b, []).append(a)
    out = {n: None for n in order}
    state = {}
    results = []
    for t in range(x.shape[0]):
        cur = {}
        for n in order:
            node = graph.nodes[n]
            if isinstance(node, nir.Input):
                cur[n] = x[t]
                continue
            ins = []
            for p in preds.get(n, []):
                if (p, n) not in back:
                    ins.append(cur[p])
                elif out[p] is not None:
                    ins.append(out[p])
            inp = sum(ins) if ins else 0.0
            if isinstance(node, nir.Output):
                cur[n] = inp
            elif isinstance(node, nir.Affine):
                cur[n] = node.weight @ inp + node.bias
            elif isinstance(node, nir.Scale):
                cur[n] = node.scale * inp
            elif isinstance(node, nir.Threshold):
                cur[n] = (inp >= node.threshold).astype(np.float64)
            elif isinstance(node, nir.LI):
                v = state.get(n, np.zeros_like(node.tau))
                v = v + dt / node.tau * (node.v_leak - v + node.r * inp)
                state[n] = cur[n] = v
            elif isinstance(node, nir.I):
                v = state.get(n, np.zeros_like(node.r))
                v = v + dt * node.r * inp
                state[n] = cur[n] = v
            elif isinstance(node, nir.LIF):
                v = state.get(n, np.zeros_like(node.tau))
                v = v + dt / node.tau * (node.v_leak - v + node.r * inp)
                s = (v >= node.v_threshold).astype(np.float64)
                state[n] = np.where(s > 0, node.v_reset, v)
                cur[n] = s
            elif isinstance(node, nir.CubaLIF):  # synapse, then the membrane on this step's current
                i, v = state.get(n, (np.zeros_like(node.tau_mem), np.zeros_like(node.tau_mem)))
                i = i + dt / node.tau_syn * (-i + node.w_in * inp)
                v = v + dt / node.tau_mem * (node.v_leak - v + node.r * i)
                s = (v >= node.v_threshold).astype(np.float64)
                state[n] = (i, np.where(s > 0, node.v_reset, v))
                cur[n] = s
            elif isinstance(node, nir.Delay):
                d = int(round(float(np.asarray(node.delay).reshape(-1)[0]) / dt))
                line = state.setdefault(n, [np.zeros_like(node.delay)] * d)
                line.append(np.broadcast_to(inp, node.delay.shape).copy())
                cur[n] = line.pop(0)
            elif isinstance(node, nir.IF):
                v = state.get(n, np.zeros_like(node.r))
                v = v + dt * node.r * inp
                s = (v >= node.v_threshold).astype(np.float64)
                state[n] = np.where(s > 0, node.v_reset, v)
                cur[n] = s
            else:
                raise NotImplementedError(type(node).__name__)
        out = cur
        results.append(cur["output"])
    return np.stack(results)


# ------------------------------------------------------------------------------ helpers
def _lin(a, b, gain=4.0, dtype=torch.float64):
    layer = nn.Linear(a, b).to(dtype)
    with torch.no_grad():
        layer.weight.mul_(gain)
        layer.bias.mul_(gain)
    return layer


def _mlp(neuron_cls, reset, dtype=torch.float64, tau=(2.0, 3.0)):
    kw = {} if neuron_cls is HardResetLIFNeuron else {"reset": reset}
    return nn.Sequential(_lin(6, 12, dtype=dtype), neuron_cls(tau=tau[0], threshold=1.0, **kw),
                         _lin(12, 4, dtype=dtype), neuron_cls(tau=tau[1], threshold=0.8, **kw))


def _roundtrip(graph, tmp_path):
    path = tmp_path / "net.nir"
    nir.write(path, graph)
    return nir.read(path)


# ------------------------------------------------------------------------------ alpha = 1: exact
@pytest.mark.parametrize("neuron_cls,reset", [(LIFNeuron, "zero"), (LIFNeuron, "subtract"), (IFNeuron, "zero"),
                                              (IFNeuron, "subtract"), (HardResetLIFNeuron, "zero")])
def test_integer_order_roundtrip_is_exact(neuron_cls, reset, tmp_path):
    torch.manual_seed(0)
    dt = 1e-3
    model = SNNWrapper(_mlp(neuron_cls, reset), integrator="odeint")
    x = torch.rand(300, 3, 6, dtype=torch.float64)
    graph = _roundtrip(to_nir(model, dt=dt), tmp_path)
    with torch.no_grad():
        ref = model(x)
    assert 0.02 < ref.mean() < 0.6  # the test exercises spikes and resets
    imported = from_nir(graph, dt=dt, dtype=torch.float64)
    assert torch.equal(imported(x), ref)
    # the NIR equations themselves (independent executor) give the same spikes
    for b in range(x.shape[1]):
        assert np.array_equal(reference_run(graph, x[:, b].numpy(), dt), ref[:, b].numpy())
    # single-step import, step by step
    single = from_nir(graph, dt=dt, step_mode="s", dtype=torch.float64)
    steps = torch.stack([single(x[t]) for t in range(x.shape[0])])
    assert torch.equal(steps, ref)


def test_fractional_wrapper_at_alpha_one_exports_plain_lif(tmp_path):
    torch.manual_seed(1)
    model = SNNWrapper(_mlp(LIFNeuron, "zero", dtype=torch.float32), integrator="fdeint", alpha=1.0)
    graph = to_nir(model, dt=1.0)
    assert sum(isinstance(n, nir.LIF) for n in graph.nodes.values()) == 2
    x = torch.rand(200, 2, 6)
    with torch.no_grad():
        assert torch.equal(from_nir(_roundtrip(graph, tmp_path), dt=1.0)(x), model(x))


def test_time_constants_follow_dt():
    """tau_nir = (tau / dt_model) * dt; IF: r = 1 / (tau_steps dt); the reset cycle weight -theta (tau_s - 1)."""
    net = nn.Sequential(nn.Linear(3, 2), LIFNeuron(tau=4.0, threshold=0.5, reset="zero", dt=0.5))
    g = to_nir(net, dt=2e-3)
    lif = g.nodes["1"]
    np.testing.assert_allclose(lif.tau, np.full(2, 4.0 / 0.5 * 2e-3))
    np.testing.assert_allclose(lif.v_threshold, 0.5)
    net = nn.Sequential(nn.Linear(3, 2), IFNeuron(tau=2.0, reset="zero"))
    np.testing.assert_allclose(to_nir(net, dt=1e-3).nodes["1"].r, 1.0 / (2.0 * 1e-3))
    net = nn.Sequential(nn.Linear(3, 2), LIFNeuron(tau=5.0, threshold=2.0))
    g = to_nir(net, dt=1.0)
    np.testing.assert_allclose(g.nodes["1_reset"].scale, -2.0 * (5.0 - 1.0))
    assert json.loads(g.metadata["spikeDE"])["dt"] == 1.0


# ------------------------------------------------------------------------------ alpha < 1: SOE bank
@pytest.mark.parametrize("alpha,method,coef", [(0.5, "gl", None), (0.8, "l1", None), ([0.4, 0.9], "gl", [1.0, 0.5])])
def test_fractional_roundtrip_agreement(alpha, method, coef, tmp_path):
    torch.manual_seed(2)
    kw = {"alpha": alpha, "method": method}
    if coef is not None:
        kw["multi_coefficient"] = coef
    model = SNNWrapper(_mlp(LIFNeuron, "subtract", tau=(2.0, 2.0)), integrator="fdeint", **kw)
    graph = _roundtrip(to_nir(model, dt=1.0, horizon=2048), tmp_path)  # T = 1000 < horizon
    info = json.loads(graph.metadata["spikeDE"])["neurons"]["1"]
    # the modes' kernel error: relative on each lag for gl; for l1 (K_k = b_k - b_{k-1}, a difference) in l1 norm
    if method == "gl":
        assert info["kernel_max_rel_error"] < 10 * info["tol"]
    assert info["kernel_l1_error"] < 10 * info["tol"] * info["kernel_l1_norm"]
    assert isinstance(graph.nodes["1_mode3"], nir.LI)
    assert info["exact_lags"] == (2 if method == "l1" else 1)
    assert isinstance(graph.nodes.get("1_lag2"), nir.Delay) == (method == "l1")
    x = torch.rand(1000, 2, 6, dtype=torch.float64) * 2
    imported = from_nir(graph, dt=1.0, dtype=torch.float64)
    assert isinstance(imported.layers[1], SOEBankNeuron)
    with torch.no_grad():
        ref = model(x)
        got = imported(x)
    assert ref.mean() > 0.01
    assert (got == ref).double().mean() >= 0.999
    # the exported graph, run by the independent executor, is what from_nir runs
    np.testing.assert_array_equal(reference_run(graph, x[:150, 0].numpy(), 1.0), got[:150, 0].numpy())
    # single step = multi step
    single = from_nir(graph, dt=1.0, step_mode="s", dtype=torch.float64)
    assert torch.equal(torch.stack([single(x[t]) for t in range(200)]), got[:200])


@pytest.mark.parametrize("neuron_cls", [LIFNeuron, IFNeuron])
def test_fractional_export_with_model_step_and_nir_step(neuron_cls):
    """The wrapper steps with dt = 0.5 and the graph is exported with one step = 2 ms: f-IF / f-LIF, l1."""
    torch.manual_seed(5)
    model = SNNWrapper(nn.Sequential(_lin(5, 20), neuron_cls(tau=1.5)), alpha=0.6, dt=0.5, method="l1")
    x = torch.rand(300, 3, 5, dtype=torch.float64)
    with torch.no_grad():
        ref = model(x)
    got = from_nir(to_nir(model, dt=2e-3, horizon=1024), dt=2e-3, dtype=torch.float64)(x)
    assert ref.mean() > 0.02
    assert (got == ref).double().mean() >= 0.999


def test_fractional_mode_count_follows_tolerance():
    net = SNNWrapper(nn.Sequential(nn.Linear(3, 2), LIFNeuron()), alpha=0.6)
    coarse = json.loads(to_nir(net, tol=1e-3, horizon=2048).metadata["spikeDE"])["neurons"]["1"]
    fine = json.loads(to_nir(net, tol=1e-8, horizon=2048).metadata["spikeDE"])["neurons"]["1"]
    assert coarse["modes"] < fine["modes"]
    assert fine["kernel_l1_error"] < coarse["kernel_l1_error"]


def test_float32_fractional_runs_in_float32():
    torch.manual_seed(3)
    model = SNNWrapper(_mlp(LIFNeuron, "subtract", dtype=torch.float32), alpha=0.7)
    imported = from_nir(to_nir(model, horizon=1024), dtype=torch.float32)
    x = torch.rand(100, 2, 6)
    out = imported(x)
    assert out.dtype == torch.float32
    with torch.no_grad():
        assert (out == model(x)).float().mean() >= 0.99


# ------------------------------------------------------------------------------ layers
def test_conv_pool_flatten_batchnorm(tmp_path):
    torch.manual_seed(4)
    bn = nn.BatchNorm2d(4).double()
    with torch.no_grad():
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)
    base = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1).double(), bn, LIFNeuron(tau=2.0), nn.AvgPool2d(2),
                         nn.Flatten(1), _lin(4 * 4 * 4, 5), IFNeuron(reset="zero"))
    model = SNNWrapper(base, integrator="odeint").eval()
    graph = _roundtrip(to_nir(model, input_shape=(2, 8, 8)), tmp_path)
    assert not any("BatchNorm" in type(n).__name__ for n in graph.nodes.values())
    x = torch.rand(50, 3, 2, 8, 8, dtype=torch.float64) * 2
    with torch.no_grad():
        ref = model(x)
        got = from_nir(graph, dtype=torch.float64)(x)
    assert ref.mean() > 0.01
    assert (got == ref).double().mean() >= 0.999  # BN folding changes rounding only


def test_conv1d_export():
    base = nn.Sequential(nn.Conv1d(1, 3, 3, padding=1), LIFNeuron(reset="zero"))
    g = to_nir(base, input_shape=(1, 8))
    assert isinstance(g.nodes["0"], nir.Conv1d)
    x = torch.rand(20, 2, 1, 8) * 3
    with torch.no_grad():
        ref = SNNWrapper(base, integrator="odeint")(x)
    assert torch.equal(from_nir(g)(x), ref)


# ------------------------------------------------------------------------------ foreign graphs
def test_import_lif_with_r_and_v_leak_matches_euler():
    """A LIF node with r != 1, v_leak != 0, v_reset != 0: the Euler equations written out."""
    tau, r, vl, vth, vr, dt = 5e-3, np.array([2.0, 0.5]), np.array([0.3, -0.1]), 1.0, 0.2, 1e-3
    g = nir.NIRGraph.from_list(nir.LIF(np.full(2, tau), r, vl, np.full(2, vth), np.full(2, vr)))
    x = np.random.default_rng(0).uniform(0, 3, (200, 2))
    got = from_nir(g, dt=dt, dtype=torch.float64)(torch.from_numpy(x)[:, None])[:, 0].numpy()
    v, want = np.zeros(2), []
    for t in range(200):
        v = v + dt / tau * (vl - v + r * x[t])
        s = v >= vth
        want.append(s.astype(float))
        v = np.where(s, vr, v)
    np.testing.assert_array_equal(got, np.stack(want))


def test_import_cubalif_matches_euler():
    """CubaLIF: synapse tau_syn dI/dt = -I + w_in x, membrane tau_mem dv/dt = v_leak - v + r I, reset to v_reset."""
    ts, tm, r, w, vl, dt = 4e-3, 3e-3, np.array([1.5, 0.7]), np.array([1.0, 2.0]), np.array([0.0, 0.2]), 1e-3
    g = nir.NIRGraph.from_list(nir.CubaLIF(np.full(2, ts), np.full(2, tm), r, vl, np.full(2, 1.0), np.full(2, -0.1),
                                           w_in=w))
    x = np.random.default_rng(1).uniform(0, 3, (300, 2))
    got = from_nir(g, dt=dt, dtype=torch.float64)(torch.from_numpy(x)[:, None])[:, 0].numpy()
    i, v, want = np.zeros(2), np.zeros(2), []
    for t in range(300):
        i = i + dt / ts * (-i + w * x[t])
        v = v + dt / tm * (vl - v + r * i)
        s = v >= 1.0
        want.append(s.astype(float))
        v = np.where(s, -0.1, v)
    assert np.stack(want).mean() > 0.05
    np.testing.assert_array_equal(got, np.stack(want))


def test_unknown_nodes_are_named():
    g = nir.NIRGraph.from_list(nir.Delay(np.ones(3)), nir.CubaLI(np.ones(3), np.ones(3), np.ones(3), np.zeros(3)))
    with pytest.raises(ValueError, match=r"unsupported NIR nodes: cubali \(CubaLI\), delay \(Delay\)"):
        from_nir(g)


def test_recurrent_graph_is_refused():
    lif = nir.LIF(np.ones(3), np.ones(3), np.zeros(3), np.ones(3))
    nodes = {"input": nir.Input(input_type={"input": np.array([3])}), "lif": lif,
             "rec": nir.Affine(np.eye(3), np.zeros(3)), "output": nir.Output(output_type={"output": np.array([3])})}
    g = nir.NIRGraph(nodes, [("input", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")])
    with pytest.raises(ValueError, match="not a chain.*lif"):
        from_nir(g)


def test_nonuniform_tau_is_refused():
    g = nir.NIRGraph.from_list(nir.LIF(np.array([1.0, 2.0]), np.ones(2), np.zeros(2), np.ones(2)))
    with pytest.raises(ValueError, match="tau.*varies across neurons"):
        from_nir(g)


# ------------------------------------------------------------------------------ bad input on export
def test_unsupported_modules_are_listed():
    class Custom(nn.Module):
        def forward(self, x):
            return x

    class OwnNeuron(LIFNeuron):
        pass

    base = nn.Sequential(nn.Linear(3, 4), LIFNeuron(), nn.GRU(4, 4), Custom(), OwnNeuron())
    with pytest.raises(ValueError, match=r"2 \(GRU\); 3 \(Custom\); 4 \(OwnNeuron: a neuron without a NIR mapping "
                                         r"here\).*Supported: an nn.Sequential"):
        to_nir(base)


def test_fractional_zero_reset_and_other_schemes_refused():
    net = SNNWrapper(nn.Sequential(nn.Linear(3, 2), LIFNeuron(reset="zero")), alpha=0.5)
    with pytest.raises(ValueError, match="reset='zero'"):
        to_nir(net)
    net = SNNWrapper(nn.Sequential(nn.Linear(3, 2), LIFNeuron()), alpha=0.5, method="predictor")
    with pytest.raises(ValueError, match="method 'predictor'"):
        to_nir(net)


@pytest.mark.parametrize("kw,match", [({"dt": 0.0}, "dt must be a positive"), ({"dt": "1"}, "dt must be"),
                                      ({"tol": 2.0}, "tol must be"), ({"horizon": 1}, "horizon must be")])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        to_nir(nn.Sequential(nn.Linear(3, 2), LIFNeuron()), **kw)


# ------------------------------------------------------------------------------ current-based neurons (CubaLIF)
def _cuba_mlp(reset, dtype=torch.float64):
    l1, l2 = _lin(6, 12, dtype=dtype), _lin(12, 4, dtype=dtype)
    with torch.no_grad():  # positive drive on average: the synapse smooths the input, both layers fire
        l1.bias.add_(1.5)
        l2.bias.add_(1.5)
    return nn.Sequential(l1, CubaLIFNeuron(tau=2.0, tau_syn=3.0, threshold=1.0, reset=reset),
                         l2, CubaLIFNeuron(tau=3.0, tau_syn=1.5, threshold=0.8, reset=reset))


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_cubalif_roundtrip_is_exact(reset, tmp_path):
    """alpha = 1: reset to zero is one NIR CubaLIF node, subtractive reset a synapse LI before the LIF reset cycle;
    both are forward Euler of the NIR equations at the NIR step, so spikes are identical over T = 1000."""
    torch.manual_seed(3)
    dt = 1e-3
    model = SNNWrapper(_cuba_mlp(reset), integrator="odeint")
    graph = _roundtrip(to_nir(model, dt=dt), tmp_path)
    if reset == "zero":
        assert isinstance(graph.nodes["1"], nir.CubaLIF)
    else:
        assert isinstance(graph.nodes["1_synapse"], nir.LI) and isinstance(graph.nodes["1_membrane"], nir.LI)
    x = torch.rand(1000, 3, 6, dtype=torch.float64)
    with torch.no_grad():
        ref = model(x)
    assert 0.02 < ref.mean() < 0.6
    imported = from_nir(graph, dt=dt, dtype=torch.float64)
    neurons = [m for m in imported.layers if isinstance(m, CubaLIFNeuron)]
    assert [n.reset_mode for n in neurons] == [reset, reset]
    assert torch.equal(imported(x), ref)
    # the NIR equations, run by the independent executor
    np.testing.assert_array_equal(reference_run(graph, x[:300, 0].numpy(), dt), ref[:300, 0].numpy())
    single = from_nir(graph, dt=dt, step_mode="s", dtype=torch.float64)
    assert torch.equal(torch.stack([single(x[t]) for t in range(x.shape[0])]), ref)


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_cubalif_time_constants(reset):
    """tau_mem = (tau / dt_model) dt, tau_syn = (tau_syn / dt_model) dt; the reset cycle weight -theta (tau_s - 1);
    the import gives back the time constants in steps."""
    net = nn.Sequential(nn.Linear(3, 2), CubaLIFNeuron(tau=4.0, tau_syn=6.0, threshold=0.5, reset=reset, dt=0.5))
    g = to_nir(net, dt=2e-3)
    if reset == "zero":
        node = g.nodes["1"]
        np.testing.assert_allclose(node.tau_mem, np.full(2, 4.0 / 0.5 * 2e-3))
        np.testing.assert_allclose(node.tau_syn, np.full(2, 6.0 / 0.5 * 2e-3))
        np.testing.assert_allclose(node.r, 1.0)
        np.testing.assert_allclose(node.w_in, 1.0)
        np.testing.assert_allclose(node.v_leak, 0.0)
        np.testing.assert_allclose(node.v_threshold, 0.5)
    else:
        np.testing.assert_allclose(g.nodes["1_synapse"].tau, np.full(2, 6.0 / 0.5 * 2e-3))
        np.testing.assert_allclose(g.nodes["1_membrane"].tau, np.full(2, 4.0 / 0.5 * 2e-3))
        np.testing.assert_allclose(g.nodes["1_reset"].scale, -0.5 * (8.0 - 1.0))
    neuron = [m for m in from_nir(g, dt=2e-3).layers if isinstance(m, CubaLIFNeuron)][0]
    assert neuron.tau_syn == pytest.approx(12.0, rel=1e-12) and float(neuron.tau) == pytest.approx(8.0, rel=1e-12)


def test_foreign_cubalif_with_r_and_w_in_imports_as_cubalif_neuron():
    """A CubaLIF node with uniform tau_syn and v_leak = 0 becomes a CubaLIFNeuron (r w_in scale the input of the
    linear synapse); checked against the Euler equations written out."""
    ts, tm, r, w, dt = 4e-3, 3e-3, np.array([1.5, 0.7]), np.array([1.0, 2.0]), 1e-3
    g = nir.NIRGraph.from_list(nir.CubaLIF(np.full(2, ts), np.full(2, tm), r, np.zeros(2), np.full(2, 1.0),
                                           np.zeros(2), w_in=w))
    imported = from_nir(g, dt=dt, dtype=torch.float64)
    assert any(isinstance(m, CubaLIFNeuron) for m in imported.layers)
    x = np.random.default_rng(2).uniform(0, 3, (300, 2))
    got = imported(torch.from_numpy(x)[:, None])[:, 0].numpy()
    want = reference_run(g, x, dt)
    assert want.mean() > 0.05
    np.testing.assert_array_equal(got, want)


def test_fractional_cubalif_roundtrip_agreement(tmp_path):
    """alpha < 1, subtractive reset: the synapse LI in front of the SOE bank; >= 99.9 % identical spikes, T = 1000."""
    torch.manual_seed(4)
    model = SNNWrapper(_cuba_mlp("subtract"), integrator="fdeint", alpha=0.6, method="gl")
    graph = _roundtrip(to_nir(model, dt=1.0, horizon=2048), tmp_path)
    assert isinstance(graph.nodes["1_synapse"], nir.LI)
    x = torch.rand(1000, 2, 6, dtype=torch.float64)
    imported = from_nir(graph, dt=1.0, dtype=torch.float64)
    assert sum(isinstance(m, SOEBankNeuron) for m in imported.layers) == 2
    with torch.no_grad():
        ref = model(x)
        got = imported(x)
    assert 0.01 < ref.mean() < 0.7
    assert (got == ref).double().mean() >= 0.999
    np.testing.assert_array_equal(reference_run(graph, x[:150, 0].numpy(), 1.0), got[:150, 0].numpy())
    single = from_nir(graph, dt=1.0, step_mode="s", dtype=torch.float64)
    assert torch.equal(torch.stack([single(x[t]) for t in range(200)]), got[:200])


def test_fractional_cubalif_zero_reset_refused():
    net = SNNWrapper(nn.Sequential(nn.Linear(3, 2), CubaLIFNeuron(reset="zero")), alpha=0.5)
    with pytest.raises(ValueError, match=r"CubaLIFNeuron.*reset='zero'.*use reset='subtract'"):
        to_nir(net)
