r"""``GRULanguageModel``: a conventional recurrent language model, the non-spiking reference of the LM tasks.

    ``e_t = E[x_t]``,  ``h_t = GRU(e_t, h_{t-1})`` (``n_layers`` stacked),  ``logits_t = W h_t + b``

Ids ``[B, L]`` -> next-token logits ``[B, L, V]``; :meth:`GRULanguageModel.step` runs one token with the hidden
state carried explicitly (the same computation, so streaming equals the parallel forward to round-off).
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["GRULanguageModel"]


class GRULanguageModel(nn.Module):
    def __init__(self, vocab_size: int, d_model: int = 128, n_layers: int = 1):
        super().__init__()
        for arg, v in (("vocab_size", vocab_size), ("d_model", d_model), ("n_layers", n_layers)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"GRULanguageModel: {arg} must be an int >= 1, got {v!r}")
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.rnn = nn.GRU(d_model, d_model, num_layers=n_layers, batch_first=True)
        self.head = nn.Linear(d_model, vocab_size)

    def _ids(self, x):
        ids = x.round().long() if x.is_floating_point() else x.long()
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            raise ValueError(f"GRULanguageModel: token ids outside [0, {self.vocab_size}): range "
                             f"[{int(ids.min())}, {int(ids.max())}]")
        return ids

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Ids ``[B, L]`` -> logits ``[B, L, V]``."""
        if x.dim() != 2:
            raise ValueError(f"GRULanguageModel: x must have shape [batch, length], got {tuple(x.shape)}")
        h, _ = self.rnn(self.embedding(self._ids(x)))
        return self.head(h)

    def default_state(self, batch: int, *, device=None, dtype=None):
        w = self.head.weight
        return torch.zeros(self.rnn.num_layers, batch, self.rnn.hidden_size, device=device or w.device,
                           dtype=dtype or w.dtype)

    def generate(self, prompt: torch.Tensor, n_tokens: int, temperature: float = 1.0, generator=None):
        """Continue ``prompt`` token by token: :func:`spikeDE.models.ssm_lm.stream_generate`."""
        from .ssm_lm import stream_generate

        return stream_generate(self, prompt, n_tokens, temperature, generator)

    def step(self, ids_t: torch.Tensor, state: torch.Tensor):
        """Ids ``[B]`` -> ``(logits [B, V], new hidden state)``."""
        h, state = self.rnn(self.embedding(self._ids(ids_t)).unsqueeze(1), state)
        return self.head(h[:, 0]), state
