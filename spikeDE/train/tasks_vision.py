"""Event-vision tasks and spiking vision models of the ``spikede`` command.

Tasks (inputs: event frames ``[T, 2, H, W]`` per sample, counts of ON / OFF events; default model
``spiking-vgg``):

* embedded (no download, seeded): ``dvs-digits`` (simulated event camera over the 8x8 digits moved along
  three saccades, 10 classes) and ``dvs-rotation`` (a dot turning clockwise or counter-clockwise: the order of
  the frames carries the label, their sum does not);
* real, read from ``$SPIKEDE_DATA`` (or ``--task-arg root=DIR``) in their published layouts
  (:mod:`spikeDE.data.event_datasets`): ``nmnist``, ``ncaltech101``, ``dvs-gesture``, ``cifar10-dvs``, ``hardvs``.
  Options: ``frames`` (T), ``split_by`` (``number`` / ``time``), ``downsample`` (pixel pooling factor),
  ``augment`` (random shift, and a left-right flip where it keeps the label), ``n_train`` / ``n_test``
  (0 = all), ``data_seed`` (seeded splits).

Models (one arm per neuron, default ``flif`` and ``lif``; :mod:`spikeDE.models.vision`, wrapped in
:class:`spikeDE.SNNWrapper` with the arm's dynamics): ``spiking-vgg``, ``sew-resnet``, ``spikformer``. Their
neurons are built by the arm's neuron factory with ``tau``, ``threshold`` and ``learn_tau`` (model options).
"""
from __future__ import annotations

import torch
from torch.utils.data import Subset, TensorDataset

from ..data import dvs_synthetic, event_datasets
from ..models.vision import SEWResNet, SpikingVGG, Spikformer
from .config import ConfigError
from .models import wrap_spiking
from .registry import TaskData, TaskInfo, get_neuron, register_model, register_task

__all__ = []

DEFAULT_MODEL = "spiking-vgg"
# what `spikede train --task <event task>` runs when the command line says nothing else: the spiking VGG, sized
# for a few minutes on a 2-core CPU for the embedded tasks
_DEFAULTS = {"model": DEFAULT_MODEL, "epochs": 5}


def _subset(ds, n: int, name: str):
    if n < 0:
        raise ConfigError(f"task option {name} must be >= 0 (0 = all), got {n}")
    if n == 0 or n >= len(ds):
        return ds
    if isinstance(ds, TensorDataset):
        return TensorDataset(*(t[:n] for t in ds.tensors))
    return Subset(ds, range(n))


def _chance(labels: torch.Tensor, n_classes: int) -> float:
    return float(torch.bincount(labels, minlength=n_classes).max()) / max(len(labels), 1)


def _check_frames(opts, name):
    if opts["frames"] < 1:
        raise ConfigError(f"task {name!r}: option frames must be >= 1, got {opts['frames']}")


@register_task("dvs-digits", description="simulated event camera over the 8x8 digits (upsampled, three "
                                         "saccades): event frames [T, 2, size, size], 10 classes",
               options={"frames": 8, "size": 32, "noise_rate": 0.5, "n_train": 0, "n_test": 0, "data_seed": 0},
               readouts=("mean", "last"), defaults=_DEFAULTS)
def _dvs_digits(opts, dtype):
    _check_frames(opts, "dvs-digits")
    try:
        sets = {s: dvs_synthetic.dvs_digits(s, frames=opts["frames"], size=opts["size"], seed=opts["data_seed"],
                                            dtype=dtype, noise_rate=opts["noise_rate"],
                                            n_samples=(opts[f"n_{s}"] or None) if s != "val" else None)
                for s in ("train", "val", "test")}
    except (TypeError, ValueError) as e:
        raise ConfigError(f"task 'dvs-digits': {e}") from e
    labels = sets["test"].tensors[1]
    info = TaskInfo("dvs-digits", (2, opts["size"], opts["size"]), 10, opts["frames"], "real", "mean", None,
                    _chance(labels, 10))
    return TaskData(info, sets["train"], sets["val"], sets["test"])


@register_task("dvs-rotation", description="a dot turning clockwise vs counter-clockwise seen by a simulated event "
                                           "camera: the frame order carries the label, the summed frames do not",
               options={"frames": 8, "size": 32, "noise_rate": 0.5, "n_train": 1000, "n_val": 200, "n_test": 400,
                        "data_seed": 0},
               readouts=("mean", "last"), defaults=_DEFAULTS)
def _dvs_rotation(opts, dtype):
    _check_frames(opts, "dvs-rotation")
    try:
        sets = {s: dvs_synthetic.dvs_rotation(s, frames=opts["frames"], size=opts["size"], n_samples=opts[f"n_{s}"],
                                              seed=opts["data_seed"], dtype=dtype, noise_rate=opts["noise_rate"])
                for s in ("train", "val", "test")}
    except (TypeError, ValueError) as e:
        raise ConfigError(f"task 'dvs-rotation': {e}") from e
    info = TaskInfo("dvs-rotation", (2, opts["size"], opts["size"]), 2, opts["frames"], "real", "mean", None,
                    _chance(sets["test"].tensors[1], 2))
    return TaskData(info, sets["train"], sets["val"], sets["test"])


_REAL_OPTIONS = {"frames": 16, "split_by": "number", "downsample": 1, "augment": True, "root": "", "n_train": 0,
                 "n_test": 0, "data_seed": 0}


