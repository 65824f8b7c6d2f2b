"""FractionalSSM streaming state: one history buffer viewed as (near, far), the meaning of each field, the
step leaving its input state untouched, other state layouts, and gradients through the step."""
import pytest
import torch

from spikeDE.ssm import FractionalSSM, FractionalSSMState

F64 = torch.float64


def stream(ssm, x, state=None):
    """Run ``ssm.step`` over ``x [B, L, H]``; returns ``(y [B, L, H], last state)``."""
    ys = []
    for n in range(x.shape[1]):
        y, state = ssm.step(x[:, n], state)
        ys.append(y)
    return torch.stack(ys, 1), state


def gl_recurrence_states(ssm, x):
    """Plain O(L^2) GL recurrence ``sum_{j=0}^n w_j s_{n-j} = Delta^a (A s_n + B x_n)`` (exact history): all
    complex states ``s [B, L, H, M]``; GL weights from ``w_j = w_{j-1} (1 - (1 + a) / j)``."""
    with torch.no_grad():
        a, lam, _, dB = ssm.discrete()
        a = a.expand(ssm.d_model)
        Bt, L, H = x.shape
        w = torch.ones(H, L, dtype=F64)
        for j in range(1, L):
            w[:, j] = w[:, j - 1] * (1.0 - (1.0 + a) / j)
        s = torch.zeros(Bt, L, H, ssm.modes, dtype=torch.complex128)
        for n in range(L):
            hist = (s[:, :n].flip(1) * w[:, 1:n + 1].T[None, :, :, None]).sum(1)
            s[:, n] = (dB * x[:, n, :, None].to(F64) - hist) / (1.0 - lam)
        return s


@pytest.mark.parametrize("alpha", [0.3, 0.7, [0.3, 0.7, 0.45, 0.9]])
def test_streaming_equals_parallel_float64(alpha, one_thread):
    torch.manual_seed(1)
    ssm = FractionalSSM(4, 8, alpha=alpha, learn_alpha=True, dt_min=1e-3, dt_max=0.5, dtype=F64)
    x = torch.randn(2, 2048, 4, dtype=F64)
    with torch.no_grad():
        y = ssm(x)
        ys, _ = stream(ssm, x, ssm.default_state(2, dtype=F64))
    assert ((ys - y).norm() / y.norm()).item() <= 0.1 * ssm.stream_tol


def test_streaming_equals_parallel_float32(one_thread):
    torch.manual_seed(2)
    ssm = FractionalSSM(3, 8, alpha=[0.3, 0.7, 1.0], learn_alpha=False, dt_max=0.5)
    x = torch.randn(2, 1024, 3)
    with torch.no_grad():
        y = ssm(x)
        ys, state = stream(ssm, x)
    assert ys.dtype == torch.float32 and state.near.dtype == torch.float32
    assert ((ys - y).norm() / y.norm()).item() <= 1e-4


def test_state_fields_hold_the_window_and_the_discounted_far_history(one_thread):
    """near[:, :, i] = s_{n-1-i}; far[:, :, q] = sum_{k>=0} e^{-r_q k} s_{n-W-1-k} (r_q: the layer's SOE rates),
    with the states s_n recorded from the stream; and those states are the exact GL recurrence's to within
    the SOE's accuracy."""
    torch.manual_seed(3)
    ssm = FractionalSSM(2, 6, alpha=[0.4, 0.8], learn_alpha=False, dt_max=0.3, dtype=F64)
    x = torch.randn(3, 60, 2, dtype=F64)
    W, Q, L = ssm.stream_window, ssm.stream_modes, x.shape[1]
    as_c = lambda t: torch.view_as_complex(t.reshape(*t.shape[:-1], ssm.modes, 2))
    with torch.no_grad():
        state, s = None, []
        for n in range(L):
            _, state = ssm.step(x[:, n], state)
            s.append(as_c(state.near[:, :, 0]))  # s_n
        s = torch.stack(s, 1)  # [B, L, H, M]
        exact = gl_recurrence_states(ssm, x)
        rates, _ = ssm._stream_soe(ssm.discrete()[0])
    assert ((s - exact).abs().max() / exact.abs().max()).item() <= 0.1 * ssm.stream_tol
    assert state.near.shape == (3, 2, W, 6) and state.far.shape == (3, 2, Q, 6)
    torch.testing.assert_close(as_c(state.near), s[:, L - W:].flip(1).transpose(1, 2), rtol=0, atol=0)
    old = s[:, :L - W].flip(1)  # s_{L-W-1-k}, k = 0, 1, ...
    k = torch.arange(old.shape[1], dtype=F64)
    far = (torch.exp(-rates[:, :Q, None] * k)[None, :, :, :, None] * old.permute(0, 2, 1, 3)[:, :, None]).sum(3)
    torch.testing.assert_close(as_c(state.far), far, rtol=1e-12, atol=1e-13)


