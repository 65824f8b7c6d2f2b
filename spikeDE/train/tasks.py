"""The embedded tasks of the ``spikede`` command (no download): sequential digits and delayed cue recall."""
from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from ..data.delay import delay_task, delay_task_shape
from ..data.digits import sequential_digits
from .config import ConfigError
from .registry import TaskData, TaskInfo, register_task

__all__ = []


def _subset(ds: TensorDataset, n: int, name: str) -> TensorDataset:
    if n < 0:
        raise ConfigError(f"task option {name} must be >= 0 (0 = all), got {n}")
    if n == 0 or n >= len(ds):
        return ds
    return TensorDataset(*(t[:n] for t in ds.tensors))


def _digits(mode: str, permuted: bool, opts: dict, dtype, name: str) -> TaskData:
    kw = dict(mode=mode, permuted=permuted, seed=opts["data_seed"], dtype=dtype)
    train = _subset(sequential_digits("train", **kw), opts["n_train"], "n_train")
    val = sequential_digits("val", **kw)
    test = _subset(sequential_digits("test", **kw), opts["n_test"], "n_test")
    T, C = train.tensors[0].shape[1:]
    counts = torch.bincount(test.tensors[1], minlength=10)
    info = TaskInfo(name, (int(C),), 10, int(T), "real", "mean", None, float(counts.max()) / len(test))
    return TaskData(info, train, val, test)


_DIGITS_OPTIONS = {"data_seed": 0, "n_train": 0, "n_test": 0}


@register_task("digits", description="8x8 handwritten digits fed pixel by pixel (T=64, 1 channel, 10 classes)",
               options=_DIGITS_OPTIONS)
def _digits_pixel(opts, dtype):
    return _digits("pixel", False, opts, dtype, "digits")


@register_task("digits-row", description="8x8 handwritten digits fed row by row (T=8, 8 channels, 10 classes)",
               options=_DIGITS_OPTIONS)
def _digits_row(opts, dtype):
    return _digits("row", False, opts, dtype, "digits-row")


@register_task("digits-permuted", description="pixel-by-pixel digits in a fixed random pixel order (T=64)",
               options=_DIGITS_OPTIONS)
def _digits_permuted(opts, dtype):
    return _digits("pixel", True, opts, dtype, "digits-permuted")


@register_task("delay", description="delayed cue recall: name the cue seen `delay` steps before the go "
                                    "signal, among distractor spikes (4 classes)",
               options={"delay": 32, "n_train": 1024, "n_val": 256, "n_test": 512, "n_classes": 4, "group_size": 4,
                        "cue_steps": 4, "recall_steps": 4, "p_cue": 1.0, "p_noise": 0.05, "data_seed": 0},
               readouts=("window", "last"))
def _delay(opts, dtype):
    kw = {k: opts[k] for k in ("delay", "n_classes", "group_size", "cue_steps", "recall_steps", "p_cue", "p_noise")}
    try:
        sets = {s: delay_task(s, n_samples=opts[f"n_{s}"], seed=opts["data_seed"], dtype=dtype, **kw)
                for s in ("train", "val", "test")}
    except (TypeError, ValueError) as e:
        raise ConfigError(f"task 'delay': {e}") from e
    T, C = delay_task_shape(opts["delay"], opts["n_classes"], opts["group_size"], opts["cue_steps"],
                            opts["recall_steps"])
    info = TaskInfo("delay", (C,), opts["n_classes"], T, "spike", "window", opts["recall_steps"],
                    1.0 / opts["n_classes"])
    return TaskData(info, sets["train"], sets["val"], sets["test"])
