"""Single-step (streaming) equals multi-step; state, reset_net; noisy threshold; bad input."""
import pytest
import torch

from spikeDE import HardResetLIFNeuron, IFNeuron, LIFNeuron, NoisyLIFNeuron, reset_net

F64 = torch.float64


def run_single(neuron, x):
    neuron.step_mode = "s"
    neuron.reset()
    spikes, mems = [], []
    for t in range(x.shape[0]):
        spikes.append(neuron(x[t]))
        mems.append(neuron.v)
    neuron.step_mode = "m"
    return torch.stack(spikes), torch.stack(mems)


CONFIGS = [
    dict(alpha=1.0),
    dict(alpha=0.5),
    dict(alpha=0.7, method="l1"),
    dict(alpha=0.6, method="predictor"),
    dict(alpha=0.6, method="corrector"),
    dict(alpha=0.4, memory=9),
    dict(alpha=0.5, memory="soe"),
    dict(alpha=0.6, method="l1", memory="soe"),
    dict(alpha=[0.4, 0.9], multi_coefficient=[1.0, 0.3]),
]


@pytest.mark.parametrize("kw", CONFIGS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_single_step_equals_multi_step(kw, reset):
    T = 300 if kw.get("memory") == "soe" else 140  # SOE: beyond two blocks, so the modes are used
    x = 1.1 + 0.8 * torch.randn(T, 3, 7, generator=torch.Generator().manual_seed(3), dtype=F64)
    neuron = LIFNeuron(reset=reset, **kw).double()
    neuron.record = True
    s_multi = neuron(x)
    v_multi = neuron.v_seq
    s_single, v_single = run_single(neuron, x)
    assert 0.02 < s_multi.mean() < 0.9
    assert torch.equal(s_multi, s_single)
    torch.testing.assert_close(v_single, v_multi, rtol=1e-10, atol=1e-10)


def test_single_step_gradients_equal_multi_step():
    T = 50
    x = 1.1 + 0.8 * torch.randn(T, 2, 4, generator=torch.Generator().manual_seed(8), dtype=F64)
    w = torch.randn(T, 2, 4, generator=torch.Generator().manual_seed(9), dtype=F64)
    grads = []
    for mode in ("m", "s"):
        neuron = LIFNeuron(alpha=0.6, learn_alpha=True, tau_learnable=True).double()
        xi = x.clone().requires_grad_()
        if mode == "m":
            s = neuron(xi)
        else:
            s, _ = run_single(neuron, xi)
        (s * w).sum().backward()
        grads.append((xi.grad, neuron.order.logit.grad, neuron.log_tau.grad))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_state_is_kept_and_reset():
    neuron = LIFNeuron(alpha=0.7, step_mode="s")
    x = torch.full((2, 3), 0.8)
    s1 = neuron(x)
    v1 = neuron.v.clone()
    neuron(x)
    assert not torch.equal(neuron.v, v1)  # the membrane kept charging
    reset_net(torch.nn.Sequential(neuron))
    assert neuron.v is None
    assert torch.equal(neuron(x), s1) and torch.equal(neuron.v, v1)


def test_monitor_attributes():
    neuron = IFNeuron(alpha=0.8)
    x = torch.rand(20, 4, 5) * 2
    s = neuron(x)
    assert neuron.v.shape == (4, 5) and torch.equal(neuron.spike, s[-1])
    assert neuron.v_seq is None  # sequences are kept only on request
    neuron.record = True
    s = neuron(x)
    assert neuron.v_seq.shape == x.shape and torch.equal(neuron.spike_seq, s)
    assert not neuron.v_seq.requires_grad


def test_noisy_neuron_stochastic_in_training_deterministic_in_eval():
    x = 0.9 + 0.3 * torch.randn(200, 4, 8, generator=torch.Generator().manual_seed(0))
    neuron = NoisyLIFNeuron(alpha=0.7, noise_scale=0.2)
    neuron.train()
    a, b = neuron(x), neuron(x)
    assert not torch.equal(a, b)
    neuron.eval()
    c, d = neuron(x), neuron(x)
    assert torch.equal(c, d)
    plain = LIFNeuron(alpha=0.7).eval()
    assert torch.equal(c, plain(x))  # eval: the deterministic neuron
    # the noise is logistic with scale gamma: at H = theta the firing probability is 1/2
    n2 = NoisyLIFNeuron(tau=1.0, noise_scale=0.5, alpha=1.0).train()
    p = n2(torch.ones(1, 20000)).mean()  # one step from rest: H = X = theta
    assert abs(p.item() - 0.5) < 0.02


def test_noisy_neuron_gradient_is_the_logistic_density():
    # expectation-gradient mode: d S / d X at one step from rest = g(H - theta) / tau with g the logistic pdf
    gamma = 0.25
    n = NoisyLIFNeuron(tau=2.0, noise_scale=gamma, noise_in_grad=False, alpha=1.0).double().train()
    x = torch.tensor([[1.5, 2.0, 2.4]], dtype=F64, requires_grad=True)
    n(x).sum().backward()
    z = (x.detach() / 2.0 - 1.0) / gamma
    expected = torch.sigmoid(z) * (1 - torch.sigmoid(z)) / gamma / 2.0
    torch.testing.assert_close(x.grad, expected, rtol=1e-12, atol=0)


def test_noisy_single_equals_multi_in_eval():
    x = 1.0 + 0.5 * torch.randn(60, 2, 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    n = NoisyLIFNeuron(alpha=0.6).double().eval()
    s = n(x)
    s1, _ = run_single(n, x)
    assert torch.equal(s, s1)


def test_hard_reset_fractional_history_holds_the_reset_value():
    x = 1.2 + 0.5 * torch.randn(80, 3, 3, generator=torch.Generator().manual_seed(2), dtype=F64)
    n = HardResetLIFNeuron(alpha=0.6, v_reset=-0.3).double()
    n.record = True
    s = n(x)
    assert s.sum() > 0 and torch.all(n.v_seq[s > 0] == -0.3)


def test_bad_input():
    with pytest.raises(ValueError, match="alpha"):
        LIFNeuron(alpha=1.5)
    with pytest.raises(ValueError, match="alpha"):
        LIFNeuron(alpha=0.0)
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        LIFNeuron(alpha=0.5)(torch.rand(10))
    with pytest.raises(ValueError, match="reset"):
        LIFNeuron(reset="soft-ish")
    with pytest.raises(ValueError, match="memory"):
        LIFNeuron(memory=0)
    with pytest.raises(ValueError, match="method"):
        LIFNeuron(method="euler-maruyama")
    with pytest.raises(ValueError, match="tau"):
        LIFNeuron(tau=-1.0)
    with pytest.raises(ValueError, match="step_mode"):
        LIFNeuron(step_mode="x")
    with pytest.raises(TypeError, match="floating"):
        LIFNeuron()(torch.ones(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="multi_coefficient"):
        LIFNeuron(alpha=[0.3, 0.6], multi_coefficient=[1.0])


def test_thread_count_is_restored():
    n = torch.get_num_threads()
    neuron = LIFNeuron(alpha=0.5)
    x = torch.rand(80, 2, 5, requires_grad=True)
    neuron(x).sum().backward()
    assert torch.get_num_threads() == n


@pytest.mark.parametrize("kw", [dict(alpha=1.0), dict(alpha=0.5), dict(alpha=0.5, memory="soe")],
                         ids=["lif", "exact", "soe"])
def test_interleaved_streams_through_stream_state(kw):
    # Two sequences streamed alternately through one neuron, switching with stream_state/load_stream_state,
    # give the spikes of each sequence run on its own (SOE: beyond two blocks, so the modes are used).
    T = 150
    gen = torch.Generator().manual_seed(5)
    xa, xb = (1.1 + 0.8 * torch.randn(T, 2, 4, generator=gen, dtype=F64) for _ in range(2))
    neuron = LIFNeuron(**kw).double()
    ref_a, _ = run_single(neuron, xa)
    ref_b, _ = run_single(neuron, xb)
    neuron.step_mode = "s"
    rest = (None,) * len(neuron.STREAM_STATE)
    state = {"a": rest, "b": rest}
    out = {"a": [], "b": []}
    for t in range(T):
        for key, x in (("a", xa), ("b", xb)):
            neuron.load_stream_state(state[key])
            out[key].append(neuron(x[t]))
            state[key] = neuron.stream_state()
    assert torch.equal(torch.stack(out["a"]), ref_a) and torch.equal(torch.stack(out["b"]), ref_b)
    assert not torch.equal(ref_a, ref_b)
    snapshot = state["a"]
    neuron.load_stream_state(snapshot)
    s1 = neuron(xa[0])
    neuron.load_stream_state(snapshot)  # the snapshot was not advanced by the step above
    assert torch.equal(neuron(xa[0]), s1)
    with pytest.raises(ValueError, match="stream_state"):
        neuron.load_stream_state((None,))
