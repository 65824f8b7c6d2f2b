"""spikeDE 0.1.0 code keeps working (spikeDE.compat): each item runs, gives 0.1.0's result, and warns with what
to write instead. Truths: the equivalent 0.2 configuration, plain loops of the integer-order LIF step."""
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import spikeDE
from spikeDE import LIFNeuron, SNNWrapper
from spikeDE.events import ODELIFDynamics, SpikingODELayer

F64 = torch.float64


class TwoLayer(nn.Module):
    """0.1.0's example network: Linear -> LIF -> Linear -> LIF."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.fc1, self.lif1 = nn.Linear(10, 20), LIFNeuron(tau=2.0)
        self.fc2, self.lif2 = nn.Linear(20, 5), LIFNeuron(tau=2.0)
        with torch.no_grad():
            self.fc1.weight.mul_(3.0)
            self.fc2.weight.mul_(3.0)
            self.fc1.bias.fill_(2.0)
            self.fc2.bias.fill_(2.0)

    def forward(self, x):
        return self.lif2(self.fc2(self.lif1(self.fc1(x))))


def _x(T=30, B=3):
    return torch.rand(T, B, 10, generator=torch.Generator().manual_seed(1)) * 2


def test_get_per_layer_alpha_tolist_as_in_example_basic():
    net = SNNWrapper(TwoLayer(), integrator="fdeint", alpha=[0.3, 0.7], alpha_mode="per_layer", learn_alpha=True)
    net._set_neuron_shapes(input_shape=(1, 10))
    out = net(_x(), torch.linspace(0, 1, 30), method="gl")
    nn.CrossEntropyLoss()(out.mean(0), torch.tensor([0, 1, 2])).backward()
    alphas = net.get_per_layer_alpha()
    with pytest.warns(DeprecationWarning, match="returns Python floats"):
        listed = [a.tolist() for a in alphas]
    assert listed == [[pytest.approx(0.3, abs=1e-6)], [pytest.approx(0.7, abs=1e-6)]]  # 0.1.0: 1-D tensors
    assert alphas[0] == pytest.approx(0.3, abs=1e-6) and isinstance(alphas[0], float)
    multi = SNNWrapper(TwoLayer(), alpha=[[0.3, 0.6], [0.5]], multi_coefficient=[[1.0, 0.2], [1.0]])
    with pytest.warns(DeprecationWarning):
        assert multi.get_per_layer_alpha()[0].tolist() == pytest.approx([0.3, 0.6])


@pytest.mark.parametrize("old,new,case", [
    (dict(alpha=[0.3, 0.5, 0.7], multi_coefficient=[[1, 0.5, 0.2], [0.8, 0.3, 0.1]], alpha_mode="multiterm"),
     dict(alpha=[[0.3, 0.5, 0.7]] * 2, multi_coefficient=[[1, 0.5, 0.2], [0.8, 0.3, 0.1]]), "B"),
    (dict(alpha=[0.3, 0.5], multi_coefficient=[[1, 0.5], [0.8, 0.3]]),
     dict(alpha=[[0.3, 0.5]] * 2, multi_coefficient=[[1, 0.5], [0.8, 0.3]]), "B"),
    (dict(alpha=[0.3, 0.5, 0.7]), dict(alpha=[0.3, 0.5, 0.7], alpha_mode="multiterm"), "B"),
])
def test_alpha_configurations_of_0_1_0(old, new, case):
    with pytest.warns(DeprecationWarning, match="write alpha"):
        net = SNNWrapper(TwoLayer(), integrator="fdeint", **old)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ref = SNNWrapper(TwoLayer(), integrator="fdeint", **new)
    x = _x()
    out = net(x)
    assert out.sum() > 0 and torch.equal(out, ref(x))
    with pytest.warns(DeprecationWarning, match="layer_orders"):
        assert net._alpha_case == case
    with pytest.warns(DeprecationWarning):
        alphas = [p.tolist() for p in net.per_layer_alpha_params]
        coefs = [p.tolist() for p in net.per_layer_coefficient_params]
    assert alphas == [pytest.approx(ref.layer_orders[i].alphas) for i in range(2)]
    assert coefs == [pytest.approx(ref.layer_orders[i].coefficients) for i in range(2)]


def test_per_layer_params_and_cases():
    with pytest.warns(DeprecationWarning):
        scalar = SNNWrapper(TwoLayer(), alpha=0.5)._alpha_case
        net = SNNWrapper(TwoLayer(), alpha=[0.3, 0.7], alpha_mode="per_layer", learn_alpha=[True, False])
        assert (scalar, net._alpha_case) == ("A_scalar", "A")
        params = net.per_layer_alpha_params
        assert [p.requires_grad for p in params] == [True, False]
        assert [p.tolist() for p in net.per_layer_coefficient_params] == [[1.0], [1.0]]
        nested = SNNWrapper(TwoLayer(), alpha=[[0.3, 0.5], [0.4, 0.6, 0.8]])
        assert nested._alpha_case == "C"


def _lif_loop(x, tau, theta=1.0):
    """The integer-order LIF neuron, written plainly: H = V + (X - V)/tau, S = H >= theta, V = H - theta S."""
    v = torch.zeros_like(x[0])
    out = []
    for t in range(x.shape[0]):
        h = v + (x[t] - v) / tau
        s = (h >= theta).to(x.dtype)
        v = h - theta * s
        out.append(s)
    return torch.stack(out)


def test_0_1_0_neuron_names():
    x = torch.rand(30, 4, 6, dtype=F64, generator=torch.Generator().manual_seed(2)) * 1.5
    with pytest.warns(DeprecationWarning, match=r"write LIFNeuron\(.*integrator='odeint'"):
        one = spikeDE.LIFNeuron_OrderOne(tau=2.0)
    assert torch.equal(one(x), _lif_loop(x, 2.0)) and _lif_loop(x, 2.0).sum() > 0
    with pytest.warns(DeprecationWarning, match="write NoisyLIFNeuron"):
        noisy = spikeDE.NoisyLIFNeuron_OrderOne(tau=3.0, gamma=0.1)
    assert torch.equal(noisy.eval()(x), _lif_loop(x, 3.0))  # evaluation: deterministic threshold
    with pytest.warns(DeprecationWarning, match=r"write LIFNeuron\(.*alpha=0.6"):
        fde = spikeDE.LIFNeuronFDE(tau=2.0, beta=0.6, step_size=0.5, memory=-1, batchsize=4, T=30)
    ref = LIFNeuron(tau=2.0, alpha=0.6, dt=0.5)
    assert torch.equal(fde(x), ref(x))


def test_x_time_sets_the_step_and_a_differing_step_is_named_once():
    x = _x(T=20)
    ref = SNNWrapper(TwoLayer(), alpha=0.6, dt=0.05)(x)
    net = SNNWrapper(TwoLayer(), alpha=0.6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no explicit step: x_time's spacing is used silently
        assert torch.allclose(net(x, torch.arange(20) * 0.05), ref, atol=0)
    with pytest.warns(UserWarning) as rec:
        out = net(x, torch.arange(21) * 0.05, options={"step_size": 1.0})
        net(x, torch.arange(21) * 0.05, options={"step_size": 1.0})
    msgs = [str(r.message) for r in rec if "x_time" in str(r.message)]
    assert len(msgs) == 1 and "0.05" in msgs[0] and "1" in msgs[0]
    assert torch.equal(out, ref)
    assert not torch.equal(SNNWrapper(TwoLayer(), alpha=0.6, dt=1.0)(x), ref)  # the step matters


def test_events_tutorial_runs_with_one_warning_and_numpy_results():
    dynamics = ODELIFDynamics(tau_mem=20.0, v_rest=0.0, v_threshold=1.0, v_reset=0.0)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        layer = SpikingODELayer(n_inputs=32, n_neurons=16, dynamics=dynamics, dt_init=0.1, dt_min=0.001, seed=3)
    assert len(rec) == 1 and "exact" in str(rec[0].message) and "dt_init=0.1" in str(rec[0].message)
    rng = np.random.default_rng(42)
    inputs = rng.standard_normal((100, 32)).astype(np.float32) * 0.5 + 0.3
    spike_counts = layer.forward(inputs, interval=1.0)
    assert isinstance(spike_counts, np.ndarray) and spike_counts.shape == (100, 16)
    assert int(spike_counts.sum()) == layer.spike_train.num_spikes > 0
    assert f"{spike_counts.mean():.3f}" == f"{np.mean(spike_counts):.3f}"
    same = layer.forward(torch.from_numpy(inputs), interval=1.0)  # tensor path: same counts
    assert np.array_equal(same.detach().numpy(), spike_counts)
    layer.reset()
    counts = layer.step(rng.standard_normal(32) * 0.5, interval=1.0)
    assert isinstance(counts, np.ndarray) and counts.shape == (16,)
