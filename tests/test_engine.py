"""The one history engine (spikeDE.fractional.history + far_field_soe): each operator against a plain reference,
and every driver (fdeint's HistorySum, the neurons, the SSM streaming step, the NIR export) on the shared pieces
and the one set of defaults."""
import pytest
import torch

import spikeDE.fractional.soe as soe_mod
from spikeDE import LIFNeuron, SNNWrapper
from spikeDE.dynamics.functional import Dynamics
from spikeDE.fractional import fdeint
from spikeDE.fractional.history import lag_correlation, lower_toeplitz, scatter_lags, soe_block, toeplitz_block
from spikeDE.fractional.schemes import DEFAULT_SOE_TOL
from spikeDE.fractional.soe import far_field_soe, soe_eval, soe_rates, soe_weights
from spikeDE.fractional.weights import gl_weights
from spikeDE.nir import DEFAULT_TOL as NIR_TOL
from spikeDE.ssm import FractionalSSM

F64 = torch.float64


def test_toeplitz_block_of_a_stack_is_each_kernels_block():
    k = torch.randn(3, 30, dtype=F64)
    got = toeplitz_block(k, 17, 6, 4, 9)
    assert got.shape == (3, 6, 9)
    for r in range(3):
        for p in range(6):
            for c in range(9):
                lag = 17 + p - (4 + c)
                want = k[r, lag] if 0 <= lag < 30 else 0.0
                assert float(got[r, p, c]) == float(want)


def test_lower_toeplitz_is_the_full_block():
    k = torch.randn(7, dtype=F64)
    assert torch.equal(lower_toeplitz(k, 11), toeplitz_block(k, 0, 11, 0, 11))


@pytest.mark.parametrize("shape", [(6, 5), (6, 2, 5)])
def test_scatter_lags_matches_a_loop(shape):
    vals = torch.randn(*shape, dtype=F64)
    L, row0, col0, lo = 9, 10, 7, 1
    out = torch.zeros(shape[1:-1] + (L,), dtype=F64)
    scatter_lags(out, vals, row0, col0, lo=lo)
    ref = torch.zeros_like(out)
    for p in range(shape[0]):
        for c in range(shape[-1]):
            lag = row0 + p - (col0 + c)
            if lo <= lag < L:
                ref[..., lag] += vals[p, ..., c]
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-15)


def test_lag_correlation_matches_a_loop():
    a, b = torch.randn(23, 4, dtype=F64), torch.randn(23, 4, dtype=F64)
    got = lag_correlation(a, b, 10)
    ref = torch.stack([sum((a[t] * b[t - k]).sum() for t in range(k, 23)) for k in range(11)])
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [F64, torch.float32])
def test_soe_block_modes_give_the_direct_far_sum(dtype):
    # absorb / decay / emit over blocks reproduce sum_j w exp(-lambda (n - j)) x_j for every pair with
    # n - j >= C + 1 + (n mod C) ... i.e. the values of the blocks at least two blocks back
    C, nb, D = 5, 6, 3
    rates = torch.tensor([0.0, 0.03, 0.4, 1.7], dtype=F64)
    w = torch.tensor([0.2, -0.5, 1.1, 2.0], dtype=F64)
    x = torch.randn(C * nb, D, dtype=F64)
    prop = soe_block(rates, C, C, dtype=dtype)
    assert prop.absorb.dtype == dtype and prop.absorb.shape == (4, C) and prop.emit.shape == (C, 4)
    Z = torch.zeros(4, D, dtype=dtype)
    for b in range(2, nb):
        Z = prop.decay[:, None] * Z + prop.absorb @ x[(b - 2) * C:(b - 1) * C].to(dtype)
        far = (w.to(dtype) * prop.emit) @ Z
        for p in range(C):
            n = b * C + p
            ref = sum(float(soe_eval(rates, w, torch.tensor([float(n - j)], dtype=F64))) * x[j]
                      for j in range((b - 1) * C))
            tol = 1e-12 if dtype == F64 else 1e-5
            torch.testing.assert_close(far[p].double(), ref, rtol=tol, atol=tol)


