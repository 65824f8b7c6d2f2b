"""Spiking GNNs on the real Cora and Citeseer graphs: does the fractional order help?

For every dataset, split (public, random, ratio) and seed, the same budget trains

    GCN            non-spiking two-layer GCN (hidden 64, dropout 0.5, Adam 0.01, weight decay 5e-4, full batch)
    SGCN-LIF       A_hat^2 X z-scored -> Bernoulli spikes (T steps) -> Linear -> LIF (64) -> Linear -> LIF (one
                   per class), firing-rate readout
    SGCN-LIF-tau   the same with a learned membrane time constant (a tuned integer-order baseline)
    SGCN-f-LIF     the same with fractional LIF neurons, learned order (from 0.5)
    DRSGNN-LIF     SGCN on [A_hat X, 32-dim Laplacian PE] with learnable thresholds, LIF
    DRSGNN-f-LIF   the same, fractional LIF

through the ``spikede train`` code path (:func:`spikeDE.train.run.train_run`). The random and ratio splits are
re-drawn per seed (``split_seed = seed``); 100 of the validation nodes are evaluated after each epoch (monitoring
only: no model selection, the last epoch's model is tested); test accuracy is the mean over 20 spike re-encodings of the trained
model, then mean +- std over seeds. ``--protocol`` adds spikeDE 0.1.0's settings on one split (T = 100,
h = 0.1, tau = 0.5, one hop, Linear -> LIF straight to the classes, Adam 1e-3, weight decay 1e-4, 100 epochs). Results are appended to a JSON file as they come
(``--out``), so a long run can be stopped and resumed (finished cells are skipped).

    python benchmarks/experiments_graph.py --data /work/shared/data --datasets cora --seeds 0 1 2 3 4
    python benchmarks/experiments_graph.py --report benchmarks/results/graph_*.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from spikeDE.train.config import TrainConfig  # noqa: E402
from spikeDE.train.run import train_run  # noqa: E402

ARMS = {  # name: (model, neuron, model_args)
    "GCN": ("gcn", None, {}),
    "SGCN-LIF": ("sgcn", "lif", {}),
    "SGCN-LIF-tau": ("sgcn", "lif", {"learn_tau": True}),
    "SGCN-f-LIF": ("sgcn", "flif", {}),
    "DRSGNN-LIF": ("drsgnn", "lif", {}),
    "DRSGNN-f-LIF": ("drsgnn", "flif", {}),
}


def budget(split: str, steps: int, epochs_scale: float) -> dict:
    """Optimisation budget of the spiking arms: the ratio split has 13x more training nodes, so fewer epochs."""
    if split == "ratio":
        return {"epochs": max(1, round(30 * epochs_scale)), "batch_size": 64, "steps": steps}
    return {"epochs": max(1, round(100 * epochs_scale)), "batch_size": 32, "steps": steps}


def run_cell(data_root: str, dataset: str, split: str, arm: str, seed: int, steps: int, epochs_scale: float,
             protocol: bool = False, protocol_epochs: int = 100) -> dict:
    model, neuron, margs = ARMS[arm]
    task_args = {"split": split, "split_seed": seed, "root": data_root, "repeats": 20, "hops": 2, "val_nodes": 100,
                 "pe": 32 if model == "drsgnn" else 0}
    margs = dict(margs, layers=2) if model != "gcn" else margs
    if model == "gcn":
        kw = dict(epochs=200, batch_size=100000, eval_batch_size=100000, lr=0.01, weight_decay=5e-4,
                  schedule="constant", hidden=64)
        task_args["repeats"] = 1
    elif protocol:
        kw = dict(epochs=protocol_epochs, batch_size=64, lr=1e-3, weight_decay=1e-4, schedule="constant")
        task_args.update(steps=100, hops=1)
        margs = dict(margs, dt=0.1, tau=0.5, layers=1)
    else:
        b = budget(split, steps, epochs_scale)
        kw = dict(epochs=b["epochs"], batch_size=b["batch_size"], lr=5e-3, weight_decay=1e-4, schedule="cosine")
        task_args["steps"] = b["steps"]
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(task=dataset, task_args=task_args, model=model, model_args=margs,
                          neurons=[neuron] if neuron else [], seed=seed, out=os.path.join(out, "run"), threads=1,
                          **kw)
        t0 = time.perf_counter()
        res = train_run(cfg, progress=False, make_plots=False, log=lambda s: None, print_table=lambda s: None)
        wall = time.perf_counter() - t0
    row = res["rows"][0]
    return {"dataset": dataset, "split": split, "arm": arm, "seed": seed, "protocol": protocol,
            "test_acc": row["test_acc"], "train_s": row["train_time_s"], "wall_s": wall, "alpha": row["alpha"],
            "spike_rate": row["spike_rate"], "epochs": kw["epochs"], "steps": task_args.get("steps")}


def _key(r):
    return (r["dataset"], r["split"], r["arm"], r["seed"], bool(r.get("protocol")))


def load(path):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return []


def report(rows) -> str:
    """Markdown table: mean +- std of test accuracy and median training time per (dataset, split, arm)."""
    cells = {}
    for r in rows:
        proto = r["epochs"] if r.get("protocol") else 0          # protocol runs grouped by their epochs
        cells.setdefault((r["dataset"], r["split"], proto, r["arm"]), []).append(r)
    lines = ["| dataset | split | arm | test acc (mean +- std) | seeds | train s (median) | learned alpha (median) |",
             "|---|---|---|---|---|---|---|"]
    order = list(ARMS)
    for (ds, split, proto, arm) in sorted(cells, key=lambda k: (k[0], ["public", "random", "ratio"].index(k[1]), k[2],
                                                                 order.index(k[3]))):
        rs = cells[(ds, split, proto, arm)]
        accs = [r["test_acc"] for r in rs]
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        alphas = [[float(v) for v in str(r["alpha"]).split("/")] for r in rs if r.get("alpha") not in (None, "")]
        a = "/".join(f"{statistics.median(col):.3f}" for col in zip(*alphas)) if alphas else "-"
        label = split + (f" (0.1.0 settings: T=100, h=0.1, {rs[0]['epochs']} ep.)" if proto else "")
        lines.append(f"| {ds} | {label} | {arm} | {statistics.mean(accs):.4f} +- {sd:.4f} | {len(accs)} | "
                     f"{statistics.median(r['train_s'] for r in rs):.1f} | {a} |")
    lines += ["", "| dataset | split | f-LIF - LIF (paired by seed, mean +- std) | seeds |", "|---|---|---|---|"]
    for (ds, split, proto) in sorted({k[:3] for k in cells}, key=lambda k: (k[0], ["public", "random", "ratio"].index(
            k[1]), k[2])):
        for model in ("SGCN", "DRSGNN"):
            a = {r["seed"]: r["test_acc"] for r in cells.get((ds, split, proto, f"{model}-f-LIF"), [])}
            b = {r["seed"]: r["test_acc"] for r in cells.get((ds, split, proto, f"{model}-LIF"), [])}
            common = sorted(set(a) & set(b))
            if not common:
                continue
            d = [a[k] - b[k] for k in common]
            sd = statistics.stdev(d) if len(d) > 1 else 0.0
            label = split + (f" (0.1.0 settings, {proto} ep.)" if proto else "")
            lines.append(f"| {ds} | {label} | {model}: {statistics.mean(d):+.4f} +- {sd:.4f} | {len(d)} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("SPIKEDE_DATA", "data"))
    p.add_argument("--datasets", nargs="+", default=["cora", "citeseer"])
    p.add_argument("--splits", nargs="+", default=["public", "random", "ratio"])
    p.add_argument("--arms", nargs="+", default=list(ARMS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--steps", type=int, default=20, help="encoding steps T of the main grid")
    p.add_argument("--epochs-scale", type=float, default=1.0)
    p.add_argument("--protocol", nargs="*", default=None, metavar="DATASET:SPLIT",
                   help="also run the 0.1.0 protocol (T=100, h=0.1) on these cells, e.g. cora:ratio")
    p.add_argument("--protocol-seeds", nargs="+", type=int, default=[0])
    p.add_argument("--protocol-epochs", type=int, default=100)
    p.add_argument("--no-grid", action="store_true", help="only the --protocol cells")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                  "graph_experiments.json"))
    p.add_argument("--report", nargs="+", default=None, help="only print the table of these results files")
    a = p.parse_args(argv)
    if a.report:
        print(report([r for path in a.report for r in load(path)]))
        return 0
    torch.set_num_threads(1)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    rows = load(a.out)
    done = {_key(r) for r in rows}
    jobs = [] if a.no_grid else [(ds, sp, arm, s, False) for s in a.seeds for ds in a.datasets for sp in a.splits
                                  for arm in a.arms]
    for cell in a.protocol or []:
        ds, sp = cell.split(":")
        jobs += [(ds, sp, arm, s, True) for s in a.protocol_seeds for arm in ("SGCN-LIF", "SGCN-f-LIF")]
    for ds, sp, arm, s, proto in jobs:
        if (ds, sp, arm, s, proto) in done:
            continue
        r = run_cell(a.data, ds, sp, arm, s, a.steps, a.epochs_scale, proto, a.protocol_epochs)
        print(f"{ds:9s} {sp:7s} {arm:13s} seed {s}{' protocol' if proto else ''}: acc {r['test_acc']:.4f}  "
              f"train {r['train_s']:.1f} s  alpha {r['alpha']}", flush=True)
        rows = load(a.out) + [r]
        with open(a.out + ".tmp", "w") as f:
            json.dump(rows, f, indent=1)
        os.replace(a.out + ".tmp", a.out)
    print(report(load(a.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
