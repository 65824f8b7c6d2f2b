"""GPU speed and memory of spiking neurons: spikeDE's PyTorch path vs its fused Triton kernels, fractional
neurons, and peer libraries when installed, in one run.

Setups (forward + backward, median over rounds, every configuration timed round-robin in one process):

* ``on``: the Open Neuromorphic benchmark shape: one ``Linear(N, N)`` + LIF layer, ``N = 16384`` neurons,
  batch 16, ``T = 500``, loss ``sum`` of the spikes.
* ``mlp``: the MLP 64-128-10 of ``bench_neurons.py`` (two LIF layers, tau 2, threshold 1, batch 32, alpha 0.5)
  at ``T`` in {128, 512, 2048}, cross-entropy on the time-averaged output.

Arms: ``lif-torch`` (``SPIKEDE_BACKEND=torch``), ``lif-triton``, ``flif-soe`` and ``flif-exact`` (Triton),
``multiterm`` (Triton), and when installed SpikingJelly ``LIFNode`` (torch and cupy backends), snnTorch
``Leaky``, Norse ``LIFBox``. Columns: median ms, ratio to ``lif-triton``, peak extra memory (MiB,
``torch.cuda.max_memory_allocated``) and its ratio.

    python benchmarks/bench_gpu.py                     # on a CUDA machine (pip install 'spikede[gpu]')
    python benchmarks/bench_gpu.py --device cpu --quick  # a smoke run of the script itself on CPU
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import print_table  # noqa: E402

TAU, THETA, ALPHA = 2.0, 1.0, 0.5
SPIKEDE_ARMS = ("lif-torch", "lif-triton", "flif-soe", "flif-exact", "multiterm")
PEER_ARMS = ("spikingjelly-torch", "spikingjelly-cupy", "snntorch", "norse")


def _spikede_layer(arm: str):
    from spikeDE import LIFNeuron
    if arm in ("lif-torch", "lif-triton"):
        return LIFNeuron(TAU, THETA)
    if arm == "flif-soe":
        return LIFNeuron(TAU, THETA, alpha=ALPHA, memory="soe")
    if arm == "flif-exact":
        return LIFNeuron(TAU, THETA, alpha=ALPHA)
    return LIFNeuron(TAU, THETA, alpha=[0.3, 0.7, 1.0], multi_coefficient=[1 / 3] * 3)


def _peer_layer(arm: str):
    """A multi-step ``[T, B, D] -> [T, B, D]`` spiking layer of a peer library (ImportError if missing)."""
    if arm.startswith("spikingjelly"):
        from spikingjelly.activation_based import neuron
        backend = arm.split("-")[1]
        if backend == "cupy":
            import cupy  # noqa: F401
        return neuron.LIFNode(tau=TAU, v_threshold=THETA, v_reset=None, step_mode="m", backend=backend)
    if arm == "snntorch":
        import snntorch as snn

        class Seq(nn.Module):
            def __init__(self):
                super().__init__()
                self.lif = snn.Leaky(beta=1 - 1 / TAU, threshold=THETA, reset_mechanism="subtract")

            def forward(self, x):
                mem, out = self.lif.init_leaky(), []
                for t in range(x.shape[0]):
                    spk, mem = self.lif(x[t] / TAU, mem)
                    out.append(spk)
                return torch.stack(out)
        return Seq()
    if arm == "norse":
        from norse.torch import LIFBoxCell, LIFBoxParameters

        class Seq(nn.Module):
            def __init__(self):
                super().__init__()
                self.cell = LIFBoxCell(LIFBoxParameters(tau_mem_inv=torch.tensor(1 / TAU), v_th=torch.tensor(THETA),
                                                        v_reset=torch.tensor(0.0)), dt=1.0)

            def forward(self, x):
                state, out = None, []
                for t in range(x.shape[0]):
                    s, state = self.cell(x[t], state)
                    out.append(s)
                return torch.stack(out)
        return Seq()
    raise ValueError(arm)


class _TimeFolded(nn.Module):
    """``[T, B, ...]``: the synaptic layers run on ``[T*B, ...]``, each neuron layer on the whole sequence."""

    def __init__(self, layers, neurons, T):
        super().__init__()
        self.layers, self.neurons, self.T = nn.ModuleList(layers), nn.ModuleList(neurons), T

    def forward(self, x):
        T, B = x.shape[:2]
        for lin, sn in zip(self.layers, self.neurons):
            x = lin(x.reshape(T * B, -1)).reshape(T, B, -1)
            if sn is not None:
                x = sn(x)
        return x


def build(setup: str, arm: str, T: int, n: int, device, dtype):
    torch.manual_seed(0)
    if setup == "on":
        layers, B = [nn.Linear(n, n)], 16
        sizes = [n]
    else:
        layers, B = [nn.Linear(64, 128), nn.Linear(128, 10)], 32
        sizes = [128, 10]
        with torch.no_grad():
            for lin in layers:
                lin.weight.mul_(3.0)
    neurons = [_spikede_layer(arm) if arm in SPIKEDE_ARMS else _peer_layer(arm) for _ in sizes]
    net = _TimeFolded(layers, neurons, T).to(device=device, dtype=dtype)
    x = (torch.rand(T, B, layers[0].in_features, device=device, dtype=dtype) < 0.2).to(dtype) * 2.0
    y = torch.randint(0, 10, (B,), device=device)

    def step():
        for m in net.neurons:
            if hasattr(m, "reset"):
                m.reset()
        out = net(x)
        loss = out.sum() if setup == "on" else nn.functional.cross_entropy(out.mean(0), y)
        loss.backward()
    return step


def _sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def measure(fns: dict, device, rounds: int) -> dict:
    """Median seconds of each function, timed round-robin; peak extra memory of one call (CUDA)."""
    times = {k: [] for k in fns}
    peak = {}
    for k, fn in fns.items():  # warm-up (and Triton compilation), peak memory
        fn()
        _sync(device)
        if str(device).startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            fn()
            _sync(device)
            peak[k] = (torch.cuda.max_memory_allocated() - base) / 2**20
    for _ in range(rounds):
        for k, fn in fns.items():
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[k].append(time.perf_counter() - t0)
    return {k: (statistics.median(v), peak.get(k, float("nan"))) for k, v in times.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--only", default="on,mlp")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py: no CUDA device (use --device cpu --quick for a smoke run)")
    dtype = getattr(torch, args.dtype)
    rounds = args.rounds or (2 if args.quick else 10)
    setups = []
    if "on" in args.only:
        setups.append(("on", 50 if args.quick else 500, 256 if args.quick else 16384))
    if "mlp" in args.only:
        setups += [("mlp", T, 0) for T in ((32, 64) if args.quick else (128, 512, 2048))]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {name}; torch {torch.__version__}; dtype {args.dtype}")
    for setup, T, n in setups:
        fns = {}
        for arm in SPIKEDE_ARMS + PEER_ARMS:
            os.environ["SPIKEDE_BACKEND"] = "torch" if arm == "lif-torch" else "auto"
            try:
                fn = build(setup, arm, T, n, device, dtype)
            except ImportError:
                continue
            backend = os.environ["SPIKEDE_BACKEND"]
            fns[arm] = (lambda f=fn, b=backend: (os.environ.__setitem__("SPIKEDE_BACKEND", b), f()))
        res = measure(fns, device, rounds)
        ref_t, ref_m = res.get("lif-triton", res["lif-torch"])
        rows = [[arm, 1e3 * t, t / ref_t, m, m / ref_m if ref_m == ref_m and ref_m > 0 else float("nan")]
                for arm, (t, m) in res.items()]
        label = f"{setup}: T={T}" + (f", N={n}, batch 16" if setup == "on" else ", MLP 64-128-10, batch 32")
        print(f"\n{label}")
        print_table(["arm", "ms", "x lif-triton", "peak MiB", "mem x"], rows)


if __name__ == "__main__":
    main()
