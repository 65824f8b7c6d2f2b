"""SpikingODELayer API: tutorial-shaped use, online mode, batching, dtypes, events, SpikeTrain, errors."""
import copy
import math

import numpy as np
import pytest
import torch

import spikeDE.events.spike_train as spike_train_module
from spikeDE.events import ODELIFDynamics, SpikeTrain, SpikingODELayer

D64 = torch.float64


def test_tutorial_shaped_example():
    dynamics = ODELIFDynamics(tau_mem=20.0, v_rest=0.0, v_threshold=1.0, v_reset=0.0)
    layer = SpikingODELayer(32, 16, dynamics=dynamics)
    inputs = (np.random.default_rng(0).standard_normal((100, 32)) * 0.5).astype(np.float32)
    spike_counts = layer.forward(inputs, interval=1.0)
    assert tuple(spike_counts.shape) == (100, 16)
    assert isinstance(spike_counts, np.ndarray) and spike_counts.dtype == np.float32  # NumPy in, NumPy out
    assert int(spike_counts.sum()) == layer.spike_train.num_spikes > 0
    assert layer.time == pytest.approx(100.0)
    # online mode
    layer.reset()
    counts = layer.step(inputs[0], interval=1.0)
    assert tuple(counts.shape) == (16,) and tuple(layer.voltage.shape) == (16,)


def _random_case(dyn, seed=0, T=12, B=3, n_in=5, N=4, dtype=D64):
    g = torch.Generator().manual_seed(seed)
    layer = SpikingODELayer(n_in, N, dynamics=dyn, dtype=dtype, seed=seed)
    with torch.no_grad():
        layer.weight.mul_(2.0).add_(0.3)
    x = torch.rand(T, B, n_in, generator=g, dtype=dtype)
    return layer, x


DYNS = [ODELIFDynamics(tau_mem=5.0, t_ref=0.4, v_reset=0.1), ODELIFDynamics(tau_mem=5.0, tau_syn=2.0, t_ref=0.3)]


@pytest.mark.parametrize("dyn", DYNS, ids=["held", "synapse"])
def test_forward_equals_reset_then_steps(dyn):
    layer, x = _random_case(dyn)
    counts, train = layer(x, interval=0.7, return_spikes=True)
    v_end = layer.voltage
    layer.reset()
    step_counts, trains = [], []
    for k in range(x.shape[0]):
        c, tr = layer.step(x[k], interval=0.7, return_spikes=True)
        step_counts.append(c)
        trains.append(tr)
    assert torch.equal(torch.stack(step_counts).detach(), counts.detach())
    joined = SpikeTrain.concat(trains)
    assert torch.equal(joined.counts, train.counts)
    assert torch.allclose(joined.times, train.times, rtol=0, atol=1e-12)
    assert torch.allclose(layer.voltage, v_end, rtol=0, atol=1e-12)
    assert train.num_spikes > 10


