"""The registry API as the spiking models use it: neurons, a model with arms, task options."""
import json
import os

import pytest
import torch
from torch import nn

from spikeDE.analysis import monitors
from spikeDE.cli import main
from spikeDE.data import delay_task
from spikeDE.order import FractionalOrder
from spikeDE.surrogate import spike
from spikeDE.train import MODELS, NEURONS, register_model, register_neuron
from spikeDE.train.checkpoint import load_checkpoint
from spikeDE.train.config import ConfigError, TrainConfig
from spikeDE.train.registry import RegistryError, arm_names, get_model, resolve_options


class StepNeuron(nn.Module):
    """A memoryless spiking stand-in: S = H(x - 0.5) with a surrogate gradient; optionally x scaled by alpha."""

    def __init__(self, alpha=None):
        super().__init__()
        self.alpha = FractionalOrder(alpha, learnable=True) if alpha is not None else None

    def forward(self, x):
        if self.alpha is not None:
            x = x * self.alpha()
        return spike(x - 0.5)


class Net(nn.Module):
    def __init__(self, c, h, k, neuron):
        super().__init__()
        self.fc1, self.neuron, self.fc2 = nn.Linear(c, h), neuron, nn.Linear(h, k)

    def forward(self, x):
        return self.fc2(self.neuron(self.fc1(x)))


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setattr(monitors, "_SPIKING_TYPES", [StepNeuron])

    @register_neuron("test-step", description="memoryless spiking stand-in")
    def _step(cfg, **kw):
        return StepNeuron()

    @register_neuron("test-frac", description="stand-in with a learnable order", fractional=True)
    def _frac(cfg, **kw):
        return StepNeuron(alpha=cfg.alpha if cfg.alpha is not None else 0.8)

    @register_model("test-net", description="two layers around a neuron", neurons=True,
                    default_neurons=("test-frac", "test-step"), options={"scale": 1.0})
    def _net(info, cfg, neuron, opts):
        return Net(info.n_inputs, cfg.hidden, info.n_classes, NEURONS.get(neuron).build(cfg, name="hidden"))

    yield
    for n in ("test-step", "test-frac"):
        NEURONS.unregister(n)
    MODELS.unregister("test-net")


def test_arms_trained_side_by_side(registered, tmp_path, capsys):
    out = str(tmp_path / "run")
    argv = ["train", "--model", "test-net", "--task-arg", "n_train=48", "--task-arg", "n_val=16", "--task-arg",
            "n_test=24", "--delay", "2", "--hidden", "6", "--batch-size", "16", "--epochs", "2", "--alpha", "0.7",
            "--device", "cpu", "--no-progress", "--no-plots", "--threads", "1", "--out", out]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "test-frac" in table and "test-step" in table
    rows = {r["arm"]: r for r in json.load(open(os.path.join(out, "summary.json")))["rows"]}
    assert set(rows) == {"test-frac", "test-step"}
    # learned order reported for the fractional arm only
    assert rows["test-step"]["alpha"] is None and rows["test-frac"]["alphas"].keys() == {"neuron.alpha"}
    ck = load_checkpoint(os.path.join(out, "test-frac", "checkpoint.pt"))
    logit = ck["model"]["neuron.alpha.alpha_logit"]
    assert rows["test-frac"]["alphas"]["neuron.alpha"] == pytest.approx(float(torch.sigmoid(logit)))
    assert "alpha/neuron.alpha" in ck["history"][-1]
    # spike rate and synaptic operations, recomputed by hand from the checkpoint on the test set
    for arm, alpha in (("test-step", None), ("test-frac", 0.7)):
        torch.manual_seed(0)
        net = Net(17, 6, 4, StepNeuron(alpha))
        net.load_state_dict(load_checkpoint(os.path.join(out, arm, "checkpoint.pt"))["model"])
        x = delay_task("test", delay=2, n_samples=24).tensors[0].transpose(0, 1)
        with torch.no_grad():
            s = net.neuron(net.fc1(x))
        assert rows[arm]["spike_rate"] == pytest.approx(float(s.mean()))
        acs = (float((x != 0).sum()) * 6 + float((s != 0).sum()) * 4) / 24
        assert rows[arm]["synops"] == pytest.approx(acs) and rows[arm]["macs"] == 0
        assert rows[arm]["energy_nj"] == pytest.approx(acs * 0.9 / 1000)
    # the same perturbed inputs reach every arm, and evaluation under attack runs for both
    assert main(["evaluate", out, "--attack", "jitter", "--levels", "0", "2", "--no-plots"]) == 0
    res = json.load(open(os.path.join(out, "robustness_jitter.json")))
    assert set(res["rows"][0]) == {"level", "test-frac", "test-step"}


def test_neuron_choice_and_errors(registered):
    spec = get_model("test-net")
    assert arm_names(spec, []) == ["test-frac", "test-step"]
    assert arm_names(spec, ["test-step"]) == ["test-step"]
    with pytest.raises(RegistryError, match="unknown neuron 'lfi'; available: alif, cubalif, flif, lif, multiterm, "
                                            "test-frac, test-step"):
        arm_names(spec, ["lfi"])
    with pytest.raises(RegistryError, match="already registered"):
        register_neuron("test-step")(lambda cfg: None)
    with pytest.raises(RegistryError, match="without spaces"):
        register_neuron("a b")(lambda cfg: None)
    with pytest.raises(ConfigError, match="takes no neuron"):
        arm_names(get_model("gru"), ["test-step"])


def test_resolve_options():
    d = {"n": 3, "p": 0.5, "flag": False, "name": "x"}
    assert resolve_options(d, {"n": 4, "p": 1, "name": 7}, "task t") == {"n": 4, "p": 1.0, "flag": False,
                                                                          "name": "7"}
    with pytest.raises(ConfigError, match="task t has no option 'm'; its options: n, p, flag, name"):
        resolve_options(d, {"m": 1}, "task t")
    with pytest.raises(ConfigError, match="option 'n' must be of type int"):
        resolve_options(d, {"n": 2.5}, "task t")
    with pytest.raises(ConfigError, match="option 'flag' must be of type bool"):
        resolve_options(d, {"flag": 1}, "task t")
    with pytest.raises(ConfigError, match="option 'n' must be of type int"):
        resolve_options(d, {"n": True}, "task t")
    assert TrainConfig().model in MODELS
