"""Checkpoints written atomically with a checksum, read with clear errors.

File layout (version 2): one ASCII header line ``spikede-checkpoint 2 sha256=<hex> bytes=<n>`` followed by
the ``torch.save`` payload of ``n`` bytes, whose SHA-256 the header records. :func:`save_checkpoint` serialises
in memory, writes header and payload to a temporary file in the same folder, flushes it to disk and renames it
over the target (``os.replace`` is atomic on POSIX and Windows), so an interrupted run never leaves a
half-written checkpoint: the previous one stays intact until the new one is complete. A write that fails (disk
full) removes the temporary file and says how many bytes were needed.

:func:`load_checkpoint` checks the checksum, reads with ``weights_only=True`` (tensors and plain Python values
only, no code execution) and refuses non-finite floating-point tensors, raising :class:`CheckpointError`
(``checkpoint PATH is corrupt (...)``) for a missing, truncated, altered, foreign or corrupt file.
:func:`check_training_state` checks the fields a resumed :class:`~spikeDE.train.trainer.Trainer` needs.
Version-1 files (a bare ``torch.save`` archive, no checksum) are still read.
"""
from __future__ import annotations

import hashlib
import io
import math
import os
import re
import shutil

import torch

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "check_training_state", "check_optimizer_state",
           "clean_stale_temp_files", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION"]

CHECKPOINT_FORMAT = "spikede-checkpoint"
CHECKPOINT_VERSION = 2
_HEADER = re.compile(rb"^spikede-checkpoint (\d+) sha256=([0-9a-f]{64}) bytes=(\d+)\n")
_TEMP = re.compile(r"^.+\.tmp-(\d+)$")  # the temporary names of save_checkpoint, save_config, write_rows


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable, altered or not a spikeDE checkpoint."""


def _corrupt(path, why: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {path} is corrupt ({why})")


def _open_for_write(path):
    return open(path, "wb")


def save_checkpoint(state: dict, path) -> str:
    """Write ``state`` (a dict of tensors and plain values) to ``path`` atomically; returns the path."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    buf = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}, buf)
    payload = buf.getbuffer()
    header = f"{CHECKPOINT_FORMAT} {CHECKPOINT_VERSION} sha256={hashlib.sha256(payload).hexdigest()} " \
             f"bytes={len(payload)}\n".encode("ascii")
    try:
        with _open_for_write(tmp) as f:
            f.write(header)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(e, OSError):
            need = len(header) + len(payload)
            try:
                free = f", {shutil.disk_usage(folder).free} free"
            except OSError:
                free = ""
            raise CheckpointError(f"cannot write checkpoint {path}: {(e.strerror or str(e)).lower()} (it needs "
                                  f"{need} bytes{free}); the previous checkpoint is kept") from e
        raise
    return path


def _check_finite_tensors(obj, path, where: str) -> None:
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point() or obj.is_complex():
            if not bool(torch.isfinite(obj).all()):
                raise _corrupt(path, f"{where} has non-finite values")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _check_finite_tensors(v, path, f"{where}.{k}" if where else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_finite_tensors(v, path, f"{where}[{i}]")


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (checksum, format and finite tensors checked)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path!r}")
    if not os.path.isfile(path):
        raise CheckpointError(f"{path!r} is not a file")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CheckpointError(f"checkpoint {path} cannot be read ({e.strerror})") from e
    m = _HEADER.match(data[:200])
    if m is not None:
        payload = memoryview(data)[m.end():]
        if int(m.group(3)) != len(payload):
            raise _corrupt(path, f"{len(payload)} payload bytes, the header records {int(m.group(3))}; truncated?")
        if hashlib.sha256(payload).hexdigest() != m.group(2).decode():
            raise _corrupt(path, "checksum mismatch: the file was altered after it was written")
        source = io.BytesIO(payload)
    elif data.startswith(b"spikede-checkpoint"):
        raise _corrupt(path, "unreadable header")
    else:
        source = io.BytesIO(data)  # version 1: a bare torch.save archive
    try:
        state = torch.load(source, map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(f"checkpoint {path!r} is corrupt or unreadable ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else 'no detail'})") from e
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path!r} is not a spikeDE checkpoint")
    if state.get("version") not in (1, CHECKPOINT_VERSION) or (m is None) != (state.get("version") == 1):
        raise CheckpointError(f"checkpoint {path!r} has version {state.get('version')!r}; this spikeDE reads "
                              f"versions 1 and {CHECKPOINT_VERSION}")
    if "model" in state:
        if not isinstance(state["model"], dict) or not all(isinstance(v, torch.Tensor) for v in state["model"].values()):
            raise _corrupt(path, "model must be a table of tensors")
        _check_finite_tensors(state["model"], path, "model weight")
    if "optimizer" in state:
        _check_finite_tensors(state["optimizer"], path, "optimizer state")
    return state


