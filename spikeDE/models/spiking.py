r"""Spiking reference networks: an MLP and a CNN of spikeDE neurons, per time step, with a linear readout.

Both are ``nn.Sequential`` networks of one time step (``[N, ...] -> [N, n_classes]``); run a sequence through
:class:`spikeDE.SNNWrapper`, which folds time into the batch and lets every neuron layer run its whole
recurrence. Neuron layers are made by ``neuron(name)`` (a factory: ``name`` is ``"sn1"``, ``"sn2"``, ...;
default :class:`spikeDE.LIFNeuron`). The hidden ``Linear``/``Conv`` layers start from PyTorch's default
initialisation times ``gain``, so that sparse spike inputs reach a threshold of 1.

* :class:`SpikingMLP`: ``[Linear -> neuron] x layers -> Linear`` (modules ``flatten, fc1, sn1, ..., readout``);
  per-step logits ``z_t = W s_t + b`` of the last spikes. No recurrent weights: whatever the network
  remembers is in the membranes.
* :class:`SpikingCNN`: ``[Conv (kernel 3, padding 1) -> neuron (-> 2x2 max pool)] x layers -> Linear``. A step
  of shape ``(C,)`` is read as a 1-channel 1-D signal of length ``C`` (``Conv1d``), ``(C, L)`` as ``C`` channels
  (``Conv1d``), ``(C, H, W)`` as an image (``Conv2d``, pooled after each block while the map is at least 4x4).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import torch
from torch import nn

from ..neuron import LIFNeuron

__all__ = ["SpikingMLP", "SpikingCNN", "scaled"]

NeuronFactory = Callable[[str], nn.Module]


def _default_neuron(name: str) -> nn.Module:
    return LIFNeuron()


def scaled(layer: nn.Module, gain: float) -> nn.Module:
    """``layer`` with its (PyTorch default, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``) weights and bias times ``gain``."""
    with torch.no_grad():
        layer.weight.mul_(gain)
        if layer.bias is not None:
            layer.bias.mul_(gain)
    return layer


def _check(where: str, layers: int, hidden: int, gain: float) -> None:
    for name, v in (("layers", layers), ("hidden", hidden)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{where}: {name} must be an integer >= 1, got {v!r}")
    if not gain > 0:
        raise ValueError(f"{where}: gain must be > 0, got {gain!r}")


class SpikingMLP(nn.Sequential):
    """``[Linear -> neuron] x layers -> Linear`` on one time step (see the module docstring).

    Args:
        n_inputs: features of one step (the input is flattened from dimension 1).
        n_classes: outputs of the readout.
        hidden: width of every hidden layer. layers: number of ``Linear -> neuron`` blocks.
        neuron: factory ``neuron(name) -> nn.Module`` of the neuron layers (default ``LIFNeuron()``).
        gain: scale of the hidden layers' initial weights.
    """

    def __init__(self, n_inputs: int, n_classes: int, hidden: int = 64, layers: int = 2,
                 neuron: NeuronFactory | None = None, gain: float = 4.0):
        _check("SpikingMLP", layers, hidden, gain)
        make = neuron or _default_neuron
        mods, width = OrderedDict(flatten=nn.Flatten(1)), int(n_inputs)
        for i in range(1, layers + 1):
            mods[f"fc{i}"] = scaled(nn.Linear(width, hidden), gain)
            mods[f"sn{i}"] = make(f"sn{i}")
            width = hidden
        mods["readout"] = nn.Linear(width, n_classes)
        super().__init__(mods)


class SpikingCNN(nn.Sequential):
    """``[Conv -> neuron (-> max pool)] x layers -> Linear`` on one time step (see the module docstring).

    Args:
        input_shape: shape of one step without the batch: ``(C,)``, ``(C, L)`` or ``(C, H, W)``.
        n_classes, hidden (channels), layers, neuron, gain: as :class:`SpikingMLP`.
    """

    def __init__(self, input_shape, n_classes: int, hidden: int = 64, layers: int = 2,
                 neuron: NeuronFactory | None = None, gain: float = 4.0):
        _check("SpikingCNN", layers, hidden, gain)
        make = neuron or _default_neuron
        shape = tuple(int(s) for s in input_shape)
        mods = OrderedDict()
        if len(shape) == 1:
            mods["unsqueeze"] = nn.Unflatten(1, (1, shape[0]))
            in_ch, spatial, conv, pool = 1, [shape[0]], nn.Conv1d, None
        elif len(shape) == 2:
            in_ch, spatial, conv, pool = shape[0], [shape[1]], nn.Conv1d, None
        elif len(shape) == 3:
            in_ch, spatial, conv, pool = shape[0], list(shape[1:]), nn.Conv2d, nn.MaxPool2d
        else:
            raise ValueError(f"SpikingCNN takes steps of shape (C,), (C, L) or (C, H, W); got input_shape {shape}")
        for i in range(1, layers + 1):
            mods[f"conv{i}"] = scaled(conv(in_ch, hidden, kernel_size=3, padding=1), gain)
            mods[f"sn{i}"] = make(f"sn{i}")
            in_ch = hidden
            if pool is not None and min(spatial) >= 4:
                mods[f"pool{i}"] = pool(2)
                spatial = [s // 2 for s in spatial]
        mods["flatten"] = nn.Flatten(1)
        n = in_ch
        for s in spatial:
            n *= s
        mods["readout"] = nn.Linear(n, n_classes)
        super().__init__(mods)
