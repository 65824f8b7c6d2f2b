r"""Text corpora for language modelling: tiny Shakespeare (characters) and WikiText-103 (words or bytes).

Files, under the data folder (``root``, else ``$SPIKEDE_DATA``, else ``./data``); nothing is downloaded:

* tiny Shakespeare: ``tinyshakespeare/input.txt`` (or ``input.txt`` in the folder itself), the 1,115,394
  character corpus of the char-rnn repository. Vocabulary: the sorted set of its characters (65). Split by
  position: the first ``90%`` of the characters train, the next ``5%`` validate, the last ``5%`` test.
* WikiText-103: ``wikitext-103/wiki.{train,valid,test}.tokens`` (also ``wikitext103/`` or the folder itself),
  the standard tokenised release (rare words already replaced by ``<unk>``). ``level="word"``: every line is
  split on white space and ends with ``<eos>`` (the usual convention, empty lines included); the vocabulary is
  every token of the training file (267,735 with ``<eos>`` in the full release), ordered by decreasing count
  (ties: first appearance); a validation or test token outside it is an error (the standard files never have
  one). ``level="byte"``: the UTF-8 bytes of the files, vocabulary 256.

A split is one long id sequence. :class:`LMWindows` cuts it into ``(x, y)`` pairs of ``context`` tokens with
``y_t = x_{t+1}`` (the next token): ``offsets`` either drawn at seeded random positions (training: an epoch is a
fixed number of windows) or consecutive and non-overlapping (evaluation: every token is predicted once, from
the window it falls in).

Metrics: the mean cross-entropy ``H`` (nats per token) gives ``bits per character = H / ln 2`` (character or
byte level) and ``perplexity = exp(H)`` (word level).
"""
from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ._files import data_root, find_dir, missing

__all__ = ["CharCodec", "ByteCodec", "WordCodec", "LMWindows", "tiny_shakespeare", "wikitext103",
           "bits_per_token", "perplexity"]

_SHAKESPEARE_SOURCE = "the char-rnn repository (github.com/karpathy/char-rnn, data/tinyshakespeare/input.txt)"
_WIKITEXT_SOURCE = "the WikiText-103 release (wikitext-103-v1.zip, Merity et al. 2016), extracted"


