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


# ------------------------------------------------------------------------------------------------ language models
_LM_OPTIONS = {"context": 128, "n_windows": 8192, "n_eval_windows": 0, "data_seed": 0}


def _lm_data(name: str, codec, splits: dict, opts: dict, unit: str) -> TaskData:
    from ..data.text import LMWindows

    for key in ("context", "n_windows"):
        if opts[key] < 1:
            raise ConfigError(f"task {name!r}: option {key} must be >= 1, got {opts[key]}")
    if opts["n_eval_windows"] < 0:
        raise ConfigError(f"task {name!r}: option n_eval_windows must be >= 0 (0 = the whole split), got "
                          f"{opts['n_eval_windows']}")
    T = opts["context"]
    try:
        train = LMWindows(splits["train"], T, n_windows=opts["n_windows"], seed=opts["data_seed"])
        evals = {s: LMWindows(splits[s], T) for s in ("val", "test")}
    except ValueError as e:
        raise _err(name, e) from e
    if opts["n_eval_windows"]:
        for ds in evals.values():
            ds.offsets = ds.offsets[:opts["n_eval_windows"]]
    info = TaskInfo(name, (1,), codec.vocab_size, T, "tokens", "last", None, 0.0, vocab_size=codec.vocab_size,
                    objective="lm")
    return TaskData(info, train, evals["val"], evals["test"], codec=codec)


@register_task("shakespeare", description="tiny Shakespeare, next character (65 symbols; bits per character): "
                                          "$SPIKEDE_DATA/tinyshakespeare/input.txt, 90/5/5 split; one epoch = "
                                          "n_windows windows of `context` characters at seeded random offsets; "
                                          "val/test: consecutive windows (n_eval_windows: 0 = all)",
               options=dict(_LM_OPTIONS), readouts=("last",), default_model="ssm-lm")
def _shakespeare(opts, dtype):
    from ..data.text import tiny_shakespeare

    try:
        codec, splits = tiny_shakespeare()
    except (FileNotFoundError, ValueError) as e:
        raise _err("shakespeare", e) from e
    return _lm_data("shakespeare", codec, splits, opts, "character")


@register_task("wikitext103", description="WikiText-103 next token ($SPIKEDE_DATA/wikitext-103/wiki.{train,valid,"
                                          "test}.tokens): level=word (standard vocabulary, perplexity) or byte "
                                          "(bits per byte); one epoch = n_windows windows of `context` tokens",
               options={**_LM_OPTIONS, "level": "word"}, readouts=("last",), default_model="ssm-lm")
def _wikitext103(opts, dtype):
    from ..data.text import wikitext103

    try:
        codec, splits = wikitext103(level=opts["level"])
    except (FileNotFoundError, ValueError) as e:
        raise _err("wikitext103", e) from e
    return _lm_data("wikitext103", codec, splits, opts, opts["level"])


@register_model("ssm-lm", description="causal (spiking) state-space language model: embedding -> LoongSpike (or "
                                      "non-spiking SSM) blocks -> output head; streams token by token",
                options={**_SSM_OPTIONS, "tie_weights": False})
def _ssm_lm(info, cfg, neuron, opts):
    from ..models.ssm_lm import SSMLanguageModel

    if info.objective != "lm":
        raise ConfigError(f"model 'ssm-lm' is a language model; task {info.name!r} is a {info.objective!r} task "
                          "(use --model ssm-seq)")
    kw = _ssm_common("ssm-lm", cfg, opts)
    try:
        lm = SSMLanguageModel(info.vocab_size, tie_weights=opts["tie_weights"], **kw)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"model 'ssm-lm': {e}") from e
    return TimeFirstLM(lm)


@register_model("gru-lm", description="non-spiking GRU language model (reference)", options={"layers": 1})
def _gru_lm(info, cfg, neuron, opts):
    from ..models.rnn_lm import GRULanguageModel

    if info.objective != "lm":
        raise ConfigError(f"model 'gru-lm' is a language model; task {info.name!r} is not a language-model task")
    if opts["layers"] < 1:
        raise ConfigError(f"model 'gru-lm': option layers must be >= 1, got {opts['layers']}")
    return TimeFirstLM(GRULanguageModel(info.vocab_size, cfg.hidden, opts["layers"]))
