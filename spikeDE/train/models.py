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


# ------------------------------------------------------------------------------------------------ spiking SSM
def _register_ssm():
    """The spiking state-space classifier (:class:`spikeDE.ssm.SpikingSSMClassifier`) as model ``ssm``."""
    from ..ssm import SpikingSSMClassifier

    @register_model("ssm", description="spiking fractional state-space classifier: FractionalSSM -> LIF/f-LIF "
                                       "-> GLU blocks (alpha: the SSMs' and the neurons' initial order)",
                    options={"blocks": 2, "d_state": 32, "prenorm": True, "fractional_neuron": True,
                             "dt_min": 0.01, "dt_max": 0.5, "dropout": 0.0})
    def _ssm(info, cfg, neuron, opts):
        """``[T, B, *input_shape] -> [T, B, n_classes]``: per-step logits of the decoder (the trainer's readout
        pools them). ``cfg.alpha`` (default 0.5) and ``cfg.learn_alpha`` set the order of every SSM and, with
        ``fractional_neuron``, of every neuron (f-LIF, ``cfg.method``/``cfg.memory``, default ``gl``/``soe``);
        ``alpha = 1`` with ``learn_alpha`` off is the integer-order SSM with LIF neurons."""
        for key in ("blocks", "d_state"):
            if opts[key] < 1:
                raise ConfigError(f"model 'ssm': option {key} must be >= 1, got {opts[key]}")
        alpha = 0.5 if cfg.alpha is None else cfg.alpha
        neuron_kw = None
        if opts["fractional_neuron"] and (alpha < 1.0 or cfg.learn_alpha):
            neuron_kw = {"alpha": alpha, "learn_alpha": cfg.learn_alpha, "method": cfg.method or "gl",
                         "memory": cfg.memory or "soe"}
        try:
            net = SpikingSSMClassifier(info.n_inputs, info.n_classes, d_model=cfg.hidden, n_blocks=opts["blocks"],
                                       d_state=opts["d_state"], alpha=alpha, learn_alpha=cfg.learn_alpha,
                                       neuron=neuron_kw, prenorm=opts["prenorm"], dropout=opts["dropout"],
                                       decoder="step", time_first=True,
                                       ssm_kwargs={"dt_min": opts["dt_min"], "dt_max": opts["dt_max"]})
        except (TypeError, ValueError) as e:
            raise ConfigError(f"model 'ssm': {e}") from e
        return nn.Sequential(nn.Flatten(2), net)


_register_ssm()
