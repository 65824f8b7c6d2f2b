"""Models of the ``spikede`` command: registrations of the reference networks of :mod:`spikeDE.models`.

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

* ``mlp``: :class:`spikeDE.models.SpikingMLP` (``Linear -> neuron`` repeated ``layers`` times, width ``hidden``,
  then a ``Linear`` readout of the last spikes).
* ``cnn``: :class:`spikeDE.models.SpikingCNN` (``layers`` blocks ``Conv -> neuron``, ``hidden`` channels, then a
  ``Linear`` readout; a step of ``C`` channels is read as a 1-D signal of length ``C``).
* ``gru`` / ``ann``: :class:`spikeDE.models.GRUClassifier` and :class:`spikeDE.models.StepMLP`, references that
  need no spiking neuron (a conventional recurrent memory; no memory at all).
* ``ssm``: :class:`spikeDE.models.SpikingSSMClassifier`.

:func:`wrap_spiking`, :func:`spiking_mlp` and :func:`spiking_cnn` build the wrapped spiking networks from a
task, a config and a registered neuron (other registration modules call them).
"""
from __future__ import annotations

from torch import nn

from ..models import GRUClassifier, SpikingCNN, SpikingMLP, StepMLP
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


def _neuron(neuron: str, cfg: TrainConfig, opts: dict, name: str) -> nn.Module:
    return get_neuron(neuron).build(cfg, tau=opts["tau"], threshold=opts["threshold"], learn_tau=opts["learn_tau"],
                                    name=name)


def _factory(neuron: str, cfg: TrainConfig, opts: dict):
    return lambda name: _neuron(neuron, cfg, opts, name)


def spiking_mlp(info: TaskInfo, cfg: TrainConfig, neuron: str, opts: dict) -> SNNWrapper:
    """:class:`spikeDE.models.SpikingMLP` (module names ``fc1, sn1, ..., readout``) for the task, wrapped."""
    _check_spiking_options("mlp", opts)
    net = SpikingMLP(info.n_inputs, info.n_classes, cfg.hidden, opts["layers"], _factory(neuron, cfg, opts),
                     opts["gain"])
    return wrap_spiking(net, neuron, cfg)


def spiking_cnn(info: TaskInfo, cfg: TrainConfig, neuron: str, opts: dict) -> SNNWrapper:
    """:class:`spikeDE.models.SpikingCNN` (names ``conv1, sn1, ..., readout``) for the task, wrapped."""
    _check_spiking_options("cnn", opts)
    try:
        net = SpikingCNN(info.input_shape, info.n_classes, cfg.hidden, opts["layers"], _factory(neuron, cfg, opts),
                         opts["gain"])
    except ValueError as e:
        raise ConfigError(f"model 'cnn': {e} (task {info.name!r})") from e
    return wrap_spiking(net, neuron, cfg)


@register_model("mlp", description="spiking MLP: [Linear -> neuron] x layers -> Linear readout, per step",
                neurons=True, default_neurons=("flif", "lif"), options=_SPIKING_OPTIONS)
def _mlp(info, cfg, neuron, opts):
    return spiking_mlp(info, cfg, neuron, opts)


@register_model("cnn", description="spiking CNN: [Conv (kernel 3) -> neuron] x layers -> Linear readout; a step "
                                   "of C channels is read as a 1-D signal of length C",
                neurons=True, default_neurons=("flif", "lif"), options=_SPIKING_OPTIONS)
def _cnn(info, cfg, neuron, opts):
    return spiking_cnn(info, cfg, neuron, opts)


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
    """The spiking state-space classifier (:class:`spikeDE.models.SpikingSSMClassifier`) as model ``ssm``."""
    from ..models import SpikingSSMClassifier

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
