import json
import os
import shutil

import pytest
import torch

from spikeDE.cli import main
from spikeDE.data import delay_task
from spikeDE.train.checkpoint import load_checkpoint
from spikeDE.train.models import GRUClassifier
from spikeDE.train.trainer import Trainer

TINY = ["--model", "gru", "--task-arg", "n_train=64", "--task-arg", "n_val=32", "--task-arg", "n_test=40", "--delay", "4",
        "--hidden", "8", "--batch-size", "16", "--epochs", "2", "--device", "cpu", "--no-progress", "--threads", "1"]


def _train(tmp_path, name, *extra):
    out = str(tmp_path / name)
    assert main(["train", *TINY, "--out", out, *extra]) == 0
    return out


def _weights(run, arm="gru"):
    return load_checkpoint(os.path.join(run, arm, "checkpoint.pt"))["model"]


def _same_weights(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def _history(run, arm="gru"):
    return [{k: v for k, v in h.items() if k != "time_s"} for h in load_checkpoint(
        os.path.join(run, arm, "checkpoint.pt"))["history"]]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("cli"), "run", "--seed", "3", "--checkpoint-every", "3")


def test_train_writes_the_run_folder(run_dir, capsys):
    for f in ("config.toml", "summary.json", "summary.csv", "gru/checkpoint.pt", "gru/metrics.json",
              "gru/metrics.csv", "plots/training_curves.png", "plots/input_raster.png"):
        assert os.path.isfile(os.path.join(run_dir, f)), f
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    row = summary["rows"][0]
    assert row["arm"] == "gru" and row["epochs"] == 2 and summary["chance"] == 0.25
    # independent check of the reported test accuracy: the checkpoint, the test set and the window readout by hand
    model = GRUClassifier(17, 8, 4)
    model.load_state_dict(_weights(run_dir))
    x, y = delay_task("test", delay=4, n_samples=40).tensors
    with torch.no_grad():
        z = model(x.transpose(0, 1))[-4:].mean(0)
    assert row["test_acc"] == pytest.approx(float((z.argmax(1) == y).float().mean()))
    history = json.load(open(os.path.join(run_dir, "gru", "metrics.json")))["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert open(os.path.join(run_dir, "gru", "metrics.csv")).readline().startswith("epoch,step,train_loss")
    # evaluate re-computes the same figure
    assert main(["evaluate", run_dir, "--no-plots", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert f"{row['test_acc']:.4g}" in out


def test_evaluate_under_attack(run_dir, capsys):
    assert main(["evaluate", run_dir, "--attack", "noise", "--levels", "0", "0.5", "3", "--threads", "1"]) == 0
    res = json.load(open(os.path.join(run_dir, "robustness_noise.json")))
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    assert [r["level"] for r in res["rows"]] == [0.0, 0.5, 3.0]
    assert res["rows"][0]["gru"] == summary["rows"][0]["test_acc"]      # level 0 = no attack
    assert os.path.isfile(os.path.join(run_dir, "plots", "robustness_noise.png"))
    assert "noise level" in capsys.readouterr().out
    # seeded: the same command gives the same numbers
    assert main(["evaluate", run_dir, "--attack", "noise", "--levels", "0.5", "3", "--no-plots", "--threads", "1"]) == 0
    again = json.load(open(os.path.join(run_dir, "robustness_noise.json")))
    assert [r["gru"] for r in again["rows"]] == [r["gru"] for r in res["rows"][1:]]


def test_interrupted_run_resumes_exactly(run_dir, tmp_path, monkeypatch, capsys):
    def interrupt(self):
        if self.global_step == 7:      # 4 steps per epoch; checkpoints at steps 3, 4 (epoch end), 6
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_after_step", interrupt)
    out = str(tmp_path / "part")
    assert main(["train", *TINY, "--out", out, "--seed", "3", "--checkpoint-every", "3"]) == 130
    assert "--resume" in capsys.readouterr().err
    assert load_checkpoint(os.path.join(out, "gru", "checkpoint.pt"))["global_step"] == 6   # intact, the last one
    monkeypatch.undo()
    assert main(["train", "--resume", out, "--no-progress"]) == 0
    assert _same_weights(_weights(run_dir), _weights(out))
    assert _history(run_dir) == _history(out)
    # resuming a finished run trains nothing more and keeps the weights
    assert main(["train", "--resume", out, "--no-progress", "--no-plots"]) == 0
    assert _same_weights(_weights(run_dir), _weights(out))


def test_seed_and_config_file_reproduce_the_run(run_dir, tmp_path):
    again = str(tmp_path / "again")
    assert main(["train", "--config", os.path.join(run_dir, "config.toml"), "--out", again, "--no-plots",
                 "--no-progress"]) == 0
    assert _same_weights(_weights(run_dir), _weights(again))
    assert _history(run_dir) == _history(again)
    other = _train(tmp_path, "other", "--seed", "4", "--no-plots")
    assert not _same_weights(_weights(run_dir), _weights(other))


def test_yaml_config_and_option_precedence(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task: delay\nhidden: 5\nepochs: 1\nlr: 0.01\ntask_args:\n  delay: 2\n  n_train: 32\n"
                   "  n_val: 16\n  n_test: 16\n")
    out = str(tmp_path / "y")
    assert main(["train", "--config", str(cfg), "--epochs", "2", "--out", out, "--no-plots", "--no-progress",
                 "--device", "cpu", "--threads", "1", "--task-arg", "n_test=20"]) == 0
    text = open(os.path.join(out, "config.toml")).read()
    assert "hidden = 5" in text and "epochs = 2" in text and "lr = 0.01" in text
    assert "delay = 2" in text and "n_test = 20" in text and "n_train = 32" in text


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "delay" in out and "digits" in out and "gru" in out and "jitter" in out


@pytest.mark.parametrize("argv, message", [
    (["train", "--task", "mnist"], "unknown task 'mnist'"),
    (["train", "--model", "transformer"], "unknown model 'transformer'"),
    (["train", "--epochs", "0"], "epochs must be >= 1"),
    (["train", "--epochs", "two"], "invalid int value"),
    (["train", "--lr", "-1"], "lr must be"),
    (["train", "--task-arg", "dealy=3"], "has no option 'dealy'"),
    (["train", "--task-arg", "delay"], "KEY=VALUE"),
    (["train", "--task-arg", "delay=-2", "--out", "UNUSED"], "delay must be >= 0"),
    (["train", "--model", "gru", "--neuron", "lif"], "takes no neuron"),
    (["train", "--readout", "mean"], "scored with readout"),
    (["train", "--optimizer", "lbfgs"], "optimizer must be one of"),
    (["train", "--config", "missing.toml"], "does not exist"),
    (["train", "--bogus"], "unrecognized arguments"),
    (["evaluate", "no/such/run"], "does not exist"),
    (["evaluate", "RUN", "--attack", "blur"], "unknown attack 'blur'"),
    (["evaluate", "RUN", "--levels", "0.1"], "--levels needs --attack"),
    (["evaluate", "RUN", "--split", "train"], "split must be"),
    (["train", "--resume", "RUN", "--lr", "0.1"], "cannot be changed when resuming"),
    (["train", "--resume", "RUN", "--config", "x.toml"], "do not pass --config"),
    (["train", "--out", "RUN"], "already holds files"),
    ([], "usage"),
])
def test_user_mistakes_exit_2_without_traceback(run_dir, tmp_path, capsys, argv, message):
    argv = [a.replace("RUN", run_dir).replace("UNUSED", str(tmp_path / "u")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_and_corrupt_checkpoints(run_dir, tmp_path, capsys):
    broken = str(tmp_path / "broken")
    shutil.copytree(run_dir, broken)
    ck = os.path.join(broken, "gru", "checkpoint.pt")
    with open(ck, "r+b") as f:
        f.truncate(os.path.getsize(ck) // 3)
    assert main(["evaluate", broken]) == 2
    assert "corrupt" in capsys.readouterr().err
    os.remove(ck)
    assert main(["evaluate", broken]) == 2
    assert "no checkpoint" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_cuda_requested_without_cuda(capsys):
    assert main(["train", "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
