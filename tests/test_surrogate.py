import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad

from spikeDE.surrogate import SURROGATES, get_surrogate, heaviside, spike, surrogate_names

K = 3.0

# Smooth steps sigma(x) (0 -> 1) written independently; the surrogate must be their derivative.
STEPS = {
    "atan": lambda x: 0.5 + torch.atan(math.pi * K * x / 2) / math.pi,
    "sigmoid": lambda x: torch.sigmoid(K * x),
    "fast_sigmoid": lambda x: 0.5 + K * x / (2 * (1 + K * x.abs())),
    "gaussian": lambda x: 0.5 * (1 + torch.erf(K * x)),
    "triangle": lambda x: torch.where(
        x.abs() >= 1 / K,
        (x > 0).double(),
        0.5 + K * x - torch.sign(x) * (K * x) ** 2 / 2,
    ),
    "rectangular": lambda x: torch.clamp(0.5 + K * x / 2, 0, 1),
}


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_derivative_of_documented_smooth_step(name):
    x = torch.linspace(-2, 2, 2001, dtype=torch.float64)
    x = x[(x.abs() - 1 / K).abs() > 1e-6]  # kinks of triangle / rectangular
    x.requires_grad_(True)
    (g,) = torch.autograd.grad(STEPS[name](x).sum(), x)
    torch.testing.assert_close(SURROGATES[name].derivative(x.detach(), K), g, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_integrates_to_one_and_peak(name):
    s = SURROGATES[name]
    f = lambda v: float(s.derivative(torch.tensor(v, dtype=torch.float64), K))  # noqa: E731
    total, _ = quad(f, -np.inf, np.inf, points=None, limit=400) if name not in ("triangle", "rectangular") else \
        quad(f, -1 / K, 1 / K, limit=200)
    assert total == pytest.approx(1.0, abs=1e-6)
    assert f(0.0) == pytest.approx(s.peak(K), rel=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_forward_heaviside_backward_surrogate(name, dtype):
    x = torch.tensor([-1.0, -1e-3, 0.0, 1e-3, 2.0], dtype=dtype, requires_grad=True)
    s = spike(x, name, scale=K)
    assert s.dtype == dtype
    assert s.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]  # H(0) = 1
    w = torch.arange(1.0, 6.0, dtype=dtype)
    (s * w).sum().backward()
    torch.testing.assert_close(x.grad, w * SURROGATES[name].derivative(x.detach(), K))
    assert heaviside(x.detach()).tolist() == s.tolist()


def test_aliases_resolve():
    assert get_surrogate("arctan_surrogate").name == "atan"
    assert get_surrogate("ArcTan").name == "atan"
    assert get_surrogate("superspike").name == "fast_sigmoid"
    assert get_surrogate("erf").name == "gaussian"
    assert get_surrogate("piecewise_linear").name == "triangle"
    assert get_surrogate("sigmoid_surrogate").name == "sigmoid"
    for n in surrogate_names():
        get_surrogate(n)


def test_bad_input():
    with pytest.raises(ValueError, match="unknown surrogate 'relu'.*atan"):
        get_surrogate("relu")
    with pytest.raises(ValueError, match="scale"):
        spike(torch.zeros(3), "atan", scale=0.0)
    with pytest.raises(TypeError, match="floating"):
        spike(torch.zeros(3, dtype=torch.long))
