"""Peak memory of long runs: a layer of LIF neurons (alpha = 1) and of fractional LIF neurons (``memory='soe'``),
forward, and ``fdeint`` (l1, ``memory='soe'``, no autograd), each configuration in a fresh process, against the
size of its input and output. With ``O(M)`` streaming memory the extra peak is a small multiple of input +
output.

    python benchmarks/bench_memory.py            # T in {1e4, 1e5, 1e6}, 4 and 4096 neurons / state entries
    python benchmarks/bench_memory.py --quick    # T in {1e4, 1e5}, 4 entries

Configurations whose input + output exceed ``--max-gib`` (default 1.5 GiB) are skipped and listed as such.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import peak_rss_mib, print_table, run_isolated  # noqa: E402


def _one(kind: str, T: int, D: int) -> dict:
    import torch
    torch.set_num_threads(1)
    if kind in ("lif", "neuron"):
        from spikeDE import LIFNeuron
        x = torch.rand(T, 1, D) * 1.5
        neuron = LIFNeuron() if kind == "lif" else LIFNeuron(alpha=0.5, memory="soe")
        base = peak_rss_mib()
        with torch.no_grad():
            out = neuron(x)
        io = (x.numel() + out.numel()) * 4 / 2**20
    else:
        from spikeDE import fdeint
        y0 = torch.ones(D)
        t = torch.linspace(0, T * 0.01, T + 1)
        base = peak_rss_mib()
        with torch.no_grad():
            out = fdeint(lambda s, y: -y, y0, t, alpha=0.5, method="l1", memory="soe")
        io = out.numel() * 4 / 2**20
    return {"extra_mib": peak_rss_mib() - base, "io_mib": io}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--max-gib", type=float, default=1.5)
    p.add_argument("--one", nargs=3, metavar=("KIND", "T", "D"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(_one(args.one[0], int(args.one[1]), int(args.one[2]))))
        return
    steps = (10**4, 10**5) if args.quick else (10**4, 10**5, 10**6)
    widths = (4,) if args.quick else (4, 4096)
    rows = []
    for kind in ("lif", "neuron", "fdeint"):
        for D in widths:
            for T in steps:
                io = (1 if kind == "fdeint" else 2) * T * D * 4 / 2**30
                if io > args.max_gib:
                    rows.append([kind, D, T, "skipped", f"{io * 1024:.0f}", "-"])
                    continue
                r = run_isolated(__file__, ["--one", kind, str(T), str(D)])
                rows.append([kind, D, T, r["extra_mib"], r["io_mib"], r["extra_mib"] / max(r["io_mib"], 1e-9)])
    print_table(["run", "width", "T", "extra peak MiB", "input+output MiB", "ratio"], rows)


if __name__ == "__main__":
    main()
