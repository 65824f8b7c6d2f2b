"""Multi-term (distributed-order) GL: sum_m c_m D^{alpha_m} y = f(t, y)."""
import math

import pytest
import torch

from spikeDE.fractional import fdeint
from spikeDE.fractional.weights import gl_weights

F64 = torch.float64


def test_one_term_reduces_to_gl():
    f = lambda t, y: -y + torch.sin(2 * t)  # noqa: E731
    y0 = torch.randn(3, dtype=F64)
    t = torch.linspace(0, 2, 90, dtype=F64)
    torch.testing.assert_close(fdeint(f, y0, t, [0.6], method="glmulti"), fdeint(f, y0, t, 0.6, method="gl"),
                               rtol=1e-13, atol=1e-13)
    # c D^a y = f  <=>  D^a y = f / c
    torch.testing.assert_close(fdeint(f, y0, t, [0.6], method="glmulti", coefficients=[2.5]),
                               fdeint(lambda t, y: f(t, y) / 2.5, y0, t, 0.6, method="gl"), rtol=1e-12, atol=1e-12)


def reference_two_term(a, c, lam, y0, t, K=None):
    """Plain O(N^2) loop: sum_m c_m h^{-a_m} sum_{j=0}^{n+1} w_j^{(m)} (y_{n+1-j} - y0) = -lam y_n + cos(t_n)
    (with ``K``: only the lags j <= K of the history)."""
    N, h = len(t) - 1, float(t[1] - t[0])
    w = [[wj if K is None or j <= K else 0.0 for j, wj in enumerate(gl_weights(am, N + 1).tolist())] for am in a]
    ys = [y0]
    for n in range(N):
        rhs = -lam * ys[n] + math.cos(float(t[n]))
        hist = sum(cm * h ** -am * sum(wm[j] * (ys[n + 1 - j] - y0) for j in range(1, n + 2))
                   for am, cm, wm in zip(a, c, w))
        lead = sum(cm * h ** -am for am, cm in zip(a, c))
        ys.append(y0 + (rhs - hist) / lead)
    return torch.tensor(ys, dtype=F64)


@pytest.mark.parametrize("memory", [None, "soe", 30])
def test_two_term_linear_against_plain_loop(memory):
    a, c, lam = [0.8, 0.3], [1.0, 0.5], 1.5
    t = torch.linspace(0, 3, 121, dtype=F64)
    out = fdeint(lambda t, y: -lam * y + torch.cos(t), torch.tensor(0.7, dtype=F64), t, a, method="glmulti",
                 coefficients=c, memory=memory, block_size=16)
    ref = reference_two_term(a, c, lam, 0.7, t, K=memory if isinstance(memory, int) else None)
    torch.testing.assert_close(out, ref, rtol=1e-7 if memory == "soe" else 1e-12,
                               atol=1e-8 if memory == "soe" else 1e-12)


def test_two_term_convergence_to_known_solution():
    # y = t^2 solves c1 D^{a1} y + c2 D^{a2} y = sum_m c_m 2 t^{2-a_m}/Gamma(3-a_m) - y + t^2
    a, c = [0.7, 0.4], [1.0, 0.8]

    def f(t, y):
        return sum(cm * 2 * t ** (2 - am) / math.gamma(3 - am) for am, cm in zip(a, c)) - y + t * t

    errs = []
    for N in (40, 80, 160):
        t = torch.linspace(0, 1, N + 1, dtype=F64)
        y = fdeint(f, torch.zeros(1, dtype=F64), t, a, method="glmulti", coefficients=c)[:, 0]
        errs.append(float((y - t * t).abs().max()))
    assert math.log2(errs[-2] / errs[-1]) >= 0.9 and errs[-1] < 1e-2, errs


def test_gradcheck_coefficients_and_orders():
    c = torch.tensor([1.0, 0.6], dtype=F64, requires_grad=True)
    a = torch.tensor([0.75, 0.35], dtype=F64, requires_grad=True)
    y0 = torch.randn(2, dtype=F64, requires_grad=True)
    t = torch.linspace(0, 2, 50, dtype=F64)

    def run(c, a, y0):
        return fdeint(lambda t, y: -y + torch.sin(t), y0, t, a, method="glmulti", coefficients=c, memory="soe",
                      block_size=8)[-1]

    assert torch.autograd.gradcheck(run, (c, a, y0), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_bad_multiterm_input():
    y0, t = torch.ones(2), torch.linspace(0, 1, 5)
    with pytest.raises(ValueError, match="coefficients has 1 entries but alpha has 2"):
        fdeint(lambda t, y: -y, y0, t, [0.5, 0.3], method="glmulti", coefficients=[1.0])
    with pytest.raises(ValueError, match="W_0"):
        fdeint(lambda t, y: -y, y0, t, [0.5, 0.3], method="glmulti", coefficients=[-1.0, -1.0])
    with pytest.raises(ValueError, match="alpha"):
        fdeint(lambda t, y: -y, y0, t, [0.5, 1.3], method="glmulti")
    with pytest.raises(ValueError, match="at least one"):
        fdeint(lambda t, y: -y, y0, t, [], method="glmulti")
    with pytest.raises(ValueError, match="coefficients"):
        fdeint(lambda t, y: -y, y0, t, [0.5], method="glmulti", coefficients=[float("inf")])
