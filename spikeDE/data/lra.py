r"""Long Range Arena (LRA) tasks from the files of the official release (and the IMDB / CIFAR-10 originals).

Folder layout under the data folder ``root`` (``lra_release/`` is the extracted ``lra_release.gz`` of the
LRA repository, github.com/google-research/long-range-arena; ``lra_release/lra_release/`` is accepted too):

===========  =====================================================================================  ============
task         files                                                                                  length
===========  =====================================================================================  ============
ListOps      ``lra_release/listops-1000/basic_{train,val,test}.tsv`` (header ``Source  Target``)     2048 tokens
IMDB text    ``aclImdb/{train,test}/{pos,neg}/*.txt`` (ai.stanford.edu/~amaas/data/sentiment)        4096 bytes
CIFAR image  ``cifar-10-batches-py/{data_batch_1..5, test_batch}`` (cs.toronto.edu/~kriz/cifar)      1024 pixels
Pathfinder   ``lra_release/pathfinder{32,64,128,256}/<difficulty>/{metadata/*.npy, imgs/}``         res^2 pixels
AAN          ``lra_release/tsv_data/new_aan_pairs.{train,eval,test}.tsv``                            2 x 4000 bytes
===========  =====================================================================================  ============

Items are ``(x, label)``:

* ListOps: token ids ``[L]`` (0 = padding; ``[MIN [MAX [MED [SM ] 0..9`` are ids 1..15; parentheses are
  dropped, as in the LRA tokeniser). IMDB / AAN: UTF-8 bytes + 1 (0 = padding), ``[L]`` and ``[2, L]``.
  Sequences longer than ``max_length`` are cut to ``max_length`` as the benchmark defines; each dataset
  reports how many were cut (``n_truncated``) and the true lengths (``lengths``).
* CIFAR image: grayscale ``0.2989 R + 0.5870 G + 0.1140 B`` rounded to 0..255 (the LRA conversion), as
  ``[1024, 1]`` floats in ``[0, 1]`` (or token ids ``[1024]`` with ``tokens=True``).
* Pathfinder: the grayscale PNG as ``[res^2, 1]`` floats in ``[0, 1]``. The release has no official split:
  a seeded 80/10/10 split of the metadata entries is used. Empty image files (one is known in the
  release) are skipped and counted in ``n_skipped``.

Validation never touches the test files: IMDB and CIFAR carve ``val`` from their training files (seeded).
"""
from __future__ import annotations

import csv
import io
import pickle
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ._files import check_split, data_root, find_dir, missing, split_train_val
from .smnist import SequenceDataset

__all__ = ["LISTOPS_VOCAB", "TokenDataset", "listops", "imdb_text", "cifar_image", "pathfinder", "aan_retrieval"]

LISTOPS_VOCAB = {tok: i + 1 for i, tok in enumerate(["[MIN", "[MAX", "[MED", "[SM", "]"] + [str(d) for d in range(10)])}
_LRA_SOURCE = "the LRA release (github.com/google-research/long-range-arena, lra_release.gz)"
_PATHFINDER_DIFFICULTY = {"easy": "curv_baseline", "intermediate": "curv_contour_length_9",
                          "hard": "curv_contour_length_14"}


class TokenDataset(Dataset):
    """Padded token sequences: item ``i`` is ``(tokens [..., L] int64, label)``; ``lengths`` before padding."""

    def __init__(self, sequences, labels, max_length: int):
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"max_length must be an int >= 1, got {max_length!r}")
        seqs = [s if isinstance(s, tuple) else (s,) for s in sequences]
        width = len(seqs[0]) if seqs else 1
        top = max((int(np.max(np.asarray(p))) for s in seqs for p in s if len(p)), default=0)
        dtype = torch.int16 if top < 2**15 else torch.int32
        self.tokens = torch.zeros(len(seqs), width, max_length, dtype=dtype)
        self.lengths = torch.zeros(len(seqs), width, dtype=torch.long)
        self.n_truncated = 0
        for i, parts in enumerate(seqs):
            for j, p in enumerate(parts):
                n = len(p)
                self.n_truncated += n > max_length
                self.lengths[i, j] = n
                if n:
                    self.tokens[i, j, :min(n, max_length)] = torch.as_tensor(np.asarray(p[:max_length], dtype=np.int64))
        if width == 1:
            self.tokens, self.lengths = self.tokens[:, 0], self.lengths[:, 0]
        self.targets = torch.as_tensor(np.asarray(labels, dtype=np.int64))

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return self.tokens[i].long(), self.targets[i]


def _lra_dir(root, sub: str, task: str, files) -> Path:
    base = data_root(root)
    candidates = [base / "lra_release", base / "lra_release" / "lra_release", base]
    found = find_dir(candidates, sub)
    if found is None:
        raise missing(task, [c / sub for c in candidates], files, _LRA_SOURCE)
    return found / sub


def _bytes(text: str):
    return [b + 1 for b in text.encode("utf-8")]


