"""Speed of the event-vision path: events -> frames throughput, and spiking VGG training throughput LIF vs f-LIF.

    python benchmarks/bench_vision.py            # 10 M events; VGG at T = 16, 32x32, batch 32 (~2-4 min, 1 thread)
    python benchmarks/bench_vision.py --quick    # smaller (~30 s)

1. ``to_frames`` (:mod:`spikeDE.data.events`) on one core: a sorted stream of ``N`` random events on a 128x128
   sensor into ``T = 16`` frames, ``split_by="number"`` and ``"time"``; events/s = ``N / median time`` (the
   validation of the stream, the slicing and the integration included), by the wall clock and by the process's
   CPU time (the second is less sensitive to other processes on a shared machine).
2. Training throughput (forward + backward + Adam step, samples/s) of the spiking VGG of ``spikede train``
   (``width`` 16, 3 blocks) at ``T = 16`` on ``[T, B, 2, 32, 32]`` inputs, with LIF and with f-LIF (learned alpha,
   full memory, and the SOE memory). The arms are measured in alternation within one run, one step each per round,
   so that load changes on a shared machine hit them alike; the ratio is the median of the per-round ratios.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from spikeDE.data.events import make_events, to_frames  # noqa: E402
from spikeDE.train import TrainConfig, get_model  # noqa: E402
from spikeDE.train.registry import TaskInfo, resolve_options  # noqa: E402


def bench_frames(n: int, repeats: int) -> dict:
    g = np.random.default_rng(0)
    ev = make_events(g.integers(0, 128, n), g.integers(0, 128, n), np.sort(g.integers(0, 10 ** 7, n)),
                     g.integers(0, 2, n))
    out = {}
    for split in ("number", "time"):
        to_frames(ev, (128, 128, 2), n_time_bins=16, split_by=split)
        ts, cpu = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            to_frames(ev, (128, 128, 2), n_time_bins=16, split_by=split)
            ts.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        out[split] = (n / statistics.median(ts), n / statistics.median(cpu))
    return out


def _arm(neuron: str, memory: str | None, T: int, size: int, width: int):
    info = TaskInfo("bench", (2, size, size), 10, T)
    cfg = TrainConfig(model="spiking-vgg", neurons=[neuron], memory=memory)
    spec = get_model("spiking-vgg")
    torch.manual_seed(0)
    model = spec.build(info, cfg, neuron, resolve_options(spec.options, {"width": width}, "spiking-vgg"))
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def bench_training(T: int, batch: int, size: int, width: int, rounds: int) -> dict:
    arms = {"lif": _arm("lif", None, T, size, width), "flif (full memory)": _arm("flif", None, T, size, width),
            "flif (soe memory)": _arm("flif", "soe", T, size, width)}
    g = torch.Generator().manual_seed(0)
    x = torch.poisson(torch.full((T, batch, 2, size, size), 0.3), generator=g)
    y = torch.randint(0, 10, (batch,), generator=g)

    def step(model, opt):
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x).mean(0), y)
        loss.backward()
        opt.step()

    for model, opt in arms.values():          # warm-up
        step(model, opt)
    times = {k: [] for k in arms}
    for _ in range(rounds):
        for k, (model, opt) in arms.items():
            t0 = time.perf_counter()
            step(model, opt)
            times[k].append(time.perf_counter() - t0)
    res = {k: batch / statistics.median(v) for k, v in times.items()}
    ratios = {k: statistics.median(a / b for a, b in zip(times[k], times["lif"])) for k in arms if k != "lif"}
    return {"samples_per_s": res, "ratio_vs_lif": ratios}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    n = 2_000_000 if args.quick else args.events
    fr = bench_frames(n, 3 if args.quick else 7)
    print(f"to_frames, {n / 1e6:.0f} M events, 128x128, T = 16, one thread:")
    for k, (wall, cpu) in fr.items():
        print(f"  split_by={k:6s}  {wall / 1e6:6.1f} M events/s wall clock, {cpu / 1e6:6.1f} M events/s of CPU time")
    tr = bench_training(16, 8 if args.quick else 32, 32, 16, 3 if args.quick else args.rounds)
    print("spiking VGG (width 16, 3 blocks) training at T = 16, 32x32, one thread:")
    for k, v in tr["samples_per_s"].items():
        extra = f"   time ratio vs lif {tr['ratio_vs_lif'][k]:.2f}" if k in tr["ratio_vs_lif"] else ""
        print(f"  {k:20s} {v:7.1f} samples/s{extra}")


if __name__ == "__main__":
    main()
