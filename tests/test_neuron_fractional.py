"""Fractional neurons against plainly written O(T^2) reference loops (each scheme from its own definition)."""

import pytest
import torch

from spikeDE import IFNeuron, LIFNeuron
from spikeDE.surrogate import spike

F64 = torch.float64


# ----------------------------------------------------------------------------- reference loops
def gl_w(a, n):
    w = [torch.ones((), dtype=F64)]
    for j in range(1, n):
        w.append(w[-1] * (1 - (1 + a) / j))
    return w


def ref_neuron(method, x, a, tau, theta, dt=1.0, leak=True, reset="subtract", v_reset=0.0, detach=True,
               memory=None, sur=("atan", 5.0)):
    """Spikes and membranes of the fractional LIF/IF neuron, written directly from each scheme's definition.

    gl:        H_n = dt^a F_n - sum_{j=1}^{n-1} w_j V_{n-j}
    l1:        H_n = V_{n-1} + Gamma(2-a) dt^a F_n - sum_{j=1}^{n-1} b_j (V_{n-j} - V_{n-j-1})
    predictor: V_n = sum_{m<=n} r_{n-m} G_m, G_m = g F_m + (state change of step m beyond g F_m)
    corrector: predictor, then H_n += g2 (f(H_n, X_n) - f(V_{n-1}, X_n))
    with F_n = f(V_{n-1}, X_n) = (X_n - lambda V_{n-1})/tau and V_0 = 0.
    """
    T = x.shape[0]
    lam = 1.0 if leak else 0.0
    a = a if isinstance(a, torch.Tensor) else torch.tensor(float(a), dtype=F64)
    w = gl_w(a, T + 1)
    b = [torch.ones((), dtype=F64)] + [(j + 1.0) ** (1 - a) - float(j) ** (1 - a) for j in range(1, T + 1)]
    r = [torch.ones((), dtype=F64)] + [(k + 1.0) ** a - float(k) ** a for k in range(1, T + 1)]
    V = [torch.zeros_like(x[0])]  # V[0] = V_0
    G, S = [None], []
    for n in range(1, T + 1):
        X = x[n - 1]
        F = (X - lam * V[n - 1]) / tau
        if method == "gl":
            H = dt**a * F
            for j in range(1, n):
                if memory is None or j <= memory:
                    H = H - w[j] * V[n - j]
        elif method == "l1":
            H = V[n - 1] + torch.exp(torch.lgamma(2 - a)) * dt**a * F
            for j in range(1, n):
                H = H - b[j] * (V[n - j] - V[n - j - 1])
        else:
            g = dt**a / torch.exp(torch.lgamma(a + 1))
            hist = sum((r[n - m] * G[m] for m in range(1, n)), torch.zeros_like(X))
            H = hist + g * F
            if method == "corrector":
                g2 = dt**a / torch.exp(torch.lgamma(a + 2))
                H = H + g2 * ((X - lam * H) / tau - F)
        s = spike(H - theta, *sur)
        sr = s.detach() if detach else s
        v = H - theta * sr if reset == "subtract" else H * (1 - sr) + v_reset * sr
        V.append(v)
        S.append(s)
        if method in ("predictor", "corrector"):
            G.append(v - hist)
    return torch.stack(S), torch.stack(V[1:])


