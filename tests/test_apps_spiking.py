"""The spiking arms of the ``spikede`` command: lif / flif / multiterm neurons in the mlp and cnn models, end to end
through the CLI, the alpha = 1 property, the orders in the summary, SynOps by hand, the neuron figures."""
import json
import math
import os

import pytest
import torch

from spikeDE.analysis.energy import SynapticOpCounter
from spikeDE.analysis.monitors import SpikeMonitor
from spikeDE.analysis.orders import mean_orders, multiterm_weights
from spikeDE.analysis.plots import mittag_leffler_relaxation
from spikeDE.cli import main
from spikeDE.train.checkpoint import load_checkpoint
from spikeDE.train.config import TrainConfig
from spikeDE.train.figures import neuron_figures
from spikeDE.train.models import spiking_mlp
from spikeDE.train.registry import TaskInfo

TINY = ["--task", "delay", "--task-arg", "n_train=48", "--task-arg", "n_val=16", "--task-arg", "n_test=24",
        "--delay", "4", "--hidden", "8", "--batch-size", "16", "--epochs", "2", "--device", "cpu", "--no-progress",
        "--threads", "1", "--dtype", "float64"]


def _run(tmp_path, name, *extra):
    out = str(tmp_path / name)
    assert main(["train", *TINY, "--out", out, *extra]) == 0
    return out, {r["arm"]: r for r in json.load(open(os.path.join(out, "summary.json")))["rows"]}


@pytest.fixture(scope="module")
def default_arms(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("spk"), "mlp")


def test_default_model_trains_flif_and_lif_side_by_side(default_arms):
    out, rows = default_arms
    assert list(rows) == ["flif", "lif"]
    for f in ("config.toml", "flif/checkpoint.pt", "lif/metrics.json", "plots/membrane_traces.png",
              "plots/relaxation.png", "plots/training_curves.png"):
        assert os.path.isfile(os.path.join(out, f)), f
    # the learned alpha in summary.json is sigmoid(alpha_logit) of the checkpoint, layer by layer
    ck = load_checkpoint(os.path.join(out, "flif", "checkpoint.pt"))
    for i, layer in enumerate(("sn1", "sn2")):
        alpha = float(torch.sigmoid(ck["model"][f"orders.{i}.alpha_logit"]))
        assert rows["flif"]["alphas"][layer] == pytest.approx(alpha, abs=1e-12)
        assert ck["history"][-1][f"alpha/{layer}"] == pytest.approx(alpha, abs=1e-12)
        assert alpha != 0.5                      # it was learned (starts at 0.5)
    assert rows["lif"]["alpha"] is None and rows["lif"]["alphas"] == {}
    for r in rows.values():                      # every layer is Linear: energy is complete
        assert r["synops"] > 0 and r["energy_nj"] > 0 and 0 <= r["spike_rate"] <= 1


def test_flif_with_alpha_one_fixed_is_the_lif_arm(tmp_path):
    _, rows = _run(tmp_path, "one", "--neuron", "flif", "lif", "--alpha", "1", "--no-learn-alpha", "--no-plots")
    a = load_checkpoint(os.path.join(str(tmp_path / "one"), "flif", "checkpoint.pt"))
    b = load_checkpoint(os.path.join(str(tmp_path / "one"), "lif", "checkpoint.pt"))
    for k, v in b["model"].items():
        assert torch.equal(a["model"][k], v), k
    strip = lambda h: [{k: v for k, v in e.items() if k != "time_s" and not k.startswith("alpha/")} for e in h]  # noqa
    assert strip(a["history"]) == strip(b["history"])
    for key in ("test_acc", "test_loss", "spike_rate", "synops"):
        assert rows["flif"][key] == rows["lif"][key], key
    assert rows["flif"]["alphas"] == {"sn1": 1.0, "sn2": 1.0}


def test_multiterm_and_cnn_arms(tmp_path):
    out, rows = _run(tmp_path, "mt", "--neuron", "multiterm", "--no-plots")
    ck = load_checkpoint(os.path.join(out, "multiterm", "checkpoint.pt"))
    c = torch.exp(ck["model"]["coefficients.0.log_coefficient"]).tolist()
    assert c != pytest.approx([1 / 3] * 3)        # the weights were learned
    assert rows["multiterm"]["alphas"]["sn1"] == pytest.approx(sum(ci * a for ci, a in zip(c, (0.3, 0.7, 1.0)))
                                                               / sum(c), abs=1e-6)
    assert ck["history"][-1]["coef/sn1/2"] == pytest.approx(c[2], rel=1e-6)
    out, rows = _run(tmp_path, "cnn", "--model", "cnn", "--neuron", "flif", "lif", "--model-arg", "layers=1",
                     "--no-plots")
    assert set(rows) == {"flif", "lif"} and rows["flif"]["uncounted_layers"] == []
    assert rows["flif"]["synops"] > 0 and set(rows["flif"]["alphas"]) == {"sn1"}


