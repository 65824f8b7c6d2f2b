r"""Long-sequence tasks and models of the ``spikede`` command: the offline ListOps, language modelling, the
sequence benchmarks read from files (sMNIST, LRA, Speech Commands) and the state-space models that train on
them.

Models (``--model``):

* ``ssm-seq``: :class:`spikeDE.models.ssm_seq.SSMSequenceClassifier` (token or feature sequences, padding
  masks, masked mean pooling, two-sequence tasks). Options: ``blocks``, ``d_state``, ``spiking`` (LoongSpike
  blocks, or non-spiking SSM blocks of the same size), ``fractional_neuron`` (f-LIF neurons with the run's
  ``alpha`` / ``learn_alpha``; off: LIF), ``pool``, ``prenorm``, ``dropout``, ``dt_min``, ``dt_max``,
  ``max_length`` (0: no limit; longer inputs are an error). ``cfg.alpha`` (default 0.5) is the initial order
  of every SSM (and neuron); ``--alpha 1 --no-learn-alpha`` is the integer-order SSM with LIF neurons.
* ``ssm-lm``: :class:`spikeDE.models.ssm_lm.SSMLanguageModel` for the ``lm`` tasks (same options, no pooling).

The wrapped models take the trainer's time-first batches (ids as floats ``[T, B]``, features ``[T, B, C]``,
pairs ``[2, B, L]``) and return ``[1, B, K]`` (classifiers: one pooled score per sequence, so the ``last``
and ``mean`` readouts agree) or ``[T, B, V]`` (language models).
"""
from __future__ import annotations

import torch
from torch import nn

from ..data.listops import listops_generated
from .config import ConfigError
from .registry import TaskData, TaskInfo, register_model, register_task

__all__ = ["TimeFirstClassifier", "TimeFirstLM"]


# ------------------------------------------------------------------------------------------------ helpers
def _chance(ds) -> float:
    y = torch.as_tensor(ds.targets)
    return float(torch.bincount(y).max()) / max(len(y), 1)


def _err(task: str, e: Exception) -> ConfigError:
    return ConfigError(f"task {task!r}: {e}")


# ------------------------------------------------------------------------------------------------ ListOps
@register_task("listops-gen", description="ListOps generated offline by the LRA procedure (MAX/MIN/MED/SM, depth "
                                          "<= 10, <= 10 args, 10 classes), lengths in (min_length, max_length), "
                                          "token ids with padding; no files",
               options={"min_length": 100, "max_length": 500, "n_train": 1000, "n_val": 200, "n_test": 500,
                        "max_depth": 10, "max_args": 10, "data_seed": 0},
               readouts=("last", "mean"), default_model="ssm-seq")
def _listops_gen(opts, dtype):
    try:
        sets = listops_generated((opts["n_train"], opts["n_val"], opts["n_test"]), min_length=opts["min_length"],
                                 max_length=opts["max_length"], max_depth=opts["max_depth"],
                                 max_args=opts["max_args"], seed=opts["data_seed"])
    except ValueError as e:
        raise _err("listops-gen", e) from e
    L = sets["train"].tokens.shape[1]
    info = TaskInfo("listops-gen", (1,), 10, L, "tokens", "last", None, _chance(sets["test"]), vocab_size=16)
    return TaskData(info, sets["train"], sets["val"], sets["test"])


# ------------------------------------------------------------------------------------------------ models
class TimeFirstClassifier(nn.Module):
    """Adapter for the trainer: time-first batch -> batch-first ``net`` -> logits ``[1, B, K]``."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(0, 1)).unsqueeze(0)


class TimeFirstLM(nn.Module):
    """Adapter for the trainer: ids ``[T, B]`` -> next-token logits ``[T, B, V]``; ``lm`` is the language model."""

    def __init__(self, lm: nn.Module):
        super().__init__()
        self.lm = lm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lm(x.transpose(0, 1)).transpose(0, 1)


_SSM_OPTIONS = {"blocks": 2, "d_state": 32, "spiking": True, "fractional_neuron": True, "prenorm": True,
                "dropout": 0.0, "dt_min": 0.001, "dt_max": 0.1, "max_length": 0}


def _ssm_common(name: str, cfg, opts) -> dict:
    for key in ("blocks", "d_state"):
        if opts[key] < 1:
            raise ConfigError(f"model {name!r}: option {key} must be >= 1, got {opts[key]}")
    if opts["max_length"] < 0:
        raise ConfigError(f"model {name!r}: option max_length must be >= 0 (0 = no limit), got {opts['max_length']}")
    alpha = 0.5 if cfg.alpha is None else cfg.alpha
    neuron = None
    if opts["spiking"] and opts["fractional_neuron"] and (alpha < 1.0 or cfg.learn_alpha):
        neuron = {"alpha": alpha, "learn_alpha": cfg.learn_alpha, "method": cfg.method or "gl",
                  "memory": cfg.memory or "soe"}
    return dict(d_model=cfg.hidden, n_blocks=opts["blocks"], d_state=opts["d_state"], alpha=alpha,
                learn_alpha=cfg.learn_alpha, spiking=opts["spiking"], neuron=neuron, prenorm=opts["prenorm"],
                dropout=opts["dropout"], max_length=opts["max_length"] or None,
                ssm_kwargs={"dt_min": opts["dt_min"], "dt_max": opts["dt_max"]})


@register_model("ssm-seq", description="(spiking) state-space sequence classifier for token or feature sequences: "
                                       "embedding -> LoongSpike (or non-spiking SSM) blocks -> masked mean pool",
                options={**_SSM_OPTIONS, "pool": "mean"})
def _ssm_seq(info, cfg, neuron, opts):
    from ..models.ssm_seq import SSMSequenceClassifier

    if info.objective != "classify":
        raise ConfigError(f"model 'ssm-seq' classifies sequences; task {info.name!r} is a {info.objective!r} task "
                          "(use --model ssm-lm)")
    kw = _ssm_common("ssm-seq", cfg, opts)
    try:
        net = SSMSequenceClassifier(info.n_inputs, info.n_classes, vocab_size=info.vocab_size or None,
                                    pool=opts["pool"], pair=info.pair, **kw)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"model 'ssm-seq': {e}") from e
    return TimeFirstClassifier(net)
