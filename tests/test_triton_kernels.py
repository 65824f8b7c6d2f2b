"""The fused Triton kernels against the PyTorch path, run on CPU tensors by Triton's interpreter.

``TRITON_INTERPRET=1`` must be set before the kernels are defined, so this file sets it at import time
(it only affects Triton). Skipped when ``triton`` is not installed (``pip install 'spikede[gpu]'``).
"""
import os

os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("triton")

from spikeDE.dynamics.backend import SURROGATE_CODES, backend_choice, use_triton  # noqa: E402
from spikeDE.dynamics.lif import lif_sequence  # noqa: E402
from spikeDE.dynamics.spiking import spike_config  # noqa: E402


def _run(backend, monkeypatch, x, tau, theta, leak, cfg, gS, gV):
    monkeypatch.setenv("SPIKEDE_BACKEND", backend)
    x = x.clone().requires_grad_(True)
    tau = tau.clone().requires_grad_(True)
    theta = theta.clone().requires_grad_(True)
    S, V = lif_sequence(x, tau, theta, leak, cfg)
    loss = (S * gS).sum() + (V * gV).sum()
    loss.backward()
    return S.detach(), V.detach(), x.grad, tau.grad, theta.grad


def _inputs(dtype, T=23, D=150, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, D, generator=g) * 2.4).to(dtype)
    gS = torch.randn(T, D, generator=g).to(dtype)
    gV = torch.randn(T, D, generator=g).to(dtype)
    return x, gS, gV


@pytest.mark.parametrize("reset,v_reset", [("subtract", 0.0), ("zero", 0.0), ("zero", -0.3)])
@pytest.mark.parametrize("detach", [True, False])
@pytest.mark.parametrize("leak", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lif_kernel_equals_torch_path(monkeypatch, reset, v_reset, detach, leak, dtype):
    x, gS, gV = _inputs(dtype)
    tau, theta = torch.tensor(2.0, dtype=dtype), torch.tensor(1.0, dtype=dtype)
    cfg = spike_config(reset=reset, v_reset=v_reset, detach_reset=detach)
    ref = _run("torch", monkeypatch, x, tau, theta, leak, cfg, gS, gV)
    got = _run("triton", monkeypatch, x, tau, theta, leak, cfg, gS, gV)
    assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])  # spikes and membranes bit for bit
    assert ref[0].sum() > 0
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-11, atol=1e-11)
    for a, b in zip(got[2:], ref[2:]):
        torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize("name", sorted(SURROGATE_CODES))
def test_every_surrogate_gradient(monkeypatch, name):
    x, gS, gV = _inputs(torch.float64, T=11, D=40, seed=1)
    tau, theta = torch.tensor(3.0, dtype=torch.float64), torch.tensor(0.8, dtype=torch.float64)
    cfg = spike_config(surrogate=name, scale=4.0, detach_reset=False)
    ref = _run("torch", monkeypatch, x, tau, theta, True, cfg, gS, gV)
    got = _run("triton", monkeypatch, x, tau, theta, True, cfg, gS, gV)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_spike_gradient_only_and_membrane_gradient_only(monkeypatch):
    x, gS, gV = _inputs(torch.float64, T=9, D=20, seed=2)
    tau, theta = torch.tensor(2.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)
    cfg = spike_config()
    for backend_out in ("S", "V"):
        outs = {}
        for backend in ("torch", "triton"):
            monkeypatch.setenv("SPIKEDE_BACKEND", backend)
            xx = x.clone().requires_grad_(True)
            S, V = lif_sequence(xx, tau, theta, True, cfg)
            ((S if backend_out == "S" else V) * gS).sum().backward()
            outs[backend] = xx.grad
        torch.testing.assert_close(outs["triton"], outs["torch"], rtol=1e-11, atol=1e-11)


def test_bfloat16_storage_computes_in_float32(monkeypatch):
    x, _, _ = _inputs(torch.float32, T=30, D=64, seed=3)
    xb = x.to(torch.bfloat16)
    tau, theta = torch.tensor(2.0), torch.tensor(1.0)
    monkeypatch.setenv("SPIKEDE_BACKEND", "triton")
    S, V = lif_sequence(xb, tau, theta, True, spike_config())
    assert S.dtype == V.dtype == torch.bfloat16
    monkeypatch.setenv("SPIKEDE_BACKEND", "torch")
    S32, V32 = lif_sequence(xb.float(), tau, theta, True, spike_config())
    assert (S.float() == S32).float().mean() > 0.99
    torch.testing.assert_close(V.float(), V32.to(torch.bfloat16).float(), rtol=2e-2, atol=2e-2)


