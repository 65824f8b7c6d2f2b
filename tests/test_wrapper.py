"""SNNWrapper: alpha configurations, learnable orders, fast path vs step path, compatibility, persistence."""
import io

import pytest
import torch
from torch import nn

from spikeDE import IFNeuron, LIFNeuron, SNNWrapper

F64 = torch.float64


class MLP(nn.Module):
    def __init__(self, n_in=6, hidden=10, n_out=4, n_layers=2):
        super().__init__()
        dims = [n_in] + [hidden] * (n_layers - 1) + [n_out]
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.lifs = nn.ModuleList(LIFNeuron(tau=2.0, threshold=1.0) for _ in range(n_layers))
        with torch.no_grad():
            for fc in self.fcs:
                fc.weight.mul_(2.5)
                fc.bias.fill_(1.3)

    def forward(self, x):
        for fc, lif in zip(self.fcs, self.lifs):
            x = lif(fc(x))
        return x


def manual(base, x, neuron_kwargs):
    """The same network run by hand: each layer's neuron replaced by a standalone neuron with its own order."""
    out = x
    for fc, kw in zip(base.fcs, neuron_kwargs):
        out = LIFNeuron(tau=2.0, threshold=1.0, **kw).to(x.dtype)(fc(out))
    return out


def data(T=50, B=3, n=6, dtype=torch.float32):
    return torch.rand(T, B, n, generator=torch.Generator().manual_seed(0), dtype=dtype) * 2


# ----------------------------------------------------------------------------- alpha configurations
@pytest.mark.parametrize("spec,per_layer", [
    (dict(alpha=0.6), [dict(alpha=0.6), dict(alpha=0.6), dict(alpha=0.6)]),
    (dict(alpha=[0.5, 0.8, 0.9]), [dict(alpha=0.5), dict(alpha=0.8), dict(alpha=0.9)]),
    (dict(alpha=[0.5, 0.8, 0.9], alpha_mode="per_layer"), [dict(alpha=0.5), dict(alpha=0.8), dict(alpha=0.9)]),
    (dict(alpha=[0.3, 0.7], alpha_mode="multiterm", multi_coefficient=[1.0, 0.5]),
     [dict(alpha=[0.3, 0.7], multi_coefficient=[1.0, 0.5])] * 3),
    (dict(alpha=[0.3, 0.7], multi_coefficient=[1.0, 0.5]),  # auto: flat coefficients -> multi-term
     [dict(alpha=[0.3, 0.7], multi_coefficient=[1.0, 0.5])] * 3),
    (dict(alpha=[[0.4], [0.3, 0.6], [0.5, 0.7, 0.9]], multi_coefficient=[[1.0], [1.0, 0.2], [0.5, 0.5, 1.0]]),
     [dict(alpha=0.4, multi_coefficient=[1.0]), dict(alpha=[0.3, 0.6], multi_coefficient=[1.0, 0.2]),
      dict(alpha=[0.5, 0.7, 0.9], multi_coefficient=[0.5, 0.5, 1.0])]),
    (dict(alpha=[0.6, 1.0, 0.8], method="l1"), [dict(alpha=0.6, method="l1"), dict(alpha=1.0, method="l1"),
                                                  dict(alpha=0.8, method="l1")]),
])
def test_per_layer_configurations(spec, per_layer):
    torch.manual_seed(0)
    base = MLP(n_layers=3)
    x = data()
    out = SNNWrapper(base, **spec)(x)
    ref = manual(base, x, per_layer)
    assert ref.sum() > 0
    assert torch.equal(out, ref)


def test_get_per_layer_alpha_and_coefficients():
    net = SNNWrapper(MLP(n_layers=2), alpha=[[0.3, 0.6], [0.5]], multi_coefficient=[[1.0, 0.2], [1.0]])
    alphas = net.get_per_layer_alpha()
    assert alphas[0] == pytest.approx([0.3, 0.6]) and alphas[1] == pytest.approx(0.5)
    assert net.get_per_layer_coefficient()[0] == pytest.approx([1.0, 0.2])
    assert [n for n, _ in net.neuron_layers] == ["lifs.0", "lifs.1"]


def test_length_mismatch_names_layers_in_order():
    with pytest.raises(ValueError) as err:
        SNNWrapper(MLP(n_layers=2), alpha=[0.5, 0.8, 0.9], alpha_mode="per_layer")
    msg = str(err.value)
    assert "3 entries" in msg and "2 neuron layers" in msg
    assert msg.index("lifs.0") < msg.index("lifs.1") and "LIFNeuron" in msg
    with pytest.raises(ValueError, match="2 neuron layers"):
        SNNWrapper(MLP(n_layers=2), alpha=[[0.5], [0.6], [0.7]])
    # 'auto' reads it as spikeDE 0.1.0 did (multi-term orders shared by all layers), warning with the same names
    with pytest.warns(DeprecationWarning) as rec:
        SNNWrapper(MLP(n_layers=2), alpha=[0.5, 0.8, 0.9])
    msg = str(rec[0].message)
    assert "3 entries" in msg and "2 neuron layers" in msg and msg.index("lifs.0") < msg.index("lifs.1")


