r"""K-hop propagation ``X' = A_hat^K X`` with a sparse ``A_hat`` (SGC / SpikingGCN features, computed once)."""
from __future__ import annotations

import torch

__all__ = ["propagate"]


def propagate(adj: torch.Tensor, x: torch.Tensor, k: int = 1, *, chunk: int | None = None) -> torch.Tensor:
    r"""``A_hat^k x`` for a sparse ``adj [N, N]`` and dense ``x [N, ...]``: ``k`` sparse-dense products, each
    ``O(E F)`` time; no dense ``N x N`` matrix. The result has ``x``'s dtype and device (``adj`` is cast to
    them). ``chunk``: propagate at most this many feature columns at a time (bounds the working memory to
    ``O(N chunk)`` extra). Differentiable in ``x``.
    """
    if not isinstance(adj, torch.Tensor) or not adj.is_sparse or adj.dim() != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError(f"propagate: adj must be a square sparse COO tensor, got "
                         f"{type(adj).__name__ if not isinstance(adj, torch.Tensor) else tuple(adj.shape)}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"propagate: x must be a floating-point tensor, got {getattr(x, 'dtype', type(x).__name__)}")
    if x.dim() < 1 or x.shape[0] != adj.shape[0]:
        raise ValueError(f"propagate: x must have the {adj.shape[0]} nodes first, got shape {tuple(x.shape)}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"propagate: k must be an integer >= 0, got {k!r}")
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
        raise ValueError(f"propagate: chunk must be None or an integer >= 1, got {chunk!r}")
    a = adj.to(dtype=x.dtype, device=x.device)
    shape = x.shape
    h = x.reshape(shape[0], -1)
    cols = [h] if chunk is None else list(torch.split(h, chunk, dim=1))
    out = []
    for c in cols:
        for _ in range(k):
            c = torch.sparse.mm(a, c)
        out.append(c)
    return (out[0] if len(out) == 1 else torch.cat(out, 1)).reshape(shape)