def test_soe_block_of_a_stack_of_rates_is_each_rows_block():
    rates = torch.rand(3, 5, dtype=F64)
    stack = soe_block(rates, 4, 2)
    for h in range(3):
        row = soe_block(rates[h], 4, 2)
        for a, b in zip(stack, row):
            assert torch.equal(a[h], b)


def test_far_field_soe_meets_tol_on_every_lag_and_follows_the_rule():
    n_min, n_max, tol = 17, 4096, 1e-6
    lags = torch.arange(n_min, n_max + 1, dtype=F64)

    def weights_of(a):
        return lambda rates, du: soe_weights("gl", a, rates, du)

    ((rates, w),) = far_field_soe(weights_of(0.4), n_min, n_max, tol)
    exact = gl_weights(0.4, n_max + 1)[n_min:]
    assert float(((soe_eval(rates, w, lags) - exact).abs() / exact.abs()).max()) <= tol
    assert rates.numel() <= 24
    # a learnable order: the exact-gradient variant keeps alpha-independent quadrature rates
    a = torch.tensor(0.4, dtype=F64, requires_grad=True)
    ((rq, wq),) = far_field_soe(weights_of(a), n_min, n_max, tol, exact_grad=True)
    assert torch.equal(rq, soe_rates(n_min, n_max, tol)[0]) and wq.requires_grad
    ((rf, wf),) = far_field_soe(weights_of(a), n_min, n_max, tol)
    assert rf.numel() < rq.numel() and wf.requires_grad
    # weights of both signs keep the fine SOE; several rows give one pair per row
    mixed = far_field_soe(lambda r, du: torch.stack([soe_weights("gl", 0.3, r, du),
                                                     soe_weights("gl", 0.3, r, du) - 2 * soe_weights("gl", 0.8, r, du)]),
                          n_min, n_max, tol)
    assert len(mixed) == 2 and mixed[0][0].numel() < mixed[1][0].numel()


def test_every_driver_builds_its_far_field_with_the_shared_rule(monkeypatch):
    calls = []
    real = soe_mod.far_field_soe

    def spy(weights_of, n_min, n_max, tol, **kw):
        calls.append((n_min, n_max, tol))
        return real(weights_of, n_min, n_max, tol, **kw)

    for mod in ("spikeDE.fractional.soe", "spikeDE.fractional.memory", "spikeDE.dynamics.functional",
                "spikeDE.ssm.fractional_ssm"):
        monkeypatch.setattr(f"{mod}.far_field_soe", spy, raising=False)
    fdeint(lambda t, y: -y, torch.ones(2, dtype=F64), torch.linspace(0, 1, 120, dtype=F64), 0.5, memory="soe")
    assert calls and calls[-1][2] == DEFAULT_SOE_TOL
    n = len(calls)
    LIFNeuron(alpha=0.5, memory="soe")(torch.rand(70, 2, 3))
    assert len(calls) > n and calls[-1][2] == DEFAULT_SOE_TOL
    n = len(calls)
    layer = FractionalSSM(4, 4, alpha=0.6, learn_alpha=False)
    with torch.no_grad():
        layer.step(torch.randn(2, 4), None)
    assert len(calls) > n


def test_one_set_of_defaults():
    ssm = FractionalSSM(2, 2)
    wrapper = SNNWrapper(torch.nn.Sequential(torch.nn.Linear(2, 2), LIFNeuron()), memory="soe")
    assert Dynamics("fdeint", None, None, "gl", "soe", 1.0).soe_tol == DEFAULT_SOE_TOL
    assert wrapper.soe_tol == ssm.stream_tol == NIR_TOL == DEFAULT_SOE_TOL
