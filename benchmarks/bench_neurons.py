"""Speed and memory of spiking neurons: integer-order LIF, fractional LIF (exact memory, SOE memory), the
fractional adaptive-threshold (ALIF, SOE memory; its multi-step call loops over single steps) and current-based
(CubaLIF, exact memory) neurons, and, when
installed, snnTorch ``Leaky`` and SpikingJelly's multi-step ``LIFNode`` on the same MLP.

MLP 64-128-10 with two LIF layers (tau = 2, threshold = 1), batch 32, alpha = 0.5, T in {128, 512, 2048}
(``--quick``: T in {64, 128}, fewer repeats). Reported: median wall time of forward + backward
(cross-entropy on the time-averaged output), peak extra memory of one forward + backward measured in a fresh
process per configuration (``benchmarks/_common.py``), and each as a ratio to our LIF at the same T. Times are
measured round-robin (every configuration once per round) in a fresh process per group (spikeDE neurons and
SpikingJelly; snnTorch, much slower, with its own LIF reference); the ratio is the median over rounds.

    python benchmarks/bench_neurons.py [--quick] [--repeats N]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import measure_peak, print_table, run_isolated  # noqa: E402

B, N_IN, N_HID, N_OUT = 32, 64, 128, 10
TAU, THETA, ALPHA = 2.0, 1.0, 0.5
KINDS = ["lif", "flif_exact", "flif_soe", "flif_soe_quad", "alif_soe", "cubalif_exact", "snntorch", "spikingjelly"]
LABELS = {"lif": "spikeDE LIF (alpha=1)", "flif_exact": "f-LIF exact (gl)", "flif_soe": "f-LIF soe (optimal)",
          "flif_soe_quad": "f-LIF soe (quadrature)",
          "alif_soe": "f-ALIF soe (step loop)", "cubalif_exact": "f-CubaLIF exact (gl)",
          "snntorch": "snnTorch Leaky", "spikingjelly": "SpikingJelly LIFNode (m, torch)"}
PUBLISHED_T512_S = 9.2  # spikeDE 0.1.0, same MLP, T = 512 (from the issue)


def build(kind: str):
    """(step function running forward + backward once, available?)"""
    torch.manual_seed(0)
    fc1, fc2 = nn.Linear(N_IN, N_HID), nn.Linear(N_HID, N_OUT)
    with torch.no_grad():  # enough drive that both layers spike
        fc1.weight.mul_(3.0)
        fc2.weight.mul_(3.0)
        fc2.bias.add_(0.5)
    if kind in ("lif", "flif_exact", "flif_soe", "flif_soe_quad", "alif_soe", "cubalif_exact"):
        from spikeDE import AdaptiveLIFNeuron, CubaLIFNeuron, LIFNeuron, SNNWrapper

        neuron = {"alif_soe": lambda: AdaptiveLIFNeuron(TAU, THETA, beta=0.2, tau_adapt=20.0),
                  "cubalif_exact": lambda: CubaLIFNeuron(TAU, THETA, tau_syn=5.0)}.get(kind,
                                                                                     lambda: LIFNeuron(TAU, THETA))

        class MLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1, self.lif1, self.fc2, self.lif2 = fc1, neuron(), fc2, neuron()

            def forward(self, x):
                return self.lif2(self.fc2(self.lif1(self.fc1(x))))

        if kind == "lif":
            net = SNNWrapper(MLP(), integrator="odeint")
        else:
            net = SNNWrapper(MLP(), integrator="fdeint", alpha=ALPHA, method="gl",
                             memory="soe" if "_soe" in kind else None)
        if kind == "flif_soe_quad":
            net = _Quadrature(net)
        return net
    if kind == "snntorch":
        import snntorch as snn

        class SnnTorchMLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1, self.fc2 = fc1, fc2
                self.lif1 = snn.Leaky(beta=1 - 1 / TAU, threshold=THETA, reset_mechanism="subtract")
                self.lif2 = snn.Leaky(beta=1 - 1 / TAU, threshold=THETA, reset_mechanism="subtract")

            def _layer(self, lif, cur):
                mem = lif.init_leaky()
                out = []
                for t in range(cur.shape[0]):
                    spk, mem = lif(cur[t], mem)
                    out.append(spk)
                return torch.stack(out)

            def forward(self, x):
                return self._layer(self.lif2, self.fc2(self._layer(self.lif1, self.fc1(x))))

        return SnnTorchMLP()
    if kind == "spikingjelly":
        from spikingjelly.activation_based import functional, neuron

        class SJMLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1, self.fc2 = fc1, fc2
                self.lif1 = neuron.LIFNode(tau=TAU, v_threshold=THETA, v_reset=None, step_mode="m")
                self.lif2 = neuron.LIFNode(tau=TAU, v_threshold=THETA, v_reset=None, step_mode="m")
                self._reset = functional.reset_net

            def forward(self, x):
                self._reset(self)
                return self.lif2(self.fc2(self.lif1(self.fc1(x))))

        return SJMLP()
    raise ValueError(kind)


class _Quadrature(nn.Module):
    """Runs the wrapped network with the quadrature SOE (the construction before balanced truncation)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        from spikeDE.fractional import soe
        old, soe.SOE_CONSTRUCTION = soe.SOE_CONSTRUCTION, "quadrature"
        try:
            return self.net(x)
        finally:
            soe.SOE_CONSTRUCTION = old


