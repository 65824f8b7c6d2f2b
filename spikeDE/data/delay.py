r"""Delayed cue recall: a synthetic long-memory task whose delay ``D`` is a parameter.

One sequence has ``T = cue_steps + delay + recall_steps`` steps and ``C = n_classes * group_size + 1`` spike
channels (values 0 or 1). The cue channels form ``n_classes`` groups of ``group_size`` channels; the last
channel is the *go* channel::

    steps [0, cue_steps)                     cue: each channel of group ``label`` spikes with prob. p_cue
    steps [cue_steps, cue_steps + delay)     delay: distractor noise only
    steps [T - recall_steps, T)              recall: the go channel is on (noise continues)
    every step, every cue channel            distractor noise: Bernoulli(p_noise) spikes

The label is the group that carried the cue. The noise, the go signal and the timing are drawn independently
of the label, so nothing outside the cue window says anything about it: a model scored on the recall window
(``readout`` over the last ``recall_steps`` steps) must carry the cue across the ``delay`` steps between the
end of the cue and the start of the recall (the newest cue step lies ``delay + 1`` steps before the first
recall step, the oldest ``delay + cue_steps``). A neuron with membrane time constant ``tau`` keeps a trace
``~exp(-D / tau)`` of the cue; a fractional neuron of order ``alpha`` keeps ``~D^(-alpha)``, so the
accuracy-versus-delay curve shows where each kind of memory runs out.

With ``p_cue = 1`` the cue is decoded exactly by :func:`cue_oracle` (count spikes per group in the cue window,
take the largest); noise alone makes another group reach the full count only with probability
``p_noise ** (group_size * cue_steps)``. Classes are balanced (chance level ``1 / n_classes``).

Splits ``train`` / ``val`` / ``test`` are independent draws (seeded by ``(seed, split)``), so a run is
reproducible and the test set is never seen in training.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import TensorDataset

from .._checks import check_positive

__all__ = ["delay_task", "make_delay_sequences", "cue_oracle", "delay_task_shape", "DEFAULT_SIZES"]

_SPLITS = ("train", "val", "test")
DEFAULT_SIZES = {"train": 1024, "val": 256, "test": 512}


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"delay task: {name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"delay task: {name} must be >= {minimum}, got {value}")
    return int(value)


def _check_prob(value, name: str, allow_zero: bool) -> float:
    check_positive(value, name, where="delay task", allow_zero=allow_zero)
    if float(value) > 1:
        raise ValueError(f"delay task: {name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def delay_task_shape(delay: int, n_classes: int = 4, group_size: int = 4, cue_steps: int = 4,
                     recall_steps: int = 4) -> tuple[int, int]:
    """``(T, C)`` of one sequence: ``T = cue_steps + delay + recall_steps``, ``C = n_classes*group_size + 1``."""
    return cue_steps + delay + recall_steps, n_classes * group_size + 1


def make_delay_sequences(labels, delay: int, *, n_classes: int = 4, group_size: int = 4, cue_steps: int = 4,
                         recall_steps: int = 4, p_cue: float = 1.0, p_noise: float = 0.05, seed: int = 0,
                         dtype=torch.float32) -> torch.Tensor:
    """Spike sequences ``[N, T, C]`` (0/1 values) for the given ``labels`` (``N`` integers in ``[0, n_classes)``).

    The noise and the cue masks come from streams seeded by ``seed`` alone, so for a fixed ``seed`` two label
    vectors give sequences that differ only inside the cue window, on the groups of the differing labels.
    """
    delay = _check_int(delay, "delay", 0)
    n_classes = _check_int(n_classes, "n_classes", 2)
    group_size = _check_int(group_size, "group_size", 1)
    cue_steps = _check_int(cue_steps, "cue_steps", 1)
    recall_steps = _check_int(recall_steps, "recall_steps", 1)
    p_cue = _check_prob(p_cue, "p_cue", allow_zero=False)
    p_noise = _check_prob(p_noise, "p_noise", allow_zero=True)
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"delay task: labels must be a 1-D integer array, got dtype {labels.dtype} "
                         f"and shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"delay task: labels must lie in [0, {n_classes}), got range "
                         f"[{labels.min()}, {labels.max()}]")
    T, C = delay_task_shape(delay, n_classes, group_size, cue_steps, recall_steps)
    n = labels.size
    noise_ss, cue_ss = np.random.SeedSequence([int(seed), 7919]).spawn(2)
    x = (np.random.default_rng(noise_ss).random((n, T, C)) < p_noise).astype(np.float64)
    x[:, :, -1] = 0.0
    x[:, T - recall_steps:, -1] = 1.0                                     # go signal
    cue = np.random.default_rng(cue_ss).random((n, cue_steps, group_size)) < p_cue
    cols = labels[:, None] * group_size + np.arange(group_size)[None, :]  # [N, group_size]
    rows = np.arange(n)[:, None, None]
    steps = np.arange(cue_steps)[None, :, None]
    window = x[rows, steps, cols[:, None, :]]                              # [N, cue_steps, group_size]
    x[rows, steps, cols[:, None, :]] = np.maximum(window, cue)
    return torch.tensor(x, dtype=dtype)


def delay_task(split: str = "train", delay: int = 32, *, n_samples: int | None = None, n_classes: int = 4,
               group_size: int = 4, cue_steps: int = 4, recall_steps: int = 4, p_cue: float = 1.0,
               p_noise: float = 0.05, seed: int = 0, dtype=torch.float32) -> TensorDataset:
    """A ``TensorDataset`` of ``(x [T, C], label)``; batch it time-first with
    :func:`spikeDE.data.time_first_collate` (``[T, B, C]``).

    Args:
        split: ``"train"``, ``"val"`` or ``"test"`` (independent draws).
        delay: ``D``, steps between the end of the cue and the start of the recall window (``>= 0``).
        n_samples: sequences in the split (default ``DEFAULT_SIZES[split]``: 1024 / 256 / 512).
        n_classes, group_size: number of cue groups and channels per group.
        cue_steps, recall_steps: length of the cue and of the recall (go) window.
        p_cue: spike probability of a cue channel during the cue; p_noise: distractor spike probability.
        seed: data seed (the split is mixed in, so splits never share sequences by construction).
    """
    if split not in _SPLITS:
        raise ValueError(f"delay task: split must be one of {_SPLITS}, got {split!r}")
    n = DEFAULT_SIZES[split] if n_samples is None else _check_int(n_samples, "n_samples", 1)
    n_classes = _check_int(n_classes, "n_classes", 2)
    split_seed = np.random.SeedSequence([int(seed), _SPLITS.index(split)])
    label_ss, seq_ss = split_seed.spawn(2)
    labels = np.random.default_rng(label_ss).permutation(np.arange(n) % n_classes).astype(np.int64)
    seq_seed = int(seq_ss.generate_state(1)[0])
    x = make_delay_sequences(labels, delay, n_classes=n_classes, group_size=group_size, cue_steps=cue_steps,
                             recall_steps=recall_steps, p_cue=p_cue, p_noise=p_noise, seed=seq_seed, dtype=dtype)
    return TensorDataset(x, torch.tensor(labels))


def cue_oracle(x: torch.Tensor, n_classes: int = 4, group_size: int = 4, cue_steps: int = 4,
               time_dim: int = 1) -> torch.Tensor:
    """The memory-unlimited answer: the group with the most spikes in the cue window.

    ``x`` is ``[N, T, C]`` (``time_dim=1``) or time-first ``[T, N, C]`` (``time_dim=0``); returns ``[N]``.
    Ties go to the lowest group index.
    """
    cue = x.narrow(time_dim, 0, cue_steps).sum(time_dim)                  # [N, C]
    counts = cue[:, : n_classes * group_size].reshape(cue.shape[0], n_classes, group_size).sum(-1)
    return counts.argmax(-1)
