"""Sparse graph operations against plainly written dense references; encoders' rates; the spiking graph conv."""
import numpy as np
import pytest
import torch

from spikeDE import LIFNeuron
from spikeDE.graph import (SpikeEncoder, SpikingGraphConv, bernoulli_spikes, deterministic_spikes, laplacian_pe,
                           normalized_adjacency, poisson_spikes, propagate, random_walk_pe)


def random_graph(n=30, m=70, seed=0):
    rng = np.random.default_rng(seed)
    e = rng.integers(0, n, (2, m))
    e = np.concatenate([e, e[::-1]], 1)          # undirected, with some duplicates and self loops
    return torch.as_tensor(e)


def dense_adj(edge_index, n):
    a = np.zeros((n, n))
    src, dst = edge_index.numpy()
    a[src, dst] = 1.0
    np.fill_diagonal(a, 0.0)
    return a


def dense_norm(a, loops=True):
    a = a + np.eye(len(a)) if loops else a
    d = a.sum(1)
    inv = np.where(d > 0, 1 / np.sqrt(np.maximum(d, 1e-300)), 0.0)
    return inv[:, None] * a * inv[None, :]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_normalized_adjacency_and_propagation_match_dense(dtype):
    n = 30
    ei = random_graph(n)
    ref = dense_norm(dense_adj(ei, n))
    adj = normalized_adjacency(ei, n, dtype=dtype)
    assert adj.is_sparse and adj.dtype == dtype
    np.testing.assert_allclose(adj.to_dense().double().numpy(), ref, rtol=1e-6 if dtype == torch.float32 else 1e-13)
    x = torch.randn(n, 5, 3, dtype=dtype)
    for k in (0, 1, 3):
        out = propagate(adj, x, k)
        expect = np.linalg.matrix_power(ref, k) @ x.double().numpy().reshape(n, -1)
        assert out.dtype == dtype and out.shape == x.shape
        tol = 1e-5 if dtype == torch.float32 else 1e-12
        np.testing.assert_allclose(out.double().numpy().reshape(n, -1), expect, rtol=tol, atol=tol)
        torch.testing.assert_close(propagate(adj, x, k, chunk=4), out)
    no_loops = normalized_adjacency(ei, n, self_loops=False).to_dense().numpy()
    np.testing.assert_allclose(no_loops, dense_norm(dense_adj(ei, n), loops=False), atol=1e-14)


def test_bad_graph_input():
    with pytest.raises(ValueError, match=r"outside the 5 nodes"):
        normalized_adjacency(torch.tensor([[0, 1], [1, 5]]), 5)
    with pytest.raises(ValueError, match=r"\[2, E\]"):
        normalized_adjacency(torch.tensor([0, 1, 2]), 5)
    adj = normalized_adjacency(torch.tensor([[0, 1], [1, 0]]), 3)
    with pytest.raises(ValueError, match="the 3 nodes first"):
        propagate(adj, torch.randn(4, 2))
    with pytest.raises(ValueError, match="k must be"):
        propagate(adj, torch.randn(3, 2), k=-1)


def test_laplacian_pe_matches_dense_eigh():
    pytest.importorskip("scipy")
    n, k = 40, 5
    ei = random_graph(n, 120, seed=3)
    a = dense_adj(ei, n)
    keep = a.sum(1) > 0
    lap = np.eye(n) - dense_norm(a, loops=False)
    vals, vecs = np.linalg.eigh(lap)
    assert (np.diff(vals[: k + 2]) > 1e-6).all() and keep.all()    # a connected graph, distinct eigenvalues
    pe = laplacian_pe(ei, n, k, dtype=torch.float64).numpy()
    ref = vecs[:, 1:k + 1]
    ref = ref * np.sign(ref[np.abs(ref).argmax(0), np.arange(k)])
    np.testing.assert_allclose(pe, ref, atol=1e-6)
    assert laplacian_pe(ei, n, k).dtype == torch.float32
    lob = laplacian_pe(ei, n, k, solver="lobpcg", tol=1e-9, maxiter=500, dtype=torch.float64).numpy()
    np.testing.assert_allclose(lob, ref, atol=1e-5)
    with pytest.raises(ValueError, match="do not fit"):
        laplacian_pe(ei, n, n - 1)


