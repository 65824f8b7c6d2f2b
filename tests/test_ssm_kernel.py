"""The fractional SSM kernel: exact GL impulse response, power-law tail, alpha = 1 reduction, gradients."""
import math

import pytest
import torch

from spikeDE.ssm import FractionalSSM
from spikeDE.ssm.kernel import cauchy_pairs, gl_ssm_kernel

F64, C128 = torch.float64, torch.complex128


def gl_impulse_response(a, lam, c, L):
    """Plain O(L^2) loop: sum_{j=0}^{n} w_j s_{n-j} = lam s_n + delta_n, K_n = 2 Re(c s_n); a, lam, c per row."""
    H, M = lam.shape
    K = torch.zeros(H, L, dtype=F64)
    for h in range(H):
        w = [1.0]
        for j in range(1, L):
            w.append(w[-1] * (1.0 - (1.0 + float(a[h])) / j))
        w = torch.tensor(w, dtype=F64)
        s = torch.zeros(M, L, dtype=C128)
        for n in range(L):
            hist = (s[:, :n].flip(-1) * w[1:n + 1]).sum(-1)
            s[:, n] = ((1.0 if n == 0 else 0.0) - hist) / (1.0 - lam[h])
        K[h] = 2.0 * (c[h].unsqueeze(-1) * s).sum(0).real
    return K


def random_modes(H, M, seed=0):
    g = torch.Generator().manual_seed(seed)
    dt = torch.exp(torch.empty(H, dtype=F64).uniform_(math.log(1e-3), math.log(0.5), generator=g))
    A = torch.complex(-torch.empty(H, M, dtype=F64).uniform_(0.05, 2.0, generator=g),
                      torch.randn(H, M, dtype=F64, generator=g) * 10)
    C = torch.randn(H, M, dtype=C128, generator=g)
    return dt, A, C


@pytest.mark.parametrize("oversample,tol", [(1, 1e-6), (2, 1e-9)])
def test_kernel_matches_the_gl_recurrence(oversample, tol):
    H, M, L = 5, 6, 700
    dt, A, C = random_modes(H, M)
    a = torch.tensor([0.15, 0.4, 0.5, 0.85, 1.0], dtype=F64)
    lam, c = dt.pow(a)[:, None] * A, dt.pow(a)[:, None] * C
    K = gl_ssm_kernel(lam, c.unsqueeze(0), a, L, oversample=oversample)[0]
    ref = gl_impulse_response(a, lam, c, L)
    rel = ((K - ref).norm(dim=1) / ref.norm(dim=1)).max().item()
    assert rel <= tol, rel
    # a scalar order is broadcast to every channel
    K5 = gl_ssm_kernel(lam, c.unsqueeze(0), torch.tensor(0.5, dtype=F64), L)[0]
    ref5 = gl_impulse_response(torch.full((H,), 0.5, dtype=F64), lam, c, L)
    assert ((K5 - ref5).norm() / ref5.norm()).item() <= 1e-6


def test_alpha_one_is_the_backward_euler_diagonal_ssm():
    # a = 1: (1 - z) - lam, so s_n = (s_{n-1} + delta_n) / (1 - lam): K_n = 2 Re sum c (1 - lam)^{-n-1}.
    H, M, L = 4, 8, 3000
    dt, A, C = random_modes(H, M, seed=1)
    lam, c = dt[:, None] * A, dt[:, None] * C
    K = gl_ssm_kernel(lam, c.unsqueeze(0), torch.ones(H, dtype=F64), L, oversample=2)[0]
    n = torch.arange(L, dtype=F64)
    ref = 2.0 * (c.unsqueeze(-1) * torch.exp(-(n + 1) * torch.log(1.0 - lam).unsqueeze(-1))).sum(1).real
    assert ((K - ref).norm(dim=1) / ref.norm(dim=1)).max().item() <= 1e-9


def _loglog_slope(K, lo=100, hi=10_000, points=60):
    idx = torch.unique(torch.logspace(math.log10(lo), math.log10(hi), points, dtype=F64).round().long())
    X = torch.stack([idx.to(F64).log(), torch.ones(idx.numel(), dtype=F64)], 1)
    Y = K[:, idx].abs().log().T
    return torch.linalg.lstsq(X, Y).solution[0]