def _real_task(task: str, dataset: str, n_classes: int, frames: int, description: str):
    opts_default = dict(_REAL_OPTIONS, frames=frames)

    @register_task(task, description=description, options=opts_default, readouts=("mean", "last"),
                   defaults={"model": DEFAULT_MODEL})
    def _build(opts, dtype):
        _check_frames(opts, task)
        if opts["split_by"] not in ("number", "time"):
            raise ConfigError(f"task {task!r}: split_by must be 'number' or 'time', got {opts['split_by']!r}")
        if opts["downsample"] < 1:
            raise ConfigError(f"task {task!r}: downsample must be >= 1, got {opts['downsample']}")
        fn = event_datasets.EVENT_DATASETS[dataset]
        kw = dict(root=opts["root"] or None, frames=opts["frames"], split_by=opts["split_by"],
                  downsample=opts["downsample"])
        if dataset != "hardvs":
            kw["seed"] = opts["data_seed"]
        try:
            sets = {s: fn(s, augment=opts["augment"] and s == "train", **kw) for s in ("train", "val", "test")}
        except FileNotFoundError as e:
            raise ConfigError(f"task {task!r}: {e}") from e
        x0, _ = sets["test"][0]
        info = TaskInfo(task, tuple(int(v) for v in x0.shape[1:]), n_classes, opts["frames"], "real", "mean", None,
                        _chance(torch.as_tensor(sets["test"].labels), n_classes))
        return TaskData(info, _subset(sets["train"], opts["n_train"], "n_train"), sets["val"],
                        _subset(sets["test"], opts["n_test"], "n_test"))

    return _build


_real_task("nmnist", "nmnist", 10, 16, "N-MNIST event recordings (34x34, 10 digits; $SPIKEDE_DATA/nmnist)")
_real_task("ncaltech101", "ncaltech101", 101, 16,
           "N-Caltech101 event recordings (240x180, 101 classes; $SPIKEDE_DATA/ncaltech101; seeded split)")
_real_task("dvs-gesture", "dvs_gesture", 11, 16,
           "DVS128 Gesture (128x128, 11 gestures; $SPIKEDE_DATA/dvs_gesture; official trials split)")
_real_task("cifar10-dvs", "cifar10_dvs", 10, 16,
           "CIFAR10-DVS (128x128, 10 classes; $SPIKEDE_DATA/cifar10_dvs; seeded split)")
_real_task("hardvs", "hardvs", 300, 8, "HARDVS (346x260, 300 activities; $SPIKEDE_DATA/hardvs; official lists)")


# ------------------------------------------------------------------------------------------------ models
_NEURON_OPTIONS = {"tau": 2.0, "threshold": 1.0, "learn_tau": False}


def _factory(neuron: str, cfg, opts: dict):
    spec = get_neuron(neuron)

    def make(name: str):
        return spec.build(cfg, tau=opts["tau"], threshold=opts["threshold"], learn_tau=opts["learn_tau"], name=name)
    return make


def _image_shape(info: TaskInfo, model: str) -> tuple[int, int, int]:
    if len(info.input_shape) != 3:
        raise ConfigError(f"model {model!r} takes image steps (C, H, W); task {info.name!r} has {info.input_shape}")
    return tuple(int(s) for s in info.input_shape)


def _build(model: str, cls, info, cfg, neuron, opts, **kw):
    for key in ("tau", "threshold"):
        if not opts[key] > 0:
            raise ConfigError(f"model {model!r}: option {key} must be > 0, got {opts[key]}")
    C, H, W = _image_shape(info, model)
    try:
        net = cls(C, info.n_classes, (H, W), _factory(neuron, cfg, opts), **kw)
    except ValueError as e:
        raise ConfigError(f"model {model!r}: {e}") from e
    return wrap_spiking(net, neuron, cfg)


@register_model("spiking-vgg", description="spiking VGG: [Conv3x3 -> BN -> neuron -> MaxPool] x blocks -> Linear, "
                                           "on event frames",
                neurons=True, default_neurons=("flif", "lif"),
                options={"width": 16, "blocks": 3, "dropout": 0.0, **_NEURON_OPTIONS})
def _vgg(info, cfg, neuron, opts):
    return _build("spiking-vgg", SpikingVGG, info, cfg, neuron, opts, width=opts["width"], blocks=opts["blocks"],
                  dropout=opts["dropout"])


@register_model("sew-resnet", description="spike-element-wise residual CNN (ADD connections) on event frames",
                neurons=True, default_neurons=("flif", "lif"),
                options={"width": 16, "stages": 2, "blocks_per_stage": 1, **_NEURON_OPTIONS})
def _sew(info, cfg, neuron, opts):
    return _build("sew-resnet", SEWResNet, info, cfg, neuron, opts, width=opts["width"], stages=opts["stages"],
                  blocks_per_stage=opts["blocks_per_stage"])


@register_model("spikformer", description="spiking transformer: patch splitting, spiking self-attention without "
                                          "softmax, spiking MLP",
                neurons=True, default_neurons=("flif", "lif"),
                options={"dim": 64, "heads": 4, "depth": 1, "patch": 4, "mlp_ratio": 2, **_NEURON_OPTIONS})
def _spikformer(info, cfg, neuron, opts):
    return _build("spikformer", Spikformer, info, cfg, neuron, opts, dim=opts["dim"], heads=opts["heads"],
                  depth=opts["depth"], patch=opts["patch"], mlp_ratio=opts["mlp_ratio"])
