"""NIR round trips and interoperability: fraction of identical spikes, step by step.

1. spikeDE -> NIR (``to_nir``) -> file (``nir.write`` / ``nir.read``) -> spikeDE (``from_nir``), one layer
   ``Linear(16, 64) -> neuron`` driven by random currents for T steps, B samples: the fraction of the T*B*64 spikes
   that are identical, for LIF (alpha = 1, both resets) and f-LIF (gl / l1, several alpha, multi-term) at several
   SOE tolerances (mode counts), plus the kernel error the export writes into the graph.
2. A reset-to-zero LIF MLP exported to Norse and snnTorch through their NIR importers, and their exports read
   back into spikeDE (needs ``norse``, ``snntorch``, ``nirtorch``; skipped otherwise).

    nice -n 10 python benchmarks/experiment_nir.py --steps 1000 --batch 8
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile

import numpy as np
import torch
from torch import nn

import nir
from spikeDE import LIFNeuron, SNNWrapper
from spikeDE.nir import DEFAULT_TOL, from_nir, to_nir


def _layer(reset, gain=5.0):
    torch.manual_seed(0)
    lin = nn.Linear(16, 64).double()
    with torch.no_grad():
        lin.weight.mul_(gain)
        lin.bias.mul_(gain)
    return nn.Sequential(lin, LIFNeuron(tau=2.0, threshold=1.0, reset=reset))


def _via_file(graph):
    fd, path = tempfile.mkstemp(suffix=".nir")
    os.close(fd)
    try:
        nir.write(path, graph)
        return nir.read(path)
    finally:
        os.remove(path)


def roundtrip_rows(T, B):
    x = torch.rand(T, B, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    cases = [("LIF zero", dict(integrator="odeint"), "zero", [DEFAULT_TOL]),
             ("LIF subtract", dict(integrator="odeint"), "subtract", [DEFAULT_TOL])]
    for a in (0.3, 0.5, 0.7, 0.9):
        cases.append((f"f-LIF gl a={a}", dict(alpha=a, method="gl"), "subtract", [1e-3, 1e-4, DEFAULT_TOL, 1e-8]))
    cases.append(("f-LIF l1 a=0.5", dict(alpha=0.5, method="l1"), "subtract", [1e-4, DEFAULT_TOL]))
    cases.append(("f-LIF gl multi-term (0.3, 0.8)", dict(alpha=[0.3, 0.8], multi_coefficient=[1.0, 0.5]),
                  "subtract", [1e-4, DEFAULT_TOL]))
    rows = []
    for name, kw, reset, tols in cases:
        model = SNNWrapper(_layer(reset), **kw)
        with torch.no_grad():
            ref = model(x)
        for tol in tols:
            graph = _via_file(to_nir(model, dt=1.0, tol=tol))
            got = from_nir(graph, dt=1.0, dtype=torch.float64)(x)
            info = json.loads(graph.metadata["spikeDE"])["neurons"]["1"]
            rows.append(dict(neuron=name, tol=tol, modes=info.get("modes", "-"), nodes=info.get("nodes", 3),
                             rate=float(ref.mean()), identical=float((got == ref).double().mean()),
                             kernel_rel=info.get("kernel_max_rel_error", 0.0),
                             kernel_l1=info.get("kernel_l1_error", 0.0)))
    return rows


def interop_rows(T, B):
    rows = []
    try:
        import norse.torch as norse
        import snntorch as snn
        from snntorch.export_nir import export_to_nir
        from snntorch.import_nir import import_from_nir
    except ImportError as e:
        return [dict(case=f"skipped: {e}")]
    torch.manual_seed(0)

    def scaled(layer, g):
        with torch.no_grad():
            layer.weight.mul_(g)
            layer.bias.mul_(g)
        return layer

    base = nn.Sequential(scaled(nn.Linear(8, 64), 4.0), LIFNeuron(tau=2.0, reset="zero"),
                         scaled(nn.Linear(64, 16), 4.0), LIFNeuron(tau=3.0, reset="zero"))
    model = SNNWrapper(base, integrator="odeint")
    x = torch.rand(T, B, 8, generator=torch.Generator().manual_seed(1)) * 1.5
    with torch.no_grad():
        ref = model(x)
        net = norse.from_nir(to_nir(model, dt=1e-3), dt=1e-3)
        state, out = None, []
        for t in range(T):
            z, state = net(x[t], state)
            out.append(z)
        rows.append(dict(case="spikeDE -> Norse", rate=float(ref.mean()),
                         identical=float((torch.stack(out) == ref).float().mean())))
        net = import_from_nir(to_nir(model, dt=1e-4))
        for m in net.modules():
            if hasattr(m, "reset_mem"):
                m.reset_mem()
        out = []
        for t in range(T):
            z = net(x[t])
            out.append(z[0] if isinstance(z, tuple) else z)
        rows.append(dict(case="spikeDE -> snnTorch", rate=float(ref.mean()),
                         identical=float((torch.stack(out) == ref).float().mean())))
        snet = nn.Sequential(scaled(nn.Linear(8, 64), 3.0),
                             snn.Leaky(beta=torch.full((64,), 0.8), threshold=torch.ones(64), reset_mechanism="zero",
                                       init_hidden=True),
                             scaled(nn.Linear(64, 16), 3.0),
                             snn.Leaky(beta=torch.full((16,), 0.7), threshold=torch.ones(16), reset_mechanism="zero",
                                       init_hidden=True, output=True))
        graph = export_to_nir(snet, x[0, :1], ignore_dims=[0])
        for m in snet.modules():
            if hasattr(m, "reset_mem"):
                m.reset_mem()
        sref = torch.stack([snet(x[t])[0] for t in range(T)])
        rows.append(dict(case="snnTorch -> spikeDE", rate=float(sref.mean()),
                         identical=float((from_nir(graph, dt=1e-4)(x) == sref).float().mean())))
        for label, kind, reset, delay in (("snnTorch Leaky subtract -> spikeDE", "leaky", "subtract", False),
                                          ("snnTorch Synaptic zero, reset_delay=False -> spikeDE", "syn", "zero", False),
                                          ("snnTorch Synaptic zero, reset_delay=True (default) -> spikeDE", "syn",
                                           "zero", True),
                                          ("snnTorch Synaptic subtract -> spikeDE", "syn", "subtract", False)):
            torch.manual_seed(0)

            def cell(n, output=False):
                kw = dict(threshold=torch.ones(n), reset_mechanism=reset, init_hidden=True, reset_delay=delay,
                          output=output)
                if kind == "leaky":
                    return snn.Leaky(beta=torch.full((n,), 0.8), **kw)
                return snn.Synaptic(alpha=torch.full((n,), 0.6), beta=torch.full((n,), 0.8), **kw)

            snet = nn.Sequential(scaled(nn.Linear(8, 64), 2.0), cell(64), scaled(nn.Linear(64, 16), 2.0),
                                 cell(16, output=True))
            graph = export_to_nir(snet, x[0, :1], ignore_dims=[0])
            for m in snet.modules():
                if hasattr(m, "reset_mem"):
                    m.reset_mem()
            sref = torch.stack([snet(x[t])[0] for t in range(T)])
            rows.append(dict(case=label, rate=float(sref.mean()),
                             identical=float((from_nir(graph, dt=1e-4)(x) == sref).float().mean())))
        dt = 1e-3
        nnet = norse.SequentialState(
            scaled(nn.Linear(8, 64), 6.0), norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.tensor(500.0)), dt=dt),
            scaled(nn.Linear(64, 16), 6.0), norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.tensor(1000.0 / 3)), dt=dt))
        graph = norse.to_nir(nnet, x[0, 0], dt=dt)
        state, out = None, []
        for t in range(T):
            z, state = nnet(x[t], state)
            out.append(z)
        nref = torch.stack(out)
        for label, d in (("Norse LIFBoxCell -> spikeDE, read with dt", dt),
                         ("Norse LIFBoxCell -> spikeDE, read with dt**2 (#411)", dt * dt)):
            rows.append(dict(case=label, rate=float(nref.mean()),
                             identical=float((from_nir(graph, dt=d)(x) == nref).float().mean())))
        p = norse.LIFParameters(tau_syn_inv=torch.tensor(200.0), tau_mem_inv=torch.tensor(100.0))
        cnet = norse.SequentialState(scaled(nn.Linear(8, 64), 6.0), norse.LIFCell(p, dt=dt),
                                     scaled(nn.Linear(64, 16), 6.0), norse.LIFCell(p, dt=dt))
        graph = norse.to_nir(cnet, x[0, 0], dt=dt)
        state, out = None, []
        for t in range(T):
            z, state = cnet(x[t], state)
            out.append(z)
        cref = torch.stack(out)
        rows.append(dict(case="Norse LIFCell (CubaLIF) -> spikeDE, read with dt**2", rate=float(cref.mean()),
                         identical=float((from_nir(graph, dt=dt * dt)(x) == cref).float().mean())))
        for k in ("1", "3"):
            node = graph.nodes[k]
            node.w_in = np.full(np.asarray(node.v_threshold).shape, float(np.asarray(node.tau_syn)) / (dt * dt))
        rows.append(dict(case="Norse LIFCell (CubaLIF) -> spikeDE, dt**2 and w_in = tau_syn/dt", rate=float(cref.mean()),
                         identical=float((from_nir(graph, dt=dt * dt)(x) == cref).float().mean())))
    return rows


def nirtorch_rows(T, B):
    """spikeDE's reset cycle and fractional subgraph run by nirtorch's generic graph executor, with the NIR
    equations of LI, I, Threshold and Scale (forward Euler, dt = 1) as its node map."""
    try:
        import nirtorch
    except ImportError as e:
        return [dict(case=f"skipped: {e}")]

    class Euler(nn.Module):
        def __init__(self, node):
            super().__init__()
            self.leaky = isinstance(node, nir.LI)
            self.tau = torch.tensor(np.asarray(node.tau if self.leaky else node.r), dtype=torch.float32)
            self.r = torch.tensor(np.asarray(node.r), dtype=torch.float32)

        def forward(self, x, state=None):
            v = torch.zeros_like(x) if state is None else state
            v = v + (self.r * x - v) / self.tau if self.leaky else v + self.r * x
            return v, v

    class Elementwise(nn.Module):
        def __init__(self, node):
            super().__init__()
            self.threshold = isinstance(node, nir.Threshold)
            self.p = torch.tensor(np.asarray(node.threshold if self.threshold else node.scale), dtype=torch.float32)

        def forward(self, x):
            return (x >= self.p).to(x.dtype) if self.threshold else x * self.p

    def affine(node):
        layer = nn.Linear(node.weight.shape[1], node.weight.shape[0])
        with torch.no_grad():
            layer.weight.copy_(torch.as_tensor(node.weight))
            layer.bias.copy_(torch.as_tensor(node.bias))
        return layer

    node_map = {nir.LI: Euler, nir.I: Euler, nir.Threshold: Elementwise, nir.Scale: Elementwise, nir.Affine: affine}
    x = torch.rand(T, B, 16, generator=torch.Generator().manual_seed(1))
    rows = []
    for label, kw in (("LIF subtract", dict(integrator="odeint")), ("f-LIF gl a=0.5", dict(alpha=0.5)),
                      ("f-LIF gl a=0.8", dict(alpha=0.8))):
        model = SNNWrapper(_layer("subtract").float(), **kw)
        net = nirtorch.nir_to_torch(to_nir(model, dt=1.0), node_map)
        with torch.no_grad():
            ref = model(x)
            state, out = None, []
            for t in range(T):
                z, state = net(x[t], state)
                out.append(z)
        rows.append(dict(case=f"spikeDE {label} -> nirtorch executor", rate=float(ref.mean()),
                         identical=float((torch.stack(out) == ref).float().mean())))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print("| neuron | tol | modes | NIR nodes | spike rate | identical spikes | kernel max rel. err | kernel l1 err |")
    print("|---|---|---|---|---|---|---|---|")
    for r in roundtrip_rows(args.steps, args.batch):
        print(f"| {r['neuron']} | {r['tol']:g} | {r['modes']} | {r['nodes']} | {r['rate']:.3f} | {r['identical']:.5f} | "
              f"{r['kernel_rel']:.1e} | {r['kernel_l1']:.1e} |")
    print()
    print("| case | spike rate | identical spikes |")
    print("|---|---|---|")
    for r in interop_rows(args.steps, args.batch) + nirtorch_rows(args.steps, args.batch):
        if "rate" in r:
            print(f"| {r['case']} | {r['rate']:.3f} | {r['identical']:.5f} |")
        else:
            print(f"| {r['case']} | | |")


if __name__ == "__main__":
    main()
