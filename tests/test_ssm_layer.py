"""FractionalSSM as a layer: parallel output = the GL recurrence, streaming = parallel, gradients, errors."""
import pytest
import torch

from spikeDE.ssm import FractionalSSM, FractionalSSMState

F64, C128 = torch.float64, torch.complex128


def recurrence(ssm, x, direction=0):
    """Plain O(L^2) loop of sum_{j=0}^{n} w_j s_{n-j} = Delta^a (A s_n + B x_n), y = 2 Re(C s) + D x,
    from the raw parameters (P = -exp(log_A_real) + i A_imag, A from P, Delta = exp(log_dt))."""
    with torch.no_grad():
        a = ssm.alpha.to(F64).expand(ssm.d_model)
        dt = ssm.log_dt.to(F64).exp()
        P = torch.complex(-ssm.log_A_real.to(F64).exp(), ssm.A_imag.to(F64))
        if ssm.A_parameterization == "sector":  # A = -|P|^a e^{i (2-a) arg(-P)}, from polar coordinates
            phi = torch.atan2(-P.imag, -P.real)
            r = P.abs() ** a[:, None]
            A = torch.complex(-r * torch.cos((2 - a[:, None]) * phi), -r * torch.sin((2 - a[:, None]) * phi))
        else:
            A = P
        B = torch.view_as_complex(ssm.B.to(F64))
        C = torch.view_as_complex(ssm.C.to(F64))[direction]
        x = x.to(F64)
        Bt, L, H = x.shape
        w = torch.ones(H, L, dtype=F64)
        for j in range(1, L):
            w[:, j] = w[:, j - 1] * (1.0 - (1.0 + a) / j)
        da = (dt**a)[:, None]
        s = torch.zeros(Bt, H, ssm.modes, L, dtype=C128)
        for n in range(L):
            hist = (s[..., :n].flip(-1) * w[:, None, 1:n + 1]).sum(-1)
            s[..., n] = (da * B * x[:, n, :, None] - hist) / (1.0 - da * A)
        return 2.0 * (C[None, :, :, None] * s).sum(2).real.transpose(1, 2)


def skip(ssm, x):
    return 0.0 if ssm.D is None else x.to(F64) * ssm.D.detach().to(F64)


def test_parallel_output_matches_the_recurrence_on_random_inputs():
    torch.manual_seed(1)
    ssm = FractionalSSM(4, 8, alpha=[0.2, 0.5, 0.75, 1.0], learn_alpha=False, dtype=F64)
    x = torch.randn(2, 300, 4, dtype=F64)
    y = ssm(x)
    ref = recurrence(ssm, x) + skip(ssm, x)
    assert y.shape == x.shape and y.dtype == F64
    assert ((y - ref).norm() / ref.norm()).item() <= 1e-5
    # one order for the whole layer, learnable
    ssm1 = FractionalSSM(3, 4, alpha=0.6, learn_alpha=True, alpha_per_channel=False, d_skip=False, dtype=F64)
    x1 = torch.randn(1, 200, 3, dtype=F64)
    assert ssm1.alpha.shape == ()
    ref1 = recurrence(ssm1, x1)
    assert ((ssm1(x1) - ref1).norm() / ref1.norm()).item() <= 1e-5


def test_float32_follows_the_input_and_is_close_to_float64():
    torch.manual_seed(2)
    ssm = FractionalSSM(3, 8, alpha=0.5)
    x = torch.randn(2, 256, 3)
    y = ssm(x)
    assert y.dtype == torch.float32 and y.shape == x.shape
    ref = recurrence(ssm, x) + skip(ssm, x)
    assert ((y.double() - ref).norm() / ref.norm()).item() <= 1e-5


def test_bidirectional_adds_the_anti_causal_kernel_on_the_reversed_sequence():
    torch.manual_seed(3)
    ssm = FractionalSSM(3, 6, alpha=[0.4, 0.7, 1.0], learn_alpha=False, bidirectional=True, dtype=F64)
    x = torch.randn(2, 150, 3, dtype=F64)
    ref = recurrence(ssm, x, 0) + recurrence(ssm, x.flip(1), 1).flip(1) + skip(ssm, x)
    y = ssm(x)
    assert ((y - ref).norm() / ref.norm()).item() <= 1e-5
    # the first output now depends on the last input
    x2 = x.clone()
    x2[:, -1] += 1.0
    assert (ssm(x2)[:, 0] - y[:, 0]).abs().max() > 1e-8
    with pytest.raises(RuntimeError, match="bidirectional"):
        ssm.step(x[:, 0], ssm.default_state(2))


