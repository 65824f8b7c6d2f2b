r"""Event-camera datasets read from their published folder layouts under the data folder (``root``, else
``$SPIKEDE_DATA``, else ``./data``); nothing is downloaded.

Every dataset yields ``(frames [T, 2, H, W] float32, label)``: the events of one sample integrated into ``T``
frames by :func:`spikeDE.data.events.to_frames` (``split_by="number"`` or ``"time"``), optionally pooled by
``downsample``. Frames are cached on disk (``<dataset folder>/frames_cache`` unless ``cache_dir`` is given)
keyed by the file and the transform's parameters, so only the first epoch reads events.

=================  =====================================================================  ==================
dataset            layout under ``root``                                                  split
=================  =====================================================================  ==================
``nmnist``         ``nmnist/Train/<digit>/<id>.bin``, ``nmnist/Test/<digit>/<id>.bin``      official train/test
                   (ATIS ``.bin``, 34x34)
``ncaltech101``    ``ncaltech101/Caltech101/<class>/image_<id>.bin`` (ATIS, 240x180;         seeded, stratified
                   101 classes + ``BACKGROUND_Google``, which is left out)                 80/10/10
``dvs_gesture``    ``dvs_gesture/DvsGesture/userNN_<lighting>.aedat`` (AEDAT 3.1, 128x128),  official (trials
                   ``userNN_<lighting>_labels.csv`` (``class,startTime_usec,endTime_usec``;   lists)
                   classes 1..11), ``trials_to_train.txt``, ``trials_to_test.txt``
``cifar10_dvs``    ``cifar10_dvs/<class>/cifar10_<class>_<i>.aedat`` (AEDAT 2.0, 128x128;    seeded, stratified
                   airplane .. truck)                                                      80/10/10
``hardvs``         ``hardvs/{train,val,test}_label.txt``: lines ``<relative file> <label>``;  official lists
                   files are event files (``.npy``/``.npz``/``.aedat4``/``.aedat``), 346x260,
                   300 classes
=================  =====================================================================  ==================

Validation sets for the official train/test splits are carved (seeded, ``val_fraction``) from the training
files. A missing folder raises ``FileNotFoundError`` listing the expected files and where to get them.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ._files import check_split, data_root, missing, split_train_val
from .events import FrameCache, check_events, frames_from_file

__all__ = ["EventSample", "EventFrameDataset", "nmnist", "ncaltech101", "dvs_gesture", "cifar10_dvs", "hardvs",
           "EVENT_DATASETS", "SENSOR_SIZES", "CIFAR10_DVS_CLASSES"]

SENSOR_SIZES = {"nmnist": (34, 34, 2), "ncaltech101": (240, 180, 2), "dvs_gesture": (128, 128, 2),
                "cifar10_dvs": (128, 128, 2), "hardvs": (346, 260, 2)}
CIFAR10_DVS_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class EventSample:
    """One sample: an event file, its label and, for recordings holding several samples, the time window
    ``[start_us, end_us)`` to keep (``None``: the whole file)."""

    path: str
    label: int
    start_us: int | None = None
    end_us: int | None = None


class _Window:
    """``events`` restricted to ``start <= t < end`` (a picklable callable with a cache key)."""

    def __init__(self, start, end):
        self.start, self.end = int(start), int(end)
        self.cache_key = [self.start, self.end]

    def __call__(self, ev):
        ev = check_events(ev)
        lo, hi = np.searchsorted(ev["t"], [self.start, self.end], side="left")
        return ev[lo:hi]


class EventFrameDataset(Dataset):
    """``(frames [T, P, H, W], label)`` of a list of :class:`EventSample` (see the module doc).

    ``augment``: for training, a random left-right flip (``flip=True``) and a random shift by up to
    ``max_shift`` pixels (zero filled) of the frames, drawn from PyTorch's global generator (so a seeded run
    repeats itself)."""

    def __init__(self, samples, sensor_size, frames: int = 16, split_by: str = "number", downsample: int = 1,
                 cache_dir=None, augment: bool = False, flip: bool = True, max_shift: int = 0,
                 n_classes: int | None = None):
        self.samples = list(samples)
        self.sensor_size = tuple(sensor_size)
        self.frames, self.split_by, self.downsample = int(frames), split_by, int(downsample)
        self.cache = FrameCache(cache_dir) if cache_dir is not None else None
        self.augment, self.flip, self.max_shift = bool(augment), bool(flip), int(max_shift)
        self.n_classes = n_classes if n_classes is not None else (
            1 + max((s.label for s in self.samples), default=-1))

    def __len__(self):
        return len(self.samples)

    @property
    def labels(self) -> np.ndarray:
        return np.array([s.label for s in self.samples], dtype=np.int64)

    def __getitem__(self, i):
        s = self.samples[i]
        select = _Window(s.start_us, s.end_us) if s.start_us is not None else None
        f = frames_from_file(s.path, self.sensor_size, n_time_bins=self.frames, split_by=self.split_by,
                             downsample_factor=self.downsample, cache=self.cache, select=select)
        x = torch.from_numpy(np.asarray(f, dtype=np.float32))
        if self.augment:
            if self.flip and bool(torch.rand(()) < 0.5):
                x = x.flip(-1)
            if self.max_shift:
                dx, dy = (int(v) for v in torch.randint(-self.max_shift, self.max_shift + 1, (2,)))
                x = _shift_frames(x, dx, dy)
        return x, s.label


def _shift_frames(x, dx, dy):
    out = torch.zeros_like(x)
    H, W = x.shape[-2:]
    ys, yd = (slice(0, H - dy), slice(dy, H)) if dy >= 0 else (slice(-dy, H), slice(0, H + dy))
    xs, xd = (slice(0, W - dx), slice(dx, W)) if dx >= 0 else (slice(-dx, W), slice(0, W + dx))
    out[..., yd, xd] = x[..., ys, xs]
    return out


# ------------------------------------------------------------------------------------------------ helpers
def _folder(root, name):
    return data_root(root) / name


def _stratified(labels, seed, fractions=(0.8, 0.1, 0.1)):
    g = np.random.default_rng(seed)
    parts = {"train": [], "val": [], "test": []}
    for c in np.unique(labels):
        idx = g.permutation(np.flatnonzero(labels == c))
        n_tr = int(round(fractions[0] * len(idx)))
        n_va = int(round(fractions[1] * len(idx)))
        parts["train"].append(idx[:n_tr])
        parts["val"].append(idx[n_tr:n_tr + n_va])
        parts["test"].append(idx[n_tr + n_va:])
    return {k: np.sort(np.concatenate(v)) if v else np.zeros(0, np.int64) for k, v in parts.items()}


def _train_val(samples, split, val_fraction, seed):
    tr, va = split_train_val(len(samples), val_fraction, seed)
    return [samples[i] for i in (tr if split == "train" else va)]


def _make(name, samples, split, frames, split_by, downsample, cache_dir, augment, n_classes, folder, **kw):
    cache = Path(cache_dir) if cache_dir is not None else folder / "frames_cache"
    return EventFrameDataset(samples, SENSOR_SIZES[name], frames, split_by, downsample, cache,
                             augment=augment and split == "train", n_classes=n_classes, **kw)


# ------------------------------------------------------------------------------------------------ datasets
def nmnist(split="train", root=None, frames=16, split_by="number", downsample=1, cache_dir=None, augment=False,
           val_fraction=0.1, seed=0) -> EventFrameDataset:
    """N-MNIST (Orchard et al. 2015): 10 digits, 34x34 ATIS recordings of three saccades; official split."""
    check_split(split)
    folder = _folder(root, "nmnist")
    sub = folder / ("Test" if split == "test" else "Train")
    files = sorted(sub.glob("[0-9]/*.bin"))
    if not files:
        raise missing("N-MNIST", sub, ["Train/<digit>/<id>.bin", "Test/<digit>/<id>.bin"],
                      "https://www.garrickorchard.com/datasets/n-mnist (Train.zip, Test.zip, unpacked)")
    samples = [EventSample(str(f), int(f.parent.name)) for f in files]
    if split != "test":
        samples = _train_val(samples, split, val_fraction, seed)
    return _make("nmnist", samples, split, frames, split_by, downsample, cache_dir, augment, 10, folder,
                 flip=False, max_shift=2)


def ncaltech101(split="train", root=None, frames=16, split_by="number", downsample=1, cache_dir=None,
                augment=False, seed=0) -> EventFrameDataset:
    """N-Caltech101 (Orchard et al. 2015): 101 classes, ATIS 240x180; seeded stratified 80/10/10 split
    (the dataset has no official one); ``BACKGROUND_Google`` is left out."""
    check_split(split)
    folder = _folder(root, "ncaltech101")
    base = folder / "Caltech101"
    classes = sorted(d.name for d in base.iterdir() if d.is_dir() and d.name != "BACKGROUND_Google") \
        if base.is_dir() else []
    if not classes:
        raise missing("N-Caltech101", base, ["Caltech101/<class>/image_<id>.bin"],
                      "https://www.garrickorchard.com/datasets/n-caltech101 (Caltech101.zip, unpacked)")
    samples = [EventSample(str(f), c) for c, name in enumerate(classes) for f in sorted((base / name).glob("*.bin"))]
    idx = _stratified(np.array([s.label for s in samples]), seed)[split]
    return _make("ncaltech101", [samples[i] for i in idx], split, frames, split_by, downsample, cache_dir,
                 augment, len(classes), folder, flip=True, max_shift=8)


def _read_trials(path):
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]


def dvs_gesture(split="train", root=None, frames=16, split_by="number", downsample=1, cache_dir=None,
                augment=False, val_fraction=0.1, seed=0) -> EventFrameDataset:
    """DVS128 Gesture (Amir et al. 2017): 11 gestures, 29 users, AEDAT 3.1 recordings cut by the label CSVs;
    official split by the trials lists. No left-right flip (it would swap left- and right-arm gestures)."""
    check_split(split)
    folder = _folder(root, "dvs_gesture")
    base = folder / "DvsGesture"
    lists = {s: base / f"trials_to_{s}.txt" for s in ("train", "test")}
    if not all(p.is_file() for p in lists.values()):
        raise missing("DVS128 Gesture", base, ["trials_to_train.txt", "trials_to_test.txt",
                                               "userNN_<lighting>.aedat", "userNN_<lighting>_labels.csv"],
                      "https://research.ibm.com/interactive/dvsgesture/ (DvsGesture.tar.gz, unpacked)")
    samples = []
    for name in _read_trials(lists["test" if split == "test" else "train"]):
        aedat = base / name
        labels = base / (Path(name).stem + "_labels.csv")
        if not aedat.is_file() or not labels.is_file():
            raise missing("DVS128 Gesture", base, [name, labels.name],
                          "https://research.ibm.com/interactive/dvsgesture/")
        with open(labels, newline="") as fh:
            rows = list(csv.reader(fh))
        for row in rows[1:]:
            if not row:
                continue
            c, start, end = (int(float(v)) for v in row[:3])
            if not 1 <= c <= 11:
                raise ValueError(f"{labels}: class {c} outside 1..11")
            samples.append(EventSample(str(aedat), c - 1, start, end))
    if split != "test":
        samples = _train_val(samples, split, val_fraction, seed)
    return _make("dvs_gesture", samples, split, frames, split_by, downsample, cache_dir, augment, 11, folder,
                 flip=False, max_shift=4)


def cifar10_dvs(split="train", root=None, frames=16, split_by="number", downsample=1, cache_dir=None,
                augment=False, seed=0) -> EventFrameDataset:
    """CIFAR10-DVS (Li et al. 2017): 10 classes x 1000 AEDAT 2.0 recordings (128x128); seeded stratified
    80/10/10 split (no official split)."""
    check_split(split)
    folder = _folder(root, "cifar10_dvs")
    samples = [EventSample(str(f), c) for c, name in enumerate(CIFAR10_DVS_CLASSES)
               for f in sorted((folder / name).glob("*.aedat"))]
    if not samples:
        raise missing("CIFAR10-DVS", folder, [f"{c}/cifar10_{c}_<i>.aedat" for c in CIFAR10_DVS_CLASSES[:2]] + ["..."],
                      "https://figshare.com/articles/dataset/CIFAR10-DVS_New/4724671 (unpacked per class)")
    idx = _stratified(np.array([s.label for s in samples]), seed)[split]
    return _make("cifar10_dvs", [samples[i] for i in idx], split, frames, split_by, downsample, cache_dir,
                 augment, 10, folder, flip=True, max_shift=8)


def hardvs(split="train", root=None, frames=8, split_by="number", downsample=1, cache_dir=None,
           augment=False) -> EventFrameDataset:
    """HARDVS (Wang et al. 2022): 300 human activities, 346x260 DAVIS recordings; official train/val/test
    lists ``<split>_label.txt`` (lines ``<relative event file> <label>``)."""
    check_split(split)
    folder = _folder(root, "hardvs")
    lst = folder / f"{split}_label.txt"
    if not lst.is_file():
        raise missing("HARDVS", folder, ["train_label.txt", "val_label.txt", "test_label.txt",
                                         "<relative event file> per line"],
                      "https://github.com/Event-AHU/HARDVS (the event files and the label lists)")
    samples = []
    for n, line in enumerate(lst.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2 or not parts[-1].lstrip("-").isdigit():
            raise ValueError(f"{lst}:{n}: expected '<relative file> <label>', got {line!r}")
        samples.append(EventSample(str(folder / " ".join(parts[:-1])), int(parts[-1])))
    return _make("hardvs", samples, split, frames, split_by, downsample, cache_dir, augment, 300, folder,
                 flip=True, max_shift=8)


EVENT_DATASETS = {"nmnist": nmnist, "ncaltech101": ncaltech101, "dvs_gesture": dvs_gesture,
                  "cifar10_dvs": cifar10_dvs, "hardvs": hardvs}
