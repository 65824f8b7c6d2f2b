"""The history-sum engine behind fdeint: exactness of full memory, short-memory and SOE error statements,
the custom backward against autograd through a plain formula, and SOE against full history over 10^4 steps."""
import math

import pytest
import torch

from spikeDE.fractional import HistorySum, fdeint, short_memory_bound
from spikeDE.fractional.memory import MemorySpec
from spikeDE.fractional.weights import gl_weights, l1_weights, rectangle_weights, trapezoid_weights

F64 = torch.float64
GEN = {"gl": gl_weights, "l1": l1_weights, "rectangle": rectangle_weights, "trapezoid": trapezoid_weights}


def plain_sums(kernels, xs, K=None, absolute=False):
    """S_n[r] = sum_{i<=n} kappa_r[n-i] x_i by a dense lower-triangular matrix (kappa from weights.py);
    ``absolute``: with |kappa| instead."""
    T = len(xs)
    X = torch.stack([x.reshape(-1) for x in xs])
    out = []
    for terms, shift in kernels:
        k = sum(c * GEN[kind](a, T + shift)[shift:] for kind, a, c in terms)
        if K is not None:
            k = k * ((torch.arange(T) + shift) <= K)
        k = k.abs() if absolute else k
        n = torch.arange(T)
        lag = n.unsqueeze(1) - n.unsqueeze(0)
        Kmat = torch.where(lag >= 0, k[lag.clamp(min=0)], torch.zeros((), dtype=k.dtype))
        out.append(Kmat @ X)
    return torch.stack(out, 1)  # [T, R, D]


def engine_sums(kernels, xs, memory, block):
    hs = HistorySum(kernels, len(xs), xs[0], memory=memory, block_size=block)
    out = [hs.push(x).reshape(len(kernels), -1) for x in xs]
    hs.close()
    return torch.stack(out)


KERNELS = {
    "gl": [([("gl", 0.35, 1.0)], 1)],
    "l1": [([("l1", 0.7, 1.0)], 1)],
    "corrector": [([("rectangle", 0.5, 1.0)], 0), ([("trapezoid", 0.5, 1.0)], 1)],
    "multiterm": [([("gl", 0.8, 0.7), ("gl", 0.2, 0.3)], 1)],
}


