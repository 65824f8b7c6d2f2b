"""The per-step autograd node of the history engine: its hand-written adjoint against autograd through a plain
loop when the push scale changes from step to step (the adjoint then keeps the scales per step instead of
factoring one out), gradients from an output in the middle, a second backward, and the refusal of a double
backward (the adjoint is not itself differentiable)."""
import pytest
import torch

from spikeDE.fractional import HistorySum
from spikeDE.fractional.memory import MemorySpec
from spikeDE.fractional.weights import l1_weights, rectangle_weights, trapezoid_weights

F64 = torch.float64
MEMORIES = [MemorySpec("full"), MemorySpec("short", steps=11), MemorySpec("soe", tol=1e-10)]


def _leaves(T, shape, seed):
    torch.manual_seed(seed)
    return [torch.randn(*shape, dtype=F64, requires_grad=True) for _ in range(T)]


def _kernel(k, memory, shift):
    """Short memory keeps the original lags ``j + shift <= K``."""
    if memory.kind == "short":
        k = k * ((torch.arange(len(k)) + shift) <= memory.steps)
    return k


def _grads(outs, inputs, weights):
    loss = sum((o * w).sum() for o, w in zip(outs, weights))
    g = torch.autograd.grad(loss, inputs, allow_unused=True, retain_graph=True)
    return [torch.zeros_like(x) if gi is None else gi for gi, x in zip(g, inputs)]


def _assert_grads_close(g1, g2, memory):
    tol = {"rtol": 1e-7, "atol": 1e-8} if memory.kind == "soe" else {"rtol": 1e-10, "atol": 1e-11}
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize("memory", MEMORIES, ids=lambda m: m.kind)
def test_chained_steps_with_changing_scales(memory):
    # out_n = base_n + s_n S_n + c_n f_n, x_{n+1} = out_n - base_n (chain), L1 kernel b_{j+1}(alpha), alpha learnable;
    # 77 steps in blocks of 16 (sub-blocks of 8), the last block partial.
    T, block = 77, 16
    a1 = torch.tensor(0.55, dtype=F64, requires_grad=True)
    a2 = torch.tensor(0.55, dtype=F64, requires_grad=True)
    scales = [-1.0 if n % 5 else 0.5 for n in range(T)]
    coefs = [0.3 + 0.01 * (n % 7) for n in range(T)]
    x0a, x0b = _leaves(1, (2, 3), 1)[0], _leaves(1, (2, 3), 1)[0]
    fa, fb = _leaves(T, (2, 3), 2), _leaves(T, (2, 3), 2)
    ba, bb = _leaves(T, (2, 3), 3), _leaves(T, (2, 3), 3)
    hs = HistorySum([([("l1", a1, 1.0)], 1)], T, x0a, memory=memory, block_size=block)
    out1 = [hs.push(x0a if n == 0 else None, scale=scales[n], f=fa[n], coef=coefs[n], base=ba[n], chain=True)
            for n in range(T)]
    hs.close()
    k = _kernel(l1_weights(a2, T + 1)[1:], memory, 1)
    xs, out2 = [x0b], []
    for n in range(T):  # the plain loop
        S = sum(k[n - i] * xs[i] for i in range(n + 1))
        out2.append(bb[n] + scales[n] * S + coefs[n] * fb[n])
        xs.append(out2[-1] - bb[n])
    tol = {"rtol": 1e-8, "atol": 1e-9} if memory.kind == "soe" else {"rtol": 1e-11, "atol": 1e-12}
    torch.testing.assert_close(torch.stack(out1), torch.stack(out2), **tol)
    torch.manual_seed(4)
    W = [torch.randn(2, 3, dtype=F64) for _ in range(T)]
    for sel in (range(T), [40]):  # every output, and one output in the middle (a pass that starts there)
        w = [W[n] if n in sel else torch.zeros(2, 3, dtype=F64) for n in range(T)]
        g1 = _grads([out1[n] for n in sel], [x0a, a1] + fa + ba, [w[n] for n in sel])
        g2 = _grads([out2[n] for n in sel], [x0b, a2] + fb + bb, [w[n] for n in sel])
        _assert_grads_close(g1, g2, memory)