def drive(T=64, D=(3, 5), seed=0, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(T, *D, generator=g, dtype=F64) * scale


METHODS = ["gl", "l1", "predictor", "corrector"]


# ----------------------------------------------------------------------------- forward
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("alpha", [0.35, 0.8])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_exact_memory_matches_reference(method, alpha, reset):
    x = drive(T=70)
    neuron = LIFNeuron(tau=2.0, threshold=1.0, alpha=alpha, method=method, reset=reset, v_reset=-0.1).double()
    neuron.record = True
    s = neuron(x)
    s_ref, v_ref = ref_neuron(method, x, alpha, 2.0, 1.0, reset=reset, v_reset=-0.1)
    assert 0.02 < s_ref.mean() < 0.9
    assert torch.equal(s, s_ref)
    torch.testing.assert_close(neuron.v_seq, v_ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("method", ["gl", "predictor"])
def test_if_neuron_and_dt(method):
    x = drive(T=50, scale=1.0)
    neuron = IFNeuron(tau=1.5, alpha=0.6, method=method, dt=0.5).double()
    neuron.record = True
    s = neuron(x)
    s_ref, v_ref = ref_neuron(method, x, 0.6, 1.5, 1.0, dt=0.5, leak=False)
    assert s_ref.sum() > 0 and torch.equal(s, s_ref)
    torch.testing.assert_close(neuron.v_seq, v_ref, rtol=1e-10, atol=1e-10)


def test_long_sequence_crosses_many_blocks():
    x = drive(T=300, D=(2, 3), seed=3)
    neuron = LIFNeuron(alpha=0.5).double()
    neuron.record = True
    s = neuron(x)
    s_ref, v_ref = ref_neuron("gl", x, 0.5, 2.0, 1.0)
    assert torch.equal(s, s_ref)
    torch.testing.assert_close(neuron.v_seq, v_ref, rtol=1e-10, atol=1e-10)


def test_short_memory_truncates_the_history():
    x = drive(T=80)
    neuron = LIFNeuron(alpha=0.4, memory=7).double()
    neuron.record = True
    s = neuron(x)
    s_ref, v_ref = ref_neuron("gl", x, 0.4, 2.0, 1.0, memory=7)
    assert torch.equal(s, s_ref)
    torch.testing.assert_close(neuron.v_seq, v_ref, rtol=1e-10, atol=1e-10)
    full = LIFNeuron(alpha=0.4).double()
    full.record = True
    full(x)
    assert (full.v_seq - neuron.v_seq).abs().max() > 1e-3  # the truncation is not a no-op


def test_multiterm_gl_matches_reference():
    x = drive(T=60)
    alphas, coefs = [0.3, 0.8], [1.0, 0.5]
    neuron = LIFNeuron(alpha=alphas, multi_coefficient=coefs).double()
    neuron.record = True
    s = neuron(x)
    # sum_i c_i h^{-a_i} sum_j w^(i)_j V_{n-j} = F_n  (V_0 = 0)
    w = [gl_w(torch.tensor(a, dtype=F64), 61) for a in alphas]
    lead = sum(c for c in coefs)
    V, S = [torch.zeros_like(x[0])], []
    for n in range(1, 61):
        F = (x[n - 1] - V[n - 1]) / 2.0
        hist = sum(c * w[i][j] * V[n - j] for i, c in enumerate(coefs) for j in range(1, n)) if n > 1 else 0.0
        H = (F - hist) / lead
        sp = (H >= 1.0).double()
        S.append(sp)
        V.append(H - sp)
    assert torch.stack(S).sum() > 0
    assert torch.equal(s, torch.stack(S))
    torch.testing.assert_close(neuron.v_seq, torch.stack(V[1:]), rtol=1e-10, atol=1e-10)


def test_corrector_is_heun_at_alpha_one():
    # alpha = 1: H = V + (X - V)/tau - (1/(2 tau)) * (X - V)/tau  (Heun's step of the leak)
    x = drive(T=40)
    neuron = LIFNeuron(alpha=1.0, method="corrector").double()
    neuron.record = True
    s = neuron(x)
    v, S, Vs = torch.zeros_like(x[0]), [], []
    for t in range(40):
        hp = v + (x[t] - v) / 2.0
        h = v + 0.5 * ((x[t] - v) / 2.0 + (x[t] - hp) / 2.0)
        sp = (h >= 1.0).double()
        v = h - sp
        S.append(sp)
        Vs.append(v)
    assert torch.equal(s, torch.stack(S))
    torch.testing.assert_close(neuron.v_seq, torch.stack(Vs), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("reset,detach", [("subtract", True), ("zero", False)])
def test_custom_backward_equals_autograd_through_reference(method, reset, detach):
    T = 40
    x = drive(T=T, D=(2, 3), seed=5).requires_grad_()
    neuron = LIFNeuron(tau=2.0, alpha=0.6, method=method, learn_alpha=True, tau_learnable=True,
                       threshold_learnable=True, reset=reset, v_reset=-0.2, detach_reset=detach,
                       surrogate_opt="fast_sigmoid", surrogate_grad_scale=3.0).double()
    wS = torch.randn(T, 2, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    wV = torch.randn(T, 2, 3, dtype=F64, generator=torch.Generator().manual_seed(2))
    neuron.record = True
    s = neuron(x)
    loss = (s * wS).sum()
    loss.backward()
    got = [x.grad, neuron.order.logit.grad, neuron.log_tau.grad, neuron.threshold.grad]

    x2 = x.detach().clone().requires_grad_()
    logit = neuron.order.logit.detach().clone().requires_grad_()
    log_tau = neuron.log_tau.detach().clone().requires_grad_()
    theta = neuron.threshold.detach().clone().requires_grad_()
    s2, _ = ref_neuron(method, x2, torch.sigmoid(logit), log_tau.exp(), theta, reset=reset, v_reset=-0.2,
                       detach=detach, sur=("fast_sigmoid", 3.0))
    (s2 * wS).sum().backward()
    assert torch.equal(s, s2)
    for g, r in zip(got, [x2.grad, logit.grad, log_tau.grad, theta.grad]):
        assert r.abs().max() > 0
        torch.testing.assert_close(g, r, rtol=1e-8, atol=1e-11)
    del wV


def test_membrane_output_gradient():
    # gradient through the membrane sequence (monitors / readouts from V), not only through spikes
    T = 30
    x = drive(T=T, D=(4,), seed=7).requires_grad_()
    from spikeDE.dynamics import fractional_sequence, membrane_recurrence, derivative_kernel, spike_config
    from spikeDE.dynamics.fractional import MemoryPlan
    a = torch.tensor(0.7, dtype=F64, requires_grad=True)
    g, k = derivative_kernel("gl", a, T)
    cx, kp = membrane_recurrence("gl", g, k, 2.0, True)
    theta = torch.tensor(1.0, dtype=F64)
    S, V = fractional_sequence(x, cx, kp, theta, spike_config(), MemoryPlan("exact", None, 8, 4))
    w = torch.randn(T, 4, dtype=F64)
    gx, ga = torch.autograd.grad((V * w).sum() + S.sum(), [x, a])
    x2 = x.detach().clone().requires_grad_()
    a2 = a.detach().clone().requires_grad_()
    S2, V2 = ref_neuron("gl", x2, a2, 2.0, theta)
    rx, ra = torch.autograd.grad((V2 * w).sum() + S2.sum(), [x2, a2])
    torch.testing.assert_close(gx, rx, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(ga, ra, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- SOE memory
def test_soe_memory_matches_exact_at_T_2048():
    T = 2048
    g = torch.Generator().manual_seed(11)
    x = 1.1 + 0.8 * torch.randn(T, 8, 16, generator=g, dtype=torch.float64)
    exact = LIFNeuron(alpha=0.5).double()
    soe = LIFNeuron(alpha=0.5, memory="soe").double()
    exact.record = soe.record = True
    s_e, s_s = exact(x), soe(x)
    assert 0.05 < s_e.mean() < 0.5
    assert (s_e == s_s).double().mean() >= 0.999
    rel = (exact.v_seq - soe.v_seq).norm() / exact.v_seq.norm()
    assert rel <= 1e-4


@pytest.mark.parametrize("method", ["gl", "l1"])
def test_soe_alpha_gradient_close_to_exact(method):
    T = 400
    x = 0.6 + 0.5 * torch.randn(T, 2, 8, generator=torch.Generator().manual_seed(4), dtype=F64)
    w = torch.randn(T, 2, 8, generator=torch.Generator().manual_seed(5), dtype=F64)
    grads = []
    for memory in (None, "soe"):
        n = LIFNeuron(alpha=0.45, method=method, memory=memory, learn_alpha=True).double()
        (n(x) * w).sum().backward()
        grads.append(n.order.logit.grad)
    assert grads[0].abs() > 0
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=0)


def test_soe_rejects_methods_without_compression():
    with pytest.raises(ValueError, match="soe"):
        LIFNeuron(alpha=0.5, method="predictor", memory="soe")(torch.rand(10, 2, 3))


def test_soe_kernel_backward_equals_autograd_through_reference():
    # the SOE kernel on its own: pairs closer than the previous block use K exactly, older pairs the modes
    from spikeDE.dynamics import spike_config
    from spikeDE.dynamics.fractional import MemoryPlan, fractional_sequence
    from spikeDE.fractional.soe import soe_rates, soe_weights
    from spikeDE.fractional.weights import gl_weights
    C, T = 8, 45
    rates, du = soe_rates(C + 1, 4096, 1e-13)
    x = drive(T=T, D=(4,), seed=9).requires_grad_()
    k = gl_weights(0.6, 2 * C).clone()
    k[1] += 0.5
    k.requires_grad_()
    om = soe_weights("gl", 0.6, rates, du).clone().requires_grad_()
    cx = torch.tensor(0.7, dtype=F64, requires_grad=True)
    theta = torch.tensor(0.9, dtype=F64, requires_grad=True)
    cfg = spike_config(surrogate="atan", scale=3.0)
    S, V = fractional_sequence(x, cx, k, theta, cfg, MemoryPlan("soe", None, C, 4, rates), om)
    w = torch.randn(T, 4, dtype=F64)
    got = torch.autograd.grad((S * w).sum() + V.sum(), [x, cx, k, theta, om])

    Vs, Ss = [], []
    for t in range(T):
        h = cx * x[t]
        for j in range(t):
            near = j >= (t // C - 1) * C
            kk = k[t - j] if near else (om * torch.exp(-rates * (t - j))).sum()
            h = h - kk * Vs[j]
        s = spike(h - theta, "atan", 3.0)
        Vs.append(h - theta * s.detach())
        Ss.append(s)
    S2, V2 = torch.stack(Ss), torch.stack(Vs)
    assert torch.equal(S, S2)
    ref = torch.autograd.grad((S2 * w).sum() + V2.sum(), [x, cx, k, theta, om])
    for g, r in zip(got, ref):
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-12)


def test_multiterm_gradients_equal_reference():
    T = 35
    x = drive(T=T, D=(3,), seed=12).requires_grad_()
    neuron = LIFNeuron(alpha=[0.3, 0.8], multi_coefficient=[1.0, 0.5], learn_alpha=True,
                       learn_coefficient=True).double()
    w = torch.randn(T, 3, dtype=F64)
    (neuron(x) * w).sum().backward()
    logit = neuron.order.logit.detach().clone().requires_grad_()
    log_c = neuron.coefficients.log_c.detach().clone().requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    a, c = torch.sigmoid(logit), log_c.exp()
    ws = [gl_w(a[i], T + 1) for i in range(2)]
    lead = c.sum()
    V, S = [torch.zeros(3, dtype=F64)], []
    for n in range(1, T + 1):
        F = (x2[n - 1] - V[n - 1]) / 2.0
        hist = sum(c[i] * ws[i][j] * V[n - j] for i in range(2) for j in range(1, n)) if n > 1 else 0.0
        H = (F - hist) / lead
        sp = spike(H - 1.0, "atan", 5.0)
        S.append(sp)
        V.append(H - sp.detach())
    (torch.stack(S) * w).sum().backward()
    pairs = [(x.grad, x2.grad), (neuron.order.logit.grad, logit.grad),
             (neuron.coefficients.log_c.grad, log_c.grad)]
    for g, r in pairs:
        assert r.abs().max() > 0
        torch.testing.assert_close(g, r, rtol=1e-8, atol=1e-12)


def test_soe_memory_within_the_exact_window_equals_full_memory():
    # T <= 2C: every lag is exact, so the SOE neuron is the full-memory neuron (values and alpha-gradient)
    x = 0.6 + 0.5 * torch.randn(32, 3, 5, generator=torch.Generator().manual_seed(7), dtype=F64)
    out, grads = [], []
    for memory in (None, "soe"):
        n = LIFNeuron(alpha=0.45, memory=memory, learn_alpha=True).double()
        n.record = True
        s = n(x)
        (s * x).sum().backward()
        out.append((s, n.v_seq))
        grads.append(n.order.logit.grad)
    assert torch.equal(out[0][0], out[1][0])
    torch.testing.assert_close(out[1][1], out[0][1], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-10, atol=1e-14)