@pytest.mark.parametrize("block", [3, 8, 16, 40])
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_full_and_short_memory_are_exact(name, block):
    torch.manual_seed(0)
    xs = [torch.randn(2, 3, dtype=F64) for _ in range(203)]
    kernels = KERNELS[name]
    torch.testing.assert_close(engine_sums(kernels, xs, MemorySpec("full"), block), plain_sums(kernels, xs),
                               rtol=1e-12, atol=1e-12)
    for K in (1, 7, 50):
        torch.testing.assert_close(engine_sums(kernels, xs, MemorySpec("short", steps=K), block),
                                   plain_sums(kernels, xs, K), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_soe_error_statement(name):
    # |S - S_soe| <= tol * sum_j |kappa_j| |x_{n-j}| at every step, for lags up to len(t).
    torch.manual_seed(1)
    T, tol = 3000, 1e-6
    xs = [torch.randn(4, dtype=F64) for _ in range(T)]
    kernels = KERNELS[name]
    exact = plain_sums(kernels, xs)
    soe = engine_sums(kernels, xs, MemorySpec("soe", tol=tol), 32)
    absx = [x.abs() for x in xs]
    bound = plain_sums(kernels, absx, absolute=True)
    assert bool(((soe - exact).abs() <= tol * bound + 1e-15).all())
    assert float((soe - exact).abs().max()) > 0  # the far history really goes through the modes


def test_short_memory_bounds():
    torch.manual_seed(2)
    T, a = 600, 0.4
    y = torch.cumsum(torch.randn(T + 1, 3, dtype=F64), 0)
    u = [yi - y[0] for yi in y[:-1]]  # GL history: y_i - y0
    d = list(y.diff(dim=0))  # L1 history: increments
    for K in (5, 20, 80):
        gl = [([("gl", a, 1.0)], 1)]
        diff = (plain_sums(gl, u) - plain_sums(gl, u, K)).abs().max()
        assert diff <= short_memory_bound("gl", a, K) * (y - y[0]).abs().max() * (1 + 1e-12)
        l1 = [([("l1", a, 1.0)], 1)]
        diff = (plain_sums(l1, d) - plain_sums(l1, d, K)).abs().max()
        assert diff <= short_memory_bound("l1", a, K) * (y - y[0]).abs().max() * (1 + 1e-12)
    # GL: Gamma(K+1-a)/(Gamma(1-a) K!) = sum_{j>K} |w_j| = sum_{j<=K} w_j (the w_j sum to (1-1)^a = 0)
    assert short_memory_bound("gl", a, 10) == pytest.approx(float(gl_weights(a, 11).sum()), rel=1e-12)
    assert short_memory_bound("l1", a, 10) == pytest.approx(2 * float(l1_weights(a, 12)[11]), rel=1e-12)


def _leaves(T, shape, seed):
    torch.manual_seed(seed)
    return [torch.randn(*shape, dtype=F64, requires_grad=True) for _ in range(T)]


@pytest.mark.parametrize("memory", [MemorySpec("full"), MemorySpec("short", steps=21), MemorySpec("soe", tol=1e-9)])
@pytest.mark.parametrize("name", ["gl", "corrector"])
def test_backward_matches_autograd_of_plain_formula(name, memory):
    # Gradients to the pushed values and to alpha (through the kernels) from the custom adjoint equal
    # autograd through the dense formula.
    T, block = 150, 16
    a1 = torch.tensor(0.45, dtype=F64, requires_grad=True)
    a2 = torch.tensor(0.45, dtype=F64, requires_grad=True)
    kern = lambda a: ([([("gl", a, 1.0)], 1)] if name == "gl" else  # noqa: E731
                      [([("rectangle", a, 1.0)], 0), ([("trapezoid", a, 1.0)], 1)])
    xs1, xs2 = _leaves(T, (3,), 3), _leaves(T, (3,), 3)
    W = torch.randn(T, len(kern(0.5)), 3, dtype=F64)
    hs = HistorySum(kern(a1), T, xs1[0], memory=memory, block_size=block)
    S1 = torch.stack([hs.push(x).reshape(-1, 3) for x in xs1])
    hs.close()
    K = memory.steps if memory.kind == "short" else None
    S2 = plain_sums(kern(a2), xs2, K).reshape(T, -1, 3)
    if memory.kind == "soe":
        torch.testing.assert_close(S1, S2, rtol=1e-7, atol=1e-8)
    g1 = torch.autograd.grad((S1 * W).sum(), xs1 + [a1])
    g2 = torch.autograd.grad((S2 * W).sum(), xs2 + [a2])
    tol = dict(rtol=1e-6, atol=1e-7) if memory.kind == "soe" else dict(rtol=1e-10, atol=1e-11)
    torch.testing.assert_close(torch.stack(g1[:-1]), torch.stack(g2[:-1]), **tol)
    torch.testing.assert_close(g1[-1], g2[-1], **tol)


def _compare_grads(out, ref, inputs, ks):
    for k in ks:
        g = torch.autograd.grad(out[k].sum(), inputs, retain_graph=True, allow_unused=True)
        r = torch.autograd.grad(ref[k].sum(), inputs, retain_graph=True, allow_unused=True)
        for gi, ri, x in zip(g, r, inputs):
            gi = torch.zeros_like(x) if gi is None else gi
            ri = torch.zeros_like(x) if ri is None else ri
            torch.testing.assert_close(gi, ri, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("memory", [MemorySpec("full"), MemorySpec("soe", tol=1e-10)])
def test_fused_step_and_repeated_backward(memory):
    # push(x, scale, f, coef, base) = base + scale * S(x) + coef * f; backward twice (retain_graph) and from
    # an intermediate output.
    T = 70
    x, f, base = _leaves(T, (2,), 4), _leaves(T, (2,), 6), _leaves(T, (2,), 5)
    kern = [([("l1", 0.3, 1.0)], 1)]
    hs = HistorySum(kern, T, x[0], memory=memory, block_size=8)
    out = torch.stack([hs.push(x[n], scale=-0.7, f=f[n], coef=0.2, base=base[n]) for n in range(T)])
    hs.close()
    ref = torch.stack(base) - 0.7 * plain_sums(kern, x)[:, 0] + 0.2 * torch.stack(f)
    torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-10)
    _compare_grads(out, ref, x + f + base, (T - 1, T - 1, 40))


@pytest.mark.parametrize("memory", [MemorySpec("full"), MemorySpec("short", steps=9), MemorySpec("soe", tol=1e-10)])
def test_chained_increments(memory):
    # chain=True: the history is x_{n+1} = out_n - base_n (the step's own increment), x_0 given.
    T = 75
    x0 = torch.randn(2, dtype=F64, requires_grad=True)
    f, base = _leaves(T, (2,), 7), _leaves(T, (2,), 8)
    kern = [([("gl", 0.6, 1.0)], 1)]
    hs = HistorySum(kern, T, x0, memory=memory, block_size=16)
    out = torch.stack([hs.push(x0 if n == 0 else None, scale=-1.0, f=f[n], coef=0.3, base=base[n], chain=True)
                       for n in range(T)])
    hs.close()
    K = memory.steps if memory.kind == "short" else None
    k = gl_weights(0.6, T + 1)[1:] * ((torch.arange(T) + 1) <= (K if K is not None else T + 1))
    xs, ref = [x0], []
    for n in range(T):  # plain loop
        S = sum(k[n - i] * xs[i] for i in range(n + 1))
        ref.append(base[n] - S + 0.3 * f[n])
        xs.append(ref[-1] - base[n])
    ref = torch.stack(ref)
    torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-10)
    _compare_grads(out, ref, [x0] + f + base, (T - 1, 50, 3))


