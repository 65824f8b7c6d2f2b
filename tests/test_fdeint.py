"""fdeint: convergence to known solutions, integer-order limit, gradients, dtypes, tuples, bad input."""
import math

import mpmath as mp
import pytest
import torch

from spikeDE.fractional import fdeint

F64 = torch.float64
METHODS = ["gl", "l1", "predictor", "corrector"]


def ml_ref(a: float, z: float) -> float:
    """E_a(z) by its power series in mpmath (|z| <= 1 here)."""
    with mp.workdps(30):
        return float(mp.nsum(lambda k: mp.mpf(z) ** k * mp.rgamma(a * k + 1), [0, mp.inf]))


def _problem(name: str, a: float):
    """(func, y0, exact(t)) for the two test problems."""
    if name == "poly":  # y = t^2: D^a t^2 = 2 t^{2-a} / Gamma(3-a)
        c = 2.0 / math.gamma(3.0 - a)
        return (lambda t, y: c * t ** (2.0 - a) - y + t * t), torch.zeros(1, dtype=F64), (lambda t: t * t)
    # D^a y = -y, y(0) = 1: y = E_a(-t^a) (Caputo: the initial value enters as y0 != 0)
    return (lambda t, y: -y), torch.ones(1, dtype=F64), (lambda t: ml_ref(a, -t ** a))


def _errors(method, name, a, Ns):
    func, y0, exact = _problem(name, a)
    tc = [k / 20 for k in range(10, 21)]  # common grid points in [0.5, 1]
    ref = torch.tensor([exact(s) for s in tc], dtype=F64)
    errs = []
    for N in Ns:
        t = torch.linspace(0, 1, N + 1, dtype=F64)
        y = fdeint(func, y0, t, a, method=method)[:, 0]
        errs.append(float((y[[round(s * N) for s in tc]] - ref).abs().max()))
    return errs


@pytest.mark.parametrize("name", ["poly", "relax"])
@pytest.mark.parametrize("alpha", [0.3, 0.5, 0.8])
@pytest.mark.parametrize("method", METHODS)
def test_convergence_order(method, alpha, name):
    errs = _errors(method, name, alpha, [40, 80, 160])
    order = math.log2(errs[-2] / errs[-1])
    need = 1.0 + alpha - 0.25 if method == "corrector" else 0.9
    assert order >= need, (method, alpha, name, errs, order)
    assert errs[-1] < 1e-2  # and the error itself is small (not just its ratio)


def _euler(func, y0, t):
    h = float(t[1] - t[0])
    ys = [y0]
    for n in range(len(t) - 1):
        ys.append(ys[-1] + h * func(t[n], ys[-1]))
    return torch.stack(ys)


def _trapezoid_pece(func, y0, t):
    """Integer-order PECE on y = y0 + int f: rectangle-rule predictor, one trapezoidal correction."""
    h = float(t[1] - t[0])
    ys, fs = [y0], []
    for n in range(len(t) - 1):
        fs.append(func(t[n], ys[-1]))
        y_pred = y0 + h * sum(fs)
        ys.append(y0 + h / 2 * (fs[0] + 2 * sum(fs[1:], torch.zeros_like(y0)) + func(t[n + 1], y_pred)))
    return torch.stack(ys)


# Short memory only for the difference schemes: at alpha = 1 the product-integration kernels (predictor,
# corrector) do not decay, so truncating them is not the integer-order method.
ALPHA_ONE_CASES = [(m, mem) for m in ["gl", "l1", "predictor", "pred", "corrector", "trap", "glmulti"]
                   for mem in [None, "soe", 5] if not (mem == 5 and m in ("predictor", "pred", "corrector", "trap"))]


@pytest.mark.parametrize("method,memory", ALPHA_ONE_CASES)
def test_alpha_one_is_integer_order(method, memory):
    W = torch.randn(3, 3, dtype=F64) * 0.5
    func = lambda t, y: torch.tanh(y @ W) - 0.3 * y + torch.cos(3 * t)  # noqa: E731
    y0 = torch.randn(4, 3, dtype=F64)
    t = torch.linspace(0.5, 2.0, 101, dtype=F64)
    alpha = [1.0] if method == "glmulti" else 1.0
    out = fdeint(func, y0, t, alpha, method=method, memory=memory, block_size=8)
    ref = _trapezoid_pece(func, y0, t) if method in ("corrector", "trap") else _euler(func, y0, t)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


def test_learnable_alpha_at_one_is_euler():
    a = torch.tensor(1.0, dtype=F64, requires_grad=True)
    func = lambda t, y: -y + torch.sin(t)  # noqa: E731
    y0 = torch.randn(5, dtype=F64)
    t = torch.linspace(0, 1, 50, dtype=F64)
    out = fdeint(func, y0, t, a, method="l1")
    torch.testing.assert_close(out, _euler(func, y0, t), rtol=1e-12, atol=1e-12)
    out.sum().backward()
    assert a.grad is not None and torch.isfinite(a.grad)


