"""Presets and the trainer's long-run features: presets load and are overridden by the command line; SSM
parameter groups by name; gradient accumulation gives the one-shot gradient; step evaluations and the kept best
checkpoint (its loss re-measured), both surviving an exact resume; bf16 is ignored on CPU; the progress bar
reports throughput and ETA."""
import io
import os

import pytest
import torch
from torch import nn

from spikeDE.cli import main
from spikeDE.data import delay_task
from spikeDE.models.ssm_lm import SSMLanguageModel
from spikeDE.train.checkpoint import load_checkpoint
from spikeDE.train.config import ConfigError, load_config
from spikeDE.train.param_groups import parameter_groups, ssm_rules
from spikeDE.train.presets import list_presets, load_preset
from spikeDE.train.progress import ProgressBar
from spikeDE.train.run import plan_run
from spikeDE.train.trainer import Trainer, evaluate_model

LOONGSPIKE = {"smnist": ("smnist", 400, 2), "psmnist": ("psmnist", 256, 4), "lra-image": ("lra-image", 512, 6),
              "listops": ("listops", 128, 6), "text": ("lra-text", 256, 6), "retrieval": ("lra-retrieval", 256, 2),
              "pathfinder": ("pathfinder", 256, 6), "pathx": ("pathx", 256, 6),
              "speech-commands": ("speech-commands", 128, 6)}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one intra-op thread


def test_presets_load_and_plan():
    assert {f"loongspike-{k}" for k in LOONGSPIKE} <= set(list_presets())
    for key, (task, width, blocks) in LOONGSPIKE.items():
        cfg = load_preset(f"loongspike-{key}")
        assert (cfg.task, cfg.hidden, cfg.model_args["blocks"]) == (task, width, blocks)
        assert (cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.ssm_lr, cfg.ssm_weight_decay) == ("adamw", 0.01, 0.01,
                                                                                               0.001, 0.0)
        plan_run(cfg)  # every name and option resolves against the registries
    assert load_preset("loongspike-listops").task_args["max_length"] == 2048
    assert load_preset("loongspike-pathx").task == "pathx"
    with pytest.raises(ConfigError, match="available: loongspike"):
        load_preset("loongspike-nope")


def test_preset_overridden_on_the_command_line(tmp_path, monkeypatch, capsys):
    d = tmp_path / "data" / "lra_release" / "listops-1000"
    d.mkdir(parents=True)
    for s in ("train", "val", "test"):
        (d / f"basic_{s}.tsv").write_text("Source\tTarget\n" + "".join(
            f"( ( ( [MAX {a} ) {b} ) ] )\t{max(a, b)}\n" for a, b in [(1, 2), (5, 3), (0, 9), (4, 4)]))
    monkeypatch.setenv("SPIKEDE_DATA", str(tmp_path / "data"))
    out = tmp_path / "run"
    assert main(["train", "--preset", "loongspike-listops", "--epochs", "1", "--hidden", "8", "--batch-size", "4",
                 "--model-arg", "blocks=1", "--model-arg", "d_state=4", "--task-arg", "max_length=8", "--device",
                 "cpu", "--no-progress", "--no-plots", "--out", str(out)]) == 0
    cfg = load_config(out / "config.toml")
    assert (cfg.epochs, cfg.hidden, cfg.batch_size) == (1, 8, 4)                 # overridden
    assert cfg.model_args == {"blocks": 1, "d_state": 4, "dropout": 0.0}          # merged over the preset's
    assert cfg.task_args == {"max_length": 8}
    assert (cfg.optimizer, cfg.lr, cfg.ssm_lr, cfg.keep_best) == ("adamw", 0.01, 0.001, True)  # from the preset
    assert os.path.isfile(out / "ssm-seq" / "best.pt")
    capsys.readouterr()
    assert main(["list", "presets"]) == 0
    assert "loongspike-pathx" in capsys.readouterr().out
    assert main(["train", "--preset", "nope", "--out", str(tmp_path / "x")]) == 2


