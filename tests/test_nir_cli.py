"""``spikede export``: a trained run's arm written as a NIR file, read back and run."""
import json
import os

import pytest

nir = pytest.importorskip("nir")

from spikeDE.cli import main  # noqa: E402
from spikeDE.nir import from_nir  # noqa: E402
from spikeDE.train.export import export_run  # noqa: E402

TINY = ["--model", "mlp", "--neuron", "flif", "lif", "--alpha", "0.6", "--task-arg", "n_train=48",
        "--task-arg", "n_val=16", "--task-arg", "n_test=16", "--delay", "4", "--hidden", "8", "--batch-size", "16",
        "--epochs", "1", "--device", "cpu", "--no-progress", "--no-plots", "--threads", "1"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("nir") / "run")
    assert main(["train", *TINY, "--out", out]) == 0
    return out


def test_export_flif_arm(run_dir, tmp_path, capsys):
    out = str(tmp_path / "model.nir")
    assert main(["export", run_dir, "--arm", "flif", "--format", "nir", "--out", out]) == 0
    text = capsys.readouterr().out
    assert "SOE modes" in text and "identical spikes per layer" in text
    graph = nir.read(out)
    meta = json.loads(graph.metadata["spikeDE"])
    assert meta["dt"] == 1.0 and set(meta["neurons"]) == {"sn1", "sn2"}
    assert all(0 < info["alpha"][0] < 1 for info in meta["neurons"].values())
    net = from_nir(graph)
    assert sum(type(m).__name__ == "SOEBankNeuron" for m in net.modules()) == 2


def test_export_reports_agreement(run_dir, tmp_path):
    for arm in ("flif", "lif"):
        r = export_run(run_dir, str(tmp_path / f"{arm}.nir"), arm=arm, check_samples=8)
        assert r["arm"] == arm and len(r["spike_agreement"]) == 2
        assert min(r["spike_agreement"]) >= 0.999
        if arm == "lif":
            assert r["spike_agreement"] == [1.0, 1.0] and r["max_output_difference"] == 0.0


@pytest.mark.parametrize("argv,message", [
    (["--arm", "nope"], "has no arm 'nope'"),
    ([], "choose one with --arm"),
    (["--arm", "lif", "--format", "onnx"], "unknown export format 'onnx'"),
    (["--arm", "lif", "--dt", "0"], "dt must be a positive number"),
])
def test_export_mistakes(run_dir, tmp_path, capsys, argv, message):
    assert main(["export", run_dir, "--out", str(tmp_path / "x.nir"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x.nir")
