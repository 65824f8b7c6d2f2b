"""Reference models of the ``spikede`` command that need no spiking neuron: a GRU (a conventional recurrent
network, an upper reference for memory tasks) and a per-step MLP (no memory at all, a floor)."""
from __future__ import annotations

import torch
from torch import nn

from .config import ConfigError
from .registry import register_model

__all__ = ["GRUClassifier", "StepMLP"]


class GRUClassifier(nn.Module):
    """``h_t = GRU(x_t, h_{t-1})``, logits ``z_t = W h_t + b``: ``[T, B, C] -> [T, B, K]``."""

    def __init__(self, n_inputs: int, hidden: int, n_classes: int, layers: int = 1):
        super().__init__()
        self.rnn = nn.GRU(n_inputs, hidden, num_layers=layers)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(x.flatten(2))
        return self.out(h)


class StepMLP(nn.Module):
    """``z_t = W_2 relu(W_1 x_t + b_1) + b_2`` at every step independently: ``[T, B, C] -> [T, B, K]``."""

    def __init__(self, n_inputs: int, hidden: int, n_classes: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_inputs, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(2))


@register_model("gru", description="non-spiking GRU reference (conventional recurrent memory)", options={"layers": 1})
def _gru(info, cfg, neuron, opts):
    if opts["layers"] < 1:
        raise ConfigError(f"model 'gru': option layers must be >= 1, got {opts['layers']}")
    return GRUClassifier(info.n_inputs, cfg.hidden, info.n_classes, layers=opts["layers"])


@register_model("ann", description="non-spiking per-step MLP without memory (a floor for memory tasks)")
def _ann(info, cfg, neuron, opts):
    return StepMLP(info.n_inputs, cfg.hidden, info.n_classes)
