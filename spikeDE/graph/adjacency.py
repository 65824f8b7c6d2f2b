r"""The symmetrically normalised adjacency with self loops, ``A_hat = D^{-1/2} (A + I) D^{-1/2}``, as a sparse
COO tensor (``D`` the degree matrix of ``A + I``), the propagation matrix of GCN / SGC / SpikingGCN."""
from __future__ import annotations

import torch

__all__ = ["check_edge_index", "normalized_adjacency"]


def check_edge_index(edge_index, n_nodes: int, where: str = "edge_index") -> torch.Tensor:
    """``edge_index`` as a ``[2, E]`` long tensor with every node id in ``[0, n_nodes)`` (else ``ValueError``)."""
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, int) or n_nodes < 1:
        raise ValueError(f"{where}: n_nodes must be an integer >= 1, got {n_nodes!r}")
    ei = torch.as_tensor(edge_index)
    if ei.dim() != 2 or ei.shape[0] != 2:
        raise ValueError(f"{where} must have shape [2, E], got {tuple(ei.shape)}")
    if ei.is_floating_point() or ei.dtype == torch.bool:
        raise ValueError(f"{where} must hold integer node ids, got dtype {ei.dtype}")
    ei = ei.long()
    if ei.numel() and (int(ei.min()) < 0 or int(ei.max()) >= n_nodes):
        bad = ((ei < 0) | (ei >= n_nodes)).any(0).nonzero()[0, 0]
        raise ValueError(f"{where}: edge {ei[:, bad].tolist()} points outside the {n_nodes} nodes; node ids must be "
                         f"in [0, {n_nodes})")
    return ei


def normalized_adjacency(edge_index, n_nodes: int, *, self_loops: bool = True, dtype=torch.float64,
                         device=None) -> torch.Tensor:
    r"""``A_hat = D^{-1/2} (A + I) D^{-1/2}`` (``self_loops=False``: ``D^{-1/2} A D^{-1/2}``) as a coalesced sparse
    ``[N, N]`` COO tensor of ``dtype``.

    ``A_ij = 1`` for every listed edge ``(i, j)`` (repeated edges count once; an edge is used as given, so pass
    both directions for an undirected graph); ``D_ii = sum_j (A + I)_ij``. An isolated node without self loop
    has degree 0 and an all-zero row.
    """
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"normalized_adjacency: dtype must be torch.float32 or torch.float64, got {dtype}")
    ei = check_edge_index(edge_index, n_nodes)
    ei = ei[:, ei[0] != ei[1]]
    if self_loops:
        loop = torch.arange(n_nodes, dtype=torch.long, device=ei.device)
        ei = torch.cat([ei, torch.stack([loop, loop])], 1)
    key = torch.unique(ei[0] * n_nodes + ei[1])                    # sorted, deduplicated
    row, col = key // n_nodes, key % n_nodes
    deg = torch.bincount(row, minlength=n_nodes).to(torch.float64)
    inv = torch.where(deg > 0, deg.rsqrt(), torch.zeros_like(deg))
    val = (inv[row] * inv[col]).to(dtype)
    adj = torch.sparse_coo_tensor(torch.stack([row, col]), val, (n_nodes, n_nodes), is_coalesced=True,
                                  check_invariants=False)
    return adj if device is None else adj.to(device)
