import math

import mpmath as mp
import pytest
import torch

from spikeDE.fractional.weights import (
    gl_weights, l1_weights, rectangle_weights, scheme_factor, trapezoid_start_weights, trapezoid_weights,
)

mp.mp.dps = 40
LAGS = [0, 1, 2, 3, 7, 63, 64, 65, 500, 4999]


def ref(kind, a, k):
    a, k = mp.mpf(a), mp.mpf(k)
    if kind == "gl":
        return (-1) ** int(k) * mp.binomial(a, k)
    if kind == "l1":
        return mp.mpf(1) if k == 0 else (k + 1) ** (1 - a) - k ** (1 - a)
    if kind == "rectangle":
        return mp.mpf(1) if k == 0 else (k + 1) ** a - k**a
    if kind == "trapezoid":
        return mp.mpf(1) if k == 0 else (k + 1) ** (a + 1) - 2 * k ** (a + 1) + (k - 1) ** (a + 1)


GEN = {"gl": gl_weights, "l1": l1_weights, "rectangle": rectangle_weights, "trapezoid": trapezoid_weights}


@pytest.mark.parametrize("kind", sorted(GEN))
@pytest.mark.parametrize("alpha", [0.05, 0.3, 0.5, 0.8, 0.999, 1.0])
def test_weights_match_high_precision(kind, alpha):
    w = GEN[kind](alpha, 5000)
    assert w.dtype == torch.float64 and w.shape == (5000,)
    for k in LAGS:
        r = ref(kind, alpha, k)
        assert float(abs(w[k].item() - r)) <= 1e-13 * max(1.0, float(abs(r))) + 1e-300, (kind, alpha, k)


def test_gl_generating_function():
    # sum_j w_j z^j = (1 - z)^alpha
    for a in (0.2, 0.7):
        w = gl_weights(a, 200)
        z = 0.5
        assert float((w * z ** torch.arange(200, dtype=torch.float64)).sum()) == pytest.approx((1 - z) ** a, rel=1e-14)


def test_alpha_one_is_integer_order():
    assert gl_weights(1.0, 5).tolist() == [1.0, -1.0, 0.0, 0.0, 0.0]
    assert l1_weights(1.0, 4).tolist() == [1.0, 0.0, 0.0, 0.0]
    assert rectangle_weights(1.0, 4).tolist() == [1.0, 1.0, 1.0, 1.0]
    assert trapezoid_weights(1.0, 4).tolist() == [1.0, 2.0, 2.0, 2.0]
    assert trapezoid_start_weights(1.0, 3).tolist() == [1.0, 1.0, 1.0]


def test_trapezoid_start_weights_formula():
    a = 0.4
    s = trapezoid_start_weights(a, 50)
    for m in (1, 2, 10, 50):
        r = (mp.mpf(m) - 1) ** (a + 1) - (m - 1 - mp.mpf(a)) * mp.mpf(m) ** a
        assert s[m - 1].item() == pytest.approx(float(r), rel=1e-13)


@pytest.mark.parametrize("kind", sorted(GEN))
def test_alpha_gradients(kind):
    a = torch.tensor(0.37, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: GEN[kind](x, 300), (a,))


def test_dtype_and_float32():
    w = gl_weights(torch.tensor(0.5, requires_grad=True), 10, dtype=torch.float32)
    assert w.dtype == torch.float32 and w.requires_grad


def test_scheme_factor():
    a, h = 0.6, 0.01
    assert scheme_factor("gl", a, h).item() == pytest.approx(h**a)
    assert scheme_factor("l1", a, h).item() == pytest.approx(math.gamma(2 - a) * h**a)
    assert scheme_factor("rectangle", a, h).item() == pytest.approx(h**a / math.gamma(a + 1))
    assert scheme_factor("trapezoid", a, h).item() == pytest.approx(h**a / math.gamma(a + 2))
    at = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: scheme_factor("l1", x, h), (at,))
    with pytest.raises(ValueError, match="unknown scheme"):
        scheme_factor("euler", a, h)


def test_bad_input():
    with pytest.raises(ValueError, match="alpha"):
        gl_weights(1.5, 3)
    with pytest.raises(ValueError, match="alpha"):
        l1_weights(0.0, 3)
    with pytest.raises(ValueError, match="n"):
        rectangle_weights(0.5, 0)


def test_gl_weights_batched_alpha_rows_follow_the_recurrence():
    alphas = torch.tensor([0.3, 0.7, 1.0], dtype=torch.float64)
    w = gl_weights(alphas, 6)
    assert w.shape == (3, 6)
    for i, a in enumerate(alphas.tolist()):
        ref = [1.0]
        for j in range(1, 6):
            ref.append(ref[-1] * (1 - (1 + a) / j))
        torch.testing.assert_close(w[i], torch.tensor(ref, dtype=torch.float64), rtol=1e-14, atol=1e-15)
    with pytest.raises(ValueError, match="alpha"):
        gl_weights(torch.tensor([0.5, 1.5]), 4)