def test_alpha_out_of_range_names_the_layer():
    with pytest.raises(ValueError, match=r"layer 1 \(lifs.1 \(LIFNeuron\)\).*0 < alpha <= 1"):
        SNNWrapper(MLP(n_layers=2), alpha=[0.5, 1.2])
    with pytest.raises(ValueError, match="alpha"):
        SNNWrapper(MLP(), alpha=-0.1)
    with pytest.raises(ValueError, match="multi_coefficient"):
        SNNWrapper(MLP(), alpha=[0.3, 0.6], alpha_mode="multiterm", multi_coefficient=[1.0, -1.0])


def test_bad_input_and_options():
    net = SNNWrapper(MLP(), alpha=0.5)
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        net(torch.rand(6))
    with pytest.raises(ValueError, match="x_time"):
        net(data(T=10), torch.linspace(0, 1, 5))
    with pytest.raises(ValueError, match="unknown options"):
        net(data(T=10), options={"rtol": 1e-3})
    with pytest.raises(ValueError, match="integrator"):
        SNNWrapper(MLP(), integrator="rk4")
    with pytest.raises(ValueError, match="learn_alpha"):
        SNNWrapper(MLP(), integrator="odeint", learn_alpha=True)
    with pytest.raises(ValueError, match="no spikeDE neuron"):
        SNNWrapper(nn.Linear(3, 3))
    net._set_neuron_shapes(input_shape=(6,))
    with pytest.raises(ValueError, match="input_shape"):
        net(torch.rand(5, 2, 7))


# ----------------------------------------------------------------------------- learnable orders
def test_learnable_alpha_registered_at_construction_and_trains():
    torch.manual_seed(0)
    net = SNNWrapper(MLP(n_layers=2), alpha=[0.5, 0.7], learn_alpha=True)
    names = [n for n, _ in net.named_parameters()]
    assert "orders.0.alpha_logit" in names and "orders.1.alpha_logit" in names
    opt = torch.optim.Adam(net.parameters(), lr=0.05)  # built right after the wrapper
    x = data(T=40)
    target = torch.zeros(4)
    target[0] = 0.5
    before = net.get_per_layer_alpha()
    for _ in range(5):
        opt.zero_grad()
        loss = ((net(x).mean((0, 1)) - target) ** 2).sum()
        loss.backward()
        assert net.orders[0].logit.grad.abs() > 0 and net.orders[1].logit.grad.abs() > 0
        opt.step()
    after = net.get_per_layer_alpha()
    assert all(abs(a - b) > 1e-3 for a, b in zip(before, after))
    assert all(0 < a < 1 for a in after)


def test_learnable_coefficients_stay_positive_and_get_gradients():
    net = SNNWrapper(MLP(n_layers=1), alpha=[0.4, 0.8], alpha_mode="multiterm", multi_coefficient=[1.0, 0.5],
                     learn_coefficient=True)
    (net(data()) * torch.randn(50, 3, 4)).sum().backward()
    assert net.coefficients["0"].log_c.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- execution paths
class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.lif1 = LIFNeuron(tau=2.0)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 5)
        self.lif2 = IFNeuron()

    def forward(self, x):
        x = self.pool(self.lif1(self.bn(self.conv(x))))
        return self.lif2(self.fc(x.flatten(1)))


@pytest.mark.parametrize("kw", [dict(alpha=0.6), dict(alpha=0.5, memory="soe"), dict(alpha=0.7, method="predictor"),
                                dict(integrator="odeint")])
def test_fast_path_equals_step_path(kw):
    torch.manual_seed(0)
    base = ConvNet().double().eval()  # eval: BatchNorm uses running statistics in both paths
    x = torch.rand(150, 2, 1, 8, 8, dtype=F64) * 3
    fast = SNNWrapper(base, step_mode="multi", **kw)(x)
    slow = SNNWrapper(base, step_mode="single", **kw)(x)
    assert fast.shape == (150, 2, 5) and fast.sum() > 0
    assert torch.equal(fast, slow)


class MixesBatch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.lif = LIFNeuron()

    def forward(self, x):
        return self.lif(self.fc(x) - self.fc(x).mean(0))  # batch-mixing: fine per step, wrong when folded


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.lif = LIFNeuron()
        self.prev = None

    def forward(self, x):
        h = self.fc(x) if self.prev is None else self.fc(x) + self.prev
        self.prev = self.lif(h)
        return self.prev.sum(0)  # reduces the batch


