r"""Sequential digits: the 8x8 handwritten digits (1797 images, 10 classes) as time series.

The images come from scikit-learn, which bundles them (``pip install scikit-learn``, part of the
``spikede[apps]`` extra), so nothing is downloaded. Pixel values ``0..16`` are scaled to ``[0, 1]``.

* ``mode="pixel"``: one pixel per step, ``T = 64``, 1 channel (sequential digits, like sMNIST).
* ``mode="row"``: one row per step, ``T = 8``, 8 channels.
* ``permuted=True``: the pixel order is shuffled by a fixed permutation (``perm_seed``), like psMNIST.

Splits are stratified and seeded: ``train`` / ``val`` are carved from the same pool, ``test`` is held out
and is never used for model selection.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import TensorDataset

__all__ = ["load_digits_arrays", "sequential_digits"]

_SPLITS = ("train", "val", "test")


def load_digits_arrays():
    """``(images [1797, 64] float64 in [0, 1], labels [1797] int64)`` from scikit-learn's bundled copy."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "the sequential-digits task needs scikit-learn, which bundles the 8x8 digits: "
            "pip install 'spikede[apps]' (or pip install scikit-learn)") from e
    d = load_digits()
    return d.data.astype(np.float64) / 16.0, d.target.astype(np.int64)


def _split_indices(labels: np.ndarray, seed: int, fractions=(0.7, 0.1, 0.2)):
    rng = np.random.default_rng(seed)
    parts = {s: [] for s in _SPLITS}
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_tr = int(round(fractions[0] * len(idx)))
        n_va = int(round(fractions[1] * len(idx)))
        parts["train"].append(idx[:n_tr])
        parts["val"].append(idx[n_tr:n_tr + n_va])
        parts["test"].append(idx[n_tr + n_va:])
    return {s: np.sort(np.concatenate(v)) for s, v in parts.items()}


def sequential_digits(split: str = "train", mode: str = "pixel", permuted: bool = False, seed: int = 0,
                      perm_seed: int = 1234, dtype=torch.float32) -> TensorDataset:
    """A ``TensorDataset`` of ``(x [T, C], label)``; batch it and transpose to time-first ``[T, B, C]``.

    Args:
        split: ``"train"`` (70%), ``"val"`` (10%) or ``"test"`` (20%), stratified by class.
        mode: ``"pixel"`` (``T=64, C=1``) or ``"row"`` (``T=8, C=8``).
        permuted: apply a fixed random permutation of the 64 pixels before sequencing.
        seed: seed of the split; perm_seed: seed of the permutation.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    if mode not in ("pixel", "row"):
        raise ValueError(f"mode must be 'pixel' or 'row', got {mode!r}")
    images, labels = load_digits_arrays()
    if permuted:
        images = images[:, np.random.default_rng(perm_seed).permutation(64)]
    idx = _split_indices(labels, seed)[split]
    x = images[idx].reshape(-1, 64, 1) if mode == "pixel" else images[idx].reshape(-1, 8, 8)
    return TensorDataset(torch.tensor(x, dtype=dtype), torch.tensor(labels[idx]))