# ------------------------------------------------------------------------------------------------ ListOps
def listops_tokens(expression: str, where: str = "ListOps"):
    """Token ids of a ListOps expression (parentheses dropped; unknown tokens raise)."""
    out = []
    for tok in expression.replace("(", " ").replace(")", " ").split():
        if tok not in LISTOPS_VOCAB:
            raise ValueError(f"{where}: unknown ListOps token {tok!r}; valid: {sorted(LISTOPS_VOCAB)}")
        out.append(LISTOPS_VOCAB[tok])
    return out


def listops(split: str = "train", root=None, max_length: int = 2048) -> TokenDataset:
    """ListOps (10 classes): nested MIN/MAX/MEDIAN/SUM-MOD-10 expressions as token ids ``[max_length]``."""
    check_split(split)
    names = [f"basic_{s}.tsv" for s in ("train", "val", "test")]
    d = _lra_dir(root, "listops-1000", "LRA ListOps", names)
    path = d / f"basic_{split}.tsv"
    if not path.exists():
        raise missing("LRA ListOps", d, names, _LRA_SOURCE)
    seqs, labels = [], []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["Source", "Target"]:
            raise ValueError(f"{path}: expected the header 'Source<TAB>Target', got {header!r}")
        for n, row in enumerate(reader, start=2):
            if len(row) != 2:
                raise ValueError(f"{path}, line {n}: expected 2 tab-separated fields, got {len(row)}")
            seqs.append(listops_tokens(row[0], f"{path}, line {n}"))
            labels.append(int(row[1]))
    return TokenDataset(seqs, labels, max_length)


# ------------------------------------------------------------------------------------------------ IMDB
def imdb_text(split: str = "train", root=None, max_length: int = 4096, *, val_fraction: float = 0.1,
              seed: int = 0) -> TokenDataset:
    """IMDB sentiment (2 classes, ``neg`` = 0, ``pos`` = 1) at byte level, ``[max_length]`` ids (byte + 1)."""
    check_split(split)
    base = data_root(root)
    d = find_dir([base, base / "imdb"], "aclImdb")
    if d is None:
        raise missing("LRA IMDB text", [base / "aclImdb", base / "imdb" / "aclImdb"],
                      ["aclImdb/train/{pos,neg}/*.txt", "aclImdb/test/{pos,neg}/*.txt"],
                      "ai.stanford.edu/~amaas/data/sentiment (aclImdb_v1.tar.gz, extracted)")
    part = d / "aclImdb" / ("test" if split == "test" else "train")
    files = [(p, label) for label, sub in enumerate(("neg", "pos")) for p in sorted((part / sub).glob("*.txt"))]
    if not files:
        raise missing("LRA IMDB text", [part / "neg", part / "pos"], ["*.txt reviews"],
                      "ai.stanford.edu/~amaas/data/sentiment (aclImdb_v1.tar.gz, extracted)")
    if split != "test":
        tr, va = split_train_val(len(files), val_fraction, seed)
        files = [files[i] for i in (tr if split == "train" else va)]
    seqs = [_bytes(p.read_text(encoding="utf-8")) for p, _ in files]
    return TokenDataset(seqs, [label for _, label in files], max_length)


# ------------------------------------------------------------------------------------------------ CIFAR
class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR-10 python batches (dicts of numpy arrays) and refuses any other object."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"CIFAR-10 batch refers to {module}.{name}, which is not allowed")