def test_step_states_are_views_of_one_buffer_and_are_never_modified(one_thread):
    torch.manual_seed(4)
    ssm = FractionalSSM(3, 8, alpha=0.5, dtype=F64)
    x = torch.randn(2, 20, 3, dtype=F64)
    for grad in (False, True):
        with torch.set_grad_enabled(grad):
            _, state = stream(ssm, x[:, :10], ssm.default_state(2, dtype=F64))
            near, far = state
            assert near.untyped_storage().data_ptr() == far.untyped_storage().data_ptr()
            kept = (near.detach().clone(), far.detach().clone())
            y1, s1 = ssm.step(x[:, 10], state)
            y2, s2 = ssm.step(x[:, 10], state)  # the same state again: the same result
            _ = stream(ssm, x[:, 11:], s1)  # going on from the new state leaves the old one alone too
            assert torch.equal(near, kept[0]) and torch.equal(far, kept[1])
            assert torch.equal(y1, y2) and torch.equal(s1.near, s2.near) and torch.equal(s1.far, s2.far)
            assert s1.near.untyped_storage().data_ptr() != near.untyped_storage().data_ptr()


def test_states_in_other_layouts_are_accepted(one_thread):
    """Plain zeros, copies, detached and inference-mode states continue exactly like the step's own state."""
    torch.manual_seed(5)
    ssm = FractionalSSM(3, 8, alpha=[0.3, 0.6, 0.9], dtype=F64)
    W, Q = ssm.stream_window, ssm.stream_modes
    x = torch.randn(2, 30, 3, dtype=F64)
    with torch.no_grad():
        ref, _ = stream(ssm, x)
        zeros = FractionalSSMState(torch.zeros(2, 3, W, 8, dtype=F64), torch.zeros(2, 3, Q, 8, dtype=F64))
        torch.testing.assert_close(stream(ssm, x, zeros)[0], ref, rtol=0, atol=0)
        _, mid = stream(ssm, x[:, :12])
        copies = FractionalSSMState(mid.near.clone(), mid.far.contiguous().clone())
        torch.testing.assert_close(stream(ssm, x[:, 12:], copies)[0], ref[:, 12:], rtol=0, atol=0)
    with torch.inference_mode():
        torch.testing.assert_close(stream(ssm, x)[0], ref, rtol=0, atol=0)
    # truncated backpropagation: a detached state gives the same values and no graph into earlier steps
    _, mid = stream(ssm, x[:, :12])
    cut = FractionalSSMState(mid.near.detach(), mid.far.detach())
    y, _ = stream(ssm, x[:, 12:], cut)
    torch.testing.assert_close(y.detach(), ref[:, 12:], rtol=1e-12, atol=1e-12)
    assert not cut.near.requires_grad and y.requires_grad


def test_gradients_through_steps_equal_the_parallel_gradients():
    torch.manual_seed(6)
    ssm = FractionalSSM(2, 4, alpha=[0.4, 0.7], learn_alpha=True, dt_max=0.3, dtype=F64)
    x = torch.randn(2, 24, 2, dtype=F64)
    target = torch.randn(2, 24, 2, dtype=F64)
    params = [ssm.order.logit, ssm.log_dt, ssm.log_A_real, ssm.A_imag, ssm.B, ssm.C, ssm.D]

    def grads(y):
        return torch.autograd.grad(((y - target) ** 2).sum(), params)

    g_par = grads(ssm(x))
    g_str = grads(stream(ssm, x)[0])
    # the SOE memory's error, a small multiple of 1e-3 stream_tol; the order's gradient goes through the
    # least-squares derivative of the reduced SOE weights (far_field_soe), documented to about 1e-4 relative
    torch.testing.assert_close(g_str[0], g_par[0], rtol=1e-4, atol=0)
    for gp, gs in zip(g_par[1:], g_str[1:]):
        torch.testing.assert_close(gs, gp, rtol=0.1 * ssm.stream_tol, atol=1e-3 * ssm.stream_tol * gp.abs().max())


@pytest.mark.parametrize("d_skip", [True, False])
def test_step_output_is_a_contiguous_batch_by_channel_tensor(d_skip):
    ssm = FractionalSSM(6, 8, alpha=0.5, d_skip=d_skip)
    for grad in (False, True):
        with torch.set_grad_enabled(grad):
            y, _ = ssm.step(torch.randn(5, 6), None)
        assert y.shape == (5, 6) and y.is_contiguous()


def test_empty_batch_and_state_mismatch():
    ssm = FractionalSSM(3, 4, alpha=0.5)
    y, state = ssm.step(torch.zeros(0, 3), None)
    assert y.shape == (0, 3) and state.near.shape == (0, 3, ssm.stream_window, 4)
    st = ssm.default_state(2)
    with pytest.raises(ValueError, match="far"):
        ssm.step(torch.randn(2, 3), FractionalSSMState(st.near, st.far[:, :, :-1]))
    with pytest.raises(ValueError, match="near"):
        ssm.step(torch.randn(2, 3), FractionalSSMState(st.near[:1], st.far))
