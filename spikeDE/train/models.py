"""Models of the ``spikede`` command.

Spiking models (one arm per neuron, :mod:`spikeDE.train.neurons`), run through :class:`spikeDE.SNNWrapper`
(the network sees the sequence folded into the batch, ``[T*B, ...]``; every neuron layer runs its whole
recurrence in one fused kernel):

Options of both (``--model-arg KEY=VALUE``): ``layers`` (2), ``tau`` (2.0) and ``threshold`` (1.0) of every
neuron, ``learn_tau`` (false; one learnable time constant per layer), ``gain`` (4.0): the hidden ``Linear`` /
``Conv`` layers start from PyTorch's default initialisation times ``gain``, so that sparse spike inputs reach the
threshold (with ``gain = 1`` a network of threshold-1 neurons on the embedded tasks barely fires and does not
learn).

Every neuron layer is made by the arm's neuron factory as ``build(cfg, tau=..., threshold=..., learn_tau=...,
name="sn1")`` (a factory registered by the user should accept these keywords).

* ``mlp``: ``Linear -> neuron`` repeated ``layers`` times (width ``hidden``), then a ``Linear`` readout of the
  last spikes: per-step logits ``z_t = W s_t + b``. No recurrent weights: whatever the network remembers is in
  the membranes (exponential forgetting for ``lif``, power-law memory for ``flif``).
* ``cnn``: ``layers`` blocks ``Conv -> neuron`` (``hidden`` channels, kernel 3, zero padding 1), then a
  ``Linear`` readout of the flattened spikes. One time step of input of shape ``(C,)`` (the embedded
  sequence tasks) is read as a 1-channel 1-D signal of length ``C`` (a digit row of 8 pixels, the 17
  channels of the delay task; ``Conv1d``); ``(C, L)`` as ``C`` channels of length ``L`` (``Conv1d``);
  ``(C, H, W)`` as an image (``Conv2d``, with ``2x2`` max pooling of the spikes after each block while the
  map is at least ``4x4``).

Reference models that need no spiking neuron: a GRU (a conventional recurrent network, an upper reference
for memory tasks) and a per-step MLP (no memory at all, a floor).
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..wrapper import SNNWrapper
from . import neurons as _builtin_neurons  # noqa: F401  (registers lif, flif, multiterm)
from .config import ConfigError, TrainConfig
from .registry import TaskInfo, get_neuron, register_model

__all__ = ["GRUClassifier", "StepMLP", "spiking_mlp", "spiking_cnn", "wrap_spiking"]

_SPIKING_OPTIONS = {"layers": 2, "tau": 2.0, "threshold": 1.0, "gain": 4.0, "learn_tau": False}


def wrap_spiking(base: nn.Module, neuron: str, cfg: TrainConfig) -> SNNWrapper:
    """``SNNWrapper(base, **dynamics(cfg))`` with the time stepping of the registered ``neuron`` (integer order
    for a neuron registered without ``dynamics``)."""
    spec = get_neuron(neuron)
    kw = spec.dynamics(cfg) if spec.dynamics is not None else {"integrator": "odeint"}
    try:
        return SNNWrapper(base, **kw)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"neuron {neuron!r}: {e}") from e


def _check_spiking_options(name: str, opts: dict) -> None:
    if opts["layers"] < 1:
        raise ConfigError(f"model {name!r}: option layers must be >= 1, got {opts['layers']}")
    for key in ("tau", "threshold", "gain"):
        if not opts[key] > 0:
            raise ConfigError(f"model {name!r}: option {key} must be > 0, got {opts[key]}")


def _scaled(layer: nn.Module, gain: float) -> nn.Module:
    """``layer`` with its (PyTorch default, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``) weights and bias times ``gain``."""
    with torch.no_grad():
        layer.weight.mul_(gain)
        if layer.bias is not None:
            layer.bias.mul_(gain)
    return layer


def _neuron(neuron: str, cfg: TrainConfig, opts: dict, name: str) -> nn.Module:
    return get_neuron(neuron).build(cfg, tau=opts["tau"], threshold=opts["threshold"], learn_tau=opts["learn_tau"],
                                    name=name)


def spiking_mlp(info: TaskInfo, cfg: TrainConfig, neuron: str, opts: dict) -> SNNWrapper:
    """``[Linear -> neuron] x layers -> Linear`` (module names ``fc1, sn1, ..., readout``), wrapped."""
    _check_spiking_options("mlp", opts)
    mods, width = OrderedDict(flatten=nn.Flatten(1)), info.n_inputs
    for i in range(1, opts["layers"] + 1):
        mods[f"fc{i}"] = _scaled(nn.Linear(width, cfg.hidden), opts["gain"])
        mods[f"sn{i}"] = _neuron(neuron, cfg, opts, f"sn{i}")
        width = cfg.hidden
    mods["readout"] = nn.Linear(width, info.n_classes)
    return wrap_spiking(nn.Sequential(mods), neuron, cfg)


def spiking_cnn(info: TaskInfo, cfg: TrainConfig, neuron: str, opts: dict) -> SNNWrapper:
    """``[Conv -> neuron (-> max pool)] x layers -> Linear`` (names ``conv1, sn1, ..., readout``), wrapped."""
    _check_spiking_options("cnn", opts)
    shape = tuple(int(s) for s in info.input_shape)
    mods = OrderedDict()
    if len(shape) == 1:
        mods["unsqueeze"] = nn.Unflatten(1, (1, shape[0]))
        in_ch, spatial, conv, pool = 1, [shape[0]], nn.Conv1d, None
    elif len(shape) == 2:
        in_ch, spatial, conv, pool = shape[0], [shape[1]], nn.Conv1d, None
    elif len(shape) == 3:
        in_ch, spatial, conv, pool = shape[0], list(shape[1:]), nn.Conv2d, nn.MaxPool2d
    else:
        raise ConfigError(f"model 'cnn' takes steps of shape (C,), (C, L) or (C, H, W); task {info.name!r} has "
                          f"{shape}")
    for i in range(1, opts["layers"] + 1):
        mods[f"conv{i}"] = _scaled(conv(in_ch, cfg.hidden, kernel_size=3, padding=1), opts["gain"])
        mods[f"sn{i}"] = _neuron(neuron, cfg, opts, f"sn{i}")
        in_ch = cfg.hidden
        if pool is not None and min(spatial) >= 4:
            mods[f"pool{i}"] = pool(2)
            spatial = [s // 2 for s in spatial]
    mods["flatten"] = nn.Flatten(1)
    n = in_ch
    for s in spatial:
        n *= s
    mods["readout"] = nn.Linear(n, info.n_classes)
    return wrap_spiking(nn.Sequential(mods), neuron, cfg)


@register_model("mlp", description="spiking MLP: [Linear -> neuron] x layers -> Linear readout, per step",
                neurons=True, default_neurons=("flif", "lif"), options=_SPIKING_OPTIONS)
def _mlp(info, cfg, neuron, opts):
    return spiking_mlp(info, cfg, neuron, opts)


@register_model("cnn", description="spiking CNN: [Conv (kernel 3) -> neuron] x layers -> Linear readout; a step "
                                   "of C channels is read as a 1-D signal of length C",
                neurons=True, default_neurons=("flif", "lif"), options=_SPIKING_OPTIONS)
def _cnn(info, cfg, neuron, opts):
    return spiking_cnn(info, cfg, neuron, opts)


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
