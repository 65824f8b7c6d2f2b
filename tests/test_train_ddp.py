"""Two gloo processes under torchrun give the one-process result on the same global batches."""
import os
import subprocess
import sys

import torch

from spikeDE.cli import main
from spikeDE.train.checkpoint import load_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# 97 samples in batches of 16: the last global batch has one sample, so one process gets none of it.
ARGS = ["train", "--model", "gru", "--task-arg", "n_train=97", "--task-arg", "n_val=31", "--task-arg", "n_test=20", "--delay", "3",
        "--hidden", "6", "--batch-size", "16", "--epochs", "2", "--dtype", "float64", "--device", "cpu",
        "--no-progress", "--no-plots", "--seed", "5", "--schedule", "constant"]


def test_two_gloo_processes_equal_one_process(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    ddp_out = str(tmp_path / "ddp")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "spikeDE.cli", *ARGS, "--threads", "1", "--out", ddp_out],
                          env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "x 2 processes" in proc.stderr
    assert proc.stdout.count("test acc") == 1          # only rank 0 prints the table
    one_out = str(tmp_path / "one")
    assert main([*ARGS, "--threads", "1", "--out", one_out]) == 0
    a = load_checkpoint(os.path.join(one_out, "gru", "checkpoint.pt"))
    b = load_checkpoint(os.path.join(ddp_out, "gru", "checkpoint.pt"))
    assert b["world_size"] == 2 and len(b["rng"]) == 2 and a["global_step"] == b["global_step"] == 14
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=1e-10, atol=1e-12)
    for ha, hb in zip(a["history"], b["history"]):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert abs(ha[key] - hb[key]) < 1e-10, key

    # a two-process checkpoint continues in one process (the batch order is the same; the model has no
    # randomness, so re-seeded random streams do not matter): one more epoch equals a 3-epoch one-process run
    assert main(["train", "--resume", ddp_out, "--epochs", "3", "--no-progress", "--no-plots"]) == 0
    assert main([*ARGS, "--threads", "1", "--out", str(tmp_path / "three"), "--epochs", "3"]) == 0
    c = load_checkpoint(os.path.join(ddp_out, "gru", "checkpoint.pt"))
    d = load_checkpoint(os.path.join(str(tmp_path / "three"), "gru", "checkpoint.pt"))
    assert c["epoch"] == d["epoch"] == 3
    for k in c["model"]:
        torch.testing.assert_close(c["model"][k], d["model"][k], rtol=1e-10, atol=1e-12)
