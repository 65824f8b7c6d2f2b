r"""Graph networks for node classification: spiking SGCN and DRSGNN, a plain GCN reference, and the adapter that
lets a trainer treat nodes as samples.

* :class:`SGCN` (spiking graph convolutional network, in the form of spikeDE 0.1.0's example and SpikingGCN):
  precomputed propagated features ``X' = A_hat^K X`` (z-scored per column) are rate-coded into spikes every
  step, ``s_t ~ Bernoulli(clamp(x', 0, 1))``, and drive ``Linear -> neuron`` (``hidden = 0``: straight to one
  spiking neuron per class; ``hidden > 0``: ``Linear -> neuron -> Linear -> neuron``). The first ``Linear``
  (``fc1``) is applied by the model (:meth:`SGCN.input_current`, which exploits the many inputs that spike
  always or never), the rest runs inside the wrapper. The output is the
  spike train of the class neurons, ``[T, B, n_classes]``; its mean over time (the firing rate) times
  ``scale`` is the class score.
* :class:`DRSGNN` (dynamic reactive spiking GNN): the same on features with a Laplacian positional encoding
  appended (``[X', PE]``) and a learnable threshold per neuron layer.
* :class:`GCN`: the non-spiking two-layer GCN, ``A_hat relu(A_hat X W_1) W_2`` (Kipf and Welling), full graph.
* :class:`NodeInput`: maps node ids to the model's input (rows of a feature table, or the full-graph GCN's
  output rows), so that a mini-batch of nodes is a batch of samples ``[1, B, 1]`` (time-first, one step).

The spiking networks take a neuron factory ``neuron(name) -> nn.Module`` and a ``wrap(base) -> nn.Module`` that
runs the ``[T*B, ...]``-folded network (default: :class:`spikeDE.SNNWrapper` with ``snn_kwargs``, LIF if none),
so the same network runs with LIF or fractional LIF neurons.

Randomness of the spike encoding: in training mode the encoder draws from PyTorch's global generator (seeded and
checkpointed by the trainer); in evaluation mode from a private generator re-seeded with ``eval_seed`` every
time the model enters evaluation mode, so every evaluation of a trained model sees the same encodings and
repeated evaluations of the same nodes inside one pass see fresh ones.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import torch
from torch import nn
from torch.nn.functional import linear as F_linear

from ..graph.spikes import SpikeEncoder
from ..wrapper import SNNWrapper

__all__ = ["SGCN", "DRSGNN", "GCN", "NodeInput", "zscore"]


def zscore(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    r"""Columns of ``x [N, F]`` scaled to mean 0 and standard deviation 1 (``(x - mu) / sigma``; a constant
    column becomes 0)."""
    mu = x.mean(0, keepdim=True)
    sd = x.std(0, unbiased=False, keepdim=True)
    return torch.where(sd > eps, (x - mu) / sd.clamp(min=eps), torch.zeros_like(x))


def _learnable_threshold(neuron: nn.Module) -> nn.Module:
    """Make a spikeDE neuron's threshold a learnable parameter (starting at its value)."""
    if not hasattr(neuron, "threshold_learnable"):
        raise ValueError(f"a learnable threshold needs a spikeDE neuron, got {type(neuron).__name__}")
    if not neuron.threshold_learnable:
        value = float(neuron.threshold)
        neuron.threshold_learnable = True
        neuron.threshold = nn.Parameter(torch.tensor(value, dtype=torch.get_default_dtype()))
    return neuron