def test_ssm_parameter_groups_by_name():
    m = SSMLanguageModel(11, 8, 2, 4, neuron={"alpha": 0.5, "learn_alpha": True})
    groups = parameter_groups(m, ssm_rules(1e-3, 0.0))
    names = {id(p): n for n, p in m.named_parameters()}
    ssm = sorted(names[id(p)] for p in groups[1]["params"])
    expected = sorted(f"blocks.{b}.ssm.{k}" for b in (0, 1) for k in ("log_dt", "log_A_real", "A_imag", "B",
                                                                          "order.alpha_logit"))
    assert ssm == expected and groups[1]["lr"] == 1e-3 and groups[1]["weight_decay"] == 0.0
    default = {names[id(p)] for p in groups[0]["params"]}
    assert "blocks.0.ssm.C" in default and "blocks.0.neuron.order.alpha_logit" in default and "head.weight" in default
    assert len(default) + len(ssm) == len(names)
    opt = torch.optim.AdamW(groups, lr=0.01, weight_decay=0.01)
    assert [g["lr"] for g in opt.param_groups] == [0.01, 1e-3]
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0]


class TinyGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(17, 8)
        self.out = nn.Linear(8, 4)

    def forward(self, x):
        return self.out(self.rnn(x)[0])


def _data():
    return (delay_task("train", delay=3, n_samples=50, seed=1), delay_task("val", delay=3, n_samples=20, seed=1))


def _trainer(out_dir=None, cls=Trainer, **kw):
    torch.manual_seed(0)
    train, val = _data()
    args = dict(epochs=2, batch_size=16, lr=1e-2, readout="window", readout_window=4, seed=0, progress=False,
                log=lambda s: None, dtype=torch.float64, out_dir=None if out_dir is None else str(out_dir))
    args.update(kw)
    return cls(TinyGRU(), train, val, **args)


def test_accumulation_gives_the_one_shot_gradient():
    a, b = _trainer(accumulate=1), _trainer(accumulate=3)
    a.fit()
    b.fit()
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.allclose(p, q, atol=1e-10, rtol=0)
    assert [round(h["train_loss"], 10) for h in a.history] == [round(h["train_loss"], 10) for h in b.history]


def test_bf16_is_ignored_on_cpu():
    notes = []
    t = _trainer(bf16=True, log=notes.append)
    assert t.bf16 is False and any("bf16" in n for n in notes)
    t.fit()
    ref = _trainer()
    ref.fit()
    assert all(torch.equal(p, q) for p, q in zip(t.model.parameters(), ref.model.parameters()))


def test_step_evals_and_best_checkpoint_survive_resume(tmp_path):
    full = _trainer(tmp_path / "full", epochs=3, eval_every=2, keep_best=True, checkpoint_every=2)
    full.fit()
    # 4 batches per epoch: step evaluations at steps 2, 6, 10 (4, 8, 12 are epoch ends)
    assert [r["step"] for r in full.step_evals] == [2, 6, 10]
    losses = [r["val_loss"] for r in full.step_evals] + [h["val_loss"] for h in full.history]
    assert full.best_val == min(losses)
    best = load_checkpoint(tmp_path / "full" / "best.pt")
    assert best["global_step"] == full.best_step
    probe = TinyGRU().double()
    probe.load_state_dict(best["model"])
    v = evaluate_model(probe, _data()[1], readout_mode="window", readout_window=4, dtype=torch.float64)
    assert v["loss"] == pytest.approx(full.best_val, rel=1e-12)

    class Interrupted(Trainer):
        def _after_step(self):
            if self.global_step == 7:
                raise KeyboardInterrupt

    part = _trainer(tmp_path / "part", cls=Interrupted, epochs=3, eval_every=2, keep_best=True, checkpoint_every=2)
    with pytest.raises(KeyboardInterrupt):
        part.fit()
    resumed = _trainer(tmp_path / "part", epochs=3, eval_every=2, keep_best=True, checkpoint_every=2)
    resumed.resume()
    resumed.fit()
    assert resumed.step_evals == full.step_evals
    assert (resumed.best_val, resumed.best_step) == (full.best_val, full.best_step)
    b2 = load_checkpoint(tmp_path / "part" / "best.pt")["model"]
    assert all(torch.equal(best["model"][k], b2[k]) for k in b2)
    assert os.path.isfile(tmp_path / "full" / "step_evals.csv")


def test_progress_bar_throughput_and_eta():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    s = Tty()
    bar = ProgressBar(100, "e", stream=s, min_interval=0.0, items_per_step=32, unit="samples")
    bar.update(0)
    import time
    time.sleep(0.05)
    bar.update(10, loss=1.0)
    line = s.getvalue().split("\r")[-1]
    rate = float(line.split(" it/s")[0].split()[-1])
    samples = float(line.split(" samples/s")[0].split()[-1])
    assert samples == pytest.approx(32 * rate, rel=0.02)
    assert "ETA" in line and "elapsed" in line
