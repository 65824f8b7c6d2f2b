"""The configuration of a training run: one dataclass, read from and written to TOML or YAML.

Precedence when the ``spikede`` command builds a configuration: the defaults below, then a config file
(``--config run.toml``), then the command-line options. The run folder records the final configuration as
``config.toml``; ``spikede train --config RUN/config.toml`` repeats the run.

TOML is read with ``tomllib`` (Python >= 3.11) or ``tomli``, and written by a small writer here (scalars,
lists of scalars and one level of tables, which is all a configuration holds). YAML needs ``pyyaml``.
Keys may be spelled with ``-`` or ``_``. Unknown keys and wrong types are errors that name the key.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TrainConfig", "ConfigError", "load_config", "save_config", "config_from_dict", "parse_value"]


class ConfigError(ValueError):
    """A configuration value or file that cannot be used (a user mistake, reported without a traceback)."""


_DTYPES = ("float32", "float64")
_MAX_SEED = 2**63 - 1


def max_threads() -> int:
    """The most PyTorch CPU threads a run may ask for: 4 x the CPU cores (far more only oversubscribes, and
    very large counts crash inside ``torch.set_num_threads``)."""
    return 4 * (os.cpu_count() or 1)
_READOUTS = ("mean", "last", "window")
_SCHEDULES = ("constant", "cosine")
_OPTIMIZERS = ("adam", "adamw", "sgd")


@dataclass
class TrainConfig:
    """Everything that defines a training run.

    Task: ``task`` (a registered task name) and ``task_args`` (its options, e.g. ``{"delay": 64}``).
    Model: ``model`` (a registered model name), ``hidden`` (width), ``model_args`` (model options) and the
    neuron choice: ``neurons`` lists one neuron name per *arm*; every arm trains the same network with that
    neuron, side by side (empty: the model's default arms). ``alpha`` (initial fractional order),
    ``learn_alpha``, ``method`` (fractional solver) and ``memory`` (history mode) go to fractional neurons;
    ``None`` means the neuron's own default.
    Optimisation: ``epochs``, ``batch_size`` (global batch, split across processes), ``lr``, ``optimizer``,
    ``weight_decay``, ``schedule`` (``constant`` or ``cosine`` decay per step), ``grad_clip`` (max gradient
    norm, 0 = off).
    Readout of per-step logits ``[T, B, K]``: ``mean`` over time, ``last`` step, or ``window`` (mean over the
    last ``readout_window`` steps); ``None`` takes the task's default.
    Run: ``seed``, ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``), ``dtype``, ``out`` (run folder),
    ``checkpoint_every`` (steps between mid-epoch checkpoints; 0 = at the end of every epoch only),
    ``eval_batch_size``, ``threads`` (PyTorch intra-op CPU threads per process; default 1, the fastest for the
    small embedded models; ``None``: PyTorch's default).

    Long runs: ``ssm_lr`` / ``ssm_weight_decay`` put the SSM parameters (step, state matrix, ``B``, the SSM's
    order; :data:`spikeDE.train.param_groups.SSM_PARAMETERS`) in their own optimiser group (``None``: one group);
    ``eval_every`` (steps between validations inside an epoch, 0 = at epoch ends only), ``keep_best`` (also keep
    ``best.pt``, the checkpoint of the best validation loss), ``accumulate`` (micro-batches per optimiser step:
    each global batch is split into ``accumulate`` parts whose gradients add up to the full batch's), ``bf16``
    (bfloat16 autocast of the forward pass on CUDA; ignored on CPU).

    The defaults are the main comparison of the project: a spiking MLP with fractional (learnable ``alpha``) and
    LIF neurons, side by side, on the delayed cue recall task at delay 32.
    """

    task: str = "delay"
    task_args: dict = field(default_factory=dict)
    model: str = "mlp"
    hidden: int = 64
    model_args: dict = field(default_factory=dict)
    neurons: list = field(default_factory=list)
    alpha: float | None = None
    learn_alpha: bool = True
    method: str | None = None
    memory: str | None = None
    epochs: int = 30
    batch_size: int = 64
    eval_batch_size: int = 256
    lr: float = 5e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "cosine"
    grad_clip: float = 0.0
    readout: str | None = None
    readout_window: int | None = None
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"
    out: str | None = None
    checkpoint_every: int = 0
    threads: int | None = 1
    # long runs (see "Long runs" above)
    ssm_lr: float | None = None
    ssm_weight_decay: float = 0.0
    eval_every: int = 0
    keep_best: bool = False
    accumulate: int = 1
    bf16: bool = False

    def __post_init__(self):
        self.validate()

    def validate(self) -> "TrainConfig":
        """Check every field; raises :class:`ConfigError` naming the field, the value and what is allowed."""
        for f in dataclasses.fields(self):
            setattr(self, f.name, _coerce(f.name, getattr(self, f.name)))
            _check_type(f.name, getattr(self, f.name), _TYPES[f.name])
        for name in ("hidden", "epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.threads is not None and not 1 <= self.threads <= max_threads():
            raise ConfigError(f"threads must be between 1 and {max_threads()} (4 x the {os.cpu_count() or 1} CPU "
                              f"cores), got {self.threads}")
        if not 0 <= self.seed <= _MAX_SEED:
            raise ConfigError(f"seed must be an integer in [0, 2**63 - 1], got {self.seed}")
        if self.out is not None and not self.out.strip():
            raise ConfigError("out (--out) must not be empty; leave it out for runs/<task>-<model>-<time>")
        for name in ("checkpoint_every", "eval_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.accumulate < 1:
            raise ConfigError(f"accumulate must be >= 1, got {self.accumulate}")
        if self.ssm_lr is not None and not (self.ssm_lr > 0 and math.isfinite(self.ssm_lr)):
            raise ConfigError(f"ssm_lr must be a finite number > 0 (or unset), got {self.ssm_lr}")
        if not (self.ssm_weight_decay >= 0 and math.isfinite(self.ssm_weight_decay)):
            raise ConfigError(f"ssm_weight_decay must be a finite number >= 0, got {self.ssm_weight_decay}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be a finite number > 0, got {self.lr}")
        for name in ("weight_decay", "grad_clip"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise ConfigError(f"{name} must be a finite number >= 0, got {v}")
        if self.alpha is not None and not (0 < self.alpha <= 1):
            raise ConfigError(f"alpha must satisfy 0 < alpha <= 1, got {self.alpha}")
        _choice("dtype", self.dtype, _DTYPES)
        _choice("schedule", self.schedule, _SCHEDULES)
        _choice("optimizer", self.optimizer, _OPTIMIZERS)
        if self.readout is not None:
            _choice("readout", self.readout, _READOUTS)
        if self.readout_window is not None and self.readout_window < 1:
            raise ConfigError(f"readout_window must be >= 1, got {self.readout_window}")
        if self.readout == "window" and self.readout_window is None:
            raise ConfigError("readout 'window' needs readout_window (the number of final steps to average)")
        if not (self.device == "auto" or self.device == "cpu" or self.device == "cuda"
                or (self.device.startswith("cuda:") and self.device[5:].isdigit())):
            raise ConfigError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if len(set(self.neurons)) != len(self.neurons):
            raise ConfigError(f"neurons must not repeat a name, got {self.neurons}")
        for d in ("task_args", "model_args"):
            for k, v in getattr(self, d).items():
                if not isinstance(k, str):
                    raise ConfigError(f"{d} keys must be strings, got {k!r}")
                if not _is_scalar(v) and not (isinstance(v, list) and all(_is_scalar(e) for e in v)):
                    raise ConfigError(f"{d}[{k!r}] must be a number, string, boolean or a list of them, got {v!r}")
        return self

    def to_dict(self) -> dict:
        """A plain dict (JSON/TOML/YAML-safe)."""
        d = dataclasses.asdict(self)
        d["neurons"] = list(d["neurons"])
        return d

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed (validated)."""
        return config_from_dict({**self.to_dict(), **changes})


# ----------------------------------------------------------------------------------------------- types
_TYPES: dict[str, tuple] = {
    "task": (str,), "task_args": (dict,), "model": (str,), "hidden": (int,), "model_args": (dict,),
    "neurons": (list,), "alpha": (float, type(None)), "learn_alpha": (bool,), "method": (str, type(None)),
    "memory": (str, type(None)), "epochs": (int,), "batch_size": (int,), "eval_batch_size": (int,),
    "lr": (float,), "optimizer": (str,), "weight_decay": (float,), "schedule": (str,), "grad_clip": (float,),
    "readout": (str, type(None)), "readout_window": (int, type(None)), "seed": (int,), "device": (str,),
    "dtype": (str,), "out": (str, type(None)), "checkpoint_every": (int,), "threads": (int, type(None)),
    # long runs
    "ssm_lr": (float, type(None)), "ssm_weight_decay": (float,), "eval_every": (int,), "keep_best": (bool,),
    "accumulate": (int,), "bf16": (bool,),
}


def _is_scalar(v) -> bool:
    return isinstance(v, (str, bool, int, float))


def _type_name(types) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true/false", list: "a list",
             dict: "a table", type(None): "unset"}
    return " or ".join(names[t] for t in types)


def _check_type(name, value, types):
    if isinstance(value, bool) and bool not in types:
        raise ConfigError(f"{name} must be {_type_name(types)}, got {value!r}")
    if isinstance(value, types):
        if name == "neurons" and not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"neurons must be a list of neuron names, got {value!r}")
        return
    raise ConfigError(f"{name} must be {_type_name(types)}, got {value!r}")


