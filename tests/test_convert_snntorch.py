"""snnTorch -> spikeDE: converted ``Leaky`` neurons reproduce the installed snnTorch on the same inputs."""
import copy

import pytest
import torch
from torch import nn

snn = pytest.importorskip("snntorch")
from snntorch import surrogate as sts  # noqa: E402

from spikeDE import CubaLIFNeuron, SNNWrapper, reset_net  # noqa: E402
from spikeDE.convert import LeakyAdapter, UnsupportedModuleError, convert, from_snntorch  # noqa: E402

T, B, D = 30, 3, 12


def _inputs(dtype, thr=1.0):
    # bounded so that the membrane after a reset stays below the threshold (see spikeDE.convert.snntorch)
    return (torch.rand(T, B, D, dtype=dtype) * 1.5 - 0.5) * thr


def _run_peer(lif, x):
    mem = lif.init_leaky()
    s, v = [], []
    for t in range(x.shape[0]):
        spk, mem = lif(x[t], mem)
        s.append(spk)
        v.append(mem)
    return torch.stack(s), torch.stack(v)


def _run_converted(conv, x):
    mem = conv.init_leaky()
    s, v = [], []
    for t in range(x.shape[0]):
        spk, mem = conv(x[t], mem)
        s.append(spk)
        v.append(mem)
    return torch.stack(s), torch.stack(v)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("beta", [0.5, 0.8, 0.93, 1.0])
@pytest.mark.parametrize("mech", ["subtract", "zero"])
def test_leaky_matches_without_reset_delay(mech, beta, dtype):
    lif = snn.Leaky(beta=beta, threshold=0.9, reset_mechanism=mech, reset_delay=False)
    conv = from_snntorch(copy.deepcopy(lif))
    assert isinstance(conv, LeakyAdapter)
    x = _inputs(dtype, 0.9)
    s1, v1 = _run_peer(lif, x)
    s2, v2 = _run_converted(conv, x)
    assert 0.02 < float(s1.mean()) < 0.9
    assert s2.dtype == dtype and v2.dtype == dtype
    assert torch.equal(s1.to(dtype), s2)  # snnTorch's spikes are always float32
    torch.testing.assert_close(v2, v1.to(dtype), rtol=0, atol=64 * torch.finfo(dtype).eps)


@pytest.mark.parametrize("beta", [0.6, 0.9])
def test_zero_reset_with_reset_delay_gives_the_same_spikes(beta):
    """snnTorch's default reset_delay=True with reset to zero is the same recursion; its returned membrane is the
    one before the reset, which equals spikeDE's (after the reset) wherever no spike was emitted."""
    lif = snn.Leaky(beta=beta, reset_mechanism="zero")
    conv = from_snntorch(copy.deepcopy(lif))
    x = _inputs(torch.float64)
    s1, v1 = _run_peer(lif, x)
    s2, v2 = _run_converted(conv, x)
    assert 0.02 < float(s1.mean()) < 0.9
    assert torch.equal(s1.double(), s2)
    quiet = s2 == 0
    torch.testing.assert_close(v2[quiet], v1[quiet].double(), rtol=0, atol=1e-6)
    assert bool((v2[~quiet] == 0).all())


def test_subtractive_reset_delay_is_refused_with_reason():
    net = nn.Sequential(nn.Linear(D, D), snn.Leaky(beta=0.9, init_hidden=True))
    with pytest.raises(UnsupportedModuleError, match=r"reset_delay=True.*threshold/beta.*reset_delay=False"):
        from_snntorch(net)


SURR = [sts.atan(), sts.atan(alpha=3.0), sts.sigmoid(slope=10), sts.fast_sigmoid(slope=25), sts.fast_sigmoid(slope=5)]


@pytest.mark.parametrize("spike_grad", SURR, ids=lambda f: f.__qualname__.split(".")[0])
@pytest.mark.parametrize("mech", ["subtract", "zero"])
def test_gradients_match(spike_grad, mech):
    dtype = torch.float64
    lif = snn.Leaky(beta=0.8, spike_grad=spike_grad, reset_mechanism=mech, reset_delay=False)
    conv = from_snntorch(copy.deepcopy(lif))
    x = _inputs(dtype)
    w = torch.randn(T, B, D, dtype=dtype)
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    (_run_peer(lif, x1)[0] * w).sum().backward()
    (_run_converted(conv, x2)[0] * w).sum().backward()
    assert float(x1.grad.abs().max()) > 0
    # snnTorch's spikes, hence its spike gradients, are float32 whatever the input dtype
    torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-4, atol=1e-6)


