import pytest
import torch

from spikeDE.fractional.history import causal_conv, decay_matrix, toeplitz_block


def conv_loop(k, x, reverse=False):
    T = x.shape[0]
    y = torch.zeros_like(x)
    for n in range(T):
        for j in range(T):
            lag = (j - n) if reverse else (n - j)
            if 0 <= lag < k.numel():
                y[n] += k[lag] * x[j]
    return y


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("reverse", [False, True])
def test_causal_conv_matches_loop(dtype, tol, reverse):
    k = torch.randn(37, dtype=torch.float64)
    x = torch.randn(37, 3, 2, dtype=torch.float64)
    y = causal_conv(k.to(dtype), x.to(dtype), dim=0, reverse=reverse)
    assert y.dtype == dtype and y.shape == x.shape
    torch.testing.assert_close(y.double(), conv_loop(k, x, reverse), rtol=tol, atol=tol)


def test_causal_conv_short_kernel_and_dim():
    k = torch.randn(5, dtype=torch.float64)
    x = torch.randn(4, 20, dtype=torch.float64)
    y = causal_conv(k, x, dim=1)
    torch.testing.assert_close(y, conv_loop(k, x.T).T, rtol=1e-12, atol=1e-12)


def test_toeplitz_block_is_a_block_of_the_full_matrix():
    k = torch.randn(50, dtype=torch.float64)
    T = 40
    full = toeplitz_block(k, 0, T, 0, T)
    for n in range(T):
        for j in range(T):
            assert full[n, j] == (k[n - j] if n >= j else 0)
    torch.testing.assert_close(toeplitz_block(k, 16, 8, 3, 10), full[16:24, 3:13])
    x = torch.randn(T, 4, dtype=torch.float64)
    torch.testing.assert_close(full @ x, conv_loop(k, x))
    short = toeplitz_block(k[:3], 0, 6, 0, 6)
    assert short[5, 0] == 0 and short[2, 0] == k[2]


def test_toeplitz_block_gradient():
    k = torch.randn(10, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda k: toeplitz_block(k, 4, 5, 0, 6), (k,))


def test_decay_matrix():
    rates = torch.tensor([0.0, 0.5, 2.0], dtype=torch.float64)
    E = decay_matrix(rates, torch.arange(4))
    torch.testing.assert_close(E, torch.exp(-torch.outer(torch.arange(4.0, dtype=torch.float64), rates)))
