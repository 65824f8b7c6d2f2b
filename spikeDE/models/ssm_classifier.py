r"""``SpikingSSMClassifier``: encoder -> ``n`` :class:`~spikeDE.ssm.LoongSpike` blocks -> decoder (also importable as
``spikeDE.ssm.SpikingSSMClassifier``).

For inputs ``x [B, L, C]`` (or token ids ``[B, L]``):

    ``z_0 = E x``                                    (linear encoder ``C -> H``, or an embedding of token ids)
    ``z_k = LoongSpike_k(z_{k-1})``,  ``k = 1..n``
    ``f = N(z_n)``                                   (layer norm over channels with pre-norm blocks; post-norm
                                                     blocks already end with one, so ``f = z_n``)
    logits: ``W mean_t f_t + b`` (``decoder="mean"``), ``W f_L + b`` (``"last"``) or ``W f_t + b`` for every
    ``t`` (``"step"``: per-step logits ``[B, L, K]``, e.g. for a trainer that applies its own readout).

``time_first=True`` takes ``[L, B, C]`` (ids ``[L, B]``) and returns per-step logits ``[L, B, K]`` with
``decoder="step"`` (the spikeDE time-first convention); the pooled decoders return ``[B, K]`` in both layouts.

Streaming (:meth:`SpikingSSMClassifier.step`) runs the encoder, each block's :meth:`LoongSpike.step` and the
decoder on one time step; for ``decoder="mean"`` the state also keeps the running sum of ``f``, so the logits of
step ``t`` are those of the prefix ``x_1..x_t`` (at ``t = L`` the parallel output).

Firing statistics: :meth:`SpikingSSMClassifier.spike_rates` gives the mean firing rate of every block in the
last call (a detached ``[n]`` tensor, no host synchronisation in the forward pass), :attr:`spike_rate` their
mean; ``model.blocks[k].channel_rates`` the per-channel rates.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .._checks import check_floating
from ..ssm.block import LoongSpike

__all__ = ["SpikingSSMClassifier", "SpikingSSMClassifierState"]

_DECODERS = ("mean", "last", "step")


class SpikingSSMClassifierState(NamedTuple):
    """Streaming state: one :class:`LoongSpikeState` per block, the running sum ``[B, H]`` of the normalised
    features (used by ``decoder="mean"``) and the number of steps taken."""

    blocks: tuple
    feature_sum: torch.Tensor
    steps: int


class SpikingSSMClassifier(nn.Module):
    r"""Sequence classifier from spiking fractional SSM blocks (see the module docstring for the equations).

    Args:
        d_input: input channels ``C`` (``tokens=True``: the vocabulary size).
        n_classes: number of classes ``K``.
        d_model: block width ``H``; d_state: SSM state size per channel; n_blocks: number of blocks.
        alpha, learn_alpha: the SSMs' fractional order (``alpha=1, learn_alpha=False``: integer order).
        neuron: the blocks' neuron, ``None`` or a dict of :class:`spikeDE.LIFNeuron` keywords (each block gets its
            own neuron; see :func:`spikeDE.ssm.block.make_neuron`).
        prenorm, dropout, ssm_kwargs: as in :class:`LoongSpike`.
        decoder: ``"mean"`` (pool over time), ``"last"`` (last step) or ``"step"`` (per-step logits).
        time_first: inputs ``[L, B, C]`` (and per-step logits ``[L, B, K]``) instead of ``[B, L, C]``.
        tokens: inputs are int64 token ids ``< d_input`` (embedding encoder) instead of ``C`` channels.

    ``forward(x)``: ``[B, L, C]`` (``time_first``: ``[L, B, C]``; ids without the ``C``) -> logits ``[B, K]``
    (``decoder="step"``: ``[B, L, K]``, time-first ``[L, B, K]``).
    """

    def __init__(self, d_input: int, n_classes: int, d_model: int = 128, n_blocks: int = 4, d_state: int = 64,
                 alpha=0.5, learn_alpha: bool = True, *, neuron: dict | None = None, prenorm: bool = True,
                 dropout: float = 0.0, decoder: str = "mean", time_first: bool = False, tokens: bool = False,
                 ssm_kwargs: dict | None = None, device=None, dtype=None):
        super().__init__()
        where = "SpikingSSMClassifier"
        for arg, v in (("d_input", d_input), ("n_classes", n_classes), ("d_model", d_model),
                       ("n_blocks", n_blocks)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{where}: {arg} must be an int >= 1, got {v!r}")
        for arg, v in (("time_first", time_first), ("tokens", tokens), ("prenorm", prenorm)):
            if not isinstance(v, bool):
                raise TypeError(f"{where}: {arg} must be True or False, got {v!r}")
        if decoder not in _DECODERS:
            raise ValueError(f"{where}: decoder must be one of {_DECODERS}, got {decoder!r}")
        if neuron is not None and not isinstance(neuron, dict):
            raise TypeError(f"{where}: neuron must be None or a dict of LIFNeuron keywords (every block builds its "
                            f"own neuron), got {type(neuron).__name__}")
        fk = dict(device=device, dtype=dtype)
        self.d_input, self.n_classes, self.d_model = d_input, n_classes, d_model
        self.decoder_mode, self.time_first, self.tokens = decoder, bool(time_first), bool(tokens)
        self.encoder = nn.Embedding(d_input, d_model, **fk) if self.tokens else nn.Linear(d_input, d_model, **fk)
        self.blocks = nn.ModuleList(
            LoongSpike(d_model, d_state, alpha, learn_alpha, neuron=dict(neuron) if neuron else None,
                       prenorm=prenorm, dropout=dropout, ssm_kwargs=ssm_kwargs, name=f"block{k}", **fk)
            for k in range(n_blocks))
        self.norm = nn.LayerNorm(d_model, **fk) if prenorm else nn.Identity()
        self.decoder = nn.Linear(d_model, n_classes, **fk)

    # ------------------------------------------------------------------------------------------------
    def _encode(self, x: torch.Tensor, step: bool) -> torch.Tensor:
        where = "SpikingSSMClassifier"
        what = "x_t" if step else "x"
        if self.tokens:
            if not isinstance(x, torch.Tensor) or x.dtype not in (torch.int64, torch.int32):
                got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
                raise TypeError(f"{where}: {what} must hold integer token ids (tokens=True), got {got}")
            dims = 1 if step else 2
            if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.d_input):
                bad = int(x.min()) if int(x.min()) < 0 else int(x.max())
                raise ValueError(f"{where}: {what} holds token ids outside 0 <= id < {self.d_input} (d_input), "
                                 f"e.g. {bad}")
        else:
            check_floating(x, what, where)
            dims = 2 if step else 3
            if x.dim() == dims and x.shape[-1] != self.d_input:
                raise ValueError(f"{where}: {what} has {x.shape[-1]} channels, expected d_input={self.d_input} "
                                 f"(shape {tuple(x.shape)})")
        if x.dim() != dims:
            layout = ("[batch]" if step else ("[length, batch]" if self.time_first else "[batch, length]"))
            if not self.tokens:
                layout = layout[:-1] + ", channels]"
            raise ValueError(f"{where}: {what} must have shape {layout}, got {tuple(x.shape)}")
        if not step and self.time_first:
            x = x.transpose(0, 1)
        return self.encoder(x)

    def _decode(self, f: torch.Tensor) -> torch.Tensor:
        if self.decoder_mode == "mean":
            return self.decoder(f.mean(1))
        if self.decoder_mode == "last":
            return self.decoder(f[:, -1])
        out = self.decoder(f)
        return out.transpose(0, 1) if self.time_first else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, K]`` (``decoder="step"``: ``[B, L, K]``, time-first ``[L, B, K]``); see the class."""
        z = self._encode(x, step=False)
        for block in self.blocks:
            z = block(z)
        return self._decode(self.norm(z))

    # ------------------------------------------------------------------------------------------------
    def default_state(self, batch: int, *, device=None, dtype=None) -> SpikingSSMClassifierState:
        """Zero streaming state for ``batch`` sequences."""
        dtype = dtype or self.decoder.weight.dtype
        device = device or self.decoder.weight.device
        blocks = tuple(b.default_state(batch, device=device, dtype=dtype) for b in self.blocks)
        return SpikingSSMClassifierState(blocks, torch.zeros(batch, self.d_model, device=device, dtype=dtype), 0)

    def step(self, x_t: torch.Tensor, state: SpikingSSMClassifierState):
        """One streaming step: ``x_t [B, C]`` (ids ``[B]``) -> ``(logits_t [B, K], new state)``.

        ``logits_t`` is what :meth:`forward` returns for the prefix up to this step (``"step"``/``"last"``: the
        decoder at this step; ``"mean"``: the decoder on the running mean). The given state is not modified.
        """
        if not isinstance(state, SpikingSSMClassifierState) or len(state.blocks) != len(self.blocks):
            raise TypeError(f"SpikingSSMClassifier: state must be a SpikingSSMClassifierState with "
                            f"{len(self.blocks)} block states (from default_state), got {type(state).__name__}")
        z = self._encode(x_t, step=True)
        new = []
        for block, s in zip(self.blocks, state.blocks):
            z, s = block.step(z, s)
            new.append(s)
        f = self.norm(z)
        total, n = state.feature_sum + f, state.steps + 1
        logits = self.decoder(total / n if self.decoder_mode == "mean" else f)
        return logits, SpikingSSMClassifierState(tuple(new), total, n)

    # ------------------------------------------------------------------------------------------------
    def spike_rates(self) -> torch.Tensor:
        """Mean firing rate of every block in the last call, ``[n_blocks]`` (detached; spikes per neuron and
        step). Raises before the first call."""
        rates = [b.spike_rate for b in self.blocks]
        if any(r is None for r in rates):
            raise RuntimeError("SpikingSSMClassifier: no firing rates yet; run the model (forward or step) first")
        return torch.stack(rates)

    @property
    def spike_rate(self) -> torch.Tensor:
        """Mean firing rate over all blocks in the last call (0-d tensor)."""
        return self.spike_rates().mean()

    def extra_repr(self) -> str:
        return f"decoder={self.decoder_mode!r}, time_first={self.time_first}, tokens={self.tokens}"
