"""mittag_leffler against high-precision mpmath references, closed forms, gradients and bad input."""
import functools
import math

import mpmath as mp
import numpy as np
import pytest
import torch
from scipy.special import erfcx

from spikeDE.fractional import mittag_leffler

F64 = torch.float64


def _series(z, a, b):
    """Power series in mpmath, with working precision covering the cancellation (max term ~ e^{|z|^{1/a}})."""
    z, a, b = mp.mpf(z), mp.mpf(a), mp.mpf(b)
    s = abs(z) ** (1 / a)
    digits = int(s / (2.3 if z > 0 else 1.1)) + 30
    with mp.workdps(digits + 20):
        total, k, quiet = mp.mpf(0), 0, 0
        while quiet < 4:
            term = z ** k * mp.rgamma(a * k + b)
            total += term
            quiet = quiet + 1 if (a * k + b > 2 and abs(term) < mp.mpf(10) ** -(digits + 5) * max(1, abs(total))) \
                else 0
            k += 1
        return total


def _negative_axis_integral(x, a, b):
    """E_{a,b}(-x), x > 0, 0 < a < 1, b < 1 + a, from the Laplace transform collapsed onto the branch cut:
    (1/pi) int_0^inf e^{-r} r^{a-b} (r^a sin(b pi) + x sin((b-a) pi)) / (r^{2a} + 2 x r^a cos(a pi) + x^2) dr,
    with r = v^p, p = 1/(1+a-b), which removes the endpoint singularity."""
    with mp.workdps(40):
        x, a, b = mp.mpf(x), mp.mpf(a), mp.mpf(b)
        sb, sba, ca = mp.sin(b * mp.pi), mp.sin((b - a) * mp.pi), mp.cos(a * mp.pi)
        p = 1 / (1 + a - b)

        def f(v):
            r = v ** p
            return p * mp.exp(-r) * (r ** a * sb + x * sba) / (r ** (2 * a) + 2 * x * r ** a * ca + x * x)

        r0 = x ** (1 / a)
        pts = sorted({mp.mpf(0), mp.mpf(1), r0 / 2, r0, 2 * r0, r0 + 50})
        return mp.quad(f, [q ** (1 / p) for q in pts] + [mp.inf]) / mp.pi


@functools.lru_cache(maxsize=None)
def reference(z: float, a: float, b: float):
    if z == 0:
        return mp.rgamma(b)
    s = abs(mp.mpf(z)) ** (1 / mp.mpf(a))
    if z > 0 and s > 800:
        return mp.inf
    if z > 0 or s < 300 or a == 1:
        return _series(z, a, b)
    if b < 1 + a - 0.05:
        return _negative_axis_integral(-z, a, b)
    return (reference(z, a, b - a) - mp.rgamma(mp.mpf(b) - a)) / z  # E_{a,b} = (E_{a,b-a} - 1/Gamma(b-a))/z


Z = sorted(set(np.round(np.concatenate([-np.logspace(-2, 2, 14), np.logspace(-2, 1, 8), np.linspace(-100, 10, 12),
                                        [0.0, -1.0, 1.0, -1.0001, 1.0001, -4.0, -4.0001]]), 10).tolist()))
CASES = [(a, b) for a in (0.3, 0.6, 0.9, 1.0) for b in sorted({1.0, a, round(1 + a, 10), 0.4})]


@pytest.mark.parametrize("alpha,beta", CASES)
def test_against_mpmath(alpha, beta):
    out = mittag_leffler(torch.tensor(Z, dtype=F64), alpha, beta).tolist()
    for z, v in zip(Z, out):
        r = reference(z, alpha, beta)
        if r == mp.inf or abs(r) > 1e308:
            assert v == math.inf, (z, v)
            continue
        # relative 1e-10; absolute 1e-13 where E crosses zero (e.g. E_{0.6,0.4}(-1.43) = 3.6e-5)
        assert abs(v - float(r)) <= 1e-10 * abs(float(r)) + 1e-13, (alpha, beta, z, v, float(r))


def test_closed_forms():
    z = torch.linspace(-100, 10, 2001, dtype=F64)
    torch.testing.assert_close(mittag_leffler(z, 1.0), torch.exp(z), rtol=1e-14, atol=0)
    x = torch.linspace(0, 100, 2001, dtype=F64)  # E_{1/2}(-x) = exp(x^2) erfc(x) = erfcx(x)
    torch.testing.assert_close(mittag_leffler(-x, 0.5), torch.from_numpy(erfcx(x.numpy())), rtol=1e-12, atol=0)
    zz = z[z.abs() > 1e-3]  # E_{1,2}(z) = (e^z - 1)/z
    torch.testing.assert_close(mittag_leffler(zz, 1.0, 2.0), torch.expm1(zz) / zz, rtol=1e-12, atol=1e-15)
    assert float(mittag_leffler(torch.tensor(0.0, dtype=F64), 0.4, 2.5)) == pytest.approx(1 / math.gamma(2.5))


def test_linear_caputo_relaxation_is_solved():
    # y = E_a(-t^a) satisfies D^a y = -y: its L1 discretisation residual vanishes as h -> 0.
    a = 0.6
    for N, tol in ((200, 2e-3), (800, 6e-4)):
        t = torch.linspace(0, 1, N + 1, dtype=F64)
        y = mittag_leffler(-t ** a, a)
        h = 1.0 / N
        j = torch.arange(N, dtype=F64)
        b = (j + 1) ** (1 - a) - j ** (1 - a)
        dy = y.diff()
        caputo = sum(b[k] * dy[N - 1 - k] for k in range(N)) / (math.gamma(2 - a) * h ** a)
        assert abs(float(caputo + y[-1])) < tol


def test_dtype_shape_device_and_special_values():
    z = torch.tensor([[-3.0, 0.5], [2.0, -50.0]])
    out = mittag_leffler(z, 0.7, 0.7)
    assert out.dtype == torch.float32 and out.shape == (2, 2)
    torch.testing.assert_close(out.double(), mittag_leffler(z.double(), 0.7, 0.7), rtol=1e-6, atol=0)
    special = mittag_leffler(torch.tensor([-math.inf, math.inf, math.nan], dtype=F64), 0.5)
    assert special[0] == 0 and special[1] == math.inf and math.isnan(special[2])
    assert mittag_leffler(torch.tensor([10.0], dtype=F64), 0.2).item() == math.inf  # beyond float64
    assert isinstance(mittag_leffler(0.5, 0.5), torch.Tensor)


@pytest.mark.parametrize("alpha,beta", [(0.5, 1.0), (0.8, 0.8), (0.3, 1.3), (1.0, 2.0), (1.0, 1.0)])
def test_gradient_in_z(alpha, beta):
    z = torch.tensor([-80.0, -20.0, -3.0, -1.2, -0.5, 0.0, 0.3, 0.9, 1.5, 4.0], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: mittag_leffler(z, alpha, beta), (z,), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_bad_input():
    z = torch.linspace(-1, 1, 5)
    for bad in (0.0, 1.2, -0.5):
        with pytest.raises(ValueError, match="alpha"):
            mittag_leffler(z, bad)
    with pytest.raises(ValueError, match="beta"):
        mittag_leffler(z, 0.5, float("nan"))
    with pytest.raises(TypeError, match="real"):
        mittag_leffler(torch.zeros(2, dtype=torch.complex128), 0.5)
    with pytest.raises(ValueError, match="gradients with respect to alpha"):
        mittag_leffler(z, torch.tensor(0.5, requires_grad=True))