class CharCodec:
    """Characters <-> ids (``chars[i]`` has id ``i``)."""

    def __init__(self, chars):
        self.chars = list(chars)
        if len(set(self.chars)) != len(self.chars) or not all(isinstance(c, str) and len(c) == 1 for c in self.chars):
            raise ValueError("CharCodec: chars must be distinct single characters")
        self.index = {c: i for i, c in enumerate(self.chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        bad = sorted({c for c in text if c not in self.index})
        if bad:
            raise ValueError(f"characters {bad!r} are not in the vocabulary of {self.vocab_size} characters")
        return [self.index[c] for c in text]

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


class ByteCodec:
    """UTF-8 bytes <-> ids 0..255 (decoding replaces invalid sequences)."""

    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids) -> str:
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")


class WordCodec:
    """White-space separated words <-> ids; unknown words map to ``<unk>`` when the vocabulary has it."""

    def __init__(self, words):
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("WordCodec: words must be distinct")

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def encode(self, text: str) -> list[int]:
        unk = self.index.get("<unk>")
        out = []
        for w in text.split():
            if w not in self.index and unk is None:
                raise ValueError(f"word {w!r} is not in the vocabulary")
            out.append(self.index.get(w, unk))
        return out

    def decode(self, ids) -> str:
        return " ".join(self.words[int(i)] for i in ids).replace(" <eos> ", "\n").replace("<eos>", "\n")


class LMWindows(Dataset):
    """Next-token windows of one id sequence: item ``i`` is ``(ids[o:o+T], ids[o+1:o+T+1])`` with ``o =
    offsets[i]``, ``T = context`` (int64 tensors).

    ``n_windows=None``: consecutive non-overlapping windows covering ``ids`` (the last, shorter remainder is
    dropped and counted in ``n_dropped``); otherwise ``n_windows`` offsets drawn uniformly with ``seed``.
    """

    def __init__(self, ids, context: int, n_windows: int | None = None, seed: int = 0):
        self.ids = torch.as_tensor(np.asarray(ids, dtype=np.int64).astype(np.int32))
        if isinstance(context, bool) or not isinstance(context, int) or context < 1:
            raise ValueError(f"LMWindows: context must be an int >= 1, got {context!r}")
        n = len(self.ids)
        if n < context + 1:
            raise ValueError(f"LMWindows: the text has {n} tokens, fewer than context + 1 = {context + 1}")
        self.context = context
        if n_windows is None:
            k = (n - 1) // context
            self.offsets = torch.arange(k) * context
            self.n_dropped = n - 1 - k * context
        else:
            if isinstance(n_windows, bool) or not isinstance(n_windows, int) or n_windows < 1:
                raise ValueError(f"LMWindows: n_windows must be None or an int >= 1, got {n_windows!r}")
            g = torch.Generator().manual_seed(int(seed))
            self.offsets = torch.randint(0, n - context, (n_windows,), generator=g)
            self.n_dropped = 0

    def __len__(self):
        return len(self.offsets)

    def __getitem__(self, i):
        o = int(self.offsets[i])
        w = self.ids[o:o + self.context + 1].long()
        return w[:-1], w[1:]

    @property
    def targets(self) -> torch.Tensor:
        """Every target token of the windows (``[N * T]``), e.g. for a unigram baseline."""
        return torch.cat([self[i][1] for i in range(len(self))]) if len(self) else torch.zeros(0, dtype=torch.long)


def tiny_shakespeare(root=None, fractions=(0.9, 0.05, 0.05)):
    """``(codec, {"train": ids, "val": ids, "test": ids})`` from ``tinyshakespeare/input.txt`` (see module)."""
    base = data_root(root)
    candidates = [base / "tinyshakespeare", base]
    d = find_dir(candidates, "input.txt")
    if d is None:
        raise missing("tiny Shakespeare", candidates, ["tinyshakespeare/input.txt"], _SHAKESPEARE_SOURCE)
    path = d / "input.txt"
    text = path.read_text(encoding="utf-8")
    if len(text) < 100:
        raise ValueError(f"{path}: the corpus has {len(text)} characters; expected the tiny-Shakespeare text "
                         "(about 1.1 million)")
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three positive numbers summing to 1, got {fractions!r}")
    codec = CharCodec(sorted(set(text)))
    ids = np.asarray(codec.encode(text), dtype=np.int16)
    a = int(fractions[0] * len(ids))
    b = a + int(fractions[1] * len(ids))
    return codec, {"train": ids[:a], "val": ids[a:b], "test": ids[b:]}


def _wikitext_dir(root) -> Path:
    base = data_root(root)
    candidates = [base / "wikitext-103", base / "wikitext103", base / "wikitext-103-raw", base]
    names = [f"wiki.{s}.tokens" for s in ("train", "valid", "test")]
    for c in candidates:
        if all((c / n).exists() for n in names):
            return c
    raise missing("WikiText-103", candidates, names, _WIKITEXT_SOURCE)


def _words(path: Path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield from line.split()
            yield "<eos>"


def wikitext103(root=None, level: str = "word"):
    """``(codec, {"train", "val", "test": ids})`` from ``wiki.{train,valid,test}.tokens`` (see module)."""
    if level not in ("word", "byte"):
        raise ValueError(f"level must be 'word' or 'byte', got {level!r}")
    d = _wikitext_dir(root)
    files = {"train": d / "wiki.train.tokens", "val": d / "wiki.valid.tokens", "test": d / "wiki.test.tokens"}
    for split, p in files.items():
        if p.stat().st_size == 0:
            raise ValueError(f"{p}: the file is empty")
    if level == "byte":
        return ByteCodec(), {s: np.frombuffer(p.read_bytes(), dtype=np.uint8).astype(np.int16)
                             for s, p in files.items()}
    counts = Counter()
    first = {}
    for w in _words(files["train"]):
        counts[w] += 1
        first.setdefault(w, len(first))
    vocab = sorted(counts, key=lambda w: (-counts[w], first[w]))
    codec = WordCodec(vocab)
    out = {}
    for split, p in files.items():
        ids = []
        index = codec.index
        for n, w in enumerate(_words(p)):
            i = index.get(w)
            if i is None:
                raise ValueError(f"{p}: token {w!r} (token {n}) is not in the training vocabulary; the standard "
                                 "WikiText-103 files map every rare word to <unk>")
            ids.append(i)
        out[split] = np.asarray(ids, dtype=np.int32)
    return codec, out


def bits_per_token(mean_nats: float) -> float:
    """``H / ln 2``: bits per character (or byte) from the mean cross-entropy in nats."""
    return mean_nats / math.log(2.0)


def perplexity(mean_nats: float) -> float:
    """``exp(H)``."""
    return math.exp(mean_nats) if mean_nats < 700 else float("inf")
