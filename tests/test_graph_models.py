"""Graph models and the graph tasks of the ``spikede`` command (on the embedded contextual SBM)."""
import json
import os

import numpy as np
import pytest
import torch

pytest.importorskip("scipy")

from spikeDE import LIFNeuron  # noqa: E402
from spikeDE.cli import main  # noqa: E402
from spikeDE.graph import normalized_adjacency  # noqa: E402
from spikeDE.models.graph import DRSGNN, GCN, SGCN, zscore  # noqa: E402
from spikeDE.train.checkpoint import load_checkpoint  # noqa: E402
from spikeDE.train.config import TrainConfig  # noqa: E402
from spikeDE.train.run import train_run  # noqa: E402

CSBM = {"n_nodes": 240, "n_features": 12, "snr": 1.5, "steps": 8, "repeats": 3, "pe": 4}


def _cfg(tmp_path, name, model="sgcn", neurons=("flif", "lif"), epochs=2, **kw):
    args = dict(CSBM, **kw.pop("task_args", {}))
    return TrainConfig(task="csbm", task_args=args, model=model, neurons=list(neurons), epochs=epochs, batch_size=32,
                       hidden=16, lr=kw.pop("lr", 5e-3), out=str(tmp_path / name), threads=1, **kw)


def _run(cfg):
    return train_run(cfg, progress=False, make_plots=False, log=lambda s: None, print_table=lambda s: None)


def _base_weights(run, arm):
    state = load_checkpoint(os.path.join(run, arm, "checkpoint.pt"))["model"]
    return {k: v for k, v in state.items() if "fc" in k or "snn.base." in k}      # weights (not the orders)


def test_flif_at_alpha_one_is_the_lif_arm_bit_for_bit(tmp_path):
    cfg = _cfg(tmp_path, "a1", alpha=1.0, learn_alpha=False)
    out = _run(cfg)
    rows = {r["arm"]: r for r in out["rows"]}
    a, b = _base_weights(out["out"], "flif"), _base_weights(out["out"], "lif")
    assert a.keys() == b.keys() and a
    assert all(torch.equal(a[k], b[k]) for k in a)
    hist = {arm: load_checkpoint(os.path.join(out["out"], arm, "checkpoint.pt"))["history"] for arm in rows}
    assert [h["train_loss"] for h in hist["flif"]] == [h["train_loss"] for h in hist["lif"]]
    assert rows["flif"]["test_acc"] == rows["lif"]["test_acc"]
    # and the fractional arm at alpha < 1 is a different network
    out2 = _run(_cfg(tmp_path, "a05", neurons=("flif",), alpha=0.5, learn_alpha=False))
    c = _base_weights(out2["out"], "flif")
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_csbm_is_learnable_above_chance(tmp_path):
    out = _run(_cfg(tmp_path, "learn", neurons=("lif",), epochs=8, lr=2e-2,
                    task_args={"snr": 3.0, "steps": 16}))
    acc = out["rows"][0]["test_acc"]
    assert acc > 0.6, acc                               # 4 balanced classes: chance 0.25
    gcn = _run(_cfg(tmp_path, "gcn", model="gcn", neurons=(), epochs=40, lr=0.02,
                    task_args={"repeats": 1, "snr": 3.0}).replace(batch_size=512))
    assert gcn["rows"][0]["test_acc"] > 0.6


def test_drsgnn_learns_its_thresholds(tmp_path):
    out = _run(_cfg(tmp_path, "dr", model="drsgnn", neurons=("flif",), epochs=1))
    state = load_checkpoint(os.path.join(out["out"], "flif", "checkpoint.pt"))["model"]
    thr = [v for k, v in state.items() if k.endswith("threshold")]
    assert thr and any(float(t) != 1.0 for t in thr)
    assert any(k.endswith("orders.0.raw") or "orders" in k for k in state)     # the learned order is there too


def test_sgcn_encoding_is_seeded_and_fresh_per_repeat():
    torch.manual_seed(0)
    net = SGCN(6, 3, lambda name: LIFNeuron(threshold=0.5), steps=50, eval_seed=4).eval()
    x = torch.rand(5, 6).repeat(2, 1)                   # each node twice in one batch
    with torch.no_grad():
        a, b = net(x), net.eval()(x)
    assert torch.equal(a, b)                            # each evaluation starts from eval_seed
    assert not torch.equal(a[:, :5], a[:, 5:])          # the repeats see fresh spikes
    net64 = SGCN(6, 3, lambda name: LIFNeuron(), steps=4).double().eval()
    assert net64(x.double()).dtype == torch.float64
    with pytest.raises(ValueError, match="n_classes must be"):
        SGCN(6, 1, lambda name: LIFNeuron())
    dr = DRSGNN(6, 3, lambda name: LIFNeuron())
    assert sum(1 for n, _ in dr.named_parameters() if n.endswith("threshold")) == 1


