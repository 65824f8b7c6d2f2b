"""Spiking SSM classifier on sequential digits: learnable fractional orders vs alpha = 1.

    python benchmarks/experiment_ssm_digits.py            # 3 seeds x 3 arms, 15 epochs (CPU: a few minutes)
    python benchmarks/experiment_ssm_digits.py --quick    # smoke run: 1 seed, 2 epochs

Task: the embedded 8x8 handwritten digits fed pixel by pixel (``sequential_digits``, ``L = 64``, one channel,
10 classes; train / val / test = 70 / 10 / 20 %). Model: :class:`spikeDE.ssm.SpikingSSMClassifier` with 2
pre-norm LoongSpike blocks (FractionalSSM -> neuron with learnable threshold -> GLU), d_model 64, N 32,
``Delta`` in [0.01, 0.5], mean-pooled decoder. Arms:

* ``alpha learnable``: the SSMs' orders (per channel) and the f-LIF neurons' orders start at 0.5 and are learnt
  (neurons with SOE memory);
* ``SSM alpha learnable, LIF``: only the SSMs' orders are learnt, the neurons are LIF;
* ``alpha = 1``: integer-order SSMs and LIF neurons.

AdamW (lr 1e-2, weight decay 0.01, one-cycle schedule), batch 32, a fixed number of epochs; accuracy after the
last epoch (no model selection), spike rate = mean firing rate of the blocks on the test set.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import print_table, train_sequential_digits  # noqa: E402

from spikeDE.ssm import SpikingSSMClassifier  # noqa: E402

ARMS = {
    "alpha learnable (SSM + f-LIF, from 0.5)": dict(alpha=0.5, learn_alpha=True,
                                                     neuron={"alpha": 0.5, "learn_alpha": True, "memory": "soe"}),
    "SSM alpha learnable (from 0.5), LIF": dict(alpha=0.5, learn_alpha=True, neuron=None),
    "alpha = 1 fixed (SSM, LIF)": dict(alpha=1.0, learn_alpha=False, neuron=None),
}


def run(arm: dict, seed: int, epochs: int, d_model: int = 64, batch: int = 32) -> dict:
    torch.manual_seed(seed)
    model = SpikingSSMClassifier(1, 10, d_model=d_model, n_blocks=2, d_state=32, alpha=arm["alpha"],
                                 learn_alpha=arm["learn_alpha"], neuron=arm["neuron"],
                                 ssm_kwargs={"dt_min": 0.01, "dt_max": 0.5})
    out = train_sequential_digits(model, epochs, lr=1e-2, batch=batch)
    with torch.no_grad():
        out["rate"] = model.spike_rate.item()  # of the last call: the test set
        out["ssm_alpha"] = torch.cat([b.ssm.alpha.reshape(-1) for b in model.blocks]).mean().item()
        out["neuron_alpha"] = statistics.mean(b.neuron.order().reshape(-1).mean().item() for b in model.blocks)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 2 epochs")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    seeds, epochs = (1, 2) if a.quick else (a.seeds, a.epochs)
    print(f"torch {torch.__version__}, {a.threads} thread(s); sequential digits (L=64), 2 LoongSpike blocks, "
          f"d_model 64, N 32, {epochs} epochs, seeds 0..{seeds - 1}; accuracy after the last epoch\n")
    rows = []
    for label, arm in ARMS.items():
        rs = [run(arm, s, epochs) for s in range(seeds)]
        m = lambda k: statistics.mean(r[k] for r in rs)  # noqa: E731
        sd = lambda k: statistics.pstdev(r[k] for r in rs)  # noqa: E731
        rows.append([label, f"{m('val'):.3f} +- {sd('val'):.3f}", f"{m('test'):.3f} +- {sd('test'):.3f}",
                     f"{m('rate'):.3f} +- {sd('rate'):.3f}", m("ssm_alpha"), m("neuron_alpha"), m("train_s")])
        print("  " + label + ": test " + ", ".join(f"{r['test']:.3f}" for r in rs), flush=True)
    print()
    print_table(["arm", "val acc", "test acc", "spike rate", "SSM alpha", "neuron alpha", "train s"], rows)


if __name__ == "__main__":
    main()