def _seq_net():
    # reset to zero: exact for any input (the subtractive reset needs the membrane after a reset to stay below
    # the threshold, see spikeDE.convert.snntorch); hidden layer with snnTorch's default reset_delay=True
    net = nn.Sequential(nn.Linear(D, 16), snn.Leaky(beta=0.85, init_hidden=True, reset_mechanism="zero"),
                        nn.Linear(16, 5), snn.Leaky(beta=0.7, init_hidden=True, output=True, reset_delay=False,
                                                    reset_mechanism="zero"))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(4.0)
    return net


def _run_seq_peer(net, x):
    for m in net.modules():
        if isinstance(m, snn.Leaky):
            m.reset_mem()
    s, v = [], []
    for t in range(x.shape[0]):
        spk, mem = net(x[t])
        s.append(spk)
        v.append(mem)
    return torch.stack(s), torch.stack(v)


@pytest.mark.parametrize("wrapper_mode", ["multi", "single"])
def test_per_step_network_through_snnwrapper(wrapper_mode):
    net = _seq_net()
    x = torch.rand(T, B, D)
    with torch.no_grad():
        s1, v1 = _run_seq_peer(net, x)
        wrapped = SNNWrapper(convert(copy.deepcopy(net)), integrator="fdeint", alpha=1.0, step_mode=wrapper_mode)
        s2, v2 = wrapped(x)
    assert 0.02 < float(s1.mean()) < 0.9
    assert torch.equal(s1, s2)
    torch.testing.assert_close(v2, v1, rtol=0, atol=1e-5)


