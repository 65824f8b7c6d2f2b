"""LoongSpike block: streaming = parallel, the norms normalise, the neuron is the plain LIF / GL f-LIF
recurrence, gradients reach alpha and the threshold, clear errors."""
import pytest
import torch
import torch.nn.functional as F

from spikeDE.ssm import LoongSpike

F64 = torch.float64


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # the streaming loop is many tiny ops: threads only add overhead
    yield
    torch.set_num_threads(n)


def _capture(block):
    """Record the SSM's input (parallel mode) and the neuron's input ``u`` and output (spikes) of every call
    (time-first ``[L, B, H]`` in parallel mode, ``[B, H]`` per streaming step)."""
    rec = {"ssm_in": [], "u": [], "s": []}
    block.ssm.register_forward_pre_hook(lambda m, a: rec["ssm_in"].append(a[0].detach()))
    block.neuron.register_forward_pre_hook(lambda m, a: rec["u"].append(a[0].detach()))
    block.neuron.register_forward_hook(lambda m, a, o: rec["s"].append(o.detach()))
    return rec


def _stream(block, x):
    state = block.default_state(x.shape[0], dtype=x.dtype)
    outs = []
    for t in range(x.shape[1]):
        y, state = block.step(x[:, t], state)
        outs.append(y)
    return torch.stack(outs, 1)


@pytest.mark.parametrize("neuron, prenorm", [(None, True), ({"alpha": 0.6, "learn_alpha": True}, False)])
def test_streaming_equals_parallel_L4096(neuron, prenorm, one_thread):
    L, B, H = 4096, 2, 6
    blk = LoongSpike(H, 8, alpha=0.6, learn_alpha=True, neuron=neuron, prenorm=prenorm, dtype=F64).eval()
    x = torch.randn(B, L, H, dtype=F64)
    rec = _capture(blk)
    with torch.no_grad():
        y = blk(x)
        s_par = rec["s"][0].transpose(0, 1)  # neuron runs time-first [L, B, H]
        ys = _stream(blk, x)
    s_str = torch.stack(rec["s"][1:], 1)
    assert 0.02 < s_par.mean() < 0.8  # the neurons really fire (and not always)
    assert torch.equal(s_str, s_par)  # spikes identical
    assert (ys - y).abs().max() <= 1e-4 * y.abs().max()
    # streamed SSM output vs parallel: the SOE memory error only
    u_str, u_par = torch.stack(rec["u"][1:]), rec["u"][0]
    assert (u_str - u_par).abs().max() <= 1e-6 * u_par.abs().max()


def test_streaming_float32(one_thread):
    blk = LoongSpike(4, 8, alpha=0.7, neuron={"alpha": 0.8}).eval()
    x = torch.randn(2, 256, 4)
    rec = _capture(blk)
    with torch.no_grad():
        y = blk(x)
        ys = _stream(blk, x)
    assert y.dtype == ys.dtype == torch.float32
    assert torch.equal(torch.stack(rec["s"][1:], 1), rec["s"][0].transpose(0, 1))
    assert (ys - y).abs().max() <= 1e-4 * y.abs().max()


def test_step_does_not_modify_state():
    blk = LoongSpike(4, 8, neuron={"alpha": 0.7}, dtype=F64).eval()
    x = torch.randn(3, 5, 4, dtype=F64)
    st = blk.default_state(3)
    with torch.no_grad():
        for t in range(3):
            _, st = blk.step(x[:, t], st)
        a, _ = blk.step(x[:, 3], st)
        b, _ = blk.step(x[:, 3], st)  # same state again: same output
    assert torch.equal(a, b)


def _layer_norm(v, weight, bias, eps):
    mean = v.mean(-1, keepdim=True)
    var = ((v - mean) ** 2).mean(-1, keepdim=True)
    return weight * (v - mean) / torch.sqrt(var + eps) + bias


@pytest.mark.parametrize("prenorm", [True, False])
def test_norms_normalise(prenorm):
    H = 8
    blk = LoongSpike(H, 8, neuron={"threshold": 0.3}, prenorm=prenorm, norm_eps=1e-12, dtype=F64)
    with torch.no_grad():
        blk.norm.weight.uniform_(0.5, 2.0)
        blk.norm.bias.normal_()
    gamma, beta = blk.norm.weight.detach(), blk.norm.bias.detach()
    x = 3.0 + 5.0 * torch.randn(2, 64, H, dtype=F64)  # far from normalised
    rec = _capture(blk)
    with torch.no_grad():
        out = blk(x)
    s = rec["s"][0].transpose(0, 1)
    assert 0 < s.mean() < 1
    glu = F.glu(s @ blk.mix.weight.detach().T + blk.mix.bias.detach(), -1)
    normed = (rec["ssm_in"][0] if prenorm else out)
    z = (normed - beta) / gamma  # before the affine
    torch.testing.assert_close(z.mean(-1), torch.zeros(2, 64, dtype=F64), atol=1e-10, rtol=0)
    torch.testing.assert_close(z.var(-1, unbiased=False), torch.ones(2, 64, dtype=F64), atol=1e-8, rtol=0)
    if prenorm:  # the SSM reads N(x); the residual stream is x + GLU(W s + b)
        torch.testing.assert_close(rec["ssm_in"][0], _layer_norm(x, gamma, beta, 1e-12))
        torch.testing.assert_close(out, x + glu)
    else:  # the SSM reads x; the output is N(x + GLU(W s + b))
        torch.testing.assert_close(rec["ssm_in"][0], x)
        torch.testing.assert_close(out, _layer_norm(x + glu, gamma, beta, 1e-12))


