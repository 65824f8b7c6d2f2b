"""Registries of tasks, models and neurons: what ``spikede train --task/--model/--neuron`` can name.

A **task** builds datasets::

    @register_task("delay", description="...", options={"delay": 32, ...}, readouts=("window", "last"))
    def build_delay(opts: dict, dtype: torch.dtype) -> TaskData: ...

``opts`` holds the task's ``options`` updated by the user's ``task_args`` (unknown keys are rejected, values
are converted to the type of the default). ``readouts`` lists the readouts that score the task fairly (the
first is the default unless :class:`TaskInfo` names one).

A **model** builds one network for one *arm* of a run::

    @register_model("mlp", description="...", neurons=True, default_neurons=("flif", "lif"),
                    options={"layers": 2})
    def build_mlp(info: TaskInfo, cfg: TrainConfig, neuron: str | None, opts: dict) -> nn.Module: ...

It maps ``[T, B, *info.input_shape]`` to logits ``[T, B, info.n_classes]``. With ``neurons=True`` every name in
``cfg.neurons`` (or ``default_neurons``) becomes an arm that trains the same network with that neuron; the
builder gets the name and looks the neuron up with :func:`get_neuron`. A model with ``neurons=False`` has a
single arm named after the model, and ``neuron`` is ``None``.

A **neuron** is a factory the model builders call::

    @register_neuron("flif", description="fractional LIF", fractional=True)
    def make_flif(cfg: TrainConfig, **layer_kwargs) -> nn.Module: ...

``cfg`` carries ``alpha``, ``learn_alpha``, ``method`` and ``memory``; ``layer_kwargs`` is whatever the model
passes (e.g. the layer's name or width). A neuron registered with ``dynamics=fn`` also says how a network of
such layers is run: ``fn(cfg)`` returns the keywords of :class:`spikeDE.SNNWrapper` (``integrator``, ``alpha``,
``learn_alpha``, ``method``, ``memory``, ``multi_coefficient`` ...); the built-in ``lif``, ``flif`` and
``multiterm`` neurons (:mod:`spikeDE.train.neurons`) do.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterator, Mapping, TypeVar

from torch.utils.data import Dataset

from .config import ConfigError

__all__ = ["RegistryError", "Registry", "TaskInfo", "TaskData", "TaskSpec", "ModelSpec", "NeuronSpec", "TASKS",
           "MODELS", "NEURONS", "register_task", "register_model", "register_neuron", "get_task", "get_model",
           "get_neuron", "resolve_options", "arm_names"]


class RegistryError(ConfigError):
    """An unknown or clashing task / model / neuron name."""


@dataclass(frozen=True)
class TaskInfo:
    """What a model builder needs to know about a task.

    ``input_shape``: shape of one time step of one sample (``(C,)`` for channels); ``steps``: ``T``;
    ``input_kind``: ``"spike"`` (0/1 inputs), ``"real"`` or ``"tokens"`` (integer ids, stored in the batch's
    float dtype, 0 = padding); ``readout``/``readout_window``: the default readout; ``chance``: accuracy of
    guessing the most frequent class. ``vocab_size``: number of token ids (token tasks; 0 otherwise);
    ``objective``: ``"classify"`` (one label per sequence) or ``"lm"`` (next-token prediction: items
    ``(ids [T], next ids [T])``, ``n_classes`` = vocabulary size); ``pair``: items hold two sequences
    ``[2, L]`` (e.g. retrieval).
    """

    name: str
    input_shape: tuple
    n_classes: int
    steps: int
    input_kind: str = "real"
    readout: str = "mean"
    readout_window: int | None = None
    chance: float = 0.0
    vocab_size: int = 0
    objective: str = "classify"
    pair: bool = False

    @property
    def n_inputs(self) -> int:
        """Input features per step (the product of ``input_shape``)."""
        n = 1
        for s in self.input_shape:
            n *= int(s)
        return n


@dataclass
class TaskData:
    info: TaskInfo
    train: Dataset
    val: Dataset
    test: Dataset
    codec: Any = None  # token tasks: an object with encode(text) -> ids and decode(ids) -> text


@dataclass(frozen=True)
class TaskSpec:
    name: str
    build: Callable[[dict, Any], TaskData]
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    readouts: tuple = ("mean", "last", "window")
    defaults: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[..., Any]
    description: str = ""
    neurons: bool = False
    default_neurons: tuple = ()
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NeuronSpec:
    """A neuron choice. ``build(cfg, **layer_kwargs)`` makes one neuron layer; ``dynamics(cfg)`` (optional) gives
    the :class:`spikeDE.SNNWrapper` keywords (integrator, orders, method, memory ...) that the spiking models
    wrap their network with, so that one arm's neuron layers share one time stepping."""

    name: str
    build: Callable[..., Any]
    description: str = ""
    fractional: bool = False
    dynamics: Callable[..., dict] | None = None


