r"""``SSMLanguageModel``: a causal (spiking) state-space language model with streaming generation.

For token ids ``x [B, L]``:

    ``z_0 = E[x]``                       (embedding ``V -> H``)
    ``z_k = block_k(z_{k-1})``           (``k = 1..n``: :class:`spikeDE.ssm.LoongSpike` -- FractionalSSM ->
                                         LIF / f-LIF neuron -> GLU, residual -- or, with ``spiking=False``, the
                                         non-spiking :class:`~spikeDE.models.ssm_blocks.SSMBlock`)
    ``logits_t = W N(z_n)_t + b``        (``[B, L, V]``: the distribution of token ``t + 1``)

Every block is causal (a unidirectional SSM, a neuron that integrates forward in time, position-wise norms
and mixing), so ``logits_t`` depends on ``x_1..x_t`` only, and the model can be trained on all positions of a
window at once (parallel mode: FFT convolution, fused neuron kernels) and run token by token (streaming mode,
:meth:`SSMLanguageModel.step`: each block's ``step`` with a constant-size state; the fractional memories
through their sum-of-exponentials modes). Both give the same next-token distribution up to the SSM's
streaming error (about ``1e-3 * stream_tol`` relative; spikes are identical unless a membrane lies within that
error of its threshold).

Generation (:meth:`SSMLanguageModel.generate`): the prompt is streamed through the blocks, then each new token
is drawn from ``softmax(logits / T)`` (``T = temperature``; ``T = 0``: the most likely token) and fed back.

``max_length`` (optional): longer inputs to :meth:`forward` raise ``ValueError`` (nothing is truncated).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .ssm_blocks import make_blocks

__all__ = ["SSMLanguageModel", "SSMLanguageModelState", "stream_generate"]


class SSMLanguageModelState(NamedTuple):
    """Streaming state: one state per block and the number of tokens consumed."""

    blocks: tuple
    steps: int


class SSMLanguageModel(nn.Module):
    """See the module docstring.

    Args:
        vocab_size: ``V``; d_model: width ``H``; n_blocks; d_state: SSM state size per channel.
        alpha, learn_alpha: the SSMs' fractional order (``alpha=1, learn_alpha=False``: integer order).
        spiking: LoongSpike blocks (``True``) or non-spiking SSM blocks. neuron: the spiking blocks' neuron
            (``None``: LIF; a dict of :class:`spikeDE.LIFNeuron` keywords, e.g. ``{"alpha": 0.5,
            "learn_alpha": True}`` for f-LIF).
        prenorm, dropout, ssm_kwargs: as in :class:`spikeDE.ssm.LoongSpike`.
        tie_weights: the output matrix is the embedding matrix.
        max_length: longest input accepted by :meth:`forward` (``None``: any).
    """

    def __init__(self, vocab_size: int, d_model: int = 128, n_blocks: int = 2, d_state: int = 32, alpha=0.5,
                 learn_alpha: bool = True, *, spiking: bool = True, neuron: dict | None = None,
                 prenorm: bool = True, dropout: float = 0.0, tie_weights: bool = False,
                 max_length: int | None = None, ssm_kwargs: dict | None = None):
        super().__init__()
        for arg, v in (("vocab_size", vocab_size), ("d_model", d_model)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"SSMLanguageModel: {arg} must be an int >= 1, got {v!r}")
        if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int)
                                       or max_length < 1):
            raise ValueError(f"SSMLanguageModel: max_length must be None or an int >= 1, got {max_length!r}")
        ssm_kwargs = dict(ssm_kwargs or {})
        if ssm_kwargs.get("bidirectional"):
            raise ValueError("SSMLanguageModel: a language model must be causal; bidirectional SSMs are not allowed")
        self.vocab_size, self.d_model, self.max_length = vocab_size, d_model, max_length
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.blocks = make_blocks(n_blocks, d_model, d_state, alpha, learn_alpha, spiking=spiking, neuron=neuron,
                                  prenorm=prenorm, dropout=dropout, ssm_kwargs=ssm_kwargs)
        self.norm = nn.LayerNorm(d_model) if prenorm else nn.Identity()
        self.head = nn.Linear(d_model, vocab_size)
        if tie_weights:
            self.head.weight = self.embedding.weight

    def _ids(self, x: torch.Tensor, what: str) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"SSMLanguageModel: {what} must be a tensor of token ids, got {type(x).__name__}")
        ids = x.round().long() if x.is_floating_point() else x.long()
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            raise ValueError(f"SSMLanguageModel: {what} holds token ids outside [0, {self.vocab_size}): range "
                             f"[{int(ids.min())}, {int(ids.max())}]")
        return ids

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Parallel mode: ids ``[B, L]`` -> next-token logits ``[B, L, V]``."""
        if x.dim() != 2:
            raise ValueError(f"SSMLanguageModel: x must have shape [batch, length], got {tuple(x.shape)}")
        if self.max_length is not None and x.shape[1] > self.max_length:
            raise ValueError(f"SSMLanguageModel: input of length {x.shape[1]} exceeds max_length={self.max_length} "
                             "(nothing is truncated)")
        z = self.embedding(self._ids(x, "x"))
        for block in self.blocks:
            z = block(z)
        return self.head(self.norm(z))

    def default_state(self, batch: int, *, device=None, dtype=None) -> SSMLanguageModelState:
        """Zero streaming state for ``batch`` sequences."""
        device = device or self.head.weight.device
        dtype = dtype or self.head.weight.dtype
        return SSMLanguageModelState(tuple(b.default_state(batch, device=device, dtype=dtype) for b in self.blocks), 0)

    def step(self, ids_t: torch.Tensor, state: SSMLanguageModelState):
        """Streaming mode: ids ``[B]`` -> ``(next-token logits [B, V], new state)``; the state is not modified."""
        if not isinstance(state, SSMLanguageModelState) or len(state.blocks) != len(self.blocks):
            raise TypeError("SSMLanguageModel: state must be an SSMLanguageModelState from default_state()")
        if ids_t.dim() != 1:
            raise ValueError(f"SSMLanguageModel: ids_t must have shape [batch], got {tuple(ids_t.shape)}")
        z = self.embedding(self._ids(ids_t, "ids_t"))
        new = []
        for block, s in zip(self.blocks, state.blocks):
            z, s = block.step(z, s)
            new.append(s)
        return self.head(self.norm(z)), SSMLanguageModelState(tuple(new), state.steps + 1)

    def generate(self, prompt: torch.Tensor, n_tokens: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Continue ``prompt`` by ``n_tokens`` tokens in streaming mode: :func:`stream_generate`."""
        return stream_generate(self, prompt, n_tokens, temperature, generator)


@torch.no_grad()
def stream_generate(model: nn.Module, prompt: torch.Tensor, n_tokens: int, temperature: float = 1.0,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Continue ``prompt`` (ids ``[P]`` or ``[B, P]``, ``P >= 1``) by ``n_tokens`` tokens drawn from
    ``softmax(logits / temperature)`` (``temperature = 0``: the most likely token); returns ``[B, n_tokens]``
    (``[n_tokens]`` for a 1-D prompt). ``model`` has ``default_state(batch)`` and ``step(ids [B], state) ->
    (logits [B, V], state)``; the prompt is streamed through it, then every drawn token is fed back."""
    if isinstance(n_tokens, bool) or not isinstance(n_tokens, int) or n_tokens < 0:
        raise ValueError(f"generate: n_tokens must be an int >= 0, got {n_tokens!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0:
        raise ValueError(f"generate: temperature must be a number >= 0, got {temperature!r}")
    one = prompt.dim() == 1
    p = prompt.unsqueeze(0) if one else prompt
    if p.dim() != 2 or p.shape[1] < 1:
        raise ValueError(f"generate: prompt must have shape [P] or [batch, P] with P >= 1, got {tuple(prompt.shape)}")
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    try:
        p = p.to(device).long()
        state = model.default_state(p.shape[0])
        for t in range(p.shape[1]):
            logits, state = model.step(p[:, t], state)
        out = []
        for _ in range(n_tokens):
            if temperature == 0:
                nxt = logits.argmax(-1)
            else:
                probs = torch.softmax(logits.double() / temperature, -1)
                nxt = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(-1).to(device)
            out.append(nxt)
            logits, state = model.step(nxt, state)
    finally:
        model.train(was)
    res = torch.stack(out, 1) if out else p.new_zeros(p.shape[0], 0)
    return res[0] if one else res