def test_random_walk_pe_matches_matrix_powers():
    n, k = 25, 4
    ei = random_graph(n, 50, seed=2)
    a = dense_adj(ei, n)
    d = a.sum(1)
    p = np.divide(a, d[:, None], out=np.zeros_like(a), where=d[:, None] > 0)
    ref = np.stack([np.diag(np.linalg.matrix_power(p, i + 1)) for i in range(k)], 1)
    out = random_walk_pe(ei, n, k, block=7, dtype=torch.float64).numpy()
    np.testing.assert_allclose(out, ref, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_encoder_rates(dtype):
    x = torch.tensor([-0.5, 0.0, 0.1, 0.37, 0.8, 1.0, 1.7], dtype=dtype)
    T = 4000
    g = torch.Generator().manual_seed(0)
    s = bernoulli_spikes(x, T, g)
    assert s.shape == (T, 7) and s.dtype == dtype and set(s.unique().tolist()) <= {0.0, 1.0}
    p = x.double().clamp(0, 1)
    assert (s.double().mean(0) - p).abs().le(4 * (p * (1 - p) / T).sqrt() + 1e-12).all()
    q = 1 - torch.exp(-x.double().clamp(min=0))
    s = poisson_spikes(x, T, g)
    assert (s.double().mean(0) - q).abs().le(4 * (q * (1 - q) / T).sqrt() + 1e-12).all()
    d = deterministic_spikes(x, 50)
    assert d.sum(0).tolist() == [float(np.floor(50 * v)) for v in p.tolist()]
    assert torch.equal(bernoulli_spikes(x, 9, torch.Generator().manual_seed(5)),
                       bernoulli_spikes(x, 9, torch.Generator().manual_seed(5)))
    assert SpikeEncoder("deterministic", 7)(x.reshape(1, 7)).shape == (7, 1, 7)
    with pytest.raises(ValueError, match="kind must be one of"):
        SpikeEncoder("rank", 5)
    with pytest.raises(ValueError, match="steps must be"):
        bernoulli_spikes(x, 0)


def test_spiking_graph_conv_matches_step_by_step_reference():
    torch.manual_seed(0)
    n, T, fi, fo = 12, 9, 5, 4
    ei = random_graph(n, 25, seed=4)
    adj = normalized_adjacency(ei, n)
    layer = SpikingGraphConv(fi, fo, LIFNeuron(tau=2.0, threshold=0.3, integrator="odeint")).double()
    with torch.no_grad():
        layer.bias.uniform_(-0.2, 0.2)
        layer.linear.weight.mul_(4.0)
    x = (torch.rand(T, n, fi, dtype=torch.float64) < 0.5).double().requires_grad_(True)
    out = layer(x, adj)
    a = torch.as_tensor(dense_norm(dense_adj(ei, n)))
    w, b = layer.linear.weight.detach(), layer.bias.detach()
    v = torch.zeros(n, fo, dtype=torch.float64)
    for t in range(T):                                           # H = V + (I - V)/tau; S = H >= theta; V = H - theta S
        i_t = a @ (x[t].detach() @ w.t()) + b
        h = v + (i_t - v) / 2.0
        s = (h >= 0.3).double()
        v = h - 0.3 * s
        assert torch.equal(out[t].detach(), s), t
    assert out.detach().sum() > 0
    out.sum().backward()
    assert layer.linear.weight.grad is not None and layer.linear.weight.grad.abs().sum() > 0
    frac = SpikingGraphConv(fi, fo, LIFNeuron(alpha=0.6, learn_alpha=True, threshold=0.3))
    y = frac(x.detach().float(), adj)
    assert y.shape == (T, n, fo) and y.dtype == torch.float32