@pytest.mark.parametrize("dtype", [F64, torch.float32])
def test_streaming_steps_equal_the_parallel_output(dtype):
    torch.manual_seed(4)
    L = 4096
    ssm = FractionalSSM(6, 8, alpha=[0.1, 0.3, 0.5, 0.7, 0.95, 1.0], learn_alpha=True, dt_min=1e-3,
                        dt_max=0.5, dtype=dtype)
    x = torch.randn(2, L, 6, dtype=dtype)
    with torch.no_grad():
        y = ssm(x)
        state = ssm.default_state(2, dtype=dtype)
        assert isinstance(state, FractionalSSMState)
        assert state.near.shape == (2, 6, ssm.stream_window, 8) and state.far.shape == (2, 6, ssm.stream_modes, 8)
        assert ssm.stream_modes < 60
        ys = []
        for n in range(L):
            yt, state = ssm.step(x[:, n], state)
            ys.append(yt)
        ys = torch.stack(ys, 1)
    assert ys.dtype == dtype
    assert ((ys - y).norm() / y.norm()).item() <= 1e-4


def test_step_is_differentiable_and_does_not_modify_the_state():
    torch.manual_seed(5)
    ssm = FractionalSSM(2, 4, alpha=0.5, dtype=F64)
    state = ssm.default_state(1, dtype=F64)
    x = torch.randn(1, 3, 2, dtype=F64)
    ys = []
    for n in range(3):
        yt, new = ssm.step(x[:, n], state)
        if n == 0:
            assert state.near.abs().sum() == 0 and state.far.abs().sum() == 0
        ys.append(yt)
        state = new
    torch.stack(ys, 1).sum().backward()
    assert ssm.order.logit.grad.abs().sum() > 0
    ref = ssm(x).detach()
    torch.testing.assert_close(torch.stack(ys, 1).detach(), ref, rtol=1e-6, atol=1e-9)


def test_learnable_alpha_gets_a_gradient_equal_to_the_finite_difference():
    torch.manual_seed(6)
    ssm = FractionalSSM(4, 8, alpha=0.5, learn_alpha=True, dtype=F64)
    x = torch.randn(2, 64, 4, dtype=F64)
    target = torch.randn(2, 64, 4, dtype=F64)
    loss = lambda: ((ssm(x) - target) ** 2).mean()  # noqa: E731
    loss().backward()
    g = ssm.order.logit.grad.clone()
    assert torch.isfinite(g).all() and bool((g.abs() > 0).all())
    eps = 1e-6
    for h in range(4):
        with torch.no_grad():
            ssm.order.logit[h] += eps
            up = loss().item()
            ssm.order.logit[h] -= 2 * eps
            down = loss().item()
            ssm.order.logit[h] += eps
        assert g[h].item() == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-10)


