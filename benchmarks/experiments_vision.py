"""f-LIF vs LIF vs LIF with a learned time constant on event-camera tasks, over T and seeds, and robustness.

    python benchmarks/experiments_vision.py             # the README table: dvs-digits and dvs-rotation, T = 4/8/16,
                                                       # 3 seeds, 3 arms (54 trainings; ~30-60 min on a shared 2-core CPU)
    python benchmarks/experiments_vision.py --quick     # smoke (~1 min): T = 4, 1 seed, 1 epoch, small subsets
    python benchmarks/experiments_vision.py --tasks dvs-gesture --frames 16 --epochs 64 --width 64 --blocks 5 \\
        --size 0 --device cuda --batch-size 16 --seeds 3          # a real dataset under $SPIKEDE_DATA

Model: the spiking VGG of ``spikede train`` (``[Conv3x3 -> BN -> neuron -> MaxPool] x blocks -> Linear``, width
``--width``), readout = mean of the per-step logits, Adam with cosine decay. Arms (same seed: same initial
weights and batches): ``flif`` (fractional LIF, alpha learned from 0.5, one per layer), ``lif`` (tau = 2) and
``lif+tau`` (LIF with one learned tau per layer, from 2), and the control ``no memory``: LIF with ``tau = 1``,
whose step ``H_t = V_{t-1} + (X_t - V_{t-1}) / tau = X_t`` forgets everything, so the network is memoryless (it
answers from each frame alone, averaging the per-frame logits). ``--arms`` also offers ``flif a0=0.8``,
``flif a0=0.9`` (alpha learned from 0.8 / 0.9) and ``flif soe`` (SOE memory). The embedded tasks are the simulated event camera
of :mod:`spikeDE.data.dvs_synthetic` on a ``--size`` x ``--size`` sensor. Robustness (at ``--robust-frames``):
test accuracy of the trained models under event drop, background events and event time jitter
(:mod:`spikeDE.analysis.attacks`), mean over seeds.

Writes ``OUT/experiments_vision.md`` and ``.csv`` (mean +- std over seeds) and prints the tables.
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

from spikeDE.analysis.attacks import apply_attack  # noqa: E402
from spikeDE.analysis.orders import mean_orders  # noqa: E402
from spikeDE.train import TrainConfig, get_model, get_task  # noqa: E402
from spikeDE.train.registry import resolve_options  # noqa: E402
from spikeDE.train.seeding import seed_everything  # noqa: E402
from spikeDE.train.trainer import Trainer, evaluate_model  # noqa: E402

ARMS = {"flif": ("flif", {}, {}), "lif": ("lif", {}, {}), "lif+tau": ("lif", {"learn_tau": True}, {}),
        "no memory": ("lif", {"tau": 1.0}, {})}
EXTRA_ARMS = {"flif a0=0.8": ("flif", {}, {"alpha": 0.8}), "flif a0=0.9": ("flif", {}, {"alpha": 0.9}),
              "flif soe": ("flif", {}, {"memory": "soe"})}
ATTACK_LEVELS = {"event_drop": [0.0, 0.3, 0.6], "event_noise": [0.0, 0.1, 0.3], "event_jitter": [0.0, 1.0, 2.0]}
EMBEDDED = {"dvs-digits": {"n_train": 600, "n_test": 300}, "dvs-rotation": {"n_train": 500, "n_val": 100, "n_test": 300}}


def _quiet(_):
    pass


def build_data(task: str, frames: int, size: int, quick: bool):
    opts = dict(EMBEDDED.get(task, {}))
    opts["frames"] = frames
    if task in EMBEDDED and size:
        opts["size"] = size
    if quick:
        opts.update({"n_train": 64, "n_test": 64} if task in EMBEDDED else {"n_train": 64, "n_test": 64})
        if task == "dvs-rotation":
            opts["n_val"] = 32
    spec = get_task(task)
    return spec.build(resolve_options(spec.options, opts, task), torch.float32)


def train_arm(data, arm: str, seed: int, args) -> tuple[torch.nn.Module, dict]:
    neuron, extra, cfg_extra = {**ARMS, **EXTRA_ARMS}[arm]
    spec = get_model("spiking-vgg")
    cfg = TrainConfig(task=data.info.name, model="spiking-vgg", neurons=[neuron], seed=seed, epochs=args.epochs,
                      lr=args.lr, batch_size=args.batch_size, threads=1, device=args.device, **cfg_extra)
    opts = resolve_options(spec.options, {"width": args.width, "blocks": args.blocks, **extra}, "spiking-vgg")
    seed_everything(seed)
    model = spec.build(data.info, cfg, neuron, opts)
    t0 = time.perf_counter()
    trainer = Trainer(model, data.train, data.val, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      schedule="cosine", readout="mean", seed=seed, device=args.device, progress=False, log=_quiet,
                      name=arm)
    trainer.fit()
    secs = time.perf_counter() - t0
    test = evaluate_model(trainer.model, data.test, readout_mode="mean", device=args.device)
    orders = mean_orders(trainer.model)
    taus = [float(m.tau.detach().mean()) for m in trainer.model.modules() if hasattr(m, "tau")
            and isinstance(getattr(m, "tau"), torch.Tensor) and m.tau.requires_grad]
    return trainer.model, {"acc": test["acc"], "secs": secs,
                           "alpha": "/".join(f"{v:.2f}" for v in orders.values()) if orders else "",
                           "tau": "/".join(f"{v:.2f}" for v in taus)}


def robustness(model, data, seed: int, device) -> dict:
    out = {}
    for attack, levels in ATTACK_LEVELS.items():
        for level in levels[1:]:
            res = evaluate_model(model, data.test, readout_mode="mean", device=device,
                                 transform=lambda x, a=attack, lv=level: apply_attack(a, x, lv, generator=seed))
            out[(attack, level)] = res["acc"]
    return out


def _ms(v):
    if not v:
        return "-"
    if len(v) == 1:
        return f"{v[0]:.3f}"
    return f"{statistics.mean(v):.3f} +- {statistics.stdev(v):.3f}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=["dvs-digits", "dvs-rotation"])
    p.add_argument("--frames", nargs="+", type=int, default=[4, 8, 16])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--blocks", type=int, default=2)
    p.add_argument("--size", type=int, default=16, help="sensor size of the embedded tasks (0: the task's default)")
    p.add_argument("--robust-frames", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS) + list(EXTRA_ARMS),
                   help="arms to train (default: flif, lif, lif+tau, no memory)")
    p.add_argument("--no-robustness", action="store_true")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=os.path.join("runs", "experiments_vision"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.quick:
        args.frames, args.seeds, args.epochs, args.robust_frames = [4], 1, 1, 4
    os.makedirs(args.out, exist_ok=True)
    rows, robust = [], []
    t_start = time.perf_counter()
    for task in args.tasks:
        for T in args.frames:
            data = build_data(task, T, args.size, args.quick)
            for seed in range(args.seeds):
                for arm in args.arms:
                    model, r = train_arm(data, arm, seed, args)
                    rows.append({"task": task, "T": T, "seed": seed, "arm": arm, **r})
                    print(f"{task} T={T} seed={seed} {arm}: test acc {r['acc']:.3f} ({r['secs']:.0f} s) "
                          f"{r['alpha'] or r['tau']}", flush=True)
                    if T == args.robust_frames and not args.no_robustness:
                        for (attack, level), acc in robustness(model, data, seed, args.device).items():
                            robust.append({"task": task, "arm": arm, "seed": seed, "attack": attack, "level": level,
                                           "acc": acc})
                        robust.append({"task": task, "arm": arm, "seed": seed, "attack": "clean", "level": 0.0,
                                       "acc": r["acc"]})
    total = time.perf_counter() - t_start
    with open(os.path.join(args.out, "experiments_vision.csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = [f"Spiking VGG (width {args.width}, {args.blocks} blocks), {args.epochs} epochs, batch {args.batch_size}, "
             f"{args.seeds} seeds, sensor {args.size or 'default'}; test accuracy, mean +- std over seeds; "
             f"total {total / 60:.1f} min on {args.device}.", "",
             "| task | T | " + " | ".join(args.arms) + " | train s (" + " / ".join(args.arms) + ") |",
             "|---|---|" + "---|" * len(args.arms) + "---|"]
    for task in args.tasks:
        for T in args.frames:
            sel = [r for r in rows if r["task"] == task and r["T"] == T]
            cells = [_ms([r["acc"] for r in sel if r["arm"] == a]) for a in args.arms]
            secs = [statistics.median([r["secs"] for r in sel if r["arm"] == a]) for a in args.arms]
            lines.append(f"| {task} | {T} | " + " | ".join(cells) + " | " + " / ".join(f"{v:.0f}" for v in secs) + " |")
    if robust:
        lines += ["", f"Robustness at T = {args.robust_frames} (test accuracy, mean over seeds):", "",
                  "| task | attack | level | " + " | ".join(args.arms) + " |",
                  "|---|---|---|" + "---|" * len(args.arms)]
        keys = [("clean", 0.0)] + [(a, lv) for a, lvs in ATTACK_LEVELS.items() for lv in lvs[1:]]
        for task in args.tasks:
            for attack, level in keys:
                sel = [r for r in robust if r["task"] == task and r["attack"] == attack and r["level"] == level]
                if sel:
                    cells = [f"{statistics.mean([r['acc'] for r in sel if r['arm'] == a]):.3f}" for a in args.arms]
                    lines.append(f"| {task} | {attack} | {level:g} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "experiments_vision.md"), "w") as fh:
        fh.write(text)
    print(text)


if __name__ == "__main__":
    main()
