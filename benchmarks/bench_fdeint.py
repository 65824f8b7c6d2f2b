"""fdeint speed and memory against an integer-order explicit Euler loop of the same right-hand side.

State ``[32, 256]``, right-hand side a small MLP (Linear-tanh-Linear, 256 wide), step ``h = 0.01``. For each
number of steps ``T`` it measures forward + backward (loss = sum of the final state squared, gradients to
the MLP parameters and ``y0``):

* ``Euler``: ``y_{n+1} = y_n + h f(t_n, y_n)``, trajectory stacked like ``fdeint``'s output;
* ``full``: ``fdeint(..., method="l1")`` with the full (exact) history;
* ``SOE``: ``fdeint(..., method="l1", memory="soe")`` (default ``soe_tol``), optimal SOE; ``quad SOE``: the same
  with the quadrature SOE (the construction before balanced truncation), timed in the same run.

Time is the median over repeats of the wall time and of the thread's CPU time (the methods interleaved within
each repeat, so that load on the machine affects them alike; the CPU time is less sensitive to other processes).
Peak memory is the growth of the peak resident set size during one forward + backward, each configuration in a
fresh process. Ratios are measured in the same run. The target of the project: SOE/Euler <= 1.3 for T >= 400 on
one thread (the default here).

    python benchmarks/bench_fdeint.py                  # T in 400, 1600, one thread
    python benchmarks/bench_fdeint.py --steps 100 3200 --threads 2
    python benchmarks/bench_fdeint.py --quick          # smoke run
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import measure_peak, print_table, run_isolated  # noqa: E402

from spikeDE.fractional import fdeint  # noqa: E402

ALPHA, H, BATCH, WIDTH = 0.5, 0.01, 32, 256
METHODS = ("euler", "full", "soe", "soe_quad")


def make_problem(seed: int = 0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(WIDTH, WIDTH), torch.nn.Tanh(), torch.nn.Linear(WIDTH, WIDTH))
    y0 = (0.1 * torch.randn(BATCH, WIDTH)).requires_grad_()
    return net, y0


def euler(func, y0, t):
    """Explicit Euler on the same grid; returns the stacked trajectory ``[len(t), *y0.shape]``."""
    ys, y = [y0], y0
    for n in range(len(t) - 1):
        y = torch.add(y, func(t[n], y), alpha=H)
        ys.append(y)
    return torch.stack(ys)


def _construction_owner():
    """The module whose ``SOE_CONSTRUCTION`` switch the history engine reads (the SOE module, or the memory
    module in older layouts)."""
    from spikeDE.fractional import memory, soe
    return soe if hasattr(soe, "SOE_CONSTRUCTION") else memory


def runner(method: str, T: int, net, y0):
    t = torch.arange(T + 1, dtype=torch.float32) * H

    def func(_t, y):
        return net(y)

    def run():
        net.zero_grad(set_to_none=True)
        y0.grad = None
        if method == "euler":
            out = euler(func, y0, t)
        elif method == "full":
            out = fdeint(func, y0, t, ALPHA, method="l1")
        elif method == "soe":
            out = fdeint(func, y0, t, ALPHA, method="l1", memory="soe")
        else:  # the quadrature SOE (construction before balanced truncation)
            owner = _construction_owner()
            old, owner.SOE_CONSTRUCTION = owner.SOE_CONSTRUCTION, "quadrature"
            try:
                out = fdeint(func, y0, t, ALPHA, method="l1", memory="soe")
            finally:
                owner.SOE_CONSTRUCTION = old
        (out[-1] ** 2).sum().backward()

    return run


def _reset_peak_rss() -> None:
    """Return free heap pages to the OS (``malloc_trim``) and lower the recorded peak RSS to the current RSS
    (Linux ``clear_refs``), where the platform allows; otherwise a no-op."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def child(method: str, T: int) -> None:
    """Run in a fresh process: print the peak-memory growth (MiB) of one forward + backward as JSON.

    A short warm-up run loads kernels and caches first; the peak RSS is then reset, so that the import
    of torch and the warm-up do not hide the measured run's peak.
    """
    net, y0 = make_problem()
    runner(method, 8, net, y0)()
    _reset_peak_rss()
    print(json.dumps({"mib": measure_peak(runner(method, T, net, y0))}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: T in 50, 100, one repeat")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats per configuration (median)")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1; 0: torch's default)")
    ap.add_argument("--steps", type=int, nargs="*", default=None, help="values of T")
    ap.add_argument("--child", nargs=2, metavar=("METHOD", "T"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    steps = args.steps or ([50, 100] if args.quick else [400, 1600])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    net, y0 = make_problem()
    rows, cpu_rows = [], []
    for T in steps:
        repeats = args.repeats or (1 if args.quick else (3 if T >= 3200 else (5 if T >= 1600 else 9)))
        runs = {m: runner(m, T, net, y0) for m in METHODS}
        for run in runs.values():  # warm-up
            run()
        times = {m: [] for m in METHODS}
        cpu = {m: [] for m in METHODS}
        for _ in range(repeats):
            for m, run in runs.items():
                c0, t0 = time.thread_time(), time.perf_counter()
                run()
                times[m].append(time.perf_counter() - t0)
                cpu[m].append(time.thread_time() - c0)
        sec = {m: statistics.median(v) for m, v in times.items()}
        csec = {m: statistics.median(v) for m, v in cpu.items()}
        cpu_rows.append([str(T), csec["soe"] / csec["euler"], csec["soe_quad"] / csec["euler"],
                         (csec["soe"] - csec["euler"]) / T * 1e6])
        extra = ["--threads", str(args.threads)]
        mib = {m: run_isolated(__file__, ["--child", m, str(T)] + extra)["mib"] for m in METHODS}
        ratio = (lambda a, b: a / b if b > 0 else float("nan"))
        rows.append([str(T), sec["euler"], sec["full"], sec["soe"], sec["full"] / sec["euler"],
                     sec["soe"] / sec["euler"], sec["soe_quad"] / sec["euler"], mib["euler"], mib["full"], mib["soe"],
                     ratio(mib["full"], mib["euler"]), ratio(mib["soe"], mib["euler"])])
        print(f"T={T} done", file=sys.stderr, flush=True)
    print(f"fdeint (l1, alpha={ALPHA}) vs explicit Euler; state [{BATCH}, {WIDTH}], MLP {WIDTH} wide, h={H}, "
          f"forward+backward, torch threads={torch.get_num_threads()}, load average {load:.2f}")
    print_table(["T", "Euler s", "full s", "SOE s", "full/Euler", "SOE/Euler", "quad SOE/Euler", "Euler MiB", "full MiB",
                 "SOE MiB", "full/Euler MiB", "SOE/Euler MiB"], rows)
    print("thread CPU time (medians): SOE/Euler and the SOE's extra CPU time per step")
    print_table(["T", "SOE/Euler CPU", "quad SOE/Euler CPU", "SOE extra us/step"], cpu_rows)
    from spikeDE.fractional.memory import DEFAULT_BLOCK_SIZE, DEFAULT_SOE_TOL
    from spikeDE.fractional.soe import soe_approximation, soe_quadrature
    C = DEFAULT_BLOCK_SIZE
    counts = [f"T={T}: {soe_approximation('l1', ALPHA, C + 1, max(T, C + 2), DEFAULT_SOE_TOL).modes} "
              f"(quadrature {soe_quadrature('l1', ALPHA, C + 1, max(T, C + 2), DEFAULT_SOE_TOL).modes})"
              for T in sorted({int(r[0]) for r in rows})]
    print(f"SOE modes of the l1 far field (lags > {C}, soe_tol {DEFAULT_SOE_TOL:g}), optimal: " + ", ".join(counts))


if __name__ == "__main__":
    main()