def _grad_problem():
    torch.manual_seed(1)
    W = (0.4 * torch.randn(3, 3, dtype=F64)).requires_grad_()
    b = (0.2 * torch.randn(3, dtype=F64)).requires_grad_()
    y0 = torch.randn(2, 3, dtype=F64, requires_grad=True)
    alpha = torch.tensor(0.6, dtype=F64, requires_grad=True)
    return W, b, y0, alpha


@pytest.mark.parametrize("memory", [None, "soe", 12])
@pytest.mark.parametrize("method", METHODS + ["glmulti"])
def test_gradcheck_y0_params_alpha(method, memory):
    W, b, y0, alpha = _grad_problem()
    t = torch.linspace(0, 3, 61, dtype=F64)  # 60 steps, blocks of 16 (sub-blocks of 8): all engine paths

    def run(y0, W, b, alpha):
        func = lambda t, y: torch.tanh(y @ W + b) - y  # noqa: E731
        a = [alpha, 0.3] if method == "glmulti" else alpha
        opts = {"coefficients": [1.0, 0.4]} if method == "glmulti" else {}
        out = fdeint(func, y0, t, a, method=method, memory=memory, block_size=16, **opts)
        return out[-1], out[20]

    assert torch.autograd.gradcheck(run, (y0, W, b, alpha), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_gradcheck_tuple_state_per_component_alpha():
    torch.manual_seed(2)
    y0 = (torch.randn(3, dtype=F64, requires_grad=True), torch.randn(2, 2, dtype=F64, requires_grad=True))
    a = (torch.tensor(0.4, dtype=F64, requires_grad=True), torch.tensor(0.9, dtype=F64, requires_grad=True))
    t = torch.linspace(0, 1, 41, dtype=F64)

    def run(u0, v0, a0, a1):
        def func(t, y):
            u, v = y
            return -u + torch.tanh(v.sum()) * torch.ones_like(u), -v + u[:2].unsqueeze(1) * torch.cos(t)

        u, v = fdeint(func, (u0, v0), t, (a0, a1), method="corrector", memory="soe", block_size=8)
        return u[-1], v[-1]

    assert torch.autograd.gradcheck(run, (*y0, *a), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_tuple_components_match_separate_solves():
    # Uncoupled components with different orders solve independently.
    y0 = (torch.randn(3, dtype=F64), torch.randn(2, 2, dtype=F64))
    t = torch.linspace(0, 2, 70, dtype=F64)
    u, v = fdeint(lambda t, y: (-y[0], -2 * y[1]), y0, t, [0.4, 0.7], method="l1")
    torch.testing.assert_close(u, fdeint(lambda t, y: -y, y0[0], t, 0.4, method="l1"), rtol=0, atol=0)
    torch.testing.assert_close(v, fdeint(lambda t, y: -2 * y, y0[1], t, 0.7, method="l1"), rtol=0, atol=0)


@pytest.mark.parametrize("method", METHODS)
def test_float32_and_shapes(method):
    y0 = torch.randn(2, 3, 4)
    t = torch.linspace(0, 1, 30)
    out = fdeint(lambda t, y: -y, y0, t, 0.5, method=method, memory="soe", block_size=8)
    assert out.shape == (30, 2, 3, 4) and out.dtype == torch.float32
    ref = fdeint(lambda t, y: -y, y0.double(), t.double(), 0.5, method=method)
    torch.testing.assert_close(out.double(), ref, rtol=1e-4, atol=1e-5)
    scalar = fdeint(lambda t, y: -y, torch.tensor(1.0), t, 0.5, method=method)
    assert scalar.shape == (30,)
    assert fdeint(lambda t, y: -y, y0, t[:1], 0.5, method=method).shape == (1, 2, 3, 4)


def test_no_grad_and_alias_names():
    y0 = torch.randn(3, dtype=F64)
    t = torch.linspace(0, 1, 40, dtype=F64)
    with torch.no_grad():
        a = fdeint(lambda t, y: -y, y0, t, 0.5, method="pred")
    torch.testing.assert_close(a, fdeint(lambda t, y: -y, y0, t, 0.5, method="predictor"), rtol=0, atol=0)
    b = fdeint(lambda t, y: -y, y0, t, 0.5, method="trap")
    torch.testing.assert_close(b, fdeint(lambda t, y: -y, y0, t, 0.5, method="corrector"), rtol=0, atol=0)


@pytest.mark.gpu
@pytest.mark.parametrize("memory", [None, "soe"])
def test_cuda_matches_cpu(memory):
    y0 = torch.randn(4, 8, dtype=F64)
    t = torch.linspace(0, 2, 200, dtype=F64)
    W = torch.randn(8, 8, dtype=F64) * 0.3
    cpu = fdeint(lambda t, y: torch.tanh(y @ W) - y, y0, t, 0.6, memory=memory)
    Wc = W.cuda()
    gpu = fdeint(lambda t, y: torch.tanh(y @ Wc) - y, y0.cuda(), t.cuda(), 0.6, memory=memory)
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------------------------- bad input
def _f(t, y):
    return -y


def test_non_uniform_grid_is_an_error():
    y0 = torch.ones(2)
    with pytest.raises(ValueError, match="uniform"):
        fdeint(_f, y0, torch.tensor([0.0, 0.1, 0.3, 0.4]), 0.5)
    t = torch.linspace(0, 1, 101, dtype=F64)
    t[50] += 1e-4  # 1% of one step
    with pytest.raises(ValueError, match="uniform"):
        fdeint(_f, y0.double(), t, 0.5)
    with pytest.raises(ValueError, match="strictly increasing"):
        fdeint(_f, y0, torch.tensor([0.0, 0.1, 0.1, 0.2]), 0.5)
    with pytest.raises(ValueError, match="strictly increasing"):
        fdeint(_f, y0, torch.linspace(1, 0, 5), 0.5)
    with pytest.raises(ValueError, match="1-D"):
        fdeint(_f, y0, torch.zeros(3, 2), 0.5)
    # float32 rounding of a uniform grid is accepted
    fdeint(_f, y0, torch.linspace(0, 100, 2001), 0.5)


@pytest.mark.parametrize("alpha", [0.0, -0.2, 1.5, float("nan")])
def test_alpha_out_of_range(alpha):
    with pytest.raises(ValueError, match="alpha"):
        fdeint(_f, torch.ones(2), torch.linspace(0, 1, 5), alpha)
    with pytest.raises(ValueError, match="alpha"):
        fdeint(_f, torch.ones(2), torch.linspace(0, 1, 5), torch.tensor(alpha))


def test_alpha_shapes():
    t = torch.linspace(0, 1, 5)
    with pytest.raises(ValueError, match="alpha"):
        fdeint(_f, torch.ones(2), t, torch.tensor([0.5, 0.6]))
    with pytest.raises(ValueError, match="alpha"):
        fdeint(_f, torch.ones(2), t, [0.5, 0.6])
    with pytest.raises(ValueError, match="3 components"):
        fdeint(lambda t, y: y, (torch.ones(1), torch.ones(1), torch.ones(1)), t, [0.5, 0.6])


def test_wrong_shapes_and_types():
    t = torch.linspace(0, 1, 5)
    with pytest.raises(ValueError, match="shape"):
        fdeint(lambda t, y: y.sum(0), torch.ones(2, 3), t, 0.5)
    with pytest.raises(ValueError, match="dtype"):
        fdeint(lambda t, y: (-y).double(), torch.ones(2), t, 0.5)
    with pytest.raises(ValueError, match="tuple"):
        fdeint(lambda t, y: -y[0], (torch.ones(2), torch.ones(3)), t, 0.5)
    with pytest.raises(TypeError, match="floating"):
        fdeint(_f, torch.ones(2, dtype=torch.int64), t, 0.5)
    with pytest.raises(TypeError, match="y0"):
        fdeint(_f, [1.0, 2.0], t, 0.5)


def test_unknown_method_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown method 'euler'") as e:
        fdeint(_f, torch.ones(2), torch.linspace(0, 1, 5), 0.5, method="euler")
    for name in ("gl", "l1", "predictor", "corrector", "glmulti", "pred", "trap"):
        assert f"'{name}'" in str(e.value)


def test_bad_options():
    y0, t = torch.ones(2), torch.linspace(0, 1, 5)
    with pytest.raises(ValueError, match="unexpected option"):
        fdeint(_f, y0, t, 0.5, rtol=1e-3)
    with pytest.raises(ValueError, match="unexpected option"):
        fdeint(_f, y0, t, 0.5, coefficients=[1.0])
    with pytest.raises(ValueError, match="soe_tol"):
        fdeint(_f, y0, t, 0.5, soe_tol=1e-8)
    with pytest.raises(ValueError, match="soe_tol"):
        fdeint(_f, y0, t, 0.5, memory="soe", soe_tol=0.5)
    for bad in (0, -3, "short", 2.5):
        with pytest.raises(ValueError, match="memory"):
            fdeint(_f, y0, t, 0.5, memory=bad)
    with pytest.raises(ValueError, match="block_size"):
        fdeint(_f, y0, t, 0.5, block_size=0)
    with pytest.raises(ValueError, match="gradients with respect to t"):
        fdeint(_f, y0, torch.linspace(0, 1, 5, requires_grad=True), 0.5)
