"""AdaptiveLIFNeuron (ALIF) and CubaLIFNeuron against plain loops written here, integer and fractional order."""
import math

import pytest
import torch
from torch import nn

from spikeDE import AdaptiveLIFNeuron, CubaLIFNeuron, LIFNeuron, SNNWrapper, reset_net

F64 = torch.float64


def gl_weights(alpha, n):
    w = [1.0]
    for j in range(1, n):
        w.append(w[-1] * (1.0 - (1.0 + alpha) / j))
    return w


def reference(x, tau, theta, alpha=1.0, dt=1.0, beta=0.0, tau_adapt=1.0, tau_syn=None):
    """Plain loop: synapse I_t = I + (x_t - I) dt/tau_syn (optional); membrane (GL, V_0 = 0)
    H_n = dt^a (X_n - V_{n-1})/tau - sum_{k=1}^{n-1} w_k V_{n-k}; threshold theta + beta a; a <- rho a + S."""
    T = x.shape[0]
    w = gl_weights(alpha, T + 1)
    rho = math.exp(-dt / tau_adapt)
    V, S = [], []
    i_syn = torch.zeros_like(x[0])
    a = torch.zeros_like(x[0])
    for n in range(T):
        X = x[n]
        if tau_syn is not None:
            i_syn = i_syn + (X - i_syn) / (tau_syn / dt)
            X = i_syn
        v_prev = V[-1] if V else torch.zeros_like(X)
        if alpha == 1.0:
            h = v_prev + (X - v_prev) / (tau / dt)
        else:
            h = dt**alpha * (X - v_prev) / tau
            for k in range(1, n + 1):
                h = h - w[k] * V[n - k]
        th = theta + beta * a
        s = (h >= th).to(x.dtype)
        v = h - th * s
        a = rho * a + s
        V.append(v)
        S.append(s)
    return torch.stack(S), torch.stack(V)


def _x(T=60, D=7, scale=2.5, seed=0):
    return torch.rand(T, 2, D, dtype=F64, generator=torch.Generator().manual_seed(seed)) * scale


@pytest.mark.parametrize("alpha", [1.0, 0.6])
def test_alif_matches_plain_loop(alpha):
    x = _x()
    n = AdaptiveLIFNeuron(tau=2.0, threshold=1.0, tau_adapt=8.0, beta=0.5, alpha=alpha)
    n.record = True
    S = n(x)
    rS, rV = reference(x, 2.0, 1.0, alpha=alpha, beta=0.5, tau_adapt=8.0)
    assert rS.sum() > 20 and not torch.equal(rS, reference(x, 2.0, 1.0, alpha=alpha)[0])  # adaptation matters
    assert torch.equal(S, rS)
    torch.testing.assert_close(n.v_seq, rV, rtol=0, atol=1e-12)
    single = AdaptiveLIFNeuron(tau=2.0, threshold=1.0, tau_adapt=8.0, beta=0.5, alpha=alpha, step_mode="s")
    assert torch.equal(torch.stack([single(x[t]) for t in range(x.shape[0])]), rS)


@pytest.mark.parametrize("alpha", [1.0, 0.6])
def test_cuba_matches_plain_loop_and_gradients_match_the_step_path(alpha):
    x = _x(scale=3.0)
    n = CubaLIFNeuron(tau=2.0, tau_syn=4.0, alpha=alpha)
    n.record = True
    S = n(x)
    rS, rV = reference(x, 2.0, 1.0, alpha=alpha, tau_syn=4.0)
    assert rS.sum() > 20 and torch.equal(S, rS)
    torch.testing.assert_close(n.v_seq, rV, rtol=0, atol=1e-12)
    # the fused kernels' hand-written backward against autograd through single steps
    w = torch.randn(x.shape, dtype=F64, generator=torch.Generator().manual_seed(1))
    xa = x.clone().requires_grad_()
    (CubaLIFNeuron(tau=2.0, tau_syn=4.0, alpha=alpha)(xa) * w).sum().backward()
    xb = x.clone().requires_grad_()
    single = CubaLIFNeuron(tau=2.0, tau_syn=4.0, alpha=alpha, step_mode="s")
    (torch.stack([single(xb[t]) for t in range(x.shape[0])]) * w).sum().backward()
    assert xa.grad.abs().sum() > 0
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-9, atol=1e-11)


