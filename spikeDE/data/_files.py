"""Shared plumbing of the dataset loaders: the data folder, missing-file errors, seeded splits.

Loaders read the standard files of each dataset from a data folder and never download. The folder is the
``root`` argument, else the environment variable ``SPIKEDE_DATA``, else ``./data``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["data_root", "find_dir", "missing", "check_split", "split_train_val"]


def data_root(root=None) -> Path:
    """``root``, else ``$SPIKEDE_DATA``, else ``./data``."""
    return Path(root if root is not None else os.environ.get("SPIKEDE_DATA", "data")).expanduser()


def missing(dataset: str, where, files, source: str) -> FileNotFoundError:
    """The error raised when a dataset's files are absent: where they go, which files, where to get them."""
    where = [str(w) for w in (where if isinstance(where, (list, tuple)) else [where])]
    return FileNotFoundError(
        f"{dataset}: data files not found. Looked in: {', '.join(where)}. Expected: {', '.join(files)}. "
        f"Get them from {source} and put them there (or pass root=... / set SPIKEDE_DATA). "
        "spikeDE never downloads datasets.")


def find_dir(candidates, marker: str):
    """The first directory of ``candidates`` that contains ``marker`` (a file or folder name), else None."""
    for c in candidates:
        if (Path(c) / marker).exists():
            return Path(c)
    return None


def check_split(split: str, allowed=("train", "val", "test")) -> str:
    if split not in allowed:
        raise ValueError(f"split must be one of {allowed}, got {split!r}")
    return split


def split_train_val(n: int, val_fraction: float, seed: int):
    """Seeded partition of ``range(n)`` into (train, val) index arrays (val carved from the training files)."""
    if not (0.0 <= val_fraction < 1.0):
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(val_fraction * n))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])
