"""SpikingJelly -> spikeDE: the converted neurons and networks reproduce SpikingJelly's own outputs (the
independent truth is the installed SpikingJelly run on the same inputs)."""
import copy

import pytest
import torch
from torch import nn

pytest.importorskip("spikingjelly.activation_based.neuron")
from spikingjelly.activation_based import functional as sjf  # noqa: E402
from spikingjelly.activation_based import layer as sjl  # noqa: E402
from spikingjelly.activation_based import neuron as sjn  # noqa: E402
from spikingjelly.activation_based import surrogate as sjs  # noqa: E402

from spikeDE import BaseNeuron, SNNWrapper  # noqa: E402
from spikeDE.convert import UnsupportedModuleError, convert, from_spikingjelly  # noqa: E402

T, B, D = 24, 3, 10


def _inner(m):
    return m if isinstance(m, BaseNeuron) else m.neuron


def _run_peer(node, x, mode):
    """SpikingJelly's spikes and membranes (after reset), [T, ...]."""
    sjf.reset_net(node)
    if mode == "m":
        return node(x), node.v_seq
    s, v = [], []
    for t in range(x.shape[0]):
        s.append(node(x[t]))
        v.append(node.v)
    return torch.stack(s), torch.stack(v)


def _run_converted(conv, x, mode):
    neuron = _inner(conv)
    neuron.record = True
    neuron.reset()
    if mode == "m":
        return conv(x), neuron.v_seq
    s, v = [], []
    for t in range(x.shape[0]):
        s.append(conv(x[t]))
        v.append(neuron.v)
    return torch.stack(s), torch.stack(v)


EXACT = [(sjn.IFNode, {}), (sjn.LIFNode, dict(tau=2.0)), (sjn.LIFNode, dict(tau=3.7))]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("mode", ["m", "s"])
@pytest.mark.parametrize("v_reset", [None, 0.0])
@pytest.mark.parametrize("cls,kw", EXACT)
def test_if_and_lif_are_bit_identical(cls, kw, v_reset, mode, dtype):
    node = cls(v_reset=v_reset, surrogate_function=sjs.ATan(), step_mode=mode, store_v_seq=True, **kw).to(dtype)
    conv = from_spikingjelly(copy.deepcopy(node))
    x = torch.rand(T, B, D, dtype=dtype) * (1.6 if cls is sjn.IFNode else 2.8) - 0.2
    s1, v1 = _run_peer(node, x, mode)
    s2, v2 = _run_converted(conv, x, mode)
    assert 0.02 < float(s1.mean()) < 0.9  # the test exercises firing and resetting
    assert s2.dtype == dtype and v2.dtype == dtype
    assert torch.equal(s1, s2)
    assert torch.equal(v1, v2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("mode", ["m", "s"])
@pytest.mark.parametrize("v_reset", [None, 0.0])
@pytest.mark.parametrize("cls,kw", [(sjn.LIFNode, dict(tau=3.0, decay_input=False)),
                                    (sjn.ParametricLIFNode, dict(init_tau=2.5)),
                                    (sjn.ParametricLIFNode, dict(init_tau=4.0, decay_input=False))])
def test_rounding_level_mappings(cls, kw, v_reset, mode, dtype):
    """decay_input=False and the parametric LIF: same spikes, membranes equal to rounding."""
    node = cls(v_reset=v_reset, surrogate_function=sjs.Sigmoid(), step_mode=mode, store_v_seq=True, **kw).to(dtype)
    conv = from_spikingjelly(copy.deepcopy(node))
    x = torch.rand(T, B, D, dtype=dtype) * (0.8 if kw.get("decay_input") is False else 2.5) - 0.1
    s1, v1 = _run_peer(node, x, mode)
    s2, v2 = _run_converted(conv, x, mode)
    assert 0.02 < float(s1.detach().mean()) < 0.9
    assert torch.equal(s1, s2)
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(v2, v1, rtol=0, atol=64 * eps)


def test_parametric_lif_tau_is_learnable_and_tied():
    node = sjn.ParametricLIFNode(init_tau=3.0, step_mode="m")
    conv = from_spikingjelly(copy.deepcopy(node))
    neuron = _inner(conv)
    assert neuron.tau_learnable
    torch.testing.assert_close(float(neuron.tau), 3.0, rtol=1e-6, atol=0)
    x = torch.rand(T, B, D) * 2
    conv(x).sum().backward()
    assert neuron.log_tau.grad is not None and float(neuron.log_tau.grad.abs()) > 0


SURROGATES = [sjs.ATan(alpha=2.0), sjs.ATan(alpha=3.5), sjs.Sigmoid(alpha=4.0), sjs.PiecewiseQuadratic(alpha=1.0),
              sjs.Erf(alpha=2.0), sjs.SoftSign(alpha=2.0), sjs.SuperSpike(alpha=1.5), sjs.Rect(alpha=1.0)]


@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: f"{type(s).__name__}{s.alpha}")
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("v_reset", [None, 0.0])
def test_gradients_match(surrogate, detach_reset, v_reset):
    """Input gradients of a weighted spike count agree (surrogates mapped to the same function)."""
    dtype = torch.float64
    node = sjn.LIFNode(tau=2.0, v_reset=v_reset, surrogate_function=surrogate, detach_reset=detach_reset,
                       step_mode="m").to(dtype)
    conv = from_spikingjelly(copy.deepcopy(node))
    x = (torch.rand(T, B, D, dtype=dtype) * 1.6 - 0.2)
    w = torch.randn(T, B, D, dtype=dtype)
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    sjf.reset_net(node)
    (node(x1) * w).sum().backward()
    (conv(x2) * w).sum().backward()
    assert float(x1.grad.abs().max()) > 0
    torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-9, atol=1e-12)


