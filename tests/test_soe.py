import pytest
import torch

from spikeDE.fractional.soe import soe_approximation, soe_eval, soe_rates, soe_weights
from spikeDE.fractional.weights import gl_weights, l1_weights, rectangle_weights, trapezoid_weights

EXACT = {"gl": gl_weights, "l1": l1_weights, "rectangle": rectangle_weights, "trapezoid": trapezoid_weights}
N = 12000


@pytest.mark.parametrize("tol", [1e-6, 1e-9])
@pytest.mark.parametrize("kernel", sorted(EXACT))
def test_relative_error_within_tol(kernel, tol):
    n_min = 17
    n = torch.arange(n_min, N + 1, dtype=torch.float64)
    for alpha in (0.05, 0.3, 0.5, 0.8, 0.95, 0.999):
        soe = soe_approximation(kernel, alpha, n_min, N, tol)
        exact = EXACT[kernel](alpha, N + 1)[n_min:]
        rel = ((soe(n) - exact) / exact).abs().max().item()
        assert rel <= tol, (kernel, alpha, rel)


def test_alpha_one_limits():
    n = torch.arange(5, 1000, dtype=torch.float64)
    assert soe_approximation("gl", 1.0, 5, 1000)(n).abs().max() == 0  # w_j = 0 for j >= 2
    assert soe_approximation("l1", 1.0, 5, 1000)(n).abs().max() == 0
    torch.testing.assert_close(soe_approximation("rectangle", 1.0, 5, 1000)(n), torch.ones_like(n), rtol=1e-12, atol=0)
    torch.testing.assert_close(soe_approximation("trapezoid", 1.0, 5, 1000)(n), 2 * torch.ones_like(n), rtol=1e-9, atol=0)


def test_power_kernel():
    n = torch.arange(10, 5001, dtype=torch.float64)
    for beta in (0.2, 0.5, 1.5):
        soe = soe_approximation("power", None, 10, 5000, 1e-9, beta=beta)
        assert ((soe(n) - n**-beta) / n**-beta).abs().max() <= 1e-9


@pytest.mark.parametrize("kernel", sorted(EXACT))
def test_alpha_gradient_matches_exact_weights(kernel):
    # The rates are fixed; d(omega)/d(alpha) must reproduce d(k(n))/d(alpha) of the exact kernel.
    lags = torch.tensor([20.0, 200.0, 3000.0], dtype=torch.float64)
    rates, du = soe_rates(17, 4000, 1e-9)
    a1 = torch.tensor(0.45, dtype=torch.float64, requires_grad=True)
    w = soe_weights(kernel, a1, rates, du)
    g_soe = torch.stack([torch.autograd.grad((w * torch.exp(-rates * n)).sum(), a1, retain_graph=True)[0] for n in lags])
    a2 = torch.tensor(0.45, dtype=torch.float64, requires_grad=True)
    k = EXACT[kernel](a2, 4001)
    g_ex = torch.stack([torch.autograd.grad(k[int(n)], a2, retain_graph=True)[0] for n in lags])
    torch.testing.assert_close(g_soe, g_ex, rtol=1e-6, atol=0)


def test_error_grows_slowly_beyond_n_max():
    soe = soe_approximation("gl", 0.5, 17, 1000, 1e-8)
    n = torch.arange(1000, 10001, dtype=torch.float64)
    exact = gl_weights(0.5, 10001)[1000:]
    assert ((soe(n) - exact) / exact).abs().max() <= 20 * 1e-8


def test_rates_fixed_and_mode_count():
    rates, du = soe_rates(33, 10**4, 1e-6)
    assert rates[0] == 0 and bool((rates[1:].diff() > 0).all())
    assert 20 <= rates.numel() <= 70
    torch.testing.assert_close(torch.log(rates[2:]).diff(), torch.full((rates.numel() - 3,), du, dtype=torch.float64))


def test_bad_input():
    with pytest.raises(ValueError, match="n_min"):
        soe_rates(1, 100)
    with pytest.raises(ValueError, match="n_max"):
        soe_rates(10, 5)
    with pytest.raises(ValueError, match="tol"):
        soe_rates(10, 100, tol=0.0)
    rates, du = soe_rates(10, 100)
    with pytest.raises(ValueError, match="unknown kernel"):
        soe_weights("caputo", 0.5, rates, du)
    with pytest.raises(ValueError, match="alpha"):
        soe_weights("gl", 1.2, rates, du)


def test_batched_alpha_gives_one_weight_row_per_order():
    rates, du = soe_rates(8, 5000, 1e-8)
    alphas = torch.tensor([[0.2, 0.5], [0.9, 1.0]], dtype=torch.float64)
    w = soe_weights("gl", alphas, rates, du)
    assert w.shape == (2, 2, rates.numel())
    for i in range(2):
        for j in range(2):
            torch.testing.assert_close(w[i, j], soe_weights("gl", float(alphas[i, j]), rates, du), rtol=0, atol=0)


# ---------------------------------------------------------------- optimal SOE (balanced truncation)
import torch.autograd.forward_ad as fwAD  # noqa: E402