def test_limits_are_the_lif_neuron():
    x = _x()
    for alpha in (1.0, 0.7):
        lif = LIFNeuron(tau=2.0, alpha=alpha)(x)
        assert torch.equal(CubaLIFNeuron(tau=2.0, tau_syn=1.0, alpha=alpha)(x), lif)  # tau_syn = dt: I = x
        assert torch.equal(AdaptiveLIFNeuron(tau=2.0, beta=0.0, alpha=alpha)(x), lif)


def test_alif_gradients_reach_input_and_threshold():
    x = _x().requires_grad_()
    n = AdaptiveLIFNeuron(tau=2.0, alpha=0.6, beta=0.3, threshold_learnable=True, memory="soe").double()
    (n(x) * torch.linspace(-1, 1, 7, dtype=F64)).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0 and n.threshold.grad.abs() > 0


class Net(nn.Module):
    def __init__(self, neuron):
        super().__init__()
        torch.manual_seed(0)
        self.fc, self.sn, self.out = nn.Linear(7, 6), neuron, nn.Linear(6, 3)
        with torch.no_grad():
            self.fc.weight.mul_(3.0)
            self.fc.bias.fill_(1.0)

    def forward(self, x):
        return self.out(self.sn(self.fc(x)))


@pytest.mark.parametrize("make", [lambda: AdaptiveLIFNeuron(beta=0.4, tau_adapt=5.0),
                                  lambda: CubaLIFNeuron(tau_syn=3.0)])
def test_wrapped_fast_path_equals_step_path_and_reset_net(make):
    x = _x(T=40).float()
    base = Net(make())
    fast = SNNWrapper(base, alpha=0.6, learn_alpha=True)
    slow = SNNWrapper(base, alpha=0.6, step_mode="single")
    a = fast(x)
    torch.testing.assert_close(a, slow(x), rtol=1e-5, atol=1e-5)
    a.sum().backward()
    assert fast.orders[0].alpha_logit.grad.abs() > 0
    sn = base.sn
    sn.step_mode = "s"
    sn(torch.ones(2, 6))
    assert any(v is not None for v in sn.stream_state())
    reset_net(base)
    assert all(v is None for v in sn.stream_state())


def test_bad_arguments():
    with pytest.raises(ValueError, match="tau_adapt"):
        AdaptiveLIFNeuron(tau_adapt=0.0)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        AdaptiveLIFNeuron(beta=-1.0)
    with pytest.raises(ValueError, match="tau_syn"):
        CubaLIFNeuron(tau_syn=-2.0)


def test_cli_trains_alif_and_cubalif(tmp_path):
    from spikeDE.cli import main
    from spikeDE.train.checkpoint import load_checkpoint

    out = str(tmp_path / "run")
    assert main(["train", "--task", "digits-row", "--model", "mlp", "--neuron", "alif", "cubalif", "--task-arg",
                 "n_train=60", "--task-arg", "n_test=20", "--hidden", "12", "--batch-size", "20", "--epochs", "2",
                 "--lr", "0.02", "--device", "cpu", "--no-progress", "--threads", "1", "--no-plots", "--out", out]) == 0
    for arm in ("alif", "cubalif"):
        hist = load_checkpoint(f"{out}/{arm}/checkpoint.pt")["history"]
        assert len(hist) == 2 and hist[-1]["train_loss"] < hist[0]["train_loss"]


def test_readme_add_a_neuron_example():
    """The README's worked example: a new input drive is one function plus a module; multi = single step."""

    def gain(x, g):
        return g * torch.tanh(x)

    class GainLIFNeuron(LIFNeuron):
        def __init__(self, g=2.0, **kw):
            super().__init__(**kw)
            self.g = nn.Parameter(torch.tensor(float(g), dtype=F64))

        def input_sequence(self, seq, dyn):
            return gain(seq, self.g)

        def input_step(self, x, dyn):
            return gain(x, self.g)

    x = _x(T=30)
    n = GainLIFNeuron(alpha=0.6, memory="soe")
    out = n(x)
    out.sum().backward()
    assert n.g.grad is not None and n.g.grad.abs() > 0
    single = GainLIFNeuron(alpha=0.6, memory="soe", step_mode="s")
    assert torch.equal(torch.stack([single(x[t]) for t in range(30)]), out.detach())
    assert torch.equal(out.detach(), reference(2.0 * torch.tanh(x), 2.0, 1.0, alpha=0.6)[0])