def _cnn(step_mode):
    net = nn.Sequential(
        sjl.Conv2d(1, 4, 3, padding=1, bias=False), sjl.BatchNorm2d(4),
        sjn.LIFNode(tau=2.0, v_reset=None, surrogate_function=sjs.ATan(), detach_reset=True),
        sjl.AvgPool2d(2), sjl.Flatten(), sjl.Linear(4 * 4 * 4, 10),
        sjn.IFNode(v_reset=0.0, surrogate_function=sjs.Sigmoid()))
    with torch.no_grad():
        net[0].weight.abs_()
        net[5].weight.mul_(6.0)
    sjf.set_step_mode(net, step_mode)
    return net.eval()


@pytest.mark.parametrize("wrapper_mode", ["multi", "single"])
def test_network_through_snnwrapper_is_identical_at_alpha_1(wrapper_mode):
    net = _cnn("m")
    x = torch.rand(8, 5, 1, 8, 8) * 2
    with torch.no_grad():
        sjf.reset_net(net)
        ref = net(x)
        wrapped = SNNWrapper(from_spikingjelly(copy.deepcopy(net)), integrator="fdeint", alpha=1.0,
                             step_mode=wrapper_mode)
        out = wrapped(x)
    assert 0 < float(ref.mean()) < 0.9
    assert torch.equal(out, ref)


def test_network_trains_as_fractional_snn():
    net = convert(_cnn("m").train())
    wrapped = SNNWrapper(net, integrator="fdeint", alpha=0.7, learn_alpha=True)
    assert len(wrapped.neuron_layers) == 2
    x = torch.rand(6, 4, 1, 8, 8) * 2
    out = wrapped(x)
    assert out.shape == (6, 4, 10)
    loss = nn.functional.cross_entropy(out.mean(0), torch.arange(4))
    loss.backward()
    orders = [p for n, p in wrapped.named_parameters() if n.startswith("orders")]
    assert orders and all(p.grad is not None and torch.isfinite(p.grad).all() for p in orders)
    assert net[0].weight.grad is not None and float(net[0].weight.grad.abs().sum()) > 0


def test_containers_become_sequential():
    net = nn.Sequential(sjl.SeqToANNContainer(nn.Linear(D, 6), nn.ReLU()), sjl.Dropout(0.3),
                        sjn.IFNode(step_mode="m")).eval()
    sjf.set_step_mode(net, "m")
    x = torch.rand(T, B, D)
    with torch.no_grad():
        ref = net(x)
        out = SNNWrapper(from_spikingjelly(copy.deepcopy(net)), alpha=1.0)(x)
    assert torch.equal(out, ref)


def test_unsupported_modules_are_listed():
    net = nn.Sequential(nn.Linear(D, D), sjn.LIFNode(tau=2.0, surrogate_function=sjs.PiecewiseExp()),
                        sjn.IFNode(v_reset=-0.5), sjn.QIFNode() if hasattr(sjn, "QIFNode") else sjn.IzhikevichNode(),
                        sjl.SynapseFilter())
    with pytest.raises(UnsupportedModuleError) as e:
        from_spikingjelly(net)
    msg = str(e.value)
    for name in ("1 (", "2 (", "3 (", "4 ("):
        assert name in msg
    assert "PiecewiseExp" in msg and "v_reset=-0.5" in msg and "supported SpikingJelly modules" in msg
    assert "\n  0 (" not in msg  # torch layers are kept


def test_neuron_keywords_make_standalone_fractional_neurons():
    node = sjn.LIFNode(tau=2.0, step_mode="m")
    x = torch.rand(T, B, D) * 2.8
    with torch.no_grad():
        ref = from_spikingjelly(copy.deepcopy(node))(x)
        frac = from_spikingjelly(copy.deepcopy(node), alpha=0.6)
        out = frac(x)
    assert float(frac.order.value) == pytest.approx(0.6)
    assert out.shape == ref.shape and not torch.equal(out, ref)
