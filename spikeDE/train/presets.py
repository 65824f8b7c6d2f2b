"""Named configurations (``spikede train --preset NAME``, ``spikede list presets``).

A preset is a TOML configuration file in ``spikeDE/train/presets/`` (``NAME.toml``); its first comment lines
describe it. Precedence: the defaults, then the preset, then ``--config FILE``, then the command-line options,
so every key of a preset can be overridden (``--preset loongspike-listops --epochs 1 --hidden 64``). The
``loongspike-*`` presets are the published LoongSpike configurations (model sizes and sequence lengths; AdamW
``lr = 0.01``, weight decay ``0.01``, the SSM parameters at ``lr = 0.001`` without weight decay through
``ssm_lr`` / ``ssm_weight_decay``).
"""
from __future__ import annotations

import os

from .config import ConfigError, TrainConfig, load_config

__all__ = ["PRESET_DIR", "list_presets", "preset_path", "preset_description", "load_preset"]

PRESET_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "presets")


def list_presets() -> list[str]:
    """Names of the available presets, sorted."""
    if not os.path.isdir(PRESET_DIR):
        return []
    return sorted(f[:-5] for f in os.listdir(PRESET_DIR) if f.endswith(".toml"))


def preset_path(name: str) -> str:
    """The file of preset ``name``; an unknown name is a :class:`ConfigError` listing the presets."""
    names = list_presets()
    if name not in names:
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(names) or 'none'} (spikede list presets)")
    return os.path.join(PRESET_DIR, name + ".toml")


def preset_description(name: str) -> str:
    """The preset's first comment line, without ``#``."""
    with open(preset_path(name), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                return line.lstrip("#").strip()
    return ""


def load_preset(name: str, base: TrainConfig | None = None) -> TrainConfig:
    """The configuration of preset ``name`` (over ``base`` or the defaults)."""
    return load_config(preset_path(name), base)
