"""Norse -> spikeDE: converted LIF neurons reproduce the installed Norse on the same inputs."""
import copy

import pytest
import torch
from torch import nn

norse = pytest.importorskip("norse.torch")
from norse.torch.functional.reset import reset_subtract  # noqa: E402

from spikeDE import CubaLIFNeuron, SNNWrapper, reset_net  # noqa: E402
from spikeDE.convert import NorseAdapter, UnsupportedModuleError, convert, from_norse  # noqa: E402

T, B, D = 30, 3, 12


def _p(tau_mem_inv=0.5, method="super", alpha=100.0, v_th=1.0, v_reset=0.0, **kw):
    return norse.LIFParameters(tau_syn_inv=torch.as_tensor(1.0), tau_mem_inv=torch.as_tensor(tau_mem_inv),
                               v_leak=torch.as_tensor(0.0), v_th=torch.as_tensor(v_th),
                               v_reset=torch.as_tensor(v_reset), method=method, alpha=torch.as_tensor(alpha), **kw)


def _run_cell(cell, x):
    s, v, state = [], [], None
    for t in range(x.shape[0]):
        z, state = cell(x[t], state)
        s.append(z)
        v.append(state.v.expand_as(z))
    return torch.stack(s), torch.stack(v)


def _inputs(dtype=torch.float32):
    return torch.rand(T, B, D, dtype=dtype) * 2.5 - 0.3


@pytest.mark.parametrize("v_reset", [0.0, -0.25])
@pytest.mark.parametrize("kind", ["LIFCell", "LIF"])
def test_lif_is_bit_identical_for_power_of_two_tau(kind, v_reset):
    p = _p(tau_mem_inv=0.5, v_reset=v_reset)
    if kind == "LIFCell":
        peer = norse.LIFCell(p, dt=1.0)
    else:
        peer = norse.LIF(p, dt=1.0, record_states=True)
    conv = from_norse(copy.deepcopy(peer))
    assert isinstance(conv, NorseAdapter)
    x = _inputs()
    if kind == "LIFCell":
        s1, v1 = _run_cell(peer, x)
        reset_net(conv)
        s2, v2 = _run_cell(conv, x)
    else:
        s1, st = peer(x)
        v1 = st.v
        s2, last = conv(x)
        v2 = conv.neuron.v_seq
        assert torch.equal(last.v, v2[-1])
    assert 0.02 < float(s1.detach().mean()) < 0.9
    assert torch.equal(s1, s2)
    assert torch.equal(v1, v2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lif_cell_other_tau_matches_to_rounding(dtype):
    peer = norse.LIFCell(_p(tau_mem_inv=0.3), dt=1.0)  # tau = 3.33 steps
    conv = from_norse(copy.deepcopy(peer))
    torch.testing.assert_close(float(conv.neuron.tau), 1 / 0.3, rtol=1e-6, atol=0)
    x = _inputs(dtype)
    s1, v1 = _run_cell(peer, x)
    s2, v2 = _run_cell(conv, x)
    assert s2.dtype == dtype
    assert torch.equal(s1, s2)
    torch.testing.assert_close(v2, v1, rtol=0, atol=1e-5)


@pytest.mark.parametrize("reset_method", ["value", "subtract"])
def test_lif_box_cell(reset_method):
    kw = {} if reset_method == "value" else {"reset_method": reset_subtract}
    p = norse.LIFBoxParameters(tau_mem_inv=torch.as_tensor(0.25), v_leak=torch.as_tensor(0.0),
                               v_th=torch.as_tensor(1.0), v_reset=torch.as_tensor(0.0), method="super",
                               alpha=torch.as_tensor(100.0), **kw)
    peer = norse.LIFBoxCell(p, dt=1.0)
    conv = from_norse(copy.deepcopy(peer))
    assert conv.neuron.reset_mode == ("zero" if reset_method == "value" else "subtract")
    x = _inputs()
    s1, v1 = _run_cell(peer, x)
    s2, v2 = _run_cell(conv, x)
    assert 0.02 < float(s1.detach().mean()) < 0.9
    assert torch.equal(s1, s2) and torch.equal(v1, v2)


@pytest.mark.parametrize("method,alpha", [("super", 100.0), ("triangle", 0.3), ("triangle", 2.0), ("tanh", 3.0),
                                          ("heavi_erfc", 2.0)])
def test_gradients_match(method, alpha):
    peer = norse.LIFCell(_p(tau_mem_inv=0.5, method=method, alpha=alpha), dt=1.0)
    conv = from_norse(copy.deepcopy(peer))
    x = _inputs()
    w = torch.randn(T, B, D)
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    (_run_cell(peer, x1)[0] * w).sum().backward()
    (_run_cell(conv, x2)[0] * w).sum().backward()
    assert float(x1.grad.abs().max()) > 0
    torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-4, atol=1e-5)


class StepNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(D, 16), nn.Linear(16, 5)
        self.lif1 = norse.LIFCell(_p(tau_mem_inv=0.5), dt=1.0)
        self.lif2 = norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.as_tensor(0.5),
                                                            v_leak=torch.as_tensor(0.0)), dt=1.0)
        with torch.no_grad():
            self.fc1.weight.mul_(4.0)
            self.fc2.weight.abs_().mul_(8.0)

    def forward(self, x, s1=None, s2=None):
        z, s1 = self.lif1(self.fc1(x), s1)
        z, s2 = self.lif2(self.fc2(z), s2)
        return z, s1, s2


@pytest.mark.parametrize("wrapper_mode", ["multi", "single"])
def test_network_through_snnwrapper(wrapper_mode):
    net = StepNet()
    x = torch.rand(T, B, D)
    with torch.no_grad():
        ref, s1, s2 = [], None, None
        for t in range(T):
            z, s1, s2 = net(x[t], s1, s2)
            ref.append(z)
        ref = torch.stack(ref)
        conv = convert(copy.deepcopy(net))
        out = SNNWrapper(conv, integrator="fdeint", alpha=1.0, step_mode=wrapper_mode)(x)[0]
    assert 0.02 < float(ref.detach().mean()) < 0.9
    assert torch.equal(out, ref)
    frac = SNNWrapper(convert(copy.deepcopy(net)), integrator="fdeint", alpha=[0.5, 0.9], learn_alpha=True)
    out = frac(x)[0]
    out.sum().backward()
    assert all(p.grad is not None for n, p in frac.named_parameters() if n.startswith("orders"))


def test_unsupported_are_listed():
    net = nn.Sequential(norse.LIFCell(_p(), dt=3.0),  # dt * tau_syn_inv = 3: a current that changes sign
                        norse.LIFCell(_p(method="circ"), dt=1.0), norse.IAFCell(), norse.LIFCell(
                            norse.LIFParameters(tau_syn_inv=torch.as_tensor(1.0), v_leak=torch.as_tensor(-0.1)),
                            dt=1.0))
    with pytest.raises(UnsupportedModuleError) as e:
        from_norse(net)
    msg = str(e.value)
    assert all(f"\n  {i} (" in msg for i in range(4))
    assert "tau_syn_inv" in msg and "'circ'" in msg and "v_leak" in msg and "supported Norse" in msg


# ---------------------------------------------------------------- current-based LIF -> CubaLIFNeuron
TS = 200


def _p_cuba(tau_mem_inv, tau_syn_inv, v_reset=0.0):
    return norse.LIFParameters(tau_syn_inv=torch.as_tensor(tau_syn_inv), tau_mem_inv=torch.as_tensor(tau_mem_inv),
                               v_leak=torch.as_tensor(0.0), v_th=torch.as_tensor(1.0),
                               v_reset=torch.as_tensor(v_reset))


def _run_cell_state(cell, x):
    s, v, i, state = [], [], [], None
    for t in range(x.shape[0]):
        z, state = cell(x[t], state)
        s.append(z)
        v.append(state.v.expand_as(z))
        i.append(state.i.expand_as(z))
    return torch.stack(s), torch.stack(v), torch.stack(i)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["LIFCell", "LIF"])
