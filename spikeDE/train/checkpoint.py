"""Checkpoints written atomically, read with clear errors.

:func:`save_checkpoint` writes to a temporary file in the same folder, flushes it to disk and renames it over
the target (``os.replace`` is atomic on POSIX and Windows), so an interrupted run never leaves a half-written
checkpoint: the previous one stays intact until the new one is complete. :func:`load_checkpoint` reads with
``weights_only=True`` (tensors and plain Python values only, no code execution) and raises
:class:`CheckpointError` for a missing, truncated, foreign or corrupt file.
"""
from __future__ import annotations

import os

import torch

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION"]

CHECKPOINT_FORMAT = "spikede-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable or not a spikeDE checkpoint."""


def save_checkpoint(state: dict, path) -> str:
    """Write ``state`` (a dict of tensors and plain values) to ``path`` atomically; returns the path."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path!r}")
    if not os.path.isfile(path):
        raise CheckpointError(f"{path!r} is not a file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(f"checkpoint {path!r} is corrupt or unreadable ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else 'no detail'})") from e
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path!r} is not a spikeDE checkpoint")
    if state.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {path!r} has version {state.get('version')!r}; this spikeDE reads "
                              f"version {CHECKPOINT_VERSION}")
    return state
