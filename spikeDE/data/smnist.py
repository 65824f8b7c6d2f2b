r"""Sequential MNIST (sMNIST) and permuted sequential MNIST (psMNIST) from the standard IDX files.

Each 28x28 image is read pixel by pixel in raster order (``T = 784``, 1 channel, values ``/255`` in
``[0, 1]``); ``permuted=True`` applies one fixed random permutation of the 784 pixels (``perm_seed``).

Files (the original distribution, gzipped or not), in ``<root>/MNIST/raw/``, ``<root>/MNIST/``,
``<root>/mnist/`` or ``<root>/``::

    train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]  t10k-images-idx3-ubyte[.gz]  t10k-labels-idx1-ubyte[.gz]

Splits: ``train`` / ``val`` partition the 60,000 training images (``val_size`` images, seeded); ``test`` is
the 10,000 ``t10k`` images and is never used for validation.
"""
from __future__ import annotations

import gzip
import struct

import numpy as np
import torch
from torch.utils.data import Dataset

from ._files import check_split, data_root, missing

__all__ = ["read_idx", "SequenceDataset", "sequential_mnist"]

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_SOURCE = "http://yann.lecun.com/exdb/mnist/ (or a mirror, e.g. the files torchvision keeps in MNIST/raw)"


def read_idx(path) -> np.ndarray:
    """Read an IDX file (``.gz`` allowed): magic ``0x00 0x00 <type> <ndim>``, big-endian uint32 dims, data."""
    path = str(path)
    with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {raw[:4]!r})")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = 4 + 4 * ndim + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: IDX header announces shape {dims} ({expected} bytes) but the file has "
                         f"{len(raw)} bytes")
    return np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(dims)


class SequenceDataset(Dataset):
    """Images as pixel sequences: item ``i`` is ``(x [T, 1] in [0, 1], label)``, stored as uint8.

    ``order`` (optional) permutes the ``T`` pixels of every sequence.
    """

    def __init__(self, pixels: np.ndarray, labels: np.ndarray, order=None, dtype=torch.float32):
        self.pixels = torch.from_numpy(np.array(pixels.reshape(len(pixels), -1), dtype=np.uint8))
        self.targets = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        self.order = None if order is None else torch.as_tensor(order, dtype=torch.long)
        self.dtype = dtype

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        x = self.pixels[i]
        if self.order is not None:
            x = x[self.order]
        return (x.to(self.dtype) / 255.0).unsqueeze(-1), self.targets[i]


def _locate(root):
    base = data_root(root)
    candidates = [base / "MNIST" / "raw", base / "MNIST", base / "mnist", base]
    for d in candidates:
        paths = {}
        for names in _FILES.values():
            for name in names:
                for cand in (d / name, d / (name + ".gz")):
                    if cand.exists():
                        paths[name] = cand
                        break
        if len(paths) == 4:
            return paths
    raise missing("sMNIST", candidates, [n + "[.gz]" for names in _FILES.values() for n in names], _SOURCE)


def sequential_mnist(split: str = "train", root=None, permuted: bool = False, *, val_size: int = 5000,
                     seed: int = 0, perm_seed: int = 1234, dtype=torch.float32) -> SequenceDataset:
    """sMNIST / psMNIST: items ``(x [784, 1], label)``; batch and feed ``[B, 784, 1]`` (or transpose to time-first).

    Args:
        split: ``train`` (60,000 - ``val_size``), ``val`` (``val_size`` of the training images) or ``test``.
        root: data folder (default ``$SPIKEDE_DATA`` or ``./data``).
        permuted: psMNIST (fixed permutation from ``perm_seed``).
    """
    check_split(split)
    paths = _locate(root)
    images = read_idx(paths[_FILES["test" if split == "test" else "train"][0]])
    labels = read_idx(paths[_FILES["test" if split == "test" else "train"][1]])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"sMNIST: images {images.shape} and labels {labels.shape} do not match")
    if split != "test":
        if not (isinstance(val_size, int) and 0 <= val_size < len(images)):
            raise ValueError(f"val_size must be an int in [0, {len(images)}), got {val_size!r}")
        perm = np.random.default_rng(seed).permutation(len(images))
        idx = np.sort(perm[:val_size] if split == "val" else perm[val_size:])
        images, labels = images[idx], labels[idx]
    order = np.random.default_rng(perm_seed).permutation(images[0].size) if permuted else None
    return SequenceDataset(images, labels, order, dtype)