T = TypeVar("T")


class Registry(Generic[T]):
    """Named specs of one kind (``task``, ``model`` or ``neuron``)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, spec: T, overwrite: bool = False) -> T:
        name = spec.name
        if not isinstance(name, str) or not name or any(c.isspace() or c == "," for c in name):
            raise RegistryError(f"{self.kind} name must be a non-empty string without spaces or commas, got {name!r}")
        if name in self._items and not overwrite:
            raise RegistryError(f"a {self.kind} named {name!r} is already registered (pass overwrite=True)")
        self._items[name] = spec
        return spec

    def unregister(self, name: str) -> None:
        self.get(name)
        del self._items[name]

    def get(self, name: str) -> T:
        if name not in self._items:
            avail = ", ".join(sorted(self._items)) or "none registered"
            raise RegistryError(f"unknown {self.kind} {name!r}; available: {avail}")
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        return iter([self._items[k] for k in self.names()])


TASKS: Registry[TaskSpec] = Registry("task")
MODELS: Registry[ModelSpec] = Registry("model")
NEURONS: Registry[NeuronSpec] = Registry("neuron")


def register_task(name: str, *, description: str = "", options: Mapping[str, Any] | None = None,
                  readouts: tuple = ("mean", "last", "window"), defaults: Mapping[str, Any] | None = None,
                  overwrite: bool = False):
    """Decorator: register ``build(opts, dtype) -> TaskData`` as task ``name``. ``defaults``: run settings
    (:class:`TrainConfig` fields such as ``model`` or ``epochs``) that ``spikede train --task NAME`` uses when the
    command line gives none (and no ``--config``)."""
    def deco(fn):
        TASKS.register(TaskSpec(name, fn, description, dict(options or {}), tuple(readouts), dict(defaults or {})),
                       overwrite)
        return fn
    return deco


def register_model(name: str, *, description: str = "", neurons: bool = False, default_neurons: tuple = (),
                   options: Mapping[str, Any] | None = None, overwrite: bool = False):
    """Decorator: register ``build(info, cfg, neuron, opts) -> nn.Module`` as model ``name``."""
    def deco(fn):
        MODELS.register(ModelSpec(name, fn, description, bool(neurons), tuple(default_neurons), dict(options or {})),
                        overwrite)
        return fn
    return deco


def register_neuron(name: str, *, description: str = "", fractional: bool = False,
                    dynamics: Callable[..., dict] | None = None, overwrite: bool = False):
    """Decorator: register ``factory(cfg, **layer_kwargs) -> nn.Module`` as neuron ``name`` (``dynamics(cfg)``:
    the ``SNNWrapper`` keywords of networks built with it; see :class:`NeuronSpec`)."""
    def deco(fn):
        NEURONS.register(NeuronSpec(name, fn, description, bool(fractional), dynamics), overwrite)
        return fn
    return deco


def get_task(name: str) -> TaskSpec:
    return TASKS.get(name)


def get_model(name: str) -> ModelSpec:
    return MODELS.get(name)


def get_neuron(name: str) -> NeuronSpec:
    return NEURONS.get(name)


def resolve_options(defaults: Mapping[str, Any], given: Mapping[str, Any], where: str) -> dict:
    """``defaults`` updated by ``given``; unknown keys and values of the wrong type are :class:`ConfigError`s."""
    out = dict(defaults)
    for key, value in given.items():
        if key not in defaults:
            allowed = ", ".join(defaults) or "none"
            raise ConfigError(f"{where} has no option {key!r}; its options: {allowed}")
        d = defaults[key]
        if d is None or isinstance(value, type(d)) and not (isinstance(value, bool) and not isinstance(d, bool)):
            out[key] = value
        elif isinstance(d, float) and isinstance(value, int) and not isinstance(value, bool):
            out[key] = float(value)
        elif isinstance(d, str) and isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = str(value)
        else:
            raise ConfigError(f"{where}: option {key!r} must be of type {type(d).__name__} "
                              f"(like its default {d!r}), got {value!r}")
    return out


def arm_names(spec: ModelSpec, neurons: list) -> list[str]:
    """The arms of a run of model ``spec``: one per neuron, or the model alone."""
    if not spec.neurons:
        if neurons:
            raise ConfigError(f"model {spec.name!r} has no spiking neurons, so it takes no neuron choice "
                              f"(got {', '.join(neurons)}); drop --neuron")
        return [spec.name]
    names = list(neurons) or list(spec.default_neurons)
    if not names:
        raise ConfigError(f"model {spec.name!r} needs a neuron: pass --neuron NAME "
                          f"(available: {', '.join(NEURONS.names()) or 'none registered'})")
    for n in names:
        NEURONS.get(n)
    return names