def soe_modes() -> dict:
    """Far-field SOE mode counts of the f-LIF SOE neuron (default block, horizon and tolerance), both constructions."""
    from spikeDE.dynamics.fractional import DEFAULT_SOE_BLOCK
    from spikeDE.dynamics.schemes import far_soe_weights
    from spikeDE.fractional import soe
    from spikeDE.neuron import SOE_HORIZON, SOE_TOL
    out = {}
    for name in ("balanced", "quadrature"):
        old, soe.SOE_CONSTRUCTION = soe.SOE_CONSTRUCTION, name
        try:
            ((rates, _),) = soe.far_field_soe(lambda r, du: far_soe_weights("gl", ALPHA, None, r, du),
                                              DEFAULT_SOE_BLOCK + 1, SOE_HORIZON, SOE_TOL)
            out[name] = rates.numel()
        finally:
            soe.SOE_CONSTRUCTION = old
    return out


def make_step(net, T: int):
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(T, B, N_IN, generator=g) < 0.3).float() * 2.0
    y = torch.randint(0, N_OUT, (B,), generator=g)
    loss_fn = nn.CrossEntropyLoss()

    def step(inp=x):
        net.zero_grad(set_to_none=True)
        out = net(inp)
        loss = loss_fn(out.mean(0) * 5, y)
        loss.backward()
        return out

    return step, x


def peak_worker(kind: str, T: int) -> dict:
    """Peak extra memory of one forward + backward, in this (fresh) process."""
    try:
        net = build(kind)
    except ImportError as e:
        return {"kind": kind, "T": T, "missing": str(e)}
    step, x = make_step(net, T)
    step(x[: min(T, 16)])  # load libraries and kernels outside the measured peak
    return {"kind": kind, "T": T, "peak_mib": precise_peak(step)}


def _status_kib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    raise KeyError(field)


