r"""Non-spiking reference networks for sequence tasks, time-first ``[T, B, C] -> [T, B, K]``.

* :class:`GRUClassifier`: ``h_t = GRU(x_t, h_{t-1})``, ``z_t = W h_t + b`` (a conventional recurrent memory, an
  upper reference for memory tasks).
* :class:`StepMLP`: ``z_t = W_2 relu(W_1 x_t + b_1) + b_2`` at every step independently (no memory, a floor).
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["GRUClassifier", "StepMLP"]


class GRUClassifier(nn.Module):
    """``h_t = GRU(x_t, h_{t-1})``, logits ``z_t = W h_t + b``: ``[T, B, C] -> [T, B, K]``."""

    def __init__(self, n_inputs: int, hidden: int, n_classes: int, layers: int = 1):
        super().__init__()
        if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
            raise ValueError(f"GRUClassifier: layers must be an integer >= 1, got {layers!r}")
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
