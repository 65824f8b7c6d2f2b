"""alpha = 1 (and integrator='odeint') is the standard discrete LIF / IF neuron, bit for bit."""
import pytest
import torch
from torch import nn

from spikeDE import HardResetLIFNeuron, IFNeuron, LIFNeuron, SNNWrapper
from spikeDE.surrogate import spike


def plain_lif(x, tau, theta, reset="subtract", v_reset=0.0, leak=True):
    """The textbook discrete LIF/IF loop: H = V + (X - V)/tau; S = (H >= theta); V = H - theta*S (or v_reset)."""
    v = torch.zeros_like(x[0])
    spikes, mems = [], []
    for t in range(x.shape[0]):
        h = v + (x[t] - v) / tau if leak else v + x[t] / tau
        s = (h >= theta).to(x.dtype)
        if reset == "subtract":
            v = h - theta * s
        else:
            v = torch.where(s > 0, torch.full_like(h, v_reset), h)
        spikes.append(s)
        mems.append(v)
    return torch.stack(spikes), torch.stack(mems)


def drive(T=300, shape=(4, 7), dtype=torch.float32):
    return torch.rand(T, *shape, dtype=dtype) * 2.5 - 0.3


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("tau", [2.0, 3.0, 0.7])
def test_alpha_one_equals_plain_lif_bit_for_bit(dtype, reset, tau):
    x = drive(dtype=dtype)
    neuron = LIFNeuron(tau=tau, threshold=1.0, reset=reset, v_reset=-0.25, alpha=1.0).to(dtype)
    neuron.record = True
    s = neuron(x)
    s_ref, v_ref = plain_lif(x, tau, 1.0, reset, -0.25)
    assert s_ref.sum() > 50  # the neurons do fire
    assert torch.equal(s, s_ref)
    assert torch.equal(neuron.v_seq, v_ref)
    assert torch.equal(neuron.v, v_ref[-1])


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_if_neuron_bit_for_bit(reset):
    x = drive()
    neuron = IFNeuron(reset=reset)  # tau = 1: H = V + X
    neuron.record = True
    s = neuron(x)
    s_ref, v_ref = plain_lif(x, 1.0, 1.0, reset, 0.0, leak=False)
    assert torch.equal(s, s_ref) and torch.equal(neuron.v_seq, v_ref)


def test_hard_reset_neuron_really_resets():
    x = drive()
    neuron = HardResetLIFNeuron(tau=2.0, v_reset=0.0)
    neuron.record = True
    s = neuron(x)
    assert s.sum() > 0
    assert torch.all(neuron.v_seq[s > 0] == 0)
    s_ref, v_ref = plain_lif(x, 2.0, 1.0, "zero", 0.0)
    assert torch.equal(s, s_ref) and torch.equal(neuron.v_seq, v_ref)


class TwoLayer(nn.Module):
    def __init__(self, reset="subtract"):
        super().__init__()
        self.fc1 = nn.Linear(6, 12)
        self.lif1 = LIFNeuron(tau=2.0, threshold=1.0, reset=reset)
        self.fc2 = nn.Linear(12, 5)
        self.lif2 = LIFNeuron(tau=2.0, threshold=1.0, reset=reset)

    def forward(self, x):
        return self.lif2(self.fc2(self.lif1(self.fc1(x))))


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("kw", [dict(integrator="fdeint", alpha=1.0), dict(integrator="odeint")])
def test_wrapper_with_alpha_one_is_plain_lif(reset, kw):
    torch.manual_seed(1)
    base = TwoLayer(reset)
    with torch.no_grad():
        base.fc1.weight.mul_(3)
    x = torch.rand(80, 3, 6) * 2
    out = SNNWrapper(base, **kw)(x)
    # the same network written as a plain loop
    with torch.no_grad():
        i1 = base.fc1(x)
        s1, _ = plain_lif(i1, 2.0, 1.0, reset)
        s2, _ = plain_lif(base.fc2(s1), 2.0, 1.0, reset)
    assert s1.sum() > 0 and torch.equal(out, s2)


@pytest.mark.parametrize("reset,detach", [("subtract", True), ("subtract", False), ("zero", True), ("zero", False)])
@pytest.mark.parametrize("leak", [True, False])
def test_lif_backward_equals_autograd_through_plain_loop(reset, detach, leak):
    torch.manual_seed(2)
    T, D = 60, 9
    x = (torch.rand(T, D, dtype=torch.float64) * 2.0).requires_grad_()
    cls = LIFNeuron if leak else IFNeuron
    neuron = cls(tau=2.5, threshold=1.0, surrogate_opt="sigmoid", surrogate_grad_scale=4.0, tau_learnable=True,
                 threshold_learnable=True, reset=reset, v_reset=-0.1, detach_reset=detach).double()
    w = torch.randn(T, D, dtype=torch.float64)
    (neuron(x) * w).sum().backward()
    got = [x.grad.clone(), neuron.log_tau.grad.clone(), neuron.threshold.grad.clone()]

    x2 = x.detach().clone().requires_grad_()
    log_tau = neuron.log_tau.detach().clone().requires_grad_()
    theta = neuron.threshold.detach().clone().requires_grad_()
    tau = log_tau.exp()
    v = torch.zeros(D, dtype=torch.float64)
    out = []
    for t in range(T):
        h = v + (x2[t] - v) / tau if leak else v + x2[t] / tau
        s = spike(h - theta, "sigmoid", 4.0)
        sr = s.detach() if detach else s
        v = h - theta * sr if reset == "subtract" else h * (1 - sr) + (-0.1) * sr
        out.append(s)
    (torch.stack(out) * w).sum().backward()
    for g, r in zip(got, [x2.grad, log_tau.grad, theta.grad]):
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-12)


def test_dt_scales_the_step():
    x = drive(T=100)
    neuron = LIFNeuron(tau=3.0, dt=0.5)
    s_ref, _ = plain_lif(x, 6.0, 1.0)  # H = V + dt (X - V)/tau with tau/dt = 6
    assert torch.equal(neuron(x), s_ref)