class SGCN(nn.Module):
    """Spiking GCN on precomputed propagated features (see the module docstring).

    Args:
        n_features, n_classes: input width (features, with any positional encoding) and classes.
        neuron: ``neuron(name) -> nn.Module``, one spiking layer (e.g. ``lambda name: LIFNeuron()``).
        hidden: 0 (``Linear -> neuron``, one neuron per class) or the width of one hidden spiking layer.
        steps: ``T``, the number of encoding steps.
        encoder: ``bernoulli``, ``poisson`` or ``deterministic`` (:mod:`spikeDE.graph.spikes`).
        scale: class score = ``scale *`` firing rate of the class neurons.
        gain: the ``Linear`` layers start from PyTorch's default initialisation times ``gain`` (sparse spike
            inputs on few features need ``gain > 1`` to reach the threshold).
        learn_threshold: a learnable threshold in every neuron layer.
        wrap: ``wrap(base) -> module`` running the folded network; default ``SNNWrapper(base, **snn_kwargs)``.
        snn_kwargs: keywords of the default wrapper (default ``{"integrator": "odeint"}``, LIF).
        eval_seed: seed of the evaluation-mode encoder.
    """

    def __init__(self, n_features: int, n_classes: int, neuron: Callable[[str], nn.Module], *, hidden: int = 0,
                 steps: int = 100, encoder: str = "bernoulli", scale: float = 1.0, gain: float = 1.0,
                 learn_threshold: bool = False,
                 wrap: Callable[[nn.Module], nn.Module] | None = None, snn_kwargs: dict | None = None,
                 eval_seed: int = 0):
        super().__init__()
        for name, v, lo in (("n_features", n_features, 1), ("n_classes", n_classes, 2), ("hidden", hidden, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{type(self).__name__}: {name} must be an integer >= {lo}, got {v!r}")
        for name, v in (("scale", scale), ("gain", gain)):
            if not v > 0:
                raise ValueError(f"{type(self).__name__}: {name} must be > 0, got {v!r}")
        self.encoder = SpikeEncoder(encoder, steps)
        self.scale = float(scale)
        self.eval_seed = int(eval_seed)
        self._generator = None
        widths = ([hidden] if hidden else []) + [n_classes]
        self.fc1 = nn.Linear(n_features, widths[0])
        mods, i = OrderedDict(), 1
        for j, out in enumerate(widths):
            if j:
                mods[f"fc{i}"] = nn.Linear(widths[j - 1], out)
            layer = neuron(f"sn{i}")
            mods[f"sn{i}"] = _learnable_threshold(layer) if learn_threshold else layer
            i += 1
        for fc in [self.fc1] + [m for m in mods.values() if isinstance(m, nn.Linear)]:
            with torch.no_grad():
                fc.weight.mul_(gain)
                fc.bias.mul_(gain)
        base = nn.Sequential(mods)
        self.snn = wrap(base) if wrap is not None else SNNWrapper(base, **(snn_kwargs or {"integrator": "odeint"}))

    def train(self, mode: bool = True):
        if not mode:
            self._generator = None        # the next evaluation starts again from eval_seed
        return super().train(mode)

    def _eval_generator(self, device) -> torch.Generator:
        if self._generator is None or self._generator.device != torch.device(device):
            self._generator = torch.Generator(device=device).manual_seed(self.eval_seed)
        return self._generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``[B, F]`` (or ``[1, B, F]``) -> scaled output spikes ``[T, B, n_classes]``."""
        if x.dim() == 3 and x.shape[0] == 1:
            x = x[0]
        if x.dim() != 2:
            raise ValueError(f"{type(self).__name__}: x must be node features [B, F] or [1, B, F], got shape "
                             f"{tuple(x.shape)}")
        gen = None if self.training else self._eval_generator(x.device)
        return self.snn(self.input_current(x, gen)) * self.scale

    def input_current(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        r"""``I_t = W_1 s_t + b_1`` for the encoded spikes ``s_t`` of ``x`` : ``[T, B, H_1]``.

        Random encoders: an entry with spike probability 1 spikes at every step and one with 0 never, so
        ``I_t = (W_1 d + b_1) + W_1 r_t`` with the constant part ``d`` computed once and only the random entries
        ``r_t`` drawn each step (in the order and from the stream of :mod:`spikeDE.graph.spikes`, so the spikes are
        those of ``self.encoder(x, generator)``) and added by a gather of ``W_1``'s columns when that is smaller
        than the dense product: ``O(B F H + T R H)`` for ``R`` random entries instead of ``O(T B F H)``. While a
        forward hook watches ``fc1`` (spike and synaptic-operation counters), the dense spikes go through it.
        """
        fc = self.fc1
        if self.encoder.kind == "deterministic" or fc._forward_hooks or fc._forward_pre_hooks:
            return fc(self.encoder(x, generator))
        p = (x.clamp(0, 1) if self.encoder.kind == "bernoulli" else -torch.expm1(-x.clamp(min=0))).detach()
        T, (B, F), H = self.steps, p.shape, fc.out_features
        const = F_linear((p >= 1).to(x.dtype), fc.weight, fc.bias)                       # [B, H]
        flat = p.reshape(-1)
        idx = ((flat > 0) & (flat < 1)).nonzero().flatten()
        if idx.numel() == 0:
            return const.expand(T, B, H)
        u = torch.rand((T, idx.numel()), generator=generator, dtype=p.dtype, device=p.device)
        spikes = (u < flat[idx]).to(x.dtype)                                             # [T, R]
        rows, cols = idx // F, idx % F
        if idx.numel() * H <= B * F:
            contrib = spikes.unsqueeze(-1) * fc.weight.t()[cols]                        # [T, R, H]
            return const.expand(T, B, H).index_add(1, rows, contrib)
        dense = torch.zeros(T, B * F, dtype=x.dtype, device=x.device)
        dense[:, idx] = spikes
        return const + F_linear(dense.reshape(T, B, F), fc.weight)

    @property
    def steps(self) -> int:
        return self.encoder.steps


class DRSGNN(SGCN):
    """SGCN on ``[X', PE]`` (features with a positional encoding appended, ``n_features`` counting both) with a
    learnable threshold in every neuron layer."""

    def __init__(self, n_features: int, n_classes: int, neuron: Callable[[str], nn.Module], **kwargs):
        kwargs.setdefault("learn_threshold", True)
        super().__init__(n_features, n_classes, neuron, **kwargs)


class GCN(nn.Module):
    r"""Two-layer GCN ``Z = A_hat dropout(relu(A_hat dropout(X) W_1 + b_1)) W_2 + b_2`` on the full graph."""

    def __init__(self, n_features: int, hidden: int, n_classes: int, dropout: float = 0.5):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"GCN: dropout must be in [0, 1), got {dropout!r}")
        self.fc1 = nn.Linear(n_features, hidden)
        self.fc2 = nn.Linear(hidden, n_classes)
        self.dropout = nn.Dropout(dropout)
        self._sparse, self._cache = None, None

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """``x [N, F]``, sparse ``adj [N, N]`` -> logits ``[N, n_classes]``."""
        a = adj.to(dtype=x.dtype, device=x.device)
        if self._sparse is None:
            self._sparse = bool(x.numel() and (x != 0).sum() < 0.1 * x.numel())
        if self._sparse:            # bag-of-words features: dropout on the non-zeros, X W^T as a sparse product
            key = (x.data_ptr(), tuple(x.shape), x.dtype, x.device)
            if self._cache is None or self._cache[0] != key:
                xs = x.detach().to_sparse().coalesce()
                self._cache = (key, xs.indices(), xs.values())
            _, idx, val = self._cache
            xs = torch.sparse_coo_tensor(idx, self.dropout(val), tuple(x.shape), is_coalesced=True,
                                         check_invariants=False)
            h = torch.sparse.mm(xs, self.fc1.weight.t()) + self.fc1.bias
        else:
            h = self.fc1(self.dropout(x))
        h = torch.relu(torch.sparse.mm(a, h))
        return torch.sparse.mm(a, self.fc2(self.dropout(h)))


class NodeInput(nn.Module):
    """Nodes as samples: ``ids [1, B, 1]`` (node ids as floats, time-first) -> the model's per-step logits.

    ``mode='table'``: ``model(table[ids])`` (a feature table ``[N, F]``, e.g. propagated features).
    ``mode='graph'``: ``model(table, adj)[ids]`` as one step ``[1, B, K]`` (a full-graph model such as
    :class:`GCN`). The table and ``adj`` are buffers that are not saved in checkpoints (they are the data).
    """

    def __init__(self, model: nn.Module, table: torch.Tensor, adj: torch.Tensor | None = None, mode: str = "table"):
        super().__init__()
        if mode not in ("table", "graph"):
            raise ValueError(f"NodeInput: mode must be 'table' or 'graph', got {mode!r}")
        if mode == "graph" and adj is None:
            raise ValueError("NodeInput: mode 'graph' needs adj")
        self.model, self.mode = model, mode
        self.register_buffer("table", table, persistent=False)
        self.adj = adj

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        if self.adj is not None:
            self.adj = fn(self.adj)
        return self

    def node_ids(self, x: torch.Tensor) -> torch.Tensor:
        ids = x.reshape(-1).round().long()
        n = self.table.shape[0]
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= n):
            raise ValueError(f"NodeInput: node ids must be in [0, {n}), got [{int(ids.min())}, {int(ids.max())}]")
        return ids

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = self.node_ids(x)
        if self.mode == "table":
            return self.model(self.table[ids])
        return self.model(self.table, self.adj)[ids].unsqueeze(0)
