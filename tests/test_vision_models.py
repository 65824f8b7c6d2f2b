"""Spiking vision models: forward/backward in every arm, the fused multi-step path against the per-step path,
f-LIF at alpha = 1 against LIF, and ``spikede train`` end to end on dvs-digits."""
import json
import os

import pytest
import torch

from spikeDE import LIFNeuron, SNNWrapper
from spikeDE.cli import main
from spikeDE.models.vision import SEWResNet, SpikingVGG, Spikformer
from spikeDE.train import TrainConfig, get_model
from spikeDE.train.registry import TaskInfo, resolve_options

INFO = TaskInfo("tiny", (2, 16, 16), 5, 3)
SMALL = {"spiking-vgg": {"width": 4, "blocks": 2}, "sew-resnet": {"width": 4}, "spikformer": {"dim": 8, "heads": 2}}


def _net(model, arm, **cfg_kw):
    spec = get_model(model)
    torch.manual_seed(0)
    return spec.build(INFO, TrainConfig(**cfg_kw), arm, resolve_options(spec.options, SMALL[model], model))


@pytest.mark.parametrize("model", list(SMALL))
@pytest.mark.parametrize("arm", ["flif", "lif"])
def test_forward_backward(model, arm):
    net = _net(model, arm)
    x = (torch.rand(3, 2, 2, 16, 16) < 0.3).float() * 2
    y = net(x)
    assert y.shape == (3, 2, 5) and torch.isfinite(y).all()
    y.pow(2).mean().backward()
    grads = {n: p.grad for n, p in net.named_parameters() if p.requires_grad}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert any(g.abs().sum() > 0 for n, g in grads.items() if "conv" in n or "proj" in n)
    if arm == "flif":
        alphas = [g for n, g in grads.items() if n.startswith("orders.")]
        assert alphas and any(g.abs().sum() > 0 for g in alphas)


def test_multiterm_arm_and_float64():
    net = _net("spiking-vgg", "multiterm").double()
    y = net(torch.rand(3, 2, 2, 16, 16, dtype=torch.float64))
    assert y.dtype == torch.float64 and y.shape == (3, 2, 5)


@pytest.mark.parametrize("cls,kw", [(SpikingVGG, {"width": 4, "blocks": 2}), (SEWResNet, {"width": 4}),
                                    (Spikformer, {"dim": 8, "heads": 2, "patch": 2})])
def test_fused_multi_step_equals_per_step(cls, kw):
    torch.manual_seed(1)
    base = cls(2, 5, 8, lambda name: LIFNeuron(tau=2.0, threshold=0.5), **kw)
    net = SNNWrapper(base, integrator="fdeint", alpha=0.6).eval()
    x = torch.rand(4, 3, 2, 8, 8, dtype=torch.float64) * 2
    net.double()
    fused = net(x)
    net.step_mode = "single"
    np_ = net(x)
    torch.testing.assert_close(fused, np_, rtol=1e-9, atol=1e-9)


def test_flif_at_alpha_one_is_lif():
    x = torch.rand(3, 2, 2, 16, 16) * 2
    a = _net("spiking-vgg", "flif", alpha=1.0, learn_alpha=False).eval()(x)
    b = _net("spiking-vgg", "lif").eval()(x)
    torch.testing.assert_close(a, b)


def test_spikformer_pads_to_a_multiple_of_the_patch():
    m = Spikformer(2, 5, (10, 14), lambda n: LIFNeuron(), dim=8, heads=2, patch=4)
    assert m(torch.rand(3, 2, 10, 14)).shape == (3, 5)


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="divisible"):
        Spikformer(2, 5, 16, lambda n: LIFNeuron(), dim=10, heads=3)
    with pytest.raises(ValueError, match="width"):
        SpikingVGG(2, 5, 16, lambda n: LIFNeuron(), width=0)


def test_cli_trains_dvs_digits_with_a_vision_model(tmp_path, capsys):
    out = str(tmp_path / "run")
    args = ["train", "--task", "dvs-digits", "--task-arg", "n_train=48", "--task-arg", "n_test=24", "--task-arg",
            "size=16", "--task-arg", "frames=3", "--model-arg", "width=4", "--model-arg", "blocks=2", "--epochs", "1",
            "--batch-size", "16", "--device", "cpu", "--no-progress", "--no-plots", "--threads", "1", "--out", out]
    assert main(args) == 0
    rows = json.load(open(os.path.join(out, "summary.json")))
    rows = rows["rows"] if isinstance(rows, dict) else rows
    assert [r["arm"] for r in rows] == ["flif", "lif"]
    assert all(0.0 <= r["test_acc"] <= 1.0 for r in rows)
    text = open(os.path.join(out, "config.toml")).read()
    assert 'model = "spiking-vgg"' in text and "epochs = 1" in text
    assert "spiking-vgg" in capsys.readouterr().out
    assert main(["evaluate", out, "--attack", "event_drop", "--levels", "0", "0.5", "--no-plots", "--threads", "1"]) == 0
    assert "event_drop" in capsys.readouterr().out