def test_parameters_and_shapes():
    ssm = FractionalSSM(5, 16, alpha=0.3)
    names = dict(ssm.named_parameters())
    assert set(names) == {"order.alpha_logit", "log_dt", "log_A_real", "A_imag", "B", "C", "D"}
    assert names["C"].shape == (1, 5, 8, 2) and ssm.alpha.shape == (5,)
    assert ssm.kernel(33).shape == (1, 5, 33)
    fixed = FractionalSSM(5, 16, alpha=1.0, learn_alpha=False, d_skip=False, bidirectional=True)
    assert "order.alpha_logit" not in dict(fixed.named_parameters()) and fixed.D is None
    assert fixed.kernel(10).shape == (2, 5, 10)
    dt = fixed.log_dt.exp()
    assert bool(((dt >= 1e-3) & (dt <= 1e-1)).all())
    inv = FractionalSSM(2, 8, init="inv")
    assert inv.A_imag[0, 0].item() == pytest.approx((8 / torch.pi) * (8 - 1))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="d_state must be even"):
        FractionalSSM(4, 7)
    with pytest.raises(ValueError, match="d_model"):
        FractionalSSM(0)
    with pytest.raises(ValueError, match=r"FractionalSSM 'enc': alpha must satisfy 0 < alpha <= 1"):
        FractionalSSM(4, alpha=1.5, name="enc")
    with pytest.raises(ValueError, match="dt_min must be <= dt_max"):
        FractionalSSM(4, dt_min=0.5, dt_max=0.1)
    with pytest.raises(ValueError, match="init"):
        FractionalSSM(4, init="legs")
    with pytest.raises(ValueError, match="A_parameterization"):
        FractionalSSM(4, A_parameterization="pole")
    ssm = FractionalSSM(4, 8)
    with pytest.raises(ValueError, match=r"x must have shape \[batch, length, 4\]"):
        ssm(torch.randn(10, 4))
    with pytest.raises(ValueError, match=r"x must have shape \[batch, length, 4\]"):
        ssm(torch.randn(2, 10, 3))
    with pytest.raises(TypeError, match="floating"):
        ssm(torch.ones(2, 10, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"x_t must have shape \[batch, 4\]"):
        ssm.step(torch.randn(2, 5, 4), ssm.default_state(2))
    with pytest.raises(ValueError, match="state does not match"):
        ssm.step(torch.randn(3, 4), ssm.default_state(2))
    with pytest.raises(ValueError, match="state does not match"):
        ssm.step(torch.randn(2, 4), ssm.default_state(2, dtype=torch.float64))


def test_direct_parameterization_matches_the_recurrence():
    torch.manual_seed(7)
    ssm = FractionalSSM(3, 6, alpha=[0.3, 0.5, 0.9], learn_alpha=False, A_parameterization="direct", dtype=F64)
    x = torch.randn(2, 200, 3, dtype=F64)
    ref = recurrence(ssm, x) + skip(ssm, x)
    assert ((ssm(x) - ref).norm() / ref.norm()).item() <= 1e-5


def test_sector_map_covers_the_stable_sector_and_is_s4d_at_alpha_one():
    torch.manual_seed(8)
    H, N = 5, 32
    for alpha in (0.2, 0.5, 0.8, 1.0):
        ssm = FractionalSSM(H, N, alpha=alpha, learn_alpha=False, dtype=F64)
        with torch.no_grad():
            ssm.log_A_real.uniform_(-3, 2)
            ssm.A_imag.normal_(0, 20)
            ssm.A_imag[:, 0] = 0.0  # a real pole
            a, lam, _, _ = ssm.discrete()
            a = a.unsqueeze(-1)
            A = lam / ssm.log_dt.exp().unsqueeze(-1) ** a
            P = torch.complex(-ssm.log_A_real.exp(), ssm.A_imag)
        assert bool((A.angle().abs() > a * torch.pi / 2).all())  # stable (Matignon)
        torch.testing.assert_close(A.abs(), P.abs() ** a, rtol=1e-12, atol=0)  # same time scale
        torch.testing.assert_close(A[:, 0].imag, torch.zeros(H, dtype=F64), rtol=0, atol=1e-12)
        assert bool((A[:, 0].real < 0).all())
        if alpha == 1.0:
            torch.testing.assert_close(A, P, rtol=1e-12, atol=1e-12)


def test_sector_modes_oscillate_at_alpha_half_direct_modes_do_not():
    sign_changes = {}
    for par in ("sector", "direct"):
        ssm = FractionalSSM(3, 2, alpha=0.5, learn_alpha=False, A_parameterization=par, dt_min=0.01,
                            dt_max=0.01, dtype=F64)
        with torch.no_grad():
            ssm.A_imag.fill_(10.0)  # P = -0.5 + 10i: a lightly damped S4D mode
            K = ssm.kernel(4000)[0]
        sign_changes[par] = ((K[:, 1:] * K[:, :-1]) < 0).sum(1)
    assert bool((sign_changes["sector"] >= 8).all()) and bool((sign_changes["direct"] <= 2).all())


def test_fixed_order_one_streams_with_the_ordinary_recurrence_state():
    torch.manual_seed(9)
    ssm = FractionalSSM(3, 8, alpha=1.0, learn_alpha=False, dtype=F64)
    state = ssm.default_state(2, dtype=F64)
    assert state.near.shape == (2, 3, 1, 8) and state.far.shape == (2, 3, 0, 8) and ssm.stream_modes == 0
    x = torch.randn(2, 500, 3, dtype=F64)
    with torch.no_grad():
        ys = []
        for n in range(500):
            yt, state = ssm.step(x[:, n], state)
            ys.append(yt)
        ref = recurrence(ssm, x) + skip(ssm, x)
    assert ((torch.stack(ys, 1) - ref).norm() / ref.norm()).item() <= 1e-10
