"""Spiking GNN cost at ogbn-arxiv size, on an embedded contextual SBM (no file needed).

A ``csbm`` graph with 169,343 nodes, ~1.17 M undirected edges, 128 features and 40 classes (ogbn-arxiv's sizes):

* propagation ``A_hat^K X`` (sparse, K = 1, 2), also at N/4 and N/2 (growth with N);
* the 32-dim Laplacian positional encoding (sparse Lanczos eigensolver), also at N/4 and N/2;
* one training epoch of SGCN (Linear -> neuron, T = 100 Bernoulli steps, node mini-batches) on the 70 % training
  nodes, for the LIF and the fractional LIF (learned alpha, full memory) arm (timed on ``--batches`` batches and
  scaled to the epoch's batches, unless ``--batches 0``), and the per-batch CPU time at T = 25, 50, 100 (growth
  with T);
* peak resident memory of the process (``resource.getrusage``).

Wall and CPU seconds (``time.process_time``) are both printed: on a shared machine the CPU time of the
single-threaded process is the figure that does not depend on the other jobs.

    python benchmarks/bench_graph_scale.py                  # the full size (minutes on one core)
    python benchmarks/bench_graph_scale.py --nodes 20000    # smaller
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from spikeDE import LIFNeuron, SNNWrapper  # noqa: E402
from spikeDE.data.graphs import csbm, split_masks  # noqa: E402
from spikeDE.graph import laplacian_pe, normalized_adjacency, propagate  # noqa: E402
from spikeDE.models.graph import SGCN, NodeInput, zscore  # noqa: E402
from spikeDE.train.trainer import Trainer  # noqa: E402
from torch.utils.data import TensorDataset  # noqa: E402


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20      # KiB on Linux


CPU = {}


def timed(fn):
    """(result, wall seconds); the CPU seconds of this process go to ``CPU["last"]`` (on a shared machine the wall
    time depends on the load, the CPU time much less)."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    CPU["last"] = time.process_time() - c
    return out, time.perf_counter() - t


def build_graph(n, edges, seed=0):
    return csbm(n, 40, 128, avg_degree=2 * edges / n, homophily=0.65, snr=1.0, seed=seed)


def adj_plain(h):
    return normalized_adjacency(h.edge_index, h.n_nodes, self_loops=False, dtype=torch.float64)


def residual(a, pe) -> float:
    """max_i ||L u_i - lambda_i u_i|| for L = I - a, lambda_i the Rayleigh quotient."""
    lu = pe - torch.sparse.mm(a, pe)
    lam = (pe * lu).sum(0) / (pe * pe).sum(0)
    return float((lu - lam * pe).norm(dim=0).max())


def sgcn(n_features, n_classes, steps, fractional):
    wrap = (lambda b: SNNWrapper(b, integrator="fdeint", alpha=0.5, learn_alpha=True)) if fractional else None
    return SGCN(n_features, n_classes, lambda name: LIFNeuron(), steps=steps, wrap=wrap)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=169343)
    p.add_argument("--edges", type=int, default=1166243)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--pe", type=int, default=32)
    p.add_argument("--fractions", nargs="+", type=int, default=[4, 2, 1], help="also time graphs of N / f nodes")
    p.add_argument("--repeats", type=int, default=4, help="batches timed per T (median)")
    p.add_argument("--batches", type=int, default=12,
                   help="time the epoch on this many batches and scale to the full epoch (0: the whole epoch)")
    p.add_argument("--arms", nargs="+", default=["lif", "flif"])
    p.add_argument("--eigsh-max", type=int, default=50000, help="largest N timed with eigsh as well")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                  "graph_scale.json"))
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    res = {"nodes": a.nodes, "steps": a.steps, "batch_size": a.batch_size}

    def log(k, v, cpu=None):
        res[k] = v
        if cpu is not None:
            res[k + " (cpu)"] = cpu
        text = f"{v:.3f}" if isinstance(v, float) else str(v)
        print(f"{k:44s} {text}" + (f"   (cpu {cpu:.3f})" if cpu is not None else ""), flush=True)

    g, t = timed(lambda: build_graph(a.nodes, a.edges))
    log("edges (undirected)", g.n_edges)
    log("csbm generation s", t, CPU["last"])
    for frac in a.fractions:
        n = a.nodes // frac
        h = g if frac == 1 else build_graph(n, a.edges // frac, seed=frac)
        adj, t_adj = timed(lambda: normalized_adjacency(h.edge_index, h.n_nodes, dtype=torch.float32))
        log(f"N={n}: normalise s", t_adj)
        x1, t1 = timed(lambda: propagate(adj, h.x, 1))
        log(f"N={n}: propagate K=1 s", t1, CPU["last"])
        x2, t2 = timed(lambda: propagate(adj, h.x, 2))
        log(f"N={n}: propagate K=2 s", t2, CPU["last"])
        if a.pe:
            for solver, kw in (("lobpcg", {"maxiter": 100, "tol": 1e-4}), ("eigsh", {"tol": 1e-4})):
                if solver == "eigsh" and n > a.eigsh_max:
                    continue
                pe, tp = timed(lambda: laplacian_pe(h.edge_index, h.n_nodes, a.pe, solver=solver,
                                                    dtype=torch.float64, **kw))
                log(f"N={n}: Laplacian PE ({a.pe}, {solver}) s", tp, CPU["last"])
                log(f"N={n}: PE ({solver}) max residual", residual(adj_plain(h), pe))
        log(f"N={n}: peak memory GiB", peak_gib())
    feats = zscore(x1)
    masks = split_masks(g.y, "ratio", seed=0)
    ids = masks["train"].nonzero().flatten()
    train = TensorDataset(ids.to(torch.float32).reshape(-1, 1, 1), g.y[ids])
    log("training nodes", len(ids))
    n_batches = -(-len(ids) // a.batch_size)
    for arm in a.arms:
        torch.manual_seed(0)
        model = NodeInput(sgcn(128, 40, a.steps, arm == "flif"), feats)
        sub = len(ids) if a.batches <= 0 else min(len(ids), a.batches * a.batch_size)
        part = TensorDataset(*(t[:sub] for t in train.tensors))
        tr = Trainer(model, part, None, epochs=1, batch_size=a.batch_size, lr=1e-3, progress=False,
                     log=lambda s: None)
        _, t = timed(tr.fit)
        scale = n_batches / (-(-sub // a.batch_size))
        log(f"{arm}: one epoch T={a.steps} s ({n_batches} batches{'' if scale == 1 else ', extrapolated'})",
            t * scale, CPU["last"] * scale)
        log(f"{arm}: peak memory GiB", peak_gib())
        for steps in (25, 50, 100):
            torch.manual_seed(0)
            m = NodeInput(sgcn(128, 40, steps, arm == "flif"), feats)
            opt = torch.optim.Adam(m.parameters(), 1e-3)
            x = ids[: a.batch_size].to(torch.float32).reshape(1, -1, 1)
            y = g.y[ids[: a.batch_size]]
            times = []
            for _ in range(a.repeats):
                t0 = time.process_time()
                loss = torch.nn.functional.cross_entropy(m(x).mean(0), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                times.append(time.process_time() - t0)
            log(f"{arm}: batch of {a.batch_size} at T={steps} cpu s (median)", sorted(times)[len(times) // 2])
    log("peak memory GiB", peak_gib())
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