class LoopNet(nn.Module):
    """snnTorch's tutorial style: the forward loops over time and passes the membrane explicitly."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(D, 16), nn.Linear(16, 5)
        self.lif1 = snn.Leaky(beta=0.9, reset_delay=False, reset_mechanism="zero")
        self.lif2 = snn.Leaky(beta=0.9, reset_mechanism="zero")
        with torch.no_grad():
            self.fc1.weight.mul_(3.0)
            self.fc2.weight.mul_(4.0)

    def forward(self, x):
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        out = []
        for t in range(x.shape[0]):
            spk1, mem1 = self.lif1(self.fc1(x[t]), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            out.append(spk2)
        return torch.stack(out)


def test_state_passing_network_runs_on_its_own_and_fractional():
    net = LoopNet()
    x = torch.rand(T, B, D)
    with torch.no_grad():
        ref = net(x)
        conv = from_snntorch(copy.deepcopy(net))
        out1, out2 = conv(x), conv(x)  # init_leaky() restarts every call from rest
    assert 0.02 < float(ref.mean()) < 0.9
    assert torch.equal(out1, ref) and torch.equal(out2, ref)
    frac = from_snntorch(copy.deepcopy(net), alpha=0.6, learn_alpha=True)
    out = frac(x)
    assert not torch.equal(out, ref)
    out.sum().backward()
    alpha_params = [p for n, p in frac.named_parameters() if "order" in n]
    assert alpha_params and all(p.grad is not None for p in alpha_params)


def test_learnable_beta_and_threshold():
    lif = snn.Leaky(beta=0.8, threshold=1.2, learn_beta=True, learn_threshold=True, reset_delay=False)
    conv = from_snntorch(lif)
    assert conv.neuron.tau_learnable and conv.neuron.threshold_learnable
    torch.testing.assert_close(float(conv.neuron.tau), 5.0, rtol=1e-6, atol=0)
    spk = torch.stack([conv(xt)[0] for xt in _inputs(torch.float32, 1.2)])
    spk.sum().backward()
    assert conv.neuron.log_tau.grad is not None and conv.neuron.threshold.grad is not None


def test_unsupported_are_listed():
    net = nn.Sequential(snn.Synaptic(alpha=0.9, beta=0.8), snn.Leaky(beta=0.5, spike_grad=sts.triangular(),
                                                                     reset_delay=False),
                        snn.Leaky(beta=0.5, reset_mechanism="none"), snn.Lapicque(beta=0.9))
    with pytest.raises(UnsupportedModuleError) as e:
        from_snntorch(net)
    msg = str(e.value)
    assert all(f"\n  {i} (" in msg for i in range(4))
    assert "reset_delay=True" in msg and "triangular" in msg and "'none'" in msg and "supported snnTorch" in msg


def test_reset_net_restarts_the_adapter():
    conv = from_snntorch(snn.Leaky(beta=0.9, reset_delay=False))
    x = _inputs(torch.float32)
    a = _run_converted(conv, x)[0]
    for t in range(3):
        conv(x[t])
    reset_net(conv)
    b = torch.stack([conv(x[t])[0] for t in range(T)])
    assert torch.equal(a, b)


# ---------------------------------------------------------------- Synaptic -> CubaLIFNeuron
TS = 200


def _run_synaptic_peer(lif, x):
    syn, mem = lif.init_synaptic()
    out = []
    for t in range(x.shape[0]):
        spk, syn, mem = lif(x[t], syn, mem)
        out.append((spk, syn, mem))
    return [torch.stack(o) for o in zip(*out)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("alpha,beta", [(0.9, 0.8), (0.5, 0.95), (0.0, 0.7)])
@pytest.mark.parametrize("mech", ["subtract", "zero"])
def test_synaptic_matches_over_200_steps(mech, alpha, beta, dtype):
    torch.manual_seed(1)
    lif = snn.Synaptic(alpha=alpha, beta=beta, threshold=0.9, reset_mechanism=mech, reset_delay=False)
    conv = from_snntorch(copy.deepcopy(lif))
    assert isinstance(conv.neuron, CubaLIFNeuron)
    x = (torch.rand(TS, B, D, dtype=dtype) * 1.5 - 0.5) * 0.9 * (1 - alpha)  # keeps H <= 2 theta after a reset
    s1, i1, v1 = _run_synaptic_peer(lif, x)
    s2, i2, v2 = _run_synaptic_peer(conv, x)
    assert 0.02 < float(s1.mean()) < 0.9
    assert s2.dtype == dtype and v2.dtype == dtype and i2.dtype == dtype
    assert torch.equal(s1.to(dtype), s2)
    tol = 64 * torch.finfo(dtype).eps  # a I + x (snnTorch) against I + (k x - I)/k, beta V + I against V + (tau I - V)/tau
    torch.testing.assert_close(v2, v1.to(dtype), rtol=0, atol=tol)
    torch.testing.assert_close(i2, i1.to(dtype), rtol=0, atol=tol)


def test_synaptic_refusals_name_the_reason():
    cases = [(snn.Synaptic(alpha=0.9, beta=0.8), "reset_delay=True"),
             (snn.Synaptic(alpha=0.9, beta=0.8, reset_delay=False, learn_alpha=True), "learn_alpha"),
             (snn.Synaptic(alpha=1.0, beta=0.8, reset_delay=False), "never decays"),
             (snn.Synaptic(alpha=0.5, beta=1.0, reset_delay=False), "beta = 1")]
    for m, why in cases:
        with pytest.raises(UnsupportedModuleError, match=why):
            from_snntorch(nn.Sequential(m))


def _synaptic_net(mech, dtype):
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(D, 16), snn.Synaptic(alpha=0.8, beta=0.85, init_hidden=True, reset_delay=False,
                                                       reset_mechanism=mech),
                        nn.Linear(16, 5), snn.Synaptic(alpha=0.6, beta=0.7, init_hidden=True, output=True,
                                                       reset_delay=False, reset_mechanism=mech)).to(dtype)
    with torch.no_grad():
        net[0].weight.mul_(1.5)
        net[2].weight.mul_(2.0)
    return net


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("wrapper_mode", ["multi", "single"])
@pytest.mark.parametrize("mech", ["subtract", "zero"])
def test_synaptic_network_through_snnwrapper(mech, wrapper_mode, dtype):
    torch.manual_seed(3)
    if mech == "zero" and dtype == torch.float32:  # exact for any input: two layers (snnTorch's spikes are float32,
        # so its multi-layer networks run in float32 only)
        net, x = _synaptic_net(mech, dtype), torch.rand(TS, B, D, dtype=dtype)
    else:  # the subtractive reset needs H <= 2 theta after a reset (module docstring): one layer, bounded input
        net = nn.Sequential(snn.Synaptic(alpha=0.8, beta=0.85, threshold=0.9, init_hidden=True, output=True,
                                         reset_delay=False))
        x = (torch.rand(TS, B, D, dtype=dtype) * 1.5 - 0.5) * 0.9 * 0.2
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, snn.Synaptic):
                m.reset_mem()
        ref = [net(x[t]) for t in range(TS)]
        s1, v1 = torch.stack([r[0] for r in ref]), torch.stack([r[2] for r in ref])
        wrapped = SNNWrapper(convert(copy.deepcopy(net)), integrator="fdeint", alpha=1.0, step_mode=wrapper_mode)
        out = wrapped(x)
    assert 0.02 < float(s1.mean()) < 0.9
    assert torch.equal(s1.to(dtype), out[0])
    torch.testing.assert_close(out[2], v1.to(dtype), rtol=0, atol=1e3 * torch.finfo(dtype).eps)


def test_fractional_synaptic_runs_and_trains():
    net = _synaptic_net("subtract", torch.float32)
    x = torch.rand(40, B, D)
    frac = SNNWrapper(convert(net), integrator="fdeint", alpha=[0.6, 0.8], learn_alpha=True)
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