@pytest.mark.parametrize("method", ["gl", "l1", "predictor", "corrector"])
def test_soe_matches_full_history_over_1e4_steps(method):
    torch.manual_seed(7)
    W = 0.3 * torch.randn(4, 4, dtype=F64)
    func = lambda t, y: -y + torch.tanh(y @ W) + torch.sin(t)  # noqa: E731
    y0 = torch.randn(3, 4, dtype=F64)
    t = torch.arange(10001, dtype=F64) * 0.01
    full = fdeint(func, y0, t, 0.6, method=method)
    soe = fdeint(func, y0, t, 0.6, method=method, memory="soe")  # default soe_tol
    assert float((soe - full).abs().max() / full.abs().max()) < 1e-6


def test_short_memory_error_shrinks_with_K():
    f = lambda t, y: -y + torch.cos(t)  # noqa: E731
    y0 = torch.tensor([1.0, -0.5], dtype=F64)
    t = torch.arange(2049, dtype=F64) * 0.01
    for method in ("gl", "l1"):
        full = fdeint(f, y0, t, 0.5, method=method)
        errs = [float((fdeint(f, y0, t, 0.5, method=method, memory=K) - full).abs().max())
                for K in (8, 32, 128, 512)]
        assert all(e1 > 1.2 * e2 for e1, e2 in zip(errs, errs[1:])), (method, errs)
        assert errs[0] > 3 * errs[-1], (method, errs)  # roughly K^{-alpha}: 64^{-0.5} = 1/8


def test_soe_tolerance_option():
    f = lambda t, y: 1.0 + 0.05 * y  # noqa: E731 (the far history dominates)
    y0 = torch.zeros(2, dtype=F64)
    t = torch.arange(4001, dtype=F64) * 0.01
    full = fdeint(f, y0, t, 0.7, method="gl")
    errs = [float((fdeint(f, y0, t, 0.7, method="gl", memory="soe", soe_tol=tol) - full).abs().max()
                  / full.abs().max()) for tol in (1e-3, 1e-6, 1e-9)]
    assert errs[0] > errs[1] > errs[2] and errs[1] < 1e-6 and errs[2] < 1e-9
    assert not math.isnan(errs[0])


@pytest.mark.parametrize("method,memory", [("l1", "soe"), ("gl", 4), ("corrector", None), ("predictor", "soe")])
def test_solution_without_autograd_equals_the_autograd_solution(method, memory):
    """Without autograd the trajectory is written straight into a preallocated output; it must be the same."""
    y0 = torch.tensor([1.0, -0.5, 2.0, 0.25], dtype=torch.float64)
    t = torch.linspace(0, 3, 301, dtype=torch.float64)
    f = lambda t, y: -y + torch.sin(t)  # noqa: E731
    with torch.no_grad():
        a = fdeint(f, y0, t, alpha=0.6, method=method, memory=memory)
    b = fdeint(f, y0, t, alpha=0.6, method=method, memory=memory)
    assert a.shape == b.shape == (301, 4) and a.dtype == torch.float64
    assert torch.equal(a, b)