def _lif_loop(u, tau, theta):
    """Plain discrete LIF: H = V + (X - V)/tau, S = [H >= theta], V = H - theta S (u time-first)."""
    v = torch.zeros_like(u[0])
    out = []
    for x in u:
        h = v + (x - v) / tau
        s = (h >= theta).to(u.dtype)
        v = h - theta * s
        out.append(s)
    return torch.stack(out)


def _gl_flif_loop(u, alpha, tau, theta):
    """Plain O(T^2) Grünwald–Letnikov f-LIF (exact memory): H_t = (X_t - V_{t-1})/tau - sum_k w_k V_{t-k}."""
    T = u.shape[0]
    w = [1.0]
    for j in range(1, T + 1):
        w.append(w[-1] * (1.0 - (1.0 + alpha) / j))
    vs, out = [], []
    for t in range(T):
        v_prev = vs[-1] if vs else torch.zeros_like(u[0])
        h = (u[t] - v_prev) / tau
        for k in range(1, t + 1):
            h = h - w[k] * vs[t - k]
        s = (h >= theta).to(u.dtype)
        vs.append(h - theta * s)
        out.append(s)
    return torch.stack(out)


def test_alpha1_neuron_is_plain_lif():
    blk = LoongSpike(5, 8, alpha=0.5, neuron={"tau": 3.0, "threshold": 0.4}, dtype=F64)
    rec = _capture(blk)
    x = torch.randn(3, 300, 5, dtype=F64)
    with torch.no_grad():
        blk(x)
    u, s = rec["u"][0], rec["s"][0]
    assert 0.02 < s.mean() < 0.8
    assert torch.equal(s, _lif_loop(u, 3.0, 0.4))


def test_fractional_neuron_is_gl_recurrence():
    blk = LoongSpike(4, 8, alpha=0.5, neuron={"alpha": 0.6, "memory": None, "threshold": 0.3}, dtype=F64)
    rec = _capture(blk)
    x = torch.randn(2, 150, 4, dtype=F64)
    with torch.no_grad():
        blk(x)
    u, s = rec["u"][0], rec["s"][0]
    assert 0.02 < s.mean() < 0.8
    assert torch.equal(s, _gl_flif_loop(u, 0.6, 2.0, 0.3))


def test_gradients_reach_alpha_and_threshold():
    blk = LoongSpike(6, 8, alpha=0.5, learn_alpha=True, neuron={"alpha": 0.7, "learn_alpha": True,
                                                                 "threshold": 0.5})
    x = torch.randn(4, 64, 6)
    blk(x).square().mean().backward()
    for p in (blk.ssm.order.logit, blk.neuron.order.logit, blk.neuron.threshold):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    assert blk.neuron.threshold.requires_grad


def test_spike_rate_recorded():
    blk = LoongSpike(6, 8, neuron={"threshold": 0.3}, dtype=F64)
    assert blk.spike_rate is None
    rec = _capture(blk)
    blk(torch.randn(2, 32, 6, dtype=F64))
    s = rec["s"][0]
    torch.testing.assert_close(blk.channel_rates, s.mean((0, 1)))
    torch.testing.assert_close(blk.spike_rate, s.mean())


def test_bad_arguments():
    with pytest.raises(ValueError, match="d_model"):
        LoongSpike(0)
    with pytest.raises(ValueError, match="dropout"):
        LoongSpike(4, 8, dropout=1.0)
    with pytest.raises(TypeError, match="prenorm"):
        LoongSpike(4, 8, prenorm="yes")
    with pytest.raises(ValueError, match="norm_eps"):
        LoongSpike(4, 8, norm_eps=0)
    with pytest.raises(TypeError, match="neuron"):
        LoongSpike(4, 8, neuron=3)
    with pytest.raises(ValueError, match="step_mode"):
        LoongSpike(4, 8, neuron={"step_mode": "s"})
    with pytest.raises(ValueError, match="ssm_kwargs"):
        LoongSpike(4, 8, ssm_kwargs={"alpha": 0.3})
    with pytest.raises(ValueError, match="alpha"):
        LoongSpike(4, 8, alpha=1.5)
    with pytest.raises(ValueError, match="alpha"):
        LoongSpike(4, 8, neuron={"alpha": 0.0})
    blk = LoongSpike(4, 8)
    with pytest.raises(ValueError, match=r"\[batch, length, channels\]"):
        blk(torch.randn(2, 16, 5))
    with pytest.raises(TypeError):
        blk(torch.ones(2, 16, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="x_t"):
        blk.step(torch.randn(2, 3), blk.default_state(2))
    with pytest.raises(TypeError, match="LoongSpikeState"):
        blk.step(torch.randn(2, 4), None)
