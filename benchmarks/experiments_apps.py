"""f-SNN versus LIF on the embedded tasks: accuracy over seeds, accuracy versus delay, robustness.

    python benchmarks/experiments_apps.py            # full: 3 seeds, delays 8/32/64/128, digits (~15-25 min, 2 cores)
    python benchmarks/experiments_apps.py --quick    # smoke (~30 s): 1 seed, 10 epochs, delays 8/32; too short to
                                                     # learn delay 32, so its numbers are not the result
    python benchmarks/experiments_apps.py --seeds 2 --delays 8 32 64 --out runs/exp

Every configuration is the default run of ``spikede train`` (spiking MLP 2 x 64, tau = 2, threshold 1, gain 4,
Adam 5e-3 cosine, 30 epochs, batch 64) with the task changed; the arms are ``flif`` (learnable alpha from 0.5),
``lif`` and, as a stronger integer-order baseline, ``lif`` with one learnable time constant per layer
(``lif+tau``, from tau = 2). All arms of a configuration share the seed: same initial weights and batches.
Robustness: the delay-32 checkpoints under Gaussian input noise and temporal jitter (``spikede evaluate``).

Writes ``OUT/experiments.md`` (tables, mean +- std over seeds), ``OUT/experiments.csv``, ``OUT/accuracy_vs_delay.png``
and ``OUT/robustness_{noise,jitter}.png``; prints the tables.
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

from spikeDE.analysis.plots import plot_accuracy_vs_delay, plot_robustness  # noqa: E402
from spikeDE.train.config import TrainConfig  # noqa: E402
from spikeDE.train.registry import MODELS  # noqa: E402
from spikeDE.train.run import evaluate_run, train_run  # noqa: E402

ARMS = {"flif": ("flif", {}), "lif": ("lif", {}), "lif+tau": ("lif", {"learn_tau": True})}
NOISE = [0.0, 0.1, 0.2, 0.3, 0.5]
JITTER = [0.0, 1.0, 2.0, 4.0]


def _quiet(_):
    pass


def train_arms(task: str, task_args: dict, seed: int, epochs: int, out: str) -> dict:
    """Train every arm of ``ARMS`` on one task and seed; returns arm -> summary row (run folders under ``out``)."""
    rows = {}
    for label, (neuron, model_args) in ARMS.items():
        folder = os.path.join(out, f"{task}-{'-'.join(f'{k}{v}' for k, v in task_args.items())}-s{seed}-{label}")
        cfg = TrainConfig(task=task, task_args=dict(task_args), model="mlp", model_args=dict(model_args),
                          neurons=[neuron], seed=seed, epochs=epochs, out=folder, threads=1, device="cpu")
        res = train_run(cfg, overwrite=True, progress=False, make_plots=False, log=_quiet, print_table=_quiet)
        rows[label] = dict(res["rows"][0], folder=folder, neuron=neuron)
    return rows


def _ms(values) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} +- {statistics.stdev(values):.3f}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 seed, 10 epochs, delays 8 and 32")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3; --quick: 1)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (default 30; --quick: 10)")
    p.add_argument("--delays", type=int, nargs="+", default=None, help="delays (default 8 32 64 128)")
    p.add_argument("--no-digits", action="store_true", help="skip the pixel-digits task")
    p.add_argument("--out", default=os.path.join("runs", "experiments_apps"))
    a = p.parse_args(argv)
    seeds = list(range(a.seeds if a.seeds else (1 if a.quick else 3)))
    epochs = a.epochs or (10 if a.quick else 30)
    delays = a.delays or ([8, 32] if a.quick else [8, 32, 64, 128])
    os.makedirs(a.out, exist_ok=True)
    assert "mlp" in MODELS
    t0 = time.perf_counter()
    configs = [("delay", {"delay": d}) for d in delays]
    if not a.no_digits:
        configs.append(("digits", {}))
    results = {}                # (task, delay) -> arm -> [acc per seed]
    extra = {}                  # (task, delay) -> arm -> {"rate": [...], "synops": [...], "alpha": [...]}
    robust_runs = {}            # seed -> arm -> folder of the delay-32 run
    for task, targs in configs:
        key = (task, targs.get("delay"))
        results[key] = {arm: [] for arm in ARMS}
        extra[key] = {arm: {"rate": [], "synops": [], "alpha": [], "time": []} for arm in ARMS}
        for seed in seeds:
            rows = train_arms(task, targs, seed, epochs, a.out)
            for arm, r in rows.items():
                results[key][arm].append(r["test_acc"])
                extra[key][arm]["rate"].append(r["spike_rate"])
                extra[key][arm]["synops"].append(r["synops"])
                extra[key][arm]["time"].append(r["train_time_s"])
                if r["alpha"]:
                    extra[key][arm]["alpha"].append(r["alpha"])
            if key == ("delay", 32) or (key[0] == "delay" and 32 not in delays and key[1] == delays[-1]):
                robust_runs[seed] = {arm: r["folder"] for arm, r in rows.items()}
            print(f"[{time.perf_counter() - t0:6.0f} s] {task} {targs} seed {seed}: "
                  + ", ".join(f"{arm} {r['test_acc']:.3f}" for arm, r in rows.items()), flush=True)

    # robustness of the delay checkpoints
    robust = {}
    for attack, levels in (("noise", NOISE), ("jitter", JITTER)):
        robust[attack] = {arm: [] for arm in ARMS}
        for seed, folders in robust_runs.items():
            for arm, folder in folders.items():
                res = evaluate_run(folder, attack=attack, levels=levels, device="cpu", make_plots=False, threads=1,
                                   log=_quiet, print_table=_quiet)
                robust[attack][arm].append([r[ARMS[arm][0]] for r in res["rows"]])

    # tables
    lines = [f"# f-SNN (flif) versus LIF: {len(seeds)} seed(s), {epochs} epochs, spiking MLP 2 x 64", "",
             "Test accuracy (mean +- std over seeds); chance: delay 0.25, digits 0.10.", "",
             "| task | T | " + " | ".join(ARMS) + " | flif alpha (layer 1/2) | spike rate flif / lif | "
             "train s flif / lif |", "|---|---|" + "---|" * len(ARMS) + "---|---|---|"]
    csv_rows = []
    for (task, d), accs in results.items():
        T = (d + 8) if task == "delay" else 64
        name = f"delay {d}" if task == "delay" else "digits (pixel)"
        ex = extra[(task, d)]
        alpha = ", ".join(ex["flif"]["alpha"]) or "-"
        lines.append(f"| {name} | {T} | " + " | ".join(_ms(accs[arm]) for arm in ARMS)
                     + f" | {alpha} | {statistics.mean(ex['flif']['rate']):.3f} / "
                       f"{statistics.mean(ex['lif']['rate']):.3f} | {statistics.mean(ex['flif']['time']):.1f} / "
                       f"{statistics.mean(ex['lif']['time']):.1f} |")
        for arm in ARMS:
            for s, acc in zip(seeds, accs[arm]):
                csv_rows.append({"task": task, "delay": d, "arm": arm, "seed": s, "test_acc": acc,
                                 "spike_rate": ex[arm]["rate"][s], "synops": ex[arm]["synops"][s]})
    for attack, levels in (("noise", NOISE), ("jitter", JITTER)):
        if not robust_runs:
            break
        lines += ["", f"Robustness of the delay-{32 if 32 in delays else delays[-1]} networks to {attack} "
                      f"(test accuracy, mean +- std over seeds)", "",
                  f"| {attack} level | " + " | ".join(ARMS) + " |", "|---|" + "---|" * len(ARMS)]
        for i, lv in enumerate(levels):
            lines.append(f"| {lv:g} | " + " | ".join(_ms([c[i] for c in robust[attack][arm]]) for arm in ARMS) + " |")
    lines += ["", f"Total time {time.perf_counter() - t0:.0f} s."]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(a.out, "experiments.md"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "experiments.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(csv_rows[0]))
        w.writeheader()
        w.writerows(csv_rows)
    print(text)

    # figures
    delay_keys = [k for k in results if k[0] == "delay"]
    if delay_keys:
        plot_accuracy_vs_delay([k[1] for k in delay_keys],
                               {arm: [[results[k][arm][s] for k in delay_keys] for s in range(len(seeds))]
                                for arm in ARMS}, os.path.join(a.out, "accuracy_vs_delay.png"), chance=0.25,
                               title=f"delayed cue recall: accuracy versus delay ({len(seeds)} seed(s))")
    for attack, levels in (("noise", NOISE), ("jitter", JITTER)):
        if robust_runs:
            plot_robustness(levels, {arm: robust[attack][arm] for arm in ARMS},
                            os.path.join(a.out, f"robustness_{attack}.png"), attack=attack, chance=0.25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
