r"""``SSMSequenceClassifier``: a (spiking) state-space classifier for padded token or feature sequences.

For ids ``x [B, L]`` (``vocab_size`` set) or features ``x [B, L, C]``, with the padding mask
``m_t = [x_t != pad_id]`` (token inputs; features are never padded):

    ``z_0 = E x``   (embedding, or a linear encoder ``C -> H``)
    ``z_k = block_k(z_{k-1})``    (``k = 1..n``: :class:`spikeDE.ssm.LoongSpike`, or the non-spiking
                                  :class:`~spikeDE.models.ssm_blocks.SSMBlock` with ``spiking=False``)
    ``f = N(z_n)``, pooled over the valid positions: ``p = sum_t m_t f_t / sum_t m_t`` (``pool="mean"``) or
    ``p = f_{last valid t}`` (``pool="last"``)
    logits ``W p + b``

The blocks are causal (unidirectional SSMs, spiking neurons), so the features of the valid positions do not
depend on the padding that follows them: a padded sequence gets the logits of the unpadded one (to the
round-off of the FFT convolution).

``pair=True`` (two-sequence tasks such as LRA retrieval): ``x [B, 2, L]``, both sequences are encoded by the
same network to ``p_1, p_2`` and the logits are ``W_2 relu(W_1 [p_1, p_2, p_1 * p_2, p_1 - p_2] + b_1) + b_2``.

``max_length``: sequences longer than this raise ``ValueError`` (nothing is truncated); ``None``: no limit.
"""
from __future__ import annotations

import torch
from torch import nn

from .ssm_blocks import make_blocks

__all__ = ["SSMSequenceClassifier"]

_POOLS = ("mean", "last")


class SSMSequenceClassifier(nn.Module):
    """See the module docstring. ``forward(x) -> logits [B, n_classes]`` (batch-first inputs)."""

    def __init__(self, d_input: int, n_classes: int, d_model: int = 128, n_blocks: int = 4, d_state: int = 64,
                 alpha=0.5, learn_alpha: bool = True, *, vocab_size: int | None = None, spiking: bool = True,
                 neuron: dict | None = None, prenorm: bool = True, dropout: float = 0.0, pad_id: int = 0,
                 pool: str = "mean", pair: bool = False, max_length: int | None = None,
                 ssm_kwargs: dict | None = None):
        super().__init__()
        for arg, v in (("d_input", d_input), ("n_classes", n_classes), ("d_model", d_model)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"SSMSequenceClassifier: {arg} must be an int >= 1, got {v!r}")
        if vocab_size is not None and (isinstance(vocab_size, bool) or not isinstance(vocab_size, int)
                                       or vocab_size < 2):
            raise ValueError(f"SSMSequenceClassifier: vocab_size must be None or an int >= 2, got {vocab_size!r}")
        if pool not in _POOLS:
            raise ValueError(f"SSMSequenceClassifier: pool must be one of {_POOLS}, got {pool!r}")
        if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int)
                                       or max_length < 1):
            raise ValueError(f"SSMSequenceClassifier: max_length must be None or an int >= 1, got {max_length!r}")
        self.vocab_size, self.pad_id, self.pool, self.pair = vocab_size, int(pad_id), pool, bool(pair)
        self.max_length = max_length
        self.encoder = nn.Embedding(vocab_size, d_model) if vocab_size else nn.Linear(d_input, d_model)
        self.blocks = make_blocks(n_blocks, d_model, d_state, alpha, learn_alpha, spiking=spiking, neuron=neuron,
                                  prenorm=prenorm, dropout=dropout, ssm_kwargs=ssm_kwargs)
        self.norm = nn.LayerNorm(d_model) if prenorm else nn.Identity()
        if self.pair:
            self.decoder = nn.Sequential(nn.Linear(4 * d_model, d_model), nn.ReLU(), nn.Linear(d_model, n_classes))
        else:
            self.decoder = nn.Linear(d_model, n_classes)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``[B, H]`` of one batch of sequences ``[B, L]`` (ids) or ``[B, L, C]``."""
        L = x.shape[1]
        if self.max_length is not None and L > self.max_length:
            raise ValueError(f"SSMSequenceClassifier: sequences of length {L} exceed max_length={self.max_length} "
                             "(raise the model's max_length; nothing is truncated)")
        if self.vocab_size:
            if x.dim() != 2:
                raise ValueError(f"SSMSequenceClassifier: token ids must have shape [batch, length], got "
                                 f"{tuple(x.shape)}")
            ids = x if not x.is_floating_point() else x.round().long()
            if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
                raise ValueError(f"SSMSequenceClassifier: token ids must lie in [0, {self.vocab_size}), got range "
                                 f"[{int(ids.min())}, {int(ids.max())}]")
            mask = ids != self.pad_id
            z = self.encoder(ids)
        else:
            if x.dim() != 3:
                raise ValueError(f"SSMSequenceClassifier: features must have shape [batch, length, channels], "
                                 f"got {tuple(x.shape)}")
            mask = None
            z = self.encoder(x)
        for block in self.blocks:
            z = block(z)
        f = self.norm(z)
        if mask is None:
            return f.mean(1) if self.pool == "mean" else f[:, -1]
        m = mask.to(f.dtype).unsqueeze(-1)
        n = m.sum(1).clamp_min(1.0)
        if self.pool == "mean":
            return (f * m).sum(1) / n
        last = (n.squeeze(-1).long() - 1).clamp_min(0)
        return f[torch.arange(f.shape[0], device=f.device), last]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, L]`` ids / ``[B, L, C]`` features (``pair``: ``[B, 2, L]`` / ``[B, 2, L, C]``) -> ``[B, K]``."""
        if not self.pair:
            return self.decoder(self._features(x))
        if x.dim() < 3 or x.shape[1] != 2:
            raise ValueError(f"SSMSequenceClassifier: pair inputs must have shape [batch, 2, length(, channels)], "
                             f"got {tuple(x.shape)}")
        B = x.shape[0]
        p = self._features(x.transpose(0, 1).reshape(2 * B, *x.shape[2:]))  # [seq 1 of all; seq 2 of all]
        p1, p2 = p[:B], p[B:]
        return self.decoder(torch.cat([p1, p2, p1 * p2, p1 - p2], -1))