def _choice(name, value, allowed):
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _coerce(name: str, value: Any):
    """Accept the obvious spellings: an int for a float field, a comma-separated string for ``neurons``."""
    types = _TYPES[name]
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if name == "memory" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if name == "neurons" and isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if name == "neurons" and isinstance(value, tuple):
        return list(value)
    return value


def config_from_dict(d: dict, base: TrainConfig | None = None) -> TrainConfig:
    """A validated :class:`TrainConfig` from a dict (keys with ``-`` or ``_``), over ``base`` (or the defaults)."""
    if not isinstance(d, dict):
        raise ConfigError(f"a configuration must be a table of keys, got {type(d).__name__}")
    values = base.to_dict() if base is not None else {}
    for key, value in d.items():
        name = str(key).replace("-", "_")
        if name not in _TYPES:
            raise ConfigError(f"unknown configuration key {key!r}; known keys: {', '.join(_TYPES)}")
        values[name] = _coerce(name, value)
    try:
        return TrainConfig(**values)
    except TypeError as e:  # pragma: no cover - guarded by the key check above
        raise ConfigError(str(e)) from e


# ------------------------------------------------------------------------------------------------ files
def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(e) for e in v) + "]"
    raise ConfigError(f"cannot write {v!r} ({type(v).__name__}) to TOML")


