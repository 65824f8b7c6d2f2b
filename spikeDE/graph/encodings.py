r"""Positional encodings of the nodes of a graph (structure that features alone do not carry).

* :func:`laplacian_pe`: the eigenvectors of the ``k`` smallest non-trivial eigenvalues of the normalised
  Laplacian ``L = I - D^{-1/2} A D^{-1/2}``, from a sparse eigensolver (``scipy.sparse.linalg.eigsh``, Lanczos;
  the ``[graph]`` extra). Never a dense ``N x N`` matrix: ``O(E)`` memory for the operator plus ``O(N ncv)``
  for the Krylov basis.
* :func:`random_walk_pe`: the return probabilities ``[P, P^2, ..., P^k]_{ii}`` of the random walk
  ``P = D^{-1} A`` (the RWSE of graph transformers), exact, by sparse products on blocks of unit vectors.
"""
from __future__ import annotations

import numpy as np
import torch

from .adjacency import check_edge_index, normalized_adjacency

__all__ = ["laplacian_pe", "random_walk_pe", "require_scipy"]


def require_scipy():
    """``scipy.sparse`` and ``scipy.sparse.linalg``, or an ``ImportError`` naming the extra that installs them."""
    try:
        import scipy.sparse as sp
        import scipy.sparse.linalg as spla
    except ImportError as e:  # pragma: no cover - exercised only without scipy
        raise ImportError("Laplacian positional encodings need scipy: pip install 'spikede[graph]'") from e
    return sp, spla


def laplacian_pe(edge_index, n_nodes: int, k: int = 32, *, seed: int = 0, tol: float = 1e-6,
                 maxiter: int | None = None, solver: str = "eigsh", dtype=torch.float32) -> torch.Tensor:
    r"""``[N, k]``: eigenvectors ``u_1 .. u_k`` of ``L = I - D^{-1/2} A D^{-1/2}`` for its ``k`` smallest
    eigenvalues after the first (``u_0 ~ D^{1/2} 1``, constant information), unit norm, each signed so that its
    entry of largest magnitude is positive (eigenvectors are defined up to sign; this makes the result
    deterministic).

    Computed as the largest eigenpairs of ``M = I + D^{-1/2} A D^{-1/2} = 2I - L`` (spectrum in ``[0, 2]``;
    Krylov methods converge on the extreme end), from a seeded start: ``solver='eigsh'`` (implicitly restarted
    Lanczos, to ``tol``; an error if it does not converge) or ``solver='lobpcg'`` (block LOBPCG on ``k + 1``
    vectors, at most ``maxiter`` iterations, default 100: bounded time on large graphs whose wanted eigenvalues
    are clustered, e.g. block-structured graphs, where the result is the best ``k``-dimensional approximation
    reached; the largest residual ``||M u - lambda u||`` is then at most ``tol`` only if it converged). An isolated
    node has a zero row in ``A``; a graph with ``c`` components has ``c`` zero eigenvalues of ``L``, so the first
    ``c - 1`` columns are then component indicators.
    """
    sp, spla = require_scipy()
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"laplacian_pe: k must be an integer >= 1, got {k!r}")
    if k + 1 >= n_nodes:
        raise ValueError(f"laplacian_pe: k={k} eigenvectors (plus the trivial one) do not fit a graph of {n_nodes} "
                         f"nodes (need k + 1 < n_nodes)")
    adj = normalized_adjacency(edge_index, n_nodes, self_loops=False).coalesce()
    idx = adj.indices().numpy()
    m = sp.csr_matrix((adj.values().numpy(), (idx[0], idx[1])), shape=(n_nodes, n_nodes))
    m = m + sp.identity(n_nodes, format="csr")
    rng = np.random.default_rng(seed)
    if solver == "eigsh":
        ncv = min(n_nodes, max(2 * (k + 1) + 1, 64))
        try:
            vals, vecs = spla.eigsh(m, k=k + 1, which="LA", v0=rng.standard_normal(n_nodes), tol=tol,
                                    maxiter=maxiter, ncv=ncv)
        except spla.ArpackNoConvergence as e:
            raise RuntimeError(f"laplacian_pe: the eigensolver did not converge for k={k} on {n_nodes} nodes; "
                               f"raise maxiter or tol (got maxiter={maxiter}, tol={tol}) or use solver='lobpcg'"
                               ) from e
    elif solver == "lobpcg":
        import warnings
        x0 = rng.standard_normal((n_nodes, k + 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # "not converged" is documented: bounded iterations
            vals, vecs = spla.lobpcg(m, x0, largest=True, tol=tol, maxiter=100 if maxiter is None else maxiter)
    else:
        raise ValueError(f"laplacian_pe: solver must be 'eigsh' or 'lobpcg', got {solver!r}")
    order = np.argsort(-vals, kind="stable")        # largest of M = smallest of L
    vecs = vecs[:, order[1:]]
    pick = np.abs(vecs).argmax(0)
    vecs = vecs * np.sign(vecs[pick, np.arange(vecs.shape[1])])
    return torch.as_tensor(np.ascontiguousarray(vecs), dtype=dtype)


def random_walk_pe(edge_index, n_nodes: int, k: int = 16, *, block: int = 1024, dtype=torch.float32) -> torch.Tensor:
    r"""``[N, k]``: column ``i`` holds ``(P^{i+1})_{jj}``, the probability that a random walk ``P = D^{-1} A``
    from node ``j`` is back at ``j`` after ``i + 1`` steps (isolated nodes: 0).

    Exact: ``P^i e_B`` for blocks ``B`` of ``block`` unit vectors, ``k`` sparse-dense products per block, so
    ``O(k E N / block)`` products of width ``block`` (``O(k E N)`` work, ``O(N block)`` memory): meant for
    graphs up to some ten thousand nodes.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"random_walk_pe: k must be an integer >= 1, got {k!r}")
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"random_walk_pe: block must be an integer >= 1, got {block!r}")
    ei = check_edge_index(edge_index, n_nodes)
    ei = ei[:, ei[0] != ei[1]]
    key = torch.unique(ei[0] * n_nodes + ei[1])
    row, col = key // n_nodes, key % n_nodes
    deg = torch.bincount(row, minlength=n_nodes).to(torch.float64)
    val = 1.0 / deg[row]
    p = torch.sparse_coo_tensor(torch.stack([row, col]), val, (n_nodes, n_nodes), is_coalesced=True,
                                check_invariants=False)
    out = torch.zeros(n_nodes, k, dtype=torch.float64)
    for start in range(0, n_nodes, block):
        ids = torch.arange(start, min(start + block, n_nodes))
        h = torch.zeros(n_nodes, len(ids), dtype=torch.float64)
        h[ids, torch.arange(len(ids))] = 1.0
        for i in range(k):
            h = torch.sparse.mm(p, h)
            out[ids, i] = h[ids, torch.arange(len(ids))]
    return out.to(dtype)