def precise_peak(fn) -> float:
    """Extra peak resident memory (MiB) of ``fn()``: on Linux the peak (VmHWM) is reset to the current RSS first
    (``/proc/self/clear_refs``), so memory freed earlier does not hide the step's own peak; elsewhere
    ``_common.measure_peak``."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        base = _status_kib("VmRSS")
        fn()
        return (_status_kib("VmHWM") - base) / 1024.0
    except OSError:
        return measure_peak(fn)


GROUPS = (("lif", "flif_exact", "flif_soe", "flif_soe_quad", "cubalif_exact", "spikingjelly"), ("lif", "snntorch"),
          ("lif", "alif_soe"))
SLOW_STEP_S = 5.0  # a configuration slower than this per step is timed once more only


def time_group(kinds, T: int, repeats: int) -> dict:
    """Median time of forward + backward for each kind, measured round-robin in one process (every kind sees
    the same machine load), and the median over rounds of its time ratio to our LIF (the first kind)."""
    import time

    steps = {}
    for kind in kinds:
        try:
            steps[kind] = make_step(build(kind), T)[0]
        except ImportError as e:
            steps[kind] = e
    live = {k: v for k, v in steps.items() if not isinstance(v, Exception)}
    t0 = time.perf_counter()
    for step in live.values():
        step()
    rounds = repeats if time.perf_counter() - t0 < SLOW_STEP_S else 1
    times, rates = {k: [] for k in live}, {}
    for _ in range(rounds):
        for kind, step in live.items():
            t1 = time.perf_counter()
            out = step()
            times[kind].append(time.perf_counter() - t1)
            rates[kind] = float(out.mean())
    res = {k: {"missing": str(v)} for k, v in steps.items() if isinstance(v, Exception)}
    for kind in live:
        ratios = sorted(a / b for a, b in zip(times[kind], times[kinds[0]]))
        res[kind] = {"time_s": statistics.median(times[kind]), "ratio": ratios[len(ratios) // 2],
                     "rate": rates[kind], "rounds": rounds}
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: small T, few repeats")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "T"), help=argparse.SUPPRESS)
    ap.add_argument("--time-group", nargs=2, metavar=("GROUP", "T"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = args.repeats or (2 if args.quick else 7)
    if args.worker:
        kind, T = args.worker
        print(json.dumps(peak_worker(kind, int(T))))
        return
    if args.time_group:
        g, T = args.time_group
        print(json.dumps(time_group(GROUPS[int(g)], int(T), repeats)))
        return
    Ts = [64, 128] if args.quick else [128, 512, 2048]
    load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = []
    summary = {}
    for T in Ts:
        extra = ["--threads", str(args.threads)] if args.threads else []
        timing = {}
        for g in range(len(GROUPS)):  # one fresh process per group
            res = run_isolated(os.path.abspath(__file__),
                               ["--time-group", str(g), str(T), "--repeats", str(repeats)] + extra)
            timing.update({k: v for k, v in res.items() if k not in timing or k != "lif"})
        peaks = {k: run_isolated(os.path.abspath(__file__), ["--worker", k, str(T)] + extra) for k in KINDS}
        base_peak = peaks["lif"]["peak_mib"]
        for kind in KINDS:
            if "missing" in timing[kind]:
                rows.append([LABELS[kind], str(T), "n/a", "n/a", "n/a", "n/a", "not installed"])
                continue
            r, p = timing[kind], peaks[kind]["peak_mib"]
            summary[(kind, T)] = (r, p / max(base_peak, 1e-9))
            tag = "" if r["rounds"] > 1 else " (1 run)"
            rows.append([LABELS[kind], str(T), f"{r['time_s'] * 1e3:.1f}{tag}", f"{r['ratio']:.2f}", f"{p:.1f}",
                         f"{p / max(base_peak, 1e-9):.2f}", f"{r['rate']:.3f}"])
            print(f"  measured {LABELS[kind]:<32} T={T:<5} {r['time_s'] * 1e3:9.1f} ms  {p:8.1f} MiB", file=sys.stderr)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nMLP {N_IN}-{N_HID}-{N_OUT}, batch {B}, alpha = {ALPHA}, forward + backward, median of {repeats} "
          f"(round-robin), torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, load average {load0:.1f} -> {load:.1f}")
    print_table(["neuron", "T", "time [ms]", "x LIF", "peak [MiB]", "x LIF mem", "out rate"], rows)
    m = soe_modes()
    print(f"\nf-LIF soe far field (lags > {__import__('spikeDE').dynamics.fractional.DEFAULT_SOE_BLOCK}): "
          f"{m['balanced']} modes (optimal, balanced truncation) vs {m['quadrature']} (quadrature)")
    if ("flif_exact", 512) in summary:
        t = summary[("flif_exact", 512)][0]["time_s"]
        print(f"\nf-LIF exact at T=512: {t:.3f} s, {PUBLISHED_T512_S / t:.0f}x faster than spikeDE 0.1.0 "
              f"({PUBLISHED_T512_S} s)")


if __name__ == "__main__":
    main()