from spikeDE.fractional.soe import balanced_truncation, soe_quadrature  # noqa: E402

ALPHAS = (0.1, 0.3, 0.5, 0.7, 0.9, 0.99)


@pytest.mark.parametrize("kernel", sorted(EXACT))
def test_optimal_soe_meets_tol_on_every_lag_with_few_modes(kernel):
    # Every lag 64..16384 against the exact weights; at most 16 modes at 1e-4 (the quadrature needs > 30).
    n_min, n_max = 64, 16384
    n = torch.arange(n_min, n_max + 1, dtype=torch.float64)
    for alpha in ALPHAS:
        exact = EXACT[kernel](alpha, n_max + 1)[n_min:]
        soe = soe_approximation(kernel, alpha, n_min, n_max, 1e-4)
        rel = ((soe(n) - exact) / exact).abs().max().item()
        assert rel <= 1e-4 and soe.modes <= 16, (alpha, rel, soe.modes)
        assert soe.method == "balanced" and soe.max_error <= 1e-4
        assert bool((soe.rates >= 0).all()) and bool((soe.rates.diff() > 0).all())
        assert bool((soe.weights * exact[0].sign() > 0).all())  # one sign: the kernel's
        quad = soe_quadrature(kernel, alpha, n_min, n_max, 1e-4)
        assert ((quad(n) - exact) / exact).abs().max() <= 1e-4 and quad.modes > 2 * soe.modes


@pytest.mark.parametrize("kernel", sorted(EXACT))
def test_optimal_soe_tight_tolerance_mode_count(kernel):
    n_min, n_max = 64, 16384
    n = torch.arange(n_min, n_max + 1, dtype=torch.float64)
    for alpha in (0.1, 0.5, 0.99):
        exact = EXACT[kernel](alpha, n_max + 1)[n_min:]
        soe = soe_approximation(kernel, alpha, n_min, n_max, 1e-6)
        assert ((soe(n) - exact) / exact).abs().max() <= 1e-6 and soe.modes <= 24, (alpha, soe.modes)


def _d_alpha_exact(kernel, alpha, n_max):
    with fwAD.dual_level():
        a = fwAD.make_dual(torch.tensor(alpha, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
        return fwAD.unpack_dual(EXACT[kernel](a, n_max + 1)).tangent


@pytest.mark.parametrize("kernel", sorted(EXACT))
def test_optimal_soe_alpha_gradient_matches_exact_kernel(kernel):
    # Rates are fixed at the current alpha; the weights' alpha-derivative is the least-squares fit of
    # d k / d alpha on them: uniformly close to the exact derivative (forward-mode AD of the exact weights).
    n_min, n_max = 33, 8192
    n = torch.arange(n_min, n_max + 1, dtype=torch.float64)
    for alpha, tol, bound in ((0.3, 1e-4, 1e-2), (0.8, 1e-6, 1e-3)):
        a = torch.tensor(alpha, dtype=torch.float64, requires_grad=True)
        soe = soe_approximation(kernel, a, n_min, n_max, tol)
        dw = torch.stack([torch.autograd.grad(soe.weights[i], a, retain_graph=True)[0] for i in range(soe.modes)])
        d_soe = (dw * torch.exp(-n.unsqueeze(1) * soe.rates)).sum(1)
        d_ex = _d_alpha_exact(kernel, alpha, n_max)[n_min:]
        assert (d_soe - d_ex).abs().max() <= bound * d_ex.abs().max(), (alpha, tol)


def test_balanced_truncation_of_a_given_soe():
    # A sum of two power laws (completely monotone): reduce the fine quadrature SOE, keep dtype, check all lags.
    n_min, n_max = 16, 4000
    rates, du = soe_rates(n_min, n_max, 1e-10)
    fine = soe_weights("power", None, rates, du, beta=0.4) + 3 * soe_weights("power", None, rates, du, beta=1.3)
    lam, w = balanced_truncation(rates, fine, n_min, n_max, 1e-5)
    n = torch.arange(n_min, n_max + 1, dtype=torch.float64)
    exact = n**-0.4 + 3 * n**-1.3
    assert ((soe_eval(lam, w, n) - exact) / exact).abs().max() <= 1e-5
    assert lam.numel() < rates.numel() // 3 and bool((w > 0).all())
    lam32, w32 = balanced_truncation(rates.float(), -fine.float(), n_min, n_max, 1e-3)
    assert lam32.dtype == w32.dtype == torch.float32 and bool((w32 < 0).all())
    with pytest.raises(ValueError, match="one sign"):
        balanced_truncation(rates, fine * torch.where(rates > 0.1, -1.0, 1.0).to(fine.dtype), n_min, n_max, 1e-5)
    with pytest.raises(ValueError, match="n_max"):
        balanced_truncation(rates, fine, n_min, n_min - 1, 1e-5)
    with pytest.raises(ValueError, match="tol"):
        soe_approximation("gl", 0.5, 16, 100, tol=2.0)