@pytest.mark.parametrize("memory", MEMORIES, ids=lambda m: m.kind)
def test_two_kernels_with_changing_scales(memory):
    # R = 2 outputs (the predictor-corrector kernels), out_n = s_n S_n, x given at every push.
    T, block = 70, 8
    a1 = torch.tensor(0.4, dtype=F64, requires_grad=True)
    a2 = torch.tensor(0.4, dtype=F64, requires_grad=True)
    xa, xb = _leaves(T, (3,), 5), _leaves(T, (3,), 5)
    scales = [1.0 + 0.1 * (n % 4) for n in range(T)]
    def kern(a):
        return [([("rectangle", a, 1.0)], 0), ([("trapezoid", a, 1.0)], 1)]

    hs = HistorySum(kern(a1), T, xa[0], memory=memory, block_size=block)
    out1 = [hs.push(xa[n], scale=scales[n]) for n in range(T)]
    hs.close()
    ks = [_kernel(rectangle_weights(a2, T), memory, 0), _kernel(trapezoid_weights(a2, T + 1)[1:], memory, 1)]
    out2 = [scales[n] * torch.stack([sum(k[n - i] * xb[i] for i in range(n + 1)) for k in ks]) for n in range(T)]
    tol = {"rtol": 1e-8, "atol": 1e-9} if memory.kind == "soe" else {"rtol": 1e-11, "atol": 1e-12}
    torch.testing.assert_close(torch.stack(out1), torch.stack(out2), **tol)
    torch.manual_seed(6)
    w = [torch.randn(2, 3, dtype=F64) for _ in range(T)]
    _assert_grads_close(_grads(out1, [a1] + xa, w), _grads(out2, [a2] + xb, w), memory)


@pytest.mark.parametrize("memory", MEMORIES, ids=lambda m: m.kind)
def test_repeated_backward_equals_first(memory):
    # retain_graph: a second pass over the same nodes starts from fresh adjoint state.
    T = 53
    x0 = torch.randn(4, dtype=F64, requires_grad=True)
    f, base = _leaves(T, (4,), 7), _leaves(T, (4,), 8)
    hs = HistorySum([([("gl", 0.7, 1.0)], 1)], T, x0, memory=memory, block_size=8)
    out = torch.stack([hs.push(x0 if n == 0 else None, scale=-1.0, f=f[n], coef=0.2, base=base[n], chain=True)
                       for n in range(T)])
    hs.close()
    inputs = [x0] + f + base
    first = torch.autograd.grad((out ** 2).sum(), inputs, retain_graph=True)
    middle = torch.autograd.grad(out[30].sum(), inputs, retain_graph=True, allow_unused=True)
    second = torch.autograd.grad((out ** 2).sum(), inputs)
    for a, b in zip(first, second):
        assert torch.equal(a, b)
    assert all(g is None or not g.abs().sum() for g in middle[1 + 31:1 + T] + middle[1 + T + 31:])


def test_double_backward_is_refused():
    T = 40
    x0 = torch.randn(3, dtype=F64, requires_grad=True)
    f = _leaves(T, (3,), 9)
    hs = HistorySum([([("l1", 0.5, 1.0)], 1)], T, x0, memory=MemorySpec("soe", tol=1e-8), block_size=8)
    y, out = x0, []
    for n in range(T):
        y = hs.push(x0 if n == 0 else None, scale=-1.0, f=f[n], coef=0.1, base=y, chain=True)
        out.append(y)
    hs.close()
    (g,) = torch.autograd.grad((out[-1] ** 2).sum(), x0, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        g.sum().backward()