def test_gcn_matches_dense_formula():
    torch.manual_seed(1)
    n = 15
    ei = torch.randint(0, n, (2, 30))
    ei = torch.cat([ei, ei.flip(0)], 1)
    adj = normalized_adjacency(ei, n, dtype=torch.float64)
    net = GCN(4, 8, 3).double().eval()
    x = torch.randn(n, 4, dtype=torch.float64)
    a = adj.to_dense()
    ref = a @ (torch.relu(a @ (x @ net.fc1.weight.t() + net.fc1.bias)) @ net.fc2.weight.t() + net.fc2.bias)
    torch.testing.assert_close(net(x, adj), ref)
    xs = (torch.rand(n, 4, dtype=torch.float64) < 0.05).double()         # bag-of-words: the sparse product path
    sparse_net = GCN(4, 8, 3).double().eval()
    sparse_net.load_state_dict(net.state_dict())
    ref = a @ (torch.relu(a @ (xs @ net.fc1.weight.t() + net.fc1.bias)) @ net.fc2.weight.t() + net.fc2.bias)
    torch.testing.assert_close(sparse_net(xs, adj), ref)
    assert sparse_net._sparse
    z = zscore(x)
    np.testing.assert_allclose(z.mean(0).numpy(), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(0, unbiased=False).numpy(), 1, atol=1e-12)


def test_cli_end_to_end_and_resume(tmp_path, capsys):
    common = ["train", "--task", "csbm", "--model", "sgcn", "--neuron", "flif", "lif", "--task-arg", "n_nodes=200",
              "--task-arg", "snr=3", "--task-arg", "steps=12", "--task-arg", "repeats=2", "--task-arg", "pe=0",
              "--batch-size", "40", "--lr", "0.02", "--schedule", "constant", "--no-progress", "--no-plots",
              "--threads", "1", "--seed", "2"]
    full = str(tmp_path / "full")
    assert main([*common, "--epochs", "3", "--out", full]) == 0
    table = capsys.readouterr().out
    assert "csbm / sgcn" in table and "flif" in table and "lif" in table
    summary = json.load(open(os.path.join(full, "summary.json")))
    assert {r["arm"] for r in summary["rows"]} == {"flif", "lif"}
    assert all(r["test_acc"] > 0.5 for r in summary["rows"])       # chance 0.25
    part = str(tmp_path / "part")              # 2 epochs, then resumed to 3: the same as 3 at once
    assert main([*common, "--epochs", "2", "--out", part]) == 0
    assert main(["train", "--resume", part, "--epochs", "3", "--no-progress", "--no-plots"]) == 0
    for arm in ("flif", "lif"):
        a = load_checkpoint(os.path.join(full, arm, "checkpoint.pt"))["model"]
        b = load_checkpoint(os.path.join(part, arm, "checkpoint.pt"))["model"]
        assert all(torch.equal(a[k], b[k]) for k in a)
    rows_full = json.load(open(os.path.join(full, "summary.json")))["rows"]
    rows_part = json.load(open(os.path.join(part, "summary.json")))["rows"]
    assert [r["test_acc"] for r in rows_full] == [r["test_acc"] for r in rows_part]


@pytest.mark.parametrize("argv, message", [
    (["--task-arg", "split=fixed"], "split must be one of"),
    (["--model", "drsgnn", "--task-arg", "pe=0"], "needs a positional encoding"),
    (["--task-arg", "n_classes=500"], "does not fit"),
])
def test_graph_mistakes_exit_2(tmp_path, capsys, argv, message):
    base = ["train", "--task", "csbm", "--model", "sgcn", "--task-arg", "n_nodes=100", "--epochs", "1",
            "--no-progress", "--no-plots", "--out", str(tmp_path / "x")]
    assert main(base + argv) == 2
    assert message in capsys.readouterr().err


def test_missing_planetoid_files_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SPIKEDE_DATA", str(tmp_path))
    assert main(["train", "--task", "cora", "--model", "sgcn", "--epochs", "1", "--no-progress", "--no-plots",
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "ind.cora.x" in err and "never downloads" in err


@pytest.mark.parametrize("kind", ["bernoulli", "poisson"])
@pytest.mark.parametrize("n_features, hidden", [(200, 0), (6, 16)])       # gather branch, dense branch
def test_input_current_equals_linear_of_the_encoded_spikes(kind, n_features, hidden):
    torch.manual_seed(3)
    net = SGCN(n_features, 3, lambda name: LIFNeuron(), hidden=hidden, steps=7, encoder=kind).double()
    x = torch.randn(9, n_features, dtype=torch.float64) * 1.5
    x[0, :3] = 2.0                                     # some entries spike always ...
    fast = net.input_current(x, torch.Generator().manual_seed(11))
    spikes = net.encoder(x, torch.Generator().manual_seed(11))
    ref = spikes @ net.fc1.weight.t() + net.fc1.bias  # ... the plain Linear of the same spikes
    torch.testing.assert_close(fast, ref, rtol=1e-12, atol=1e-12)
    assert ((spikes > 0) & (spikes < 1)).sum() == 0 and 0 < spikes.mean() < 1
