"""Shared benchmark helpers: median wall time, and peak memory of one configuration in a fresh process.

Peak memory on CPU is measured as the growth of the process's peak resident set size (``ru_maxrss``)
while the measured function runs once, in a subprocess of its own so that earlier configurations do not
count. On CUDA, ``torch.cuda.max_memory_allocated`` is used instead.
"""
from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time

import torch


def median_time(fn, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB.

    Linux: ``VmHWM`` of ``/proc/self/status`` (``ru_maxrss`` of a child started from a large parent also
    counts the parent's size at the fork, which would hide the child's own peak); elsewhere ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure_peak(fn, device: str = "cpu") -> float:
    """Extra peak memory (MiB) used by one call of ``fn()`` in this process (call in a fresh process)."""
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    base = peak_rss_mib()
    fn()
    return peak_rss_mib() - base


def run_isolated(script: str, args: list[str]) -> dict:
    """Run ``python script *args`` and parse the JSON object printed on its last line of stdout."""
    out = subprocess.run([sys.executable, script, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_table(headers: list[str], rows: list[list]) -> None:
    """Print a plain, aligned text table."""
    cells = [[str(h) for h in headers]] + [[c if isinstance(c, str) else f"{c:.4g}" for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for k, r in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
        if k == 0:
            print("  ".join("-" * w for w in widths))


def train_sequential_digits(model, epochs: int, lr: float, batch: int = 32, weight_decay: float = 0.01) -> dict:
    """Train ``model`` (``[B, 64, 1] -> logits``) on the embedded sequential digits (pixel by pixel) with AdamW
    and a one-cycle schedule for a fixed number of epochs, then report ``val`` and ``test`` accuracy (no model
    selection on either) and ``train_s``. The model stays in eval mode, after its last call on the test set."""
    import math

    import torch.nn.functional as F

    from spikeDE.data.digits import sequential_digits

    X, Y = sequential_digits("train", seed=0).tensors
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * math.ceil(len(X) / batch))
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(X))
        for i in range(0, len(X), batch):
            idx = perm[i:i + batch]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(X[idx]), Y[idx]).backward()
            opt.step()
            sched.step()
    out = {"train_s": time.perf_counter() - t0}
    model.eval()
    with torch.no_grad():
        for split in ("val", "test"):
            Xs, Ys = sequential_digits(split, seed=0).tensors
            out[split] = (model(Xs).argmax(1) == Ys).double().mean().item()
    return out