def _cifar_batch(path: Path):
    with open(path, "rb") as f:
        d = _NumpyOnlyUnpickler(io.BytesIO(f.read()), encoding="bytes").load()
    data = np.asarray(d[b"data"], dtype=np.uint8)
    labels = np.asarray(d[b"labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise ValueError(f"{path}: expected data [N, 3072] and N labels, got {data.shape}, {labels.shape}")
    return data, labels


def cifar_grayscale(data: np.ndarray) -> np.ndarray:
    """``[N, 3072]`` CIFAR rows (R plane, G plane, B plane) -> ``[N, 1024]`` uint8 gray levels."""
    rgb = data.reshape(-1, 3, 1024).astype(np.float64)
    gray = 0.2989 * rgb[:, 0] + 0.5870 * rgb[:, 1] + 0.1140 * rgb[:, 2]
    return np.clip(np.round(gray), 0, 255).astype(np.uint8)


def cifar_image(split: str = "train", root=None, *, tokens: bool = False, val_size: int = 5000, seed: int = 0,
                dtype=torch.float32):
    """LRA Image: grayscale CIFAR-10 (10 classes) as 1024-pixel sequences (``[1024, 1]``, or ids with ``tokens``)."""
    check_split(split)
    base = data_root(root)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    d = find_dir([base, base / "cifar10"], "cifar-10-batches-py")
    if d is None or not all((d / "cifar-10-batches-py" / n).exists() for n in names):
        raise missing("LRA CIFAR image", [base / "cifar-10-batches-py"], names,
                      "www.cs.toronto.edu/~kriz/cifar.html (CIFAR-10 python version, extracted)")
    d = d / "cifar-10-batches-py"
    batches = [_cifar_batch(d / n) for n in (["test_batch"] if split == "test" else names[:5])]
    data = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    if split != "test":
        if not (isinstance(val_size, int) and 0 <= val_size < len(data)):
            raise ValueError(f"val_size must be an int in [0, {len(data)}), got {val_size!r}")
        perm = np.random.default_rng(seed).permutation(len(data))
        idx = np.sort(perm[:val_size] if split == "val" else perm[val_size:])
        data, labels = data[idx], labels[idx]
    gray = cifar_grayscale(data)
    if tokens:
        return TokenDataset(list(gray.astype(np.int64)), labels, 1024)
    return SequenceDataset(gray, labels, dtype=dtype)


# ------------------------------------------------------------------------------------------------ Pathfinder
class ImageFileDataset(Dataset):
    """Grayscale image files read on access: item ``i`` is ``(x [H*W, 1] in [0, 1], label)``."""

    def __init__(self, paths, labels, side: int, dtype=torch.float32):
        self.paths, self.targets, self.side, self.dtype = list(paths), torch.as_tensor(labels), side, dtype

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        try:
            from PIL import Image
        except ImportError as e:  # pragma: no cover - Pillow comes with matplotlib
            raise ImportError("Pathfinder images are PNG files: pip install pillow") from e
        with Image.open(self.paths[i]) as im:
            x = np.asarray(im.convert("L"), dtype=np.uint8)
        if x.shape != (self.side, self.side):
            raise ValueError(f"{self.paths[i]}: expected a {self.side}x{self.side} image, got {x.shape}")
        return (torch.from_numpy(x.copy()).reshape(-1, 1).to(self.dtype) / 255.0), self.targets[i]


def pathfinder(split: str = "train", root=None, resolution: int = 32, difficulty: str = "hard", *,
               seed: int = 0, dtype=torch.float32) -> ImageFileDataset:
    """Pathfinder (2 classes: are the two dots connected?) as ``[resolution^2, 1]`` pixel sequences.

    ``difficulty``: ``easy`` (curv_baseline), ``intermediate`` (curv_contour_length_9) or ``hard``
    (curv_contour_length_14, the LRA task). ``resolution`` 32 (LRA), 64, 128 or 256 (Path-X).
    """
    check_split(split)
    if resolution not in (32, 64, 128, 256):
        raise ValueError(f"resolution must be 32, 64, 128 or 256, got {resolution!r}")
    if difficulty not in _PATHFINDER_DIFFICULTY:
        raise ValueError(f"difficulty must be one of {sorted(_PATHFINDER_DIFFICULTY)}, got {difficulty!r}")
    sub = f"pathfinder{resolution}"
    d = _lra_dir(root, sub, "LRA Pathfinder", [f"{sub}/{_PATHFINDER_DIFFICULTY[difficulty]}/metadata/*.npy",
                                               f"{sub}/{_PATHFINDER_DIFFICULTY[difficulty]}/imgs/"])
    d = d / _PATHFINDER_DIFFICULTY[difficulty]
    metas = sorted((d / "metadata").glob("*.npy"))
    if not metas:
        raise missing("LRA Pathfinder", d / "metadata", ["*.npy metadata files"], _LRA_SOURCE)
    entries = []
    for meta in metas:  # text lines: "<imgs/k> <sample_i.png> <...> <label> ..."
        for n, line in enumerate(meta.read_text().splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 4:
                raise ValueError(f"{meta}, line {n}: expected at least 4 fields, got {line!r}")
            entries.append((d / fields[0] / fields[1], int(fields[3])))
    kept = [(p, y) for p, y in entries if p.exists() and p.stat().st_size > 0]
    n_skipped = len(entries) - len(kept)
    order = np.random.default_rng(seed).permutation(len(kept))
    n_tr, n_va = int(0.8 * len(kept)), int(0.1 * len(kept))
    idx = {"train": order[:n_tr], "val": order[n_tr:n_tr + n_va], "test": order[n_tr + n_va:]}[split]
    ds = ImageFileDataset([kept[i][0] for i in np.sort(idx)], [kept[i][1] for i in np.sort(idx)], resolution, dtype)
    ds.n_skipped = n_skipped
    return ds


# ------------------------------------------------------------------------------------------------ AAN
def aan_retrieval(split: str = "train", root=None, max_length: int = 4000) -> TokenDataset:
    """AAN document retrieval (2 classes: does paper 1 cite paper 2?): ``[2, max_length]`` byte ids."""
    check_split(split)
    names = [f"new_aan_pairs.{s}.tsv" for s in ("train", "eval", "test")]
    d = _lra_dir(root, "tsv_data", "LRA AAN retrieval", names)
    path = d / names[("train", "val", "test").index(split)]
    if not path.exists():
        raise missing("LRA AAN retrieval", d, names, _LRA_SOURCE)
    seqs, labels = [], []
    with open(path, newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if len(row) != 5:
                raise ValueError(f"{path}, line {n}: expected 5 tab-separated fields "
                                 f"(label, id1, id2, text1, text2), got {len(row)}")
            labels.append(int(float(row[0])))
            seqs.append((_bytes(row[3]), _bytes(row[4])))
    return TokenDataset(seqs, labels, max_length)