def _lif_loop(current, tau=2.0, theta=1.0):
    """Plain discrete LIF: H = V + (X - V)/tau, S = H >= theta, V = H - theta S (reference)."""
    v = torch.zeros_like(current[0])
    out = []
    for x in current:
        h = v + (x - v) / tau
        s = (h >= theta).to(current.dtype)
        v = h - theta * s
        out.append(s)
    return torch.stack(out)


def test_synops_of_a_spiking_mlp_by_hand():
    torch.manual_seed(1)
    info = TaskInfo("t", (5,), 3, 12)
    cfg = TrainConfig(hidden=7, dtype="float64")
    net = spiking_mlp(info, cfg, "lif", {"layers": 2, "tau": 2.0, "threshold": 1.0, "gain": 4.0,
                                          "learn_tau": False}).double()
    x = (torch.rand(12, 4, 5, dtype=torch.float64) < 0.4).double()           # spike input
    base = net.base
    s1 = _lif_loop(base.fc1(x))
    s2 = _lif_loop(base.fc2(s1))
    assert s1.sum() > 0 and s2.sum() > 0
    with SynapticOpCounter(net) as counter, SpikeMonitor(net) as mon, torch.no_grad():
        net(x)
    layers = counter.result(n_samples=4).layers
    assert layers["base.fc1"] == {"acs": float(x.sum()) * 7, "macs": 0.0}   # every input spike reaches 7 synapses
    assert layers["base.fc2"] == {"acs": float(s1.sum()) * 7, "macs": 0.0}
    assert layers["base.readout"] == {"acs": float(s2.sum()) * 3, "macs": 0.0}
    rates = mon.rates()
    assert rates["base.sn1"] == pytest.approx(float(s1.mean())) and rates["base.sn2"] == pytest.approx(
        float(s2.mean()))
    # real-valued input: the first layer costs one MAC per weight use
    xr = torch.rand(12, 4, 5, dtype=torch.float64)
    with SynapticOpCounter(net) as counter, torch.no_grad():
        net(xr)
    assert counter.result().layers["base.fc1"] == {"acs": 0.0, "macs": 12 * 4 * 5 * 7.0}


def test_orders_of_wrapped_layers_only():
    info = TaskInfo("t", (5,), 3, 12)
    lif = spiking_mlp(info, TrainConfig(hidden=4), "lif", {"layers": 2, "tau": 2.0, "threshold": 1.0, "gain": 1.0,
                                                             "learn_tau": False})
    assert mean_orders(lif) == {}                  # integer order: the neurons' own (unused) orders are not listed
    mt = spiking_mlp(info, TrainConfig(hidden=4), "multiterm", {"layers": 1, "tau": 2.0, "threshold": 1.0,
                                                                  "gain": 1.0, "learn_tau": False})
    assert multiterm_weights(mt)["sn1"] == pytest.approx([1 / 3] * 3)
    assert mean_orders(mt)["sn1"] == pytest.approx((0.3 + 0.7 + 1.0) / 3)


def test_mittag_leffler_relaxation_against_the_series():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    t = torch.tensor([0.0, 1e-3, 0.5, 2.0, 9.0]).double().numpy()
    for alpha in (0.2, 0.5, 0.9, 0.99):
        tau = 2.0
        got = mittag_leffler_relaxation(t, alpha, tau)
        for ti, g in zip(t, got):
            x = mpmath.mpf(ti) ** alpha / tau
            ref = mpmath.fsum((-x) ** k / mpmath.gamma(alpha * k + 1) for k in range(160))  # terms < 1e-40
            assert abs(g - float(ref)) < 1e-7, (alpha, ti)
    assert mittag_leffler_relaxation(t, 1.0, 2.0) == pytest.approx([math.exp(-v / 2) for v in t])
    with pytest.raises(ValueError, match="alpha"):
        mittag_leffler_relaxation(t, 1.5)


def test_neuron_figures_are_written(tmp_path):
    pytest.importorskip("matplotlib")
    info = TaskInfo("t", (5,), 3, 20)
    opts = {"layers": 1, "tau": 2.0, "threshold": 1.0, "gain": 4.0, "learn_tau": False}
    models = {n: spiking_mlp(info, TrainConfig(hidden=6, alpha=0.6), n, opts) for n in ("flif", "lif", "multiterm")}
    paths = neuron_figures(str(tmp_path), models, torch.rand(20, 1, 5))
    assert sorted(os.path.basename(p) for p in paths) == ["membrane_traces.png", "relaxation.png"]
    for p in paths:
        assert os.path.getsize(p) > 10_000
