r"""Spiking vision networks for event frames: a VGG-style CNN, a SEW-ResNet and a Spikformer.

Each is a plain ``nn.Module`` over **one time step folded into the batch**: it maps ``[N, C, H, W]`` (``N = T B``)
to per-step logits ``[N, K]``. Wrapped in :class:`spikeDE.SNNWrapper` (multi-step mode) it takes event frames
``[T, B, C, H, W]`` and returns ``[T, B, K]``; the wrapper runs every neuron layer over the whole sequence in its
fused kernel. The neurons come from ``make_neuron(name) -> nn.Module`` (a spikeDE neuron layer such as
:class:`spikeDE.LIFNeuron`), so the same network runs LIF, fractional LIF or multi-term neurons: the wrapper's
``integrator`` / ``alpha`` settings choose the dynamics. BatchNorm in training normalises over time and batch
together.

* :class:`SpikingVGG`: ``[Conv3x3 -> BN -> neuron -> MaxPool2] x blocks -> Flatten -> Linear``; the channels
  double after the first block up to ``4 * width``.
* :class:`SEWResNet`: stem ``Conv3x3 -> BN -> neuron``; per stage a downsampling ``Conv3x3/2 -> BN -> neuron``
  and ``blocks_per_stage`` spike-element-wise residual blocks ``s <- s + SN(BN(Conv(SN(BN(Conv(s))))))``
  (the ADD connection of Fang et al. 2021: identity mapping of spikes); global average pool -> Linear.
* :class:`Spikformer`: spiking patch splitting (``Conv -> BN -> neuron -> MaxPool2`` per halving, then a
  ``Conv -> BN -> neuron`` relative position embedding added to the patches), ``depth`` encoder blocks of
  spiking self-attention without softmax ``SSA(s) = SN(W_o SN(scale * Q K^T V))`` with
  ``Q, K, V = SN(BN(W_{q,k,v} s))`` (spike matrices, so ``Q K^T`` is a non-negative integer count) and a spiking
  MLP, each with a residual connection; tokens are averaged and read out by a Linear layer.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import torch
from torch import nn

__all__ = ["SpikingVGG", "SEWResNet", "Spikformer", "NeuronFactory"]

NeuronFactory = Callable[[str], nn.Module]


def _pair(size) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


def _check(name, **values):
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}: {k} must be an int >= 1, got {v!r}")


class SpikingVGG(nn.Module):
    """``[Conv3x3 -> BN -> neuron -> MaxPool2] x blocks -> Flatten -> Linear``: ``[N, C, H, W] -> [N, K]``.

    Args: ``in_channels`` (2 for ON/OFF frames), ``n_classes``, ``input_size`` (``H`` or ``(H, W)``),
    ``make_neuron``, ``width`` (channels of block 1; doubled after it, at most ``4 width``), ``blocks``
    (each halves the map while it is at least 2x2), ``dropout`` before the readout."""

    def __init__(self, in_channels: int, n_classes: int, input_size, make_neuron: NeuronFactory, width: int = 16,
                 blocks: int = 3, dropout: float = 0.0):
        super().__init__()
        _check("SpikingVGG", in_channels=in_channels, n_classes=n_classes, width=width, blocks=blocks)
        h, w = _pair(input_size)
        mods, c = OrderedDict(), in_channels
        for i in range(1, blocks + 1):
            out = width * min(2 ** (i - 1), 4) if i > 1 else width
            mods[f"conv{i}"] = nn.Conv2d(c, out, 3, padding=1, bias=False)
            mods[f"bn{i}"] = nn.BatchNorm2d(out)
            mods[f"sn{i}"] = make_neuron(f"sn{i}")
            if min(h, w) >= 2:
                mods[f"pool{i}"] = nn.MaxPool2d(2)
                h, w = h // 2, w // 2
            c = out
        mods["flatten"] = nn.Flatten(1)
        if dropout > 0:
            mods["dropout"] = nn.Dropout(dropout)
        mods["readout"] = nn.Linear(c * h * w, n_classes)
        self.net = nn.Sequential(mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _SEWBlock(nn.Module):
    def __init__(self, c: int, make_neuron: NeuronFactory, name: str):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.sn1 = make_neuron(f"{name}.sn1")
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.sn2 = make_neuron(f"{name}.sn2")

    def forward(self, s):
        return s + self.sn2(self.bn2(self.conv2(self.sn1(self.bn1(self.conv1(s))))))


class SEWResNet(nn.Module):
    """Spike-element-wise residual network (ADD connections): ``[N, C, H, W] -> [N, K]``.

    Args: ``width`` (stem channels; each of the ``stages`` downsamples by 2 and doubles the channels),
    ``blocks_per_stage`` residual blocks per stage."""

    def __init__(self, in_channels: int, n_classes: int, input_size, make_neuron: NeuronFactory, width: int = 16,
                 stages: int = 2, blocks_per_stage: int = 1):
        super().__init__()
        _check("SEWResNet", in_channels=in_channels, n_classes=n_classes, width=width, stages=stages,
               blocks_per_stage=blocks_per_stage)
        self.stem = nn.Sequential(OrderedDict(conv=nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
                                              bn=nn.BatchNorm2d(width), sn=make_neuron("stem.sn")))
        layers, c = [], width
        for i in range(1, stages + 1):
            out = c * 2 if i > 1 else c
            layers.append(nn.Sequential(OrderedDict(
                conv=nn.Conv2d(c, out, 3, stride=2, padding=1, bias=False), bn=nn.BatchNorm2d(out),
                sn=make_neuron(f"stage{i}.down.sn"))))
            layers.extend(_SEWBlock(out, make_neuron, f"stage{i}.block{j}") for j in range(1, blocks_per_stage + 1))
            c = out
        self.body = nn.Sequential(*layers)
        self.readout = nn.Linear(c, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.body(self.stem(x))
        return self.readout(s.mean((2, 3)))


class _TokenBN(nn.Module):
    """BatchNorm1d over the feature axis of tokens ``[N, L, D]``."""

    def __init__(self, d):
        super().__init__()
        self.bn = nn.BatchNorm1d(d)

    def forward(self, x):
        return self.bn(x.transpose(1, 2)).transpose(1, 2)


class _SSA(nn.Module):
    def __init__(self, d, heads, make_neuron, name, scale):
        super().__init__()
        self.heads, self.scale = heads, scale
        for k in ("q", "k", "v"):
            setattr(self, f"{k}_proj", nn.Linear(d, d, bias=False))
            setattr(self, f"{k}_bn", _TokenBN(d))
            setattr(self, f"{k}_sn", make_neuron(f"{name}.{k}_sn"))
        self.attn_sn = make_neuron(f"{name}.attn_sn")
        self.out_proj, self.out_bn = nn.Linear(d, d), _TokenBN(d)
        self.out_sn = make_neuron(f"{name}.out_sn")

    def forward(self, s):                                       # s: [N, L, D] spikes
        N, L, D = s.shape
        h = self.heads

        def split(t):
            return t.reshape(N, L, h, D // h).transpose(1, 2)      # [N, h, L, D/h]

        q = split(self.q_sn(self.q_bn(self.q_proj(s))))
        k = split(self.k_sn(self.k_bn(self.k_proj(s))))
        v = split(self.v_sn(self.v_bn(self.v_proj(s))))
        a = (q @ k.transpose(-2, -1)) @ v * self.scale           # no softmax: spike counts, linear in V
        a = self.attn_sn(a.transpose(1, 2).reshape(N, L, D))
        return self.out_sn(self.out_bn(self.out_proj(a)))


class _SpikingMLP(nn.Module):
    def __init__(self, d, hidden, make_neuron, name):
        super().__init__()
        self.fc1, self.bn1, self.sn1 = nn.Linear(d, hidden), _TokenBN(hidden), make_neuron(f"{name}.sn1")
        self.fc2, self.bn2, self.sn2 = nn.Linear(hidden, d), _TokenBN(d), make_neuron(f"{name}.sn2")

    def forward(self, s):
        return self.sn2(self.bn2(self.fc2(self.sn1(self.bn1(self.fc1(s))))))


class _EncoderBlock(nn.Module):
    def __init__(self, d, heads, mlp_ratio, make_neuron, name, scale):
        super().__init__()
        self.attn = _SSA(d, heads, make_neuron, f"{name}.attn", scale)
        self.mlp = _SpikingMLP(d, d * mlp_ratio, make_neuron, f"{name}.mlp")

    def forward(self, s):
        s = s + self.attn(s)
        return s + self.mlp(s)


class Spikformer(nn.Module):
    """Spiking transformer: ``[N, C, H, W] -> [N, K]`` (module doc).

    Args: ``dim`` (token width, divisible by ``heads``), ``depth`` (encoder blocks), ``patch`` (the patch
    splitting halves the map ``log2(patch)`` times: ``ceil(H / patch) ceil(W / patch)`` tokens; the input is
    zero-padded at the right and bottom to a multiple of ``patch``), ``mlp_ratio``,
    ``scale`` of the attention product (0.125 as in Spikformer)."""

    def __init__(self, in_channels: int, n_classes: int, input_size, make_neuron: NeuronFactory, dim: int = 64,
                 heads: int = 4, depth: int = 1, patch: int = 4, mlp_ratio: int = 2, scale: float = 0.125):
        super().__init__()
        _check("Spikformer", in_channels=in_channels, n_classes=n_classes, dim=dim, heads=heads, depth=depth,
               patch=patch, mlp_ratio=mlp_ratio)
        if dim % heads:
            raise ValueError(f"Spikformer: dim ({dim}) must be divisible by heads ({heads})")
        if patch & (patch - 1):
            raise ValueError(f"Spikformer: patch must be a power of 2, got {patch}")
        h, w = _pair(input_size)
        self.pad = (0, -w % patch, 0, -h % patch)                 # zero-pad right / bottom to a multiple of patch
        n_halvings = patch.bit_length() - 1
        mods, c = OrderedDict(), in_channels
        widths = [max(dim // 2 ** (n_halvings - i), 1) for i in range(1, n_halvings + 1)] or [dim]
        for i, out in enumerate(widths if n_halvings else [dim], 1):
            mods[f"conv{i}"] = nn.Conv2d(c, out, 3, padding=1, bias=False)
            mods[f"bn{i}"] = nn.BatchNorm2d(out)
            mods[f"sn{i}"] = make_neuron(f"sps.sn{i}")
            if i <= n_halvings:
                mods[f"pool{i}"] = nn.MaxPool2d(2)
            c = out
        if c != dim:
            mods["proj"] = nn.Conv2d(c, dim, 1, bias=False)
        self.sps = nn.Sequential(mods)
        self.rpe = nn.Sequential(OrderedDict(conv=nn.Conv2d(dim, dim, 3, padding=1, bias=False),
                                             bn=nn.BatchNorm2d(dim), sn=make_neuron("sps.rpe_sn")))
        self.blocks = nn.Sequential(*(_EncoderBlock(dim, heads, mlp_ratio, make_neuron, f"block{i}", scale)
                                      for i in range(1, depth + 1)))
        self.readout = nn.Linear(dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.pad):
            x = nn.functional.pad(x, self.pad)
        p = self.sps(x)
        p = p + self.rpe(p)
        s = self.blocks(p.flatten(2).transpose(1, 2))             # tokens [N, L, D]
        return self.readout(s.mean(1))