def test_empty_sequence_and_empty_layer(monkeypatch):
    monkeypatch.setenv("SPIKEDE_BACKEND", "triton")
    for shape in ((0, 5), (4, 0)):
        x = torch.zeros(shape, requires_grad=True)
        S, V = lif_sequence(x, torch.tensor(2.0), torch.tensor(1.0), True, spike_config())
        assert S.shape == shape
        (S.sum() + V.sum()).backward()
        assert x.grad.shape == shape


def test_backend_choice(monkeypatch):
    monkeypatch.setenv("SPIKEDE_BACKEND", "cupy")
    with pytest.raises(ValueError, match="SPIKEDE_BACKEND"):
        backend_choice()
    monkeypatch.setenv("SPIKEDE_BACKEND", "auto")
    assert not use_triton(torch.zeros(2, 2))  # CPU tensors stay on the PyTorch path unless forced
    monkeypatch.setenv("SPIKEDE_BACKEND", "triton")
    assert use_triton(torch.zeros(2, 2))
    assert not use_triton(torch.zeros(2, 2, dtype=torch.float16))  # half precision: PyTorch path


# ----------------------------------------------------------------------------- fractional neurons
from spikeDE import LIFNeuron  # noqa: E402


def _neuron_run(backend, monkeypatch, make, x, dtype):
    monkeypatch.setenv("SPIKEDE_BACKEND", backend)
    torch.manual_seed(0)
    neuron = make().to(dtype)
    neuron.record = True
    xx = x.clone().to(dtype).requires_grad_(True)
    out = neuron(xx)
    g = torch.Generator().manual_seed(5)
    w = torch.randn(out.shape, generator=g).to(dtype)
    (out * w).sum().backward()
    grads = {n: p.grad.clone() for n, p in neuron.named_parameters() if p.grad is not None}
    return out.detach(), neuron.v_seq, xx.grad, grads


FRACTIONAL = {
    "gl-exact": lambda: LIFNeuron(alpha=0.5, learn_alpha=True, tau_learnable=True, threshold=0.6),
    "l1-short": lambda: LIFNeuron(alpha=0.7, method="l1", memory=9, threshold=0.6, reset="zero", v_reset=-0.1),
    "gl-soe": lambda: LIFNeuron(alpha=0.4, memory="soe", learn_alpha=True, threshold=0.6, detach_reset=False),
    "multiterm": lambda: LIFNeuron(alpha=[0.3, 0.8], multi_coefficient=[0.6, 0.4], learn_coefficient=True,
                                   threshold=0.6),
}


@pytest.mark.parametrize("name", sorted(FRACTIONAL))
def test_fractional_kernels_equal_torch_path(monkeypatch, name):
    g = torch.Generator().manual_seed(4)
    x = torch.rand(70, 2, 8, generator=g) * 1.5  # T = 70: the SOE modes start at step 64, exact memory 2 blocks
    make = FRACTIONAL[name]
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-4)):
        ref = _neuron_run("torch", monkeypatch, make, x, dtype)
        got = _neuron_run("triton", monkeypatch, make, x, dtype)
        assert ref[0].sum() > 0
        same = (got[0] == ref[0]).float().mean().item()
        assert same == 1.0 if dtype == torch.float64 else same > 0.999
        if dtype == torch.float64:
            torch.testing.assert_close(got[1], ref[1], rtol=tol, atol=tol)
            torch.testing.assert_close(got[2], ref[2], rtol=tol, atol=tol)
            assert got[3].keys() == ref[3].keys()
            for k in ref[3]:
                torch.testing.assert_close(got[3][k], ref[3][k], rtol=tol, atol=tol)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_input_is_visible_as_on_the_torch_path(monkeypatch, bad):
    x, _, _ = _inputs(torch.float32, T=12, D=10, seed=6)
    x[5, 3] = bad
    out = {}
    for backend in ("torch", "triton"):
        monkeypatch.setenv("SPIKEDE_BACKEND", backend)
        out[backend] = lif_sequence(x, torch.tensor(2.0), torch.tensor(1.0), True, spike_config())
    assert torch.equal(out["triton"][0].isnan(), out["torch"][0].isnan()) and out["torch"][0].isnan().any()
    assert torch.equal(out["triton"][0].nan_to_num(-1), out["torch"][0].nan_to_num(-1))


def test_infinite_threshold_never_fires_and_keeps_the_membrane(monkeypatch):
    x, _, _ = _inputs(torch.float32, T=12, D=10, seed=7)
    out = {}
    for backend in ("torch", "triton"):
        monkeypatch.setenv("SPIKEDE_BACKEND", backend)
        out[backend] = lif_sequence(x, torch.tensor(2.0), torch.tensor(float("inf")), True, spike_config())
    assert torch.equal(out["triton"][0], out["torch"][0]) and out["torch"][0].eq(0).all()
    assert torch.equal(out["triton"][1], out["torch"][1]) and torch.isfinite(out["torch"][1]).all()