def test_batch_mixing_is_detected_and_step_mode_works():
    x = torch.rand(5, 3, 4)
    net = SNNWrapper(Recurrent(), alpha=0.5)
    with pytest.raises(RuntimeError, match="step_mode='single'"):
        net(x)
    net.base.prev = None
    net_s = SNNWrapper(Recurrent(), alpha=0.5, step_mode="single")
    assert net_s(x).shape == (5, 4)
    assert SNNWrapper(MixesBatch(), alpha=0.5, step_mode="single")(x).shape == (5, 3, 4)


def test_neuron_called_twice_per_step_is_an_error_in_step_mode():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lif = LIFNeuron()

        def forward(self, x):
            return self.lif(self.lif(x))

    x = torch.rand(4, 2, 3)
    with pytest.raises(RuntimeError, match="twice.*step_mode='single'"):  # multi-step: refused as well
        SNNWrapper(Twice(), alpha=0.5)(x)
    with pytest.raises(RuntimeError, match="twice"):
        SNNWrapper(Twice(), alpha=0.5, step_mode="single")(x)


def test_published_quick_start_runs_unchanged():
    class CNNExample(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 8, 3, padding=1)
            self.lif1 = LIFNeuron(tau=2.0, threshold=1.0, surrogate_grad_scale=0.3)
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(8 * 6 * 6, 10)
            self.lif2 = LIFNeuron(tau=2.0, threshold=1.0, surrogate_grad_scale=0.3)

        def forward(self, x):
            x = self.lif1(self.conv(x))
            x = self.pool(x)
            x = x.flatten(1)
            x = self.lif2(self.fc(x))
            return x

    torch.manual_seed(0)
    model = SNNWrapper(CNNExample(), integrator="fdeint", alpha=0.8, learn_alpha=False)
    model._set_neuron_shapes(input_shape=(1, 12, 12))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = torch.rand(4, 1, 12, 12)
    spike_input = torch.bernoulli(data.unsqueeze(1).repeat(1, 20, 1, 1, 1)).permute(1, 0, 2, 3, 4) * 10
    data_time = torch.linspace(0, 1.0, 20 + 1)
    output_seq = model(spike_input, data_time, method="gl", options={"step_size": 1.0, "memory": -1})
    assert output_seq.shape == (20, 4, 10)
    loss = nn.CrossEntropyLoss()(output_seq.mean(0), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    optimizer.step()
    # the tutorial's form: method in the constructor, input_shape with the batch dimension, T time points
    net = SNNWrapper(base=CNNExample(), integrator="fdeint", alpha=0.8, method="gl")
    net._set_neuron_shapes(input_shape=(1, 1, 12, 12))
    assert net(spike_input, torch.linspace(0, 1, 20)).shape == (20, 4, 10)


# ----------------------------------------------------------------------------- persistence, devices, dtypes
def test_state_dict_save_load_and_float64():
    torch.manual_seed(0)
    net = SNNWrapper(MLP(n_layers=2), alpha=[0.5, 0.7], learn_alpha=True)
    with torch.no_grad():
        net.orders[1].logit.add_(0.3)
    x = data()
    ref = net(x)
    net2 = SNNWrapper(MLP(n_layers=2), alpha=[0.9, 0.9], learn_alpha=True)
    net2.load_state_dict(net.state_dict())
    assert torch.equal(net2(x), ref)
    buf = io.BytesIO()
    torch.save(net, buf)
    buf.seek(0)
    net3 = torch.load(buf, weights_only=False)
    assert torch.equal(net3(x), ref)
    net64 = net3.to(F64)
    out64 = net64(x.double())
    assert out64.dtype == F64 and out64.shape == ref.shape
    net_cpu = net.to("cpu")
    assert torch.equal(net_cpu(x), ref)


@pytest.mark.gpu
@pytest.mark.parametrize("kw", [dict(integrator="odeint"), dict(alpha=0.6), dict(alpha=0.5, memory="soe")])
def test_cuda_matches_cpu(kw):
    torch.manual_seed(0)
    net = SNNWrapper(MLP(n_layers=2), learn_alpha=kw.get("alpha") is not None, **kw).double()
    x = data(T=200, dtype=F64)
    out_cpu = net(x)
    out_cpu.sum().backward()
    g_cpu = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    net_gpu = net.to("cuda")
    out_gpu = net_gpu(x.cuda())
    out_gpu.sum().backward()
    assert torch.equal(out_gpu.cpu(), out_cpu)
    for a, p in zip(g_cpu, net_gpu.parameters()):
        torch.testing.assert_close(p.grad.cpu(), a, rtol=1e-8, atol=1e-10)
