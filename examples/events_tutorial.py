"""Event-driven spiking ODE layer: exact spike times, online mode, spike-event input, temporal-coding training.

    python examples/events_tutorial.py
"""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from spikeDE.events import ODELIFDynamics, SpikeTrain, SpikingODELayer  # noqa: E402


def section(title):
    print(f"\n== {title}")


# 1. The familiar setup: 32 inputs -> 16 LIF neurons, 100 samples each held for 1 ms.
section("spike counts per interval")
dynamics = ODELIFDynamics(tau_mem=20.0, v_rest=0.0, v_threshold=1.0, v_reset=0.0)
layer = SpikingODELayer(n_inputs=32, n_neurons=16, dynamics=dynamics, seed=42)
rng = np.random.default_rng(0)
inputs = (rng.standard_normal((100, 32)) * 0.5).astype(np.float32)
spike_counts = layer.forward(inputs, interval=1.0)
print(f"counts {tuple(spike_counts.shape)}, total spikes {int(spike_counts.sum())}, "
      f"simulated {layer.time:g} ms (nothing dropped)")

# 2. The exact spike times of the same run (not snapped to any grid).
section("exact spike times")
train = layer.spike_train
print(train)
first = train.first_spike_times()
times = train.to_list()
for i in range(3):
    print(f"neuron {i}: {[round(t, 6) for t in times[i][:5]]} ...  first = {float(first[i].detach()):.6f} ms")

# 3. Against the closed form: constant current I gives t* = tau ln(v_inf / (v_inf - theta)), v_inf = tau I.
section("check against the analytic first-spike time")
probe = SpikingODELayer(1, 1, dynamics=dynamics, dtype=torch.float64)
probe.W = [[1.0]]
_, tr = probe(np.full((50, 1), 0.08), return_spikes=True)
v_inf = 20.0 * 0.08
print(f"layer {float(tr.times[0, 0].detach()):.12f} ms   formula {20.0 * math.log(v_inf / (v_inf - 1.0)):.12f} ms")

# 4. Online mode: one interval per call, state kept in the layer.
section("online mode")
layer.reset()
trains = []
for k in range(5):
    counts, tr = layer.step(inputs[k], interval=1.0, return_spikes=True)
    trains.append(tr)
    print(f"t = {layer.time:g} ms: {int(counts.sum())} spikes, mean voltage {float(layer.voltage.mean()):+.4f}")
print("joined:", SpikeTrain.concat(trains))

# 5. Synaptic current and spike-event input: each input spike makes I jump by its weight, then I decays.
section("input spike events through synapses (tau_syn = 5 ms)")
syn = SpikingODELayer(4, 3, dynamics=ODELIFDynamics(tau_mem=20.0, tau_syn=5.0, t_ref=2.0), seed=1)
syn.W = np.abs(syn.W.detach().numpy()) * 2.0
times = np.array([1.0, 1.5, 2.2, 7.3, 7.31, 12.0])
channels = np.array([0, 1, 2, 3, 0, 1])
counts, tr = syn.forward_events(times, channels, duration=20.0, interval=5.0, return_spikes=True)
print("counts per 5 ms:", counts.detach().int().tolist())
print("spike times:", [[round(t, 4) for t in ts] for ts in tr.to_list()])

# 6. Temporal coding: learn weights so that each neuron's first spike lands on a target time.
section("training first-spike times (gradients through exact spike times)")
torch.manual_seed(0)
net = SpikingODELayer(4, 3, dynamics=ODELIFDynamics(tau_mem=10.0, t_ref=1.0), seed=1)
with torch.no_grad():
    net.weight.uniform_(0.1, 0.3)
patterns = torch.tensor([[1.0, 0.2, 0.1, 0.5], [0.1, 1.0, 0.3, 0.2], [0.4, 0.1, 1.0, 0.1], [0.3, 0.5, 0.2, 1.0]])
x = patterns.unsqueeze(0).expand(14, 4, 4)  # [T, B, n_inputs], held for 14 ms
target = torch.tensor([[3.0, 8.0, 12.0], [9.0, 4.0, 6.0], [5.0, 11.0, 3.5], [7.0, 6.0, 10.0]])
opt = torch.optim.Adam(net.parameters(), lr=0.03)
for it in range(101):
    counts, tr = net(x, return_spikes=True)
    t_first = tr.first_spike_times()
    fired = torch.isfinite(t_first)
    err = torch.where(fired, t_first - target, torch.zeros_like(t_first))
    silent = (1.0 - counts.sum(0)).clamp(min=0) * (~fired)  # count surrogate revives silent neurons
    loss = (err**2).mean() + silent.sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
    if it % 20 == 0:
        print(f"step {it:3d}: loss {float(loss.detach()):.3e} ms^2, silent neurons {int((~fired).sum())}")
print("first-spike times:\n", t_first.detach().numpy().round(3), "\ntargets:\n", target.numpy())
