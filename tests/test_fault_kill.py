"""Fault test: a training process killed at random moments (SIGKILL, SIGINT) never leaves a checkpoint that does
not load, and resuming after the kills ends bit-identical to an uninterrupted run."""
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from spikeDE.cli import main
from spikeDE.train.checkpoint import check_training_state, load_checkpoint

ARGS = ["--model", "gru", "--task-arg", "n_train=64", "--task-arg", "n_val=16", "--task-arg", "n_test=16",
        "--delay", "3", "--hidden", "6", "--batch-size", "8", "--epochs", "2", "--device", "cpu", "--no-progress",
        "--threads", "1", "--no-plots", "--seed", "11", "--checkpoint-every", "1"]
STEPS_PER_EPOCH = 8

# the child prints every finished step, so that the parent can strike at a chosen moment of training
CHILD = ("import sys\n"
         "from spikeDE.train.trainer import Trainer\n"
         "Trainer._after_step = lambda self: print(self.global_step, flush=True)\n"
         "from spikeDE.cli import main\n"
         "sys.exit(main(sys.argv[1:]))\n")


def _strike(argv, at_step, sig, rng):
    """Run ``spikede`` in a child process and send ``sig`` shortly after it reports step ``at_step``."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    p = subprocess.Popen([sys.executable, "-c", CHILD, *argv], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         env=env, text=True)
    try:
        for line in p.stdout:
            if int(line) >= at_step:
                time.sleep(rng.uniform(0.0, 0.01))  # anywhere: mid-step, mid-checkpoint write, between files
                p.send_signal(sig)
                break
        p.stdout.close()
        return p.wait(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def _check_checkpoint(out):
    path = os.path.join(out, "gru", "checkpoint.pt")
    if os.path.exists(path):
        state = load_checkpoint(path)  # checksum, format, finite tensors
        check_training_state(state, path, STEPS_PER_EPOCH)
        return state["global_step"]
    return 0


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
def test_random_kills_never_corrupt_and_resume_is_bit_identical(tmp_path):
    rng = random.Random(20261206)
    ref = str(tmp_path / "ref")
    assert main(["train", *ARGS, "--out", ref]) == 0

    out = str(tmp_path / "killed")
    total = 2 * STEPS_PER_EPOCH
    first = rng.randrange(2, total // 2)
    rc = _strike(["train", *ARGS, "--out", out], first, signal.SIGKILL, rng)
    assert rc == -signal.SIGKILL
    done = _check_checkpoint(out)  # how far the child got before the kill depends on the machine's speed
    assert 0 <= done < total
    if done < total - 2:
        second = rng.randrange(done + 1, total - 1)
        rc = _strike(["train", "--resume", out], second, signal.SIGINT, rng)
        assert rc in (130, -signal.SIGINT)
        assert _check_checkpoint(out) >= done
    assert main(["train", "--resume", out]) == 0
    assert _check_checkpoint(out) == total

    a = load_checkpoint(os.path.join(ref, "gru", "checkpoint.pt"))
    b = load_checkpoint(os.path.join(out, "gru", "checkpoint.pt"))
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    strip = lambda h: [{k: v for k, v in r.items() if k != "time_s"} for r in h]  # noqa: E731
    assert strip(a["history"]) == strip(b["history"])
    assert not [n for n in os.listdir(os.path.join(out, "gru")) if ".tmp-" in n]  # no temporary file left