def _toml_key(k: str) -> str:
    return k if k and all(c.isalnum() or c in "-_" for c in k) else json.dumps(k)


def dumps_toml(d: dict) -> str:
    """TOML text for a dict of scalars, lists of scalars and (one level of) tables; ``None`` values are left
    out (TOML has no null; a left-out key reads back as its default, ``None``)."""
    lines, tables = [], []
    for k, v in d.items():
        if isinstance(v, dict):
            tables.append((k, v))
        elif v is not None:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    for k, t in tables:
        lines.append("")
        lines.append(f"[{_toml_key(k)}]")
        for kk, vv in t.items():
            if vv is not None:
                lines.append(f"{_toml_key(kk)} = {_toml_value(vv)}")
    return "\n".join(lines) + "\n"


def _kind(path) -> str:
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext == ".toml":
        return "toml"
    if ext in (".yaml", ".yml"):
        return "yaml"
    raise ConfigError(f"config file {os.fspath(path)!r}: unknown format {ext!r}; use .toml, .yaml or .yml")


def _yaml():
    try:
        import yaml
    except ImportError as e:
        raise ConfigError("YAML config files need pyyaml: pip install 'spikede[apps]' (or use TOML)") from e
    return yaml


def load_config(path, base: TrainConfig | None = None) -> TrainConfig:
    """Read a TOML or YAML config file (over ``base`` or the defaults)."""
    kind = _kind(path)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path!r} does not exist")
    try:
        if kind == "toml":
            try:
                import tomllib
            except ImportError:  # Python < 3.11
                try:
                    import tomli as tomllib
                except ImportError as e:
                    raise ConfigError("TOML config files need tomli on Python < 3.11: "
                                      "pip install 'spikede[apps]'") from e
            with open(path, "rb") as f:
                data = tomllib.load(f)
        else:
            yaml = _yaml()
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f)
            data = {} if data is None else data
    except ConfigError:
        raise
    except Exception as e:  # syntax errors of either parser, told in one line
        detail = "; ".join(line.strip() for line in str(e).splitlines() if line.strip())
        raise ConfigError(f"config file {path!r} could not be parsed: {detail}") from e
    try:
        return config_from_dict(data, base)
    except ConfigError as e:
        raise ConfigError(f"config file {path!r}: {e}") from e


def save_config(cfg: TrainConfig, path) -> str:
    """Write ``cfg`` as TOML or YAML (by the file's extension); returns the path."""
    kind = _kind(path)
    path = os.fspath(path)
    if kind == "toml":
        text = dumps_toml(cfg.to_dict())
    else:
        text = _yaml().safe_dump(cfg.to_dict(), sort_keys=False)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def parse_value(text: str):
    """A ``KEY=VALUE`` value from the command line: integer, number, true/false, a comma list, or a string."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    if "," in text:
        return [parse_value(t) for t in text.split(",") if t.strip()]
    return text
