r"""Speech Commands (v0.02, Warden 2018) as raw 16 kHz waveforms, read from the extracted archive.

Folder (any of ``<root>/SpeechCommands/speech_commands_v0.02``, ``<root>/speech_commands_v0.02``,
``<root>/speech_commands`` or ``<root>`` itself)::

    validation_list.txt  testing_list.txt  <word>/<speaker>_nohash_<k>.wav  ...  _background_noise_/

from ``speech_commands_v0.02.tar.gz`` (download.tensorflow.org/data/speech_commands_v0.02.tar.gz).
Splits follow the archive's lists: ``val`` = ``validation_list.txt``, ``test`` = ``testing_list.txt``,
``train`` = every other clip (``_background_noise_`` is not a class).

Items are ``(x [L, 1], label)``: 16-bit PCM scaled to ``[-1, 1)``, zero-padded at the end to one second
(16000 samples; a longer clip raises), optionally reduced by an integer ``downsample`` factor (mean of
consecutive blocks, a box low-pass before decimation: ``L = 16000 / downsample``).
``subset="sc35"``: the 35 words, labels in sorted order; ``"sc10"``: ``yes no up down left right on off stop go``.
"""
from __future__ import annotations

import wave

import numpy as np
import torch
from torch.utils.data import Dataset

from ._files import check_split, data_root, find_dir, missing

__all__ = ["SC10_WORDS", "read_wav", "SpeechCommands", "speech_commands"]

SC10_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SAMPLE_RATE = 16000
_SOURCE = "download.tensorflow.org/data/speech_commands_v0.02.tar.gz (extracted)"


def read_wav(path) -> np.ndarray:
    """Mono 16-bit PCM WAV at 16 kHz -> float64 samples in ``[-1, 1)``."""
    with wave.open(str(path), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != SAMPLE_RATE:
            raise ValueError(f"{path}: expected mono 16-bit PCM at {SAMPLE_RATE} Hz, got {w.getnchannels()} "
                             f"channel(s), {8 * w.getsampwidth()} bit, {w.getframerate()} Hz")
        frames = w.readframes(w.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.float64) / 32768.0


class SpeechCommands(Dataset):
    """Clips read on access: item ``i`` is ``(x [16000 // downsample, 1], label)``."""

    def __init__(self, paths, labels, classes, downsample: int = 1, dtype=torch.float32):
        self.paths, self.targets, self.classes = list(paths), torch.as_tensor(labels, dtype=torch.long), classes
        self.downsample, self.dtype = downsample, dtype

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        x = read_wav(self.paths[i])
        if len(x) > SAMPLE_RATE:
            raise ValueError(f"{self.paths[i]}: clip has {len(x)} samples, more than one second ({SAMPLE_RATE})")
        x = np.pad(x, (0, SAMPLE_RATE - len(x)))
        if self.downsample > 1:
            x = x.reshape(-1, self.downsample).mean(1)
        return torch.from_numpy(x).to(self.dtype).unsqueeze(-1), self.targets[i]


def speech_commands(split: str = "train", root=None, subset: str = "sc35", *, downsample: int = 1,
                    dtype=torch.float32) -> SpeechCommands:
    """Speech Commands keyword spotting: ``sc35`` (35 classes) or ``sc10`` (10 classes), raw waveform."""
    check_split(split)
    if subset not in ("sc35", "sc10"):
        raise ValueError(f"subset must be 'sc35' or 'sc10', got {subset!r}")
    if isinstance(downsample, bool) or not isinstance(downsample, int) or downsample < 1 or SAMPLE_RATE % downsample:
        raise ValueError(f"downsample must be a positive int dividing {SAMPLE_RATE}, got {downsample!r}")
    base = data_root(root)
    candidates = [base / "SpeechCommands" / "speech_commands_v0.02", base / "speech_commands_v0.02",
                  base / "speech_commands", base]
    d = find_dir(candidates, "testing_list.txt")
    if d is None or not (d / "validation_list.txt").exists():
        raise missing("Speech Commands", candidates, ["validation_list.txt", "testing_list.txt", "<word>/*.wav"],
                      _SOURCE)
    lists = {s: set((d / f).read_text().split()) for s, f in (("val", "validation_list.txt"),
                                                             ("test", "testing_list.txt"))}
    words = sorted(p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith("_"))
    if subset == "sc10":
        absent = [w for w in SC10_WORDS if w not in words]
        if absent:
            raise missing("Speech Commands (sc10)", d, [f"{w}/*.wav" for w in absent], _SOURCE)
        words = list(SC10_WORDS)
    paths, labels = [], []
    for label, word in enumerate(words):
        for p in sorted((d / word).glob("*.wav")):
            rel = f"{word}/{p.name}"
            in_split = "val" if rel in lists["val"] else "test" if rel in lists["test"] else "train"
            if in_split == split:
                paths.append(p)
                labels.append(label)
    return SpeechCommands(paths, labels, tuple(words), downsample, dtype)