@pytest.mark.parametrize("dyn", DYNS, ids=["held", "synapse"])
def test_keep_state_continues_exactly(dyn):
    layer, x = _random_case(dyn, seed=1)
    _, whole = layer(x, return_spikes=True)
    _, a = layer(x[:5], return_spikes=True)
    _, b = layer(x[5:], keep_state=True, return_spikes=True)
    assert b.t_start == pytest.approx(5.0)
    joined = SpikeTrain.concat([a, b])
    assert torch.equal(joined.counts, whole.counts)
    assert torch.allclose(joined.times, whole.times, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dyn", DYNS, ids=["held", "synapse"])
def test_batch_equals_individual_sequences(dyn):
    layer, x = _random_case(dyn, seed=2)
    counts, train = layer(x, return_spikes=True)
    for b in range(x.shape[1]):
        cb, tb = layer(x[:, b], return_spikes=True)
        assert torch.equal(cb.detach(), counts[:, b].detach())
        s = int(tb.counts.max())
        assert torch.allclose(tb.times, train.times[b, :, :s], rtol=0, atol=1e-12)


@pytest.mark.parametrize("dyn", DYNS, ids=["held", "synapse"])
def test_float32_matches_float64(dyn):
    layer64, x64 = _random_case(dyn, seed=3)
    layer32 = SpikingODELayer(5, 4, dynamics=dyn)
    layer32.W = layer64.W.detach().float()
    c64, t64 = layer64(x64, return_spikes=True)
    c32, t32 = layer32(x64.float(), return_spikes=True)
    assert c32.dtype == torch.float32 and t32.times.dtype == torch.float32
    assert torch.equal(c32.detach().double(), c64.detach())
    assert torch.allclose(t32.times.double(), t64.times, rtol=0, atol=1e-4 * dyn.tau_mem)


@pytest.mark.parametrize(
    "dyn", [ODELIFDynamics(tau_mem=5.0), DYNS[0], DYNS[1]], ids=["held", "held-refractory", "synapse"]
)
def test_inference_path_equals_training_path(dyn):
    # without a graph the layer takes in-place shortcuts; results must be the same
    layer, x = _random_case(dyn, seed=7)
    counts, train = layer(x, return_spikes=True)
    v = layer.voltage
    with torch.no_grad():
        counts_ng, train_ng = layer(x, return_spikes=True)
    assert counts.requires_grad and not counts_ng.requires_grad
    assert torch.equal(counts_ng, counts.detach())
    assert torch.allclose(train_ng.times, train.times.detach(), rtol=0, atol=1e-13)
    assert torch.allclose(layer.voltage, v, rtol=0, atol=1e-13)


def test_dtype_follows_numpy_input():
    layer = SpikingODELayer(3, 2)
    out = layer(np.ones((4, 3)))  # NumPy float64 -> float64 computation and output
    assert out.dtype == np.float64
    out = layer(np.ones((4, 3), dtype=np.float32))
    assert out.dtype == np.float32
    out = layer(np.ones((4, 3), dtype=np.int64))  # integers take the weight's dtype
    assert out.dtype == np.float32
    assert layer(torch.ones(4, 3, dtype=torch.float64)).dtype == torch.float64  # tensors in, tensors out


def test_events_at_interval_starts_equal_dense_synaptic_input():
    dyn = ODELIFDynamics(tau_mem=5.0, tau_syn=2.0, t_ref=0.2)
    layer, x = _random_case(dyn, seed=4, T=6, B=2, n_in=3, N=3)
    counts, train = layer(x, return_spikes=True)
    T, B, n_in = x.shape
    k, b, c = torch.meshgrid(torch.arange(T), torch.arange(B), torch.arange(n_in), indexing="ij")
    times = k.reshape(-1).to(D64) * 1.0
    ev_counts, ev_train = layer.forward_events(
        times, c.reshape(-1), float(T), interval=1.0, batch_index=b.reshape(-1), batch_size=B,
        amplitudes=x.reshape(-1), return_spikes=True,
    )
    assert ev_counts.shape == counts.shape
    assert torch.equal(ev_counts.detach(), counts.detach())
    assert torch.allclose(ev_train.times, train.times, rtol=0, atol=1e-12)


def test_events_unbatched_and_unsorted():
    dyn = ODELIFDynamics(tau_mem=10.0, tau_syn=3.0)
    layer = SpikingODELayer(2, 2, dynamics=dyn, dtype=D64)
    layer.W = [[2.0, 0.0], [0.0, 0.5]]
    counts, train = layer.forward_events(np.array([3.0, 0.5, 1.0]), np.array([0, 1, 0]), 8.0, interval=2.0,
                                         return_spikes=True)
    assert tuple(counts.shape) == (4, 2)
    # same events given in time order give the same result
    counts2, train2 = layer.forward_events([0.5, 1.0, 3.0], [1, 0, 0], 8.0, interval=2.0, return_spikes=True)
    assert torch.equal(counts, counts2) and torch.equal(train.times, train2.times)
    # neuron 0 spikes after its first input at 1.0 ms; nothing can happen before it
    assert float(train.first_spike_times()[0].detach()) > 1.0
    assert math.isinf(float(train.first_spike_times()[1].detach()))  # 0.5 * one input spike stays below threshold


def test_spike_train_views_and_chunked_assembly(monkeypatch):
    layer, x = _random_case(DYNS[0], seed=5, T=30)
    _, train = layer(x, interval=1.3, return_spikes=True)
    times, counts = train.times, train.counts
    lists = train.to_list()
    assert len(lists) == x.shape[1] and len(lists[0]) == 4
    for b in range(x.shape[1]):
        for n in range(4):
            ts = lists[b][n]
            assert len(ts) == int(counts[b, n])
            assert ts == sorted(ts) and all(0 <= t <= 30 * 1.3 for t in ts)
            assert torch.isinf(times[b, n, len(ts):]).all()
    assert torch.equal(train.mask, torch.isfinite(times))
    # the chunked assembly (tiny chunks) builds the same tensor
    monkeypatch.setattr(spike_train_module, "_CHUNK_ELEMENTS", 7)
    rebuilt = SpikeTrain(train._groups, train.shape, train.t_start, train.duration, train.dtype, train.device)
    assert torch.equal(rebuilt.times, times)


def test_deepcopy_after_forward():
    layer, x = _random_case(DYNS[1], seed=8)
    _, train = layer(x, return_spikes=True)
    twin = copy.deepcopy(layer)  # the carried state has a graph; copies drop it
    assert torch.equal(twin.voltage, layer.voltage)
    assert torch.equal(twin.spike_train.times, train.times.detach())
    c1 = layer(x[:3], keep_state=True)
    c2 = twin(x[:3], keep_state=True)
    assert torch.equal(c1.detach(), c2.detach())


def test_w_setter_and_init():
    layer = SpikingODELayer(8, 3, seed=7)
    again = SpikingODELayer(8, 3, seed=7)
    assert torch.equal(layer.weight, again.weight)
    layer.W = np.full((3, 8), 0.5)
    assert torch.equal(layer.weight.detach(), torch.full((3, 8), 0.5))
    with pytest.raises(ValueError, match=r"W: expected shape \(3, 8\)"):
        layer.W = np.zeros((8, 3))


# ------------------------------------------------------------------------------------------ errors
def test_bad_dynamics_parameters():
    with pytest.raises(ValueError, match="tau_mem must be finite and > 0, got 0"):
        ODELIFDynamics(tau_mem=0.0)
    with pytest.raises(ValueError, match="tau_mem must be finite and > 0, got -5"):
        ODELIFDynamics(tau_mem=-5.0)
    with pytest.raises(ValueError, match="tau_syn must be finite and > 0"):
        ODELIFDynamics(tau_syn=0.0)
    with pytest.raises(ValueError, match="C_mem must be finite and > 0"):
        ODELIFDynamics(C_mem=-1.0)
    with pytest.raises(ValueError, match="t_ref must be finite and >= 0"):
        ODELIFDynamics(t_ref=-0.1)
    with pytest.raises(ValueError, match="v_reset must be < v_threshold"):
        ODELIFDynamics(v_reset=1.0, v_threshold=1.0)
    with pytest.raises(ValueError, match="v_rest must be finite"):
        ODELIFDynamics(v_rest=math.nan)


def test_bad_layer_arguments():
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        SpikingODELayer(4, 2, dynamics=ODELIFDynamics(), dt_inti=0.1)
    with pytest.raises(ValueError, match="n_neurons must be an integer >= 1, got 0"):
        SpikingODELayer(4, 0)
    with pytest.raises(TypeError, match="dynamics must be an ODELIFDynamics"):
        SpikingODELayer(4, 2, dynamics={"tau_mem": 20.0})
    with pytest.raises(ValueError, match="unknown surrogate"):
        SpikingODELayer(4, 2, surrogate="nope")


def test_bad_inputs():
    layer = SpikingODELayer(4, 2)
    x = np.zeros((5, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="interval must be finite and > 0, got -1.0"):
        layer(x, interval=-1.0)
    with pytest.raises(ValueError, match="interval must be finite and > 0, got 0"):
        layer(x, interval=0)
    shape_msg = r"inputs must have shape \[T, n_inputs\] or \[T, B, n_inputs\], got shape \(4,\)"
    with pytest.raises(ValueError, match=shape_msg):
        layer(np.zeros(4))
    with pytest.raises(ValueError, match=r"n_inputs=4 in the last dimension, got shape \(5, 3\)"):
        layer(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="NaN or inf"):
        layer(np.full((5, 4), np.nan))
    with pytest.raises(TypeError, match="float16"):
        layer(torch.zeros(5, 4, dtype=torch.float16))
    with pytest.raises(ValueError, match=r"step: inputs must have shape \[n_inputs\] or \[B, n_inputs\]"):
        layer.step(np.zeros((2, 3, 4)))
    layer.reset()
    layer.step(np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"state has shape \(3, 2\).*gives \(5, 2\).*reset"):
        layer.step(np.zeros((5, 4), dtype=np.float32))


def test_bad_events():
    syn = SpikingODELayer(3, 2, dynamics=ODELIFDynamics(tau_syn=5.0))
    with pytest.raises(ValueError, match="spike-event input needs a synapse"):
        SpikingODELayer(3, 2).forward_events([0.1], [0], 1.0)
    with pytest.raises(ValueError, match=r"event times must satisfy 0 <= time < duration=2.0"):
        syn.forward_events([0.5, 2.0], [0, 1], 2.0)
    with pytest.raises(ValueError, match=r"event times must satisfy"):
        syn.forward_events([-0.1], [0], 2.0)
    with pytest.raises(ValueError, match=r"channels must satisfy 0 <= channel < n_inputs=3"):
        syn.forward_events([0.5], [3], 2.0)
    with pytest.raises(ValueError, match="batch_size is required"):
        syn.forward_events([0.5], [0], 2.0, batch_index=[0])
    with pytest.raises(ValueError, match="whole number of intervals"):
        syn.forward_events([0.5], [0], 2.5, interval=1.0)
    with pytest.raises(ValueError, match="duration must be finite and > 0"):
        syn.forward_events([0.5], [0], -1.0)
    with pytest.raises(ValueError, match="channels has shape"):
        syn.forward_events([0.5, 0.7], [0], 2.0)


@pytest.mark.gpu
def test_cuda_matches_cpu():
    for dyn in DYNS:
        layer, x = _random_case(dyn, seed=6)
        c_cpu, t_cpu = layer(x, return_spikes=True)
        layer = layer.to("cuda")
        c_gpu, t_gpu = layer(x.to("cuda"), return_spikes=True)
        assert c_gpu.device.type == "cuda" and t_gpu.times.device.type == "cuda"
        assert torch.equal(c_gpu.cpu().detach(), c_cpu.detach())
        assert torch.allclose(t_gpu.times.cpu(), t_cpu.times, atol=1e-10)
