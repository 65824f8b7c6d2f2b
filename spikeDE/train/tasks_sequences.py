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
               readouts=("last", "mean"), defaults={"model": "ssm-seq"})
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


def _ssm_common(name: str, info, cfg, opts) -> dict:
    for key in ("blocks", "d_state"):
        if opts[key] < 1:
            raise ConfigError(f"model {name!r}: option {key} must be >= 1, got {opts[key]}")
    if opts["max_length"] < 0:
        raise ConfigError(f"model {name!r}: option max_length must be >= 0 (0 = no limit), got {opts['max_length']}")
    if opts["max_length"] and info.steps > opts["max_length"]:
        raise ConfigError(f"task {info.name!r} has sequences of length {info.steps}, longer than model {name!r}'s "
                          f"max_length={opts['max_length']}; raise --model-arg max_length (nothing is truncated)")
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
    kw = _ssm_common("ssm-seq", info, cfg, opts)
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
    import numpy as np

    test_ids = np.asarray(splits["test"]).astype(np.int64)
    chance = float(np.bincount(test_ids).max()) / max(len(test_ids), 1)  # always the most frequent test token
    info = TaskInfo(name, (1,), codec.vocab_size, T, "tokens", "last", None, chance, vocab_size=codec.vocab_size,
                    objective="lm")
    return TaskData(info, train, evals["val"], evals["test"], codec=codec)


@register_task("shakespeare", description="tiny Shakespeare, next character (65 symbols; bits per character): "
                                          "$SPIKEDE_DATA/tinyshakespeare/input.txt, 90/5/5 split; one epoch = "
                                          "n_windows windows of `context` characters at seeded random offsets; "
                                          "val/test: consecutive windows (n_eval_windows: 0 = all)",
               options=dict(_LM_OPTIONS), readouts=("last",), defaults={"model": "ssm-lm"})
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
               options={**_LM_OPTIONS, "level": "word"}, readouts=("last",), defaults={"model": "ssm-lm"})
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
    kw = _ssm_common("ssm-lm", info, cfg, opts)
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


# ------------------------------------------------------------------------------------------------ files
def _subset(ds, n: int, name: str, task: str):
    """The first ``n`` items of ``ds`` (``0``: all), keeping the attributes the tasks read."""
    if n < 0:
        raise ConfigError(f"task {task!r}: option {name} must be >= 0 (0 = all), got {n}")
    if n == 0 or n >= len(ds):
        return ds
    sub = torch.utils.data.Subset(ds, range(n))
    sub.targets = torch.as_tensor(ds.targets)[:n]
    return sub


def _read(task: str, reader, splits=("train", "val", "test"), **kw) -> dict:
    """``{split: reader(split, **kw)}``; missing or malformed files become one clear :class:`ConfigError`."""
    try:
        return {s: reader(s, **kw) for s in splits}
    except FileNotFoundError as e:
        raise ConfigError(f"task {task!r}: {e}") from e
    except (ValueError, KeyError, OSError) as e:
        raise ConfigError(f"task {task!r}: malformed data file: {e}") from e


def _check_truncation(task: str, sets: dict, opts: dict) -> None:
    """A sequence longer than ``max_length`` is an error unless the task option ``truncate`` is on (then the run's
    config records it, and the run log says how many were cut)."""
    cut = {s: int(getattr(ds, "n_truncated", 0)) for s, ds in sets.items()}
    if any(cut.values()) and not opts["truncate"]:
        longest = max(int(torch.as_tensor(ds.lengths).max()) for ds in sets.values())
        raise ConfigError(f"task {task!r}: {sum(cut.values())} sequences are longer than max_length="
                          f"{opts['max_length']} (longest {longest}; per split {cut}); raise --task-arg max_length "
                          "or cut them explicitly with --task-arg truncate=true (recorded in the run's config)")


def _finish(task: str, sets: dict, opts: dict, info: TaskInfo) -> TaskData:
    train = _subset(sets["train"], opts.get("n_train", 0), "n_train", task)
    test = _subset(sets["test"], opts.get("n_test", 0), "n_test", task)
    val = _subset(sets["val"], opts.get("n_val", 0), "n_val", task)
    from dataclasses import replace
    return TaskData(replace(info, chance=_chance(test)), train, val, test)


_SIZES = {"n_train": 0, "n_val": 0, "n_test": 0}


def _mnist_task(name: str, permuted: bool):
    @register_task(name, description=f"{'permuted ' if permuted else ''}sequential MNIST (T=784 pixels, 1 channel, 10 "
                                     "classes) from the IDX files in $SPIKEDE_DATA/MNIST/raw; val carved from train",
                   options={"val_size": 5000, "seed": 0, **_SIZES}, readouts=("mean", "last"),
                   defaults={"model": "ssm-seq"})
    def build(opts, dtype):
        from ..data.smnist import sequential_mnist

        sets = _read(name, sequential_mnist, permuted=permuted, val_size=opts["val_size"], seed=opts["seed"],
                     dtype=dtype)
        return _finish(name, sets, opts, TaskInfo(name, (1,), 10, 784, "real", "mean"))
    return build