def _int(state, key, path, lo=0, hi=None):
    v = state.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise _corrupt(path, f"{key} must be an integer {rng}, got {v!r}")
    return v


def check_training_state(state: dict, path, n_batches: int | None = None) -> None:
    """Check the fields of a trainer checkpoint (types, ranges, consistency of the step counters); raises
    :class:`CheckpointError` ``checkpoint PATH is corrupt (...)`` naming the field."""
    for key, types in (("model", dict), ("optimizer", dict), ("scheduler", dict), ("history", list),
                       ("accum", dict), ("rng", list)):
        if not isinstance(state.get(key), types):
            got = "missing" if key not in state else type(state[key]).__name__
            raise _corrupt(path, f"{key} must be a {types.__name__}, got {got}")
    epochs = _int(state, "epochs", path, 1)
    epoch = _int(state, "epoch", path, 0, epochs)
    step = _int(state, "step_in_epoch", path, 0, None if n_batches is None else n_batches - 1)
    gstep = _int(state, "global_step", path, 0)
    if n_batches is not None and gstep != epoch * n_batches + step:
        raise _corrupt(path, f"global_step {gstep} does not match epoch {epoch} x {n_batches} batches + "
                             f"step_in_epoch {step}")
    if not all(isinstance(h, dict) for h in state["history"]):
        raise _corrupt(path, "history must be a list of records (tables)")
    sched = state["scheduler"].get("last_epoch")
    if isinstance(sched, bool) or not isinstance(sched, int) or sched != gstep:
        raise _corrupt(path, f"scheduler has made {sched!r} steps, the trainer {gstep}")
    a = state["accum"]
    if not (isinstance(a.get("loss"), torch.Tensor) and isinstance(a.get("correct"), torch.Tensor)
            and isinstance(a.get("n"), int) and not isinstance(a.get("n"), bool) and a["n"] >= 0
            and isinstance(a.get("time"), (int, float)) and math.isfinite(a["time"])):
        raise _corrupt(path, "accum must hold tensors loss, correct and numbers n >= 0, time")
    if not state["rng"] or not all(
            isinstance(r, dict) and isinstance(r.get("torch"), torch.Tensor) and r["torch"].dtype == torch.uint8
            and isinstance(r.get("numpy"), list) and len(r["numpy"]) == 5 and isinstance(r.get("python"), list)
            and len(r["python"]) == 3 for r in state["rng"]):
        raise _corrupt(path, "rng must be a non-empty list of random-generator states")
    opt = state["optimizer"]
    if not isinstance(opt.get("state"), dict) or not isinstance(opt.get("param_groups"), list):
        raise _corrupt(path, "optimizer must hold 'state' and 'param_groups'")


def clean_stale_temp_files(folder) -> list[str]:
    """Remove the temporary files (``.NAME.tmp-PID``) that a killed process left in ``folder`` (those of a
    process still running are kept); returns the removed paths."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        m = _TEMP.match(name)
        if not m:
            continue
        pid = int(m.group(1))
        if pid != os.getpid() and _alive(pid):
            continue
        p = os.path.join(folder, name)
        try:
            if os.path.isfile(p):
                os.remove(p)
                removed.append(p)
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True  # exists, another user's
    except (OverflowError, OSError):
        return False
    return True


def check_optimizer_state(optimizer: torch.optim.Optimizer, path) -> None:
    """After ``optimizer.load_state_dict``: every per-parameter state tensor (moments, momentum buffers) must
    have its parameter's shape (PyTorch only finds out at the next step, with a traceback)."""
    for i, (p, st) in enumerate(optimizer.state.items()):
        for k, v in st.items():
            if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape != p.shape:
                raise _corrupt(path, f"optimizer state {k!r} of parameter {i} has shape {tuple(v.shape)}, the "
                                     f"parameter {tuple(p.shape)}")