def test_power_law_memory_for_alpha_half():
    # Past n >> |Delta^a A|^{-1/a} the response is -w_n * 2 Re sum c/lam^2 ~ n^{-1-a}; with Delta = 1 that
    # regime covers lags 10^2..10^4.
    torch.manual_seed(0)
    ssm = FractionalSSM(6, 64, alpha=0.5, learn_alpha=False, dt_min=1.0, dt_max=1.0, dtype=F64)
    with torch.no_grad():
        K = ssm.kernel(10_001)[0]
        a, lam, c, _ = ssm.discrete()
    slope = _loglog_slope(K)
    assert (slope + 1.5).abs().max().item() <= 0.15, slope
    # amplitude of the tail: K_n / w_n -> -2 Re sum_m c_m / lam_m^2 (w_n: GL weights, from their recurrence)
    w = torch.ones(10_001, dtype=F64)
    for j in range(1, 10_001):
        w[j] = w[j - 1] * (1 - 1.5 / j)
    limit = -2.0 * (c[0] / lam**2).sum(-1).real
    torch.testing.assert_close(K[:, 10_000] / w[10_000], limit, rtol=0.05, atol=0)


def test_alpha_one_decays_exponentially():
    # One real mode per channel, a = 1: K_n = K_0 rho^n with rho = 1/(1 - Delta A) < 1 (no power-law tail).
    torch.manual_seed(0)
    ssm = FractionalSSM(4, 2, alpha=1.0, learn_alpha=False, dt_min=1e-3, dt_max=2e-3, dtype=F64)
    with torch.no_grad():
        K = ssm.kernel(10_001)[0]
        dt = ssm.log_dt.exp()
    n = torch.arange(10_001, dtype=F64)
    rho = 1.0 / (1.0 + 0.5 * dt)
    torch.testing.assert_close(K / K[:, :1], rho[:, None] ** n, rtol=1e-5, atol=1e-9)
    # the same layer at a = 0.5 keeps a power-law tail instead
    with torch.no_grad():
        ssm.order.fixed.fill_(0.5)
        Kf = ssm.kernel(10_001)[0]
    assert bool((Kf[:, 10_000].abs() / Kf[:, 1000].abs() > 1e-3).all())
    assert bool((K[:, 10_000].abs() / K[:, 1000].abs() < rho ** 9000 * 1.001).all())


def test_cauchy_pairs_gradient():
    g0 = torch.Generator().manual_seed(3)
    H, M, Kp, S = 3, 4, 7, 2
    g = torch.randn(H, Kp, dtype=C128, generator=g0).requires_grad_()
    lam = torch.complex(-torch.rand(H, M, dtype=F64, generator=g0) - 0.5,
                        torch.randn(H, M, dtype=F64, generator=g0)).requires_grad_()
    c = torch.randn(S, H, M, dtype=C128, generator=g0).requires_grad_()
    direct = (c[..., None] / (g[None, :, None] - lam[None, ..., None])
              + c.conj()[..., None] / (g[None, :, None] - lam.conj()[None, ..., None])).sum(2)
    torch.testing.assert_close(cauchy_pairs(g, lam, c), direct, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(cauchy_pairs, (g, lam, c))


class _KernelOf(torch.nn.Module):
    def __init__(self, ssm, length):
        super().__init__()
        self.ssm, self.length = ssm, length

    def forward(self):
        return self.ssm.kernel(self.length)


def test_kernel_gradient_in_all_parameters_is_the_finite_difference():
    torch.manual_seed(0)
    ssm = FractionalSSM(3, 6, alpha=[0.3, 0.6, 0.9], learn_alpha=True, bidirectional=True, dtype=F64)
    wrapper = _KernelOf(ssm, 24)
    names = [n for n, _ in wrapper.named_parameters()]
    assert "ssm.order.alpha_logit" in names and "ssm.log_dt" in names
    params = tuple(p.detach().clone().requires_grad_() for p in wrapper.parameters())
    kernel = lambda *ps: torch.func.functional_call(wrapper, dict(zip(names, ps)), ())  # noqa: E731
    assert torch.autograd.gradcheck(kernel, params, fast_mode=True)