_mnist_task("smnist", False)
_mnist_task("psmnist", True)


def _token_task(name: str, reader_name: str, description: str, max_length: int, n_classes: int, vocab: int,
                pair: bool = False):
    @register_task(name, description=description, options={"max_length": max_length, "truncate": False, **_SIZES},
                   readouts=("last", "mean"), defaults={"model": "ssm-seq"})
    def build(opts, dtype):
        from ..data import lra

        if opts["max_length"] < 1:
            raise ConfigError(f"task {name!r}: option max_length must be >= 1, got {opts['max_length']}")
        sets = _read(name, getattr(lra, reader_name), max_length=opts["max_length"])
        _check_truncation(name, sets, opts)
        return _finish(name, sets, opts, TaskInfo(name, (1,), n_classes, opts["max_length"], "tokens", "last",
                                                  vocab_size=vocab, pair=pair))
    return build


_token_task("listops", "listops", "LRA ListOps from lra_release/listops-1000/basic_{train,val,test}.tsv (10 classes, "
            "token ids, padding mask; L <= max_length)", 2048, 10, 16)
_token_task("lra-text", "imdb_text", "LRA Text: IMDB reviews as UTF-8 bytes from aclImdb/{train,test}/{pos,neg} "
            "(2 classes, padding mask; L <= max_length)", 4096, 2, 257)
_token_task("lra-retrieval", "aan_retrieval", "LRA Retrieval: two AAN papers as byte sequences from lra_release/"
            "tsv_data/new_aan_pairs.*.tsv (2 classes: does one cite the other; two-sequence task)", 4000, 2, 257,
            pair=True)


@register_task("lra-image", description="LRA Image: grayscale CIFAR-10 as 1024 pixels (1 channel, 10 classes) from "
                                        "cifar-10-batches-py; val carved from the training batches",
               options={"val_size": 5000, "seed": 0, **_SIZES}, readouts=("mean", "last"),
               defaults={"model": "ssm-seq"})
def _lra_image(opts, dtype):
    from ..data.lra import cifar_image

    sets = _read("lra-image", cifar_image, val_size=opts["val_size"], seed=opts["seed"], dtype=dtype)
    return _finish("lra-image", sets, opts, TaskInfo("lra-image", (1,), 10, 1024, "real", "mean"))


def _pathfinder(name: str, opts, dtype, resolution: int):
    from ..data.lra import pathfinder

    if resolution not in (32, 64, 128):
        raise ConfigError(f"task {name!r}: option resolution must be 32, 64 or 128, got {resolution}")
    sets = _read(name, pathfinder, resolution=resolution, difficulty=opts["difficulty"], seed=opts["seed"],
                 dtype=dtype)
    return _finish(name, sets, opts, TaskInfo(name, (1,), 2, resolution * resolution, "real", "mean"))


@register_task("pathfinder", description="LRA Pathfinder: are the two dots connected (2 classes), the image as "
                                         "resolution^2 pixels (32: L=1024, 64, 128) from lra_release/pathfinder<res>/"
                                         "<difficulty>; seeded 80/10/10 split",
               options={"resolution": 32, "difficulty": "hard", "seed": 0, **_SIZES}, readouts=("mean", "last"),
               defaults={"model": "ssm-seq"})
def _pathfinder32(opts, dtype):
    return _pathfinder("pathfinder", opts, dtype, opts["resolution"])


@register_task("pathx", description="LRA Path-X: Pathfinder at 128x128 (L=16384) from lra_release/pathfinder128",
               options={"difficulty": "hard", "seed": 0, **_SIZES}, readouts=("mean", "last"),
               defaults={"model": "ssm-seq"})
def _pathx(opts, dtype):
    return _pathfinder("pathx", opts, dtype, 128)


@register_task("speech-commands", description="Speech Commands v0.02 keyword spotting, raw 16 kHz waveform (L=16000) "
                                              "or downsampled by an integer factor; subset sc35 (35 classes) or sc10",
               options={"subset": "sc35", "downsample": 1, **_SIZES}, readouts=("mean", "last"),
               defaults={"model": "ssm-seq"})
def _speech_commands(opts, dtype):
    from ..data.speech_commands import speech_commands

    if opts["subset"] not in ("sc35", "sc10"):
        raise ConfigError(f"task 'speech-commands': option subset must be sc35 or sc10, got {opts['subset']!r}")
    sets = _read("speech-commands", speech_commands, subset=opts["subset"], downsample=opts["downsample"],
                 dtype=dtype)
    n = len(sets["train"].classes)
    return _finish("speech-commands", sets, opts,
                   TaskInfo("speech-commands", (1,), n, 16000 // opts["downsample"], "real", "mean"))