@pytest.mark.parametrize("rates,v_reset", [((0.5, 0.25), 0.0), ((0.3, 0.2), -0.25), ((0.2, 0.7), 0.0)])
def test_current_based_lif_matches_over_200_steps(rates, v_reset, kind, dtype):
    torch.manual_seed(4)
    p = _p_cuba(*rates, v_reset=v_reset)
    peer = norse.LIFCell(p, dt=1.0) if kind == "LIFCell" else norse.LIF(p, dt=1.0, record_states=True)
    conv = from_norse(copy.deepcopy(peer))
    assert isinstance(conv.neuron, CubaLIFNeuron)
    x = (torch.rand(TS, B, D, dtype=dtype) * 2.5 - 0.3) * rates[1]
    if kind == "LIFCell":
        s1, v1, i1 = _run_cell_state(peer, x)
        reset_net(conv)
        s2, v2, i2 = _run_cell_state(conv, x)
    else:
        s1, st = peer(x)
        v1, i1 = st.v, st.i[-1]
        s2, last = conv(x)
        v2, i2 = conv.neuron.v_seq, last.i
        assert torch.equal(last.v, v2[-1])
    assert 0.02 < float(s1.detach().mean()) < 0.9
    assert s2.dtype == dtype and v2.dtype == dtype and i2.dtype == dtype
    assert torch.equal(s1, s2)
    tol = 16 * torch.finfo(dtype).eps  # c(1 - s) + x (Norse) against I + (x/s - I)/(1/s); V r against V / tau
    torch.testing.assert_close(v2, v1.detach(), rtol=0, atol=tol)
    torch.testing.assert_close(i2, i1.detach(), rtol=0, atol=tol)


def test_norse_default_lif_cell_is_current_based():
    conv = from_norse(norse.LIFCell())  # dt = 1e-3, tau_syn_inv = 200, tau_mem_inv = 100
    assert isinstance(conv.neuron, CubaLIFNeuron)
    torch.testing.assert_close(conv.neuron.tau_syn, 5.0, rtol=1e-12, atol=0)
    torch.testing.assert_close(float(conv.neuron.tau), 10.0, rtol=1e-6, atol=0)


class CubaNet(nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(D, 16, dtype=dtype), nn.Linear(16, 5, dtype=dtype)
        self.lif1 = norse.LIFCell(_p_cuba(0.5, 0.3), dt=1.0)
        self.lif2 = norse.LIFCell(_p_cuba(0.4, 0.5), dt=1.0)
        with torch.no_grad():
            self.fc1.weight.mul_(2.0)
            self.fc2.weight.abs_().mul_(3.0)

    def forward(self, x, s1=None, s2=None):
        z, s1 = self.lif1(self.fc1(x), s1)
        z, s2 = self.lif2(self.fc2(z), s2)
        return z, s1, s2


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("wrapper_mode", ["multi", "single"])
def test_current_based_network_through_snnwrapper(wrapper_mode, dtype):
    torch.manual_seed(5)
    net = CubaNet(dtype)
    x = torch.rand(TS, B, D, dtype=dtype)
    with torch.no_grad():
        ref, s1, s2 = [], None, None
        for t in range(TS):
            z, s1, s2 = net(x[t], s1, s2)
            ref.append(z)
        ref = torch.stack(ref)
        out = SNNWrapper(convert(copy.deepcopy(net)), integrator="fdeint", alpha=1.0, step_mode=wrapper_mode)(x)[0]
    assert 0.02 < float(ref.mean()) < 0.9
    assert out.dtype == dtype
    assert torch.equal(out, ref)


def test_fractional_current_based_runs_and_trains():
    torch.manual_seed(6)
    x = torch.rand(40, B, D)
    frac = SNNWrapper(convert(CubaNet(torch.float32)), integrator="fdeint", alpha=[0.6, 0.8], learn_alpha=True)
    opt = torch.optim.Adam(frac.parameters(), lr=0.05)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = (frac(x)[0].mean() - 0.4) ** 2
        loss.backward()
        assert all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in frac.parameters())
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]
