r"""Event-camera streams: reading event files, integrating events into frames, filters and augmentations.

An event stream is a numpy structured array of dtype :data:`EVENT_DTYPE` with fields ``x``, ``y`` (pixel
column and row), ``t`` (microseconds) and ``p`` (polarity, 0 = OFF, 1 = ON), sorted by ``t``. Sensor sizes are
``(width, height, polarities)`` as in tonic.

**Reading** (:func:`load_events`, format from the file's extension, checked against its header or record size):

* ``.bin``: the ATIS format of N-MNIST and N-Caltech101, 5 bytes (40 bits) per event, big-endian bit order:
  bits 39..32 ``x``, bits 31..24 ``y``, bit 23 polarity, bits 22..0 timestamp (us). So byte 0 is ``x``, byte 1
  is ``y``, bit 7 of byte 2 is ``p`` and ``t = (byte2 & 0x7F) << 16 | byte3 << 8 | byte4``. A record with
  ``y = 240`` is not an event but a timestamp-overflow marker: every later timestamp is increased by ``2**13``
  (the convention of the datasets' own reader). A file whose size is not a multiple of 5 is refused.
* ``.aedat`` version 3.1 (``#!AER-DAT3.1`` first line; DVS128 Gesture): ``#`` header lines up to
  ``#!END-HEADER``, then packets, each a 28-byte little-endian header (``int16 eventType, int16 eventSource,
  int32 eventSize, eventTSOffset, eventTSOverflow, eventCapacity, eventNumber, eventValid``) followed by
  ``eventCapacity * eventSize`` bytes. Polarity packets (``eventType = 1``, ``eventSize = 8``) hold
  ``uint32 data, int32 timestamp`` per event: ``x = data[31:17]``, ``y = data[16:2]``, ``p = data[1]``,
  ``valid = data[0]``; the full timestamp is ``eventTSOverflow << 31 | timestamp``. Other packet types are
  skipped, invalid events dropped.
* ``.aedat`` version 2.0 (``#!AER-DAT2.0``; CIFAR10-DVS, DVS128 addresses): ``#`` header lines, then 8 bytes
  per event, big-endian ``uint32 address, uint32 timestamp``; ``x = address[7:1]``, ``y = address[14:8]``,
  ``p = address[0]``.
* ``.npy`` / ``.npz``: a structured array with fields ``x, y, t, p`` (an ``.npz`` holds it under ``events`` or
  as four arrays named ``x, y, t, p``).
* ``.aedat4`` (compressed container): through the optional ``aedat`` package
  (``pip install 'spikede[vision]'``).

A truncated or foreign file raises :class:`EventFileError` naming the file and what was expected.

**Timestamps and coordinates** (:func:`check_events`): negative timestamps and coordinates outside the sensor
are refused (``ValueError``); a stream whose timestamps decrease is **sorted** (stable, by ``t``), so events
with equal timestamps keep their order. An empty stream is valid.

**Frames** (:func:`to_frames`): ``F[k, c, y, x] = #{events i in slice k : p_i = c, y_i = y, x_i = x}``, a
``[T, P, H, W]`` float tensor. Every event falls into exactly one slice, so ``F.sum() == len(events)``:

* ``n_time_bins=T, split_by="number"``: event ``i`` (of ``N``, in time order) goes to slice ``floor(i T / N)``:
  slices of ``floor(N/T)`` or ``ceil(N/T)`` events.
* ``n_time_bins=T, split_by="time"``: with ``t0 = t_first`` and ``D = t_last - t0 + 1`` (us, inclusive), event
  ``i`` goes to slice ``floor((t_i - t0) T / D)``: ``T`` windows of equal duration ``D / T`` covering the stream.
* ``time_window=w`` (us): slice ``floor((t_i - t0) / w)``, ``ceil(D / w)`` slices.
* ``event_count=n``: slice ``floor(i / n)``, ``ceil(N / n)`` slices.

An empty stream gives ``T`` zero frames with ``n_time_bins`` and zero frames (``[0, P, H, W]``) otherwise.
Integration: slice boundaries by binary search, then one ``np.bincount`` of the pixel index per slice (the events
of a slice are contiguous in a sorted stream); no Python loop over events.

Also: :func:`voxel_grid` (bilinear in time, signed polarity), :func:`denoise` (background-activity filter),
:func:`downsample`, seeded augmentations (:func:`flip_lr`, :func:`flip_ud`, :func:`shift`, :func:`random_crop`,
:func:`drop_events`, :func:`time_jitter`, :func:`flip_polarity`, and :class:`EventAugment` combining them) and an
on-disk :class:`FrameCache` keyed by the file and the transform's parameters.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import torch

__all__ = ["EVENT_DTYPE", "EventFileError", "make_events", "check_events", "check_sensor_size", "load_events",
           "read_atis_bin", "read_aedat31", "read_aedat2", "read_numpy_events", "read_aedat4", "write_atis_bin",
           "write_aedat31", "write_aedat2", "to_frames", "frame_bounds", "frame_slices", "voxel_grid",
           "denoise", "downsample",
           "flip_lr", "flip_ud", "shift", "random_crop", "drop_events", "time_jitter", "flip_polarity",
           "EventAugment", "FrameCache", "frames_from_file"]

EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])

_SPLITS = ("number", "time")
_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


class EventFileError(ValueError):
    """A file that is not a valid event file of the format its extension names (truncated or foreign)."""


# ------------------------------------------------------------------------------------------------ basics
def make_events(x, y, t, p) -> np.ndarray:
    """A structured event array (:data:`EVENT_DTYPE`) from four equally long 1-D arrays."""
    x, y, t, p = (np.asarray(a).reshape(-1) for a in (x, y, t, p))
    n = len(x)
    for name, a in (("y", y), ("t", t), ("p", p)):
        if len(a) != n:
            raise ValueError(f"make_events: {name} has {len(a)} entries but x has {n}")
    for name, a in (("x", x), ("y", y), ("t", t), ("p", p)):
        if n == 0:
            break
        if a.dtype.kind == "f" and not bool(np.all(a == np.floor(a))):
            raise ValueError(f"make_events: {name} holds non-integer values (first {a[a != np.floor(a)][0]!r})")
        if a.dtype.kind not in "iufb":
            raise ValueError(f"make_events: {name} must be numeric, got dtype {a.dtype}")
        info = np.iinfo(EVENT_DTYPE[name])
        if a.dtype.kind != "b" and (a.min() < info.min or a.max() > info.max):
            raise ValueError(f"make_events: {name} outside the range of {EVENT_DTYPE[name]} "
                             f"([{info.min}, {info.max}]): min {a.min()}, max {a.max()}")
    ev = np.empty(n, dtype=EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = x, y, t, p
    return ev


def check_sensor_size(sensor_size) -> tuple[int, int, int]:
    """``(width, height, polarities)`` as three positive ints (``ValueError`` otherwise)."""
    try:
        w, h, c = (int(s) for s in sensor_size)
        ok = all(int(s) == s for s in sensor_size)
    except (TypeError, ValueError):
        ok = False
    if not ok or min(w, h, c) < 1:
        raise ValueError(f"sensor_size must be (width, height, polarities) of positive ints, got {sensor_size!r}")
    return w, h, c


def check_events(events, sensor_size=None, where: str = "events") -> np.ndarray:
    """Validate a stream; returns it sorted by ``t`` (stable; a new array only if it was unsorted).

    Refused (``ValueError`` naming the count and the first offender): missing fields, negative timestamps,
    polarities or coordinates outside ``sensor_size`` (when given).
    """
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        raise TypeError(f"{where} must be a numpy structured array with fields x, y, t, p, got "
                        f"{type(events).__name__}")
    missing = [f for f in "xytp" if f not in events.dtype.names]
    if missing:
        raise ValueError(f"{where} lacks the field(s) {', '.join(missing)}; it has {events.dtype.names}")
    if events.ndim != 1:
        raise ValueError(f"{where} must be 1-D, got shape {events.shape}")
    if len(events) == 0:
        return events
    t = events["t"]
    if len(t) > 1 and bool((t[1:] < t[:-1]).any()):
        events = events[np.argsort(t, kind="stable")]
        t = events["t"]
    if t[0] < 0:
        bad = np.flatnonzero(t < 0)
        raise ValueError(f"{where}: {len(bad)} negative timestamp(s), first t = {t[0]}; timestamps are "
                         "microseconds >= 0")
    limits = (None, None, None) if sensor_size is None else check_sensor_size(sensor_size)
    for name, hi in zip("xyp", limits):
        a = events[name]
        # one reduction: negatives read as unsigned are huge
        bound = hi if hi is not None else (1 << (8 * a.dtype.itemsize - 1))
        if a.dtype.kind == "i":
            bad_any = int(a.view(_UNSIGNED[a.dtype.itemsize]).max()) >= bound
        else:
            bad_any = a.min() < 0 or (hi is not None and a.max() >= hi)
        if bad_any:
            bad = np.flatnonzero((a < 0) | (a >= bound))
            rng = f"[0, {hi})" if hi is not None else ">= 0"
            raise ValueError(f"{where}: {len(bad)} event(s) with {name} outside {rng} for sensor_size "
                             f"{sensor_size}, first at time-sorted index {bad[0]} ({name} = {a[bad[0]]})")
    return events


# ------------------------------------------------------------------------------------------------ readers
def _read_bytes(path) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"event file not found: {path}")
    return path.read_bytes()


def read_atis_bin(path) -> np.ndarray:
    """Events of an ATIS ``.bin`` file (N-MNIST, N-Caltech101); see the module doc for the bit layout."""
    raw = _read_bytes(path)
    if len(raw) % 5:
        raise EventFileError(f"{path}: {len(raw)} bytes is not a multiple of 5; an ATIS .bin file holds 5-byte "
                             "events (x 8 bits, y 8 bits, polarity 1 bit, timestamp 23 bits): truncated or not "
                             "an ATIS file")
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 5).astype(np.int64)
    x, y = b[:, 0], b[:, 1]
    p = b[:, 2] >> 7
    t = ((b[:, 2] & 0x7F) << 16) | (b[:, 3] << 8) | b[:, 4]
    overflow = y == 240
    if overflow.any():
        t = t + (np.cumsum(overflow) << 13)
        keep = ~overflow
        x, y, t, p = x[keep], y[keep], t[keep], p[keep]
    return check_events(make_events(x, y, t, p), where=str(path))


def write_atis_bin(path, events) -> None:
    """Write ``events`` as an ATIS ``.bin`` file (``t < 2**23``, ``x, y < 256``, ``y != 240``)."""
    ev = check_events(events, where="write_atis_bin")
    if len(ev) and (ev["t"].max() >= 1 << 23 or ev["x"].max() > 255 or ev["y"].max() > 255 or (ev["y"] == 240).any()):
        raise ValueError("write_atis_bin: needs t < 2**23 us, x and y < 256 and y != 240 (the overflow marker)")
    t = ev["t"].astype(np.int64)
    out = np.empty((len(ev), 5), dtype=np.uint8)
    out[:, 0], out[:, 1] = ev["x"], ev["y"]
    out[:, 2] = (ev["p"].astype(np.int64) << 7) | (t >> 16)
    out[:, 3], out[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    Path(path).write_bytes(out.tobytes())


def _split_header(raw: bytes, path, version: str) -> tuple[list[str], int]:
    """The ``#`` header lines of an AEDAT file and the offset of its body."""
    lines, pos = [], 0
    while pos < len(raw) and raw[pos:pos + 1] == b"#":
        end = raw.find(b"\n", pos)
        if end < 0:
            raise EventFileError(f"{path}: header line without end of line; expected an AEDAT {version} header")
        line = raw[pos:end].decode("latin-1").rstrip("\r")
        lines.append(line)
        pos = end + 1
        if line.startswith("#!END-HEADER"):
            break
    return lines, pos


def _aedat_version(raw: bytes, path) -> str:
    first = raw[:32].split(b"\n", 1)[0].strip()
    if not first.startswith(b"#!AER-DAT"):
        raise EventFileError(f"{path}: does not start with '#!AER-DAT<version>'; expected an AEDAT file "
                             f"(version 2.0 or 3.1), found {first[:16]!r}")
    return first[len(b"#!AER-DAT"):].decode("latin-1")


def read_aedat31(path) -> np.ndarray:
    """Polarity events of an AEDAT 3.x file (DVS128 Gesture); see the module doc for the layout."""
    raw = _read_bytes(path)
    version = _aedat_version(raw, path)
    if not version.startswith("3."):
        raise EventFileError(f"{path}: AEDAT version {version}; expected 3.1")
    _, pos = _split_header(raw, path, "3.1")
    xs, ys, ts, ps = [], [], [], []
    n = len(raw)
    while pos < n:
        if n - pos < 28:
            raise EventFileError(f"{path}: {n - pos} bytes left at offset {pos}, less than a 28-byte AEDAT 3.1 "
                                 "packet header: truncated file")
        etype, _src, esize, _off, overflow, capacity, number, _valid = struct.unpack_from("<hhiiiiii", raw, pos)
        pos += 28
        size = capacity * esize
        if esize <= 0 or capacity < 0 or number > capacity or size > n - pos:
            raise EventFileError(f"{path}: packet header at offset {pos - 28} announces {capacity} events of {esize} "
                                 f"bytes but {n - pos} bytes remain: truncated or not AEDAT 3.1")
        if etype == 1:
            if esize != 8:
                raise EventFileError(f"{path}: polarity packet at offset {pos - 28} has eventSize {esize}; "
                                     "expected 8 (uint32 data, int32 timestamp)")
            rec = np.frombuffer(raw, dtype="<u4", count=2 * number, offset=pos).reshape(-1, 2)
            data = rec[:, 0].astype(np.int64)
            ok = (data & 1) == 1
            data = data[ok]
            xs.append((data >> 17) & 0x7FFF)
            ys.append((data >> 2) & 0x7FFF)
            ps.append((data >> 1) & 1)
            ts.append((rec[ok, 1].astype(np.int64) & 0x7FFFFFFF) | (np.int64(overflow) << 31))
        pos += size
    if not xs:
        return np.empty(0, dtype=EVENT_DTYPE)
    ev = make_events(np.concatenate(xs), np.concatenate(ys), np.concatenate(ts), np.concatenate(ps))
    return check_events(ev, where=str(path))


def write_aedat31(path, events, packet_size: int = 4096) -> None:
    """Write polarity ``events`` as an AEDAT 3.1 file (packets of at most ``packet_size`` events)."""
    ev = check_events(events, where="write_aedat31")
    out = [b"#!AER-DAT3.1\r\n", b"#Format: RAW\r\n", b"#Source 1: DVS128\r\n", b"#!END-HEADER\r\n"]
    for s in range(0, len(ev), packet_size):
        part = ev[s:s + packet_size]
        t = part["t"].astype(np.int64)
        overflow = int(t[0] >> 31)
        if int(t[-1] >> 31) != overflow:
            raise ValueError("write_aedat31: a packet would straddle a 2**31 us timestamp overflow")
        data = (part["x"].astype(np.int64) << 17) | (part["y"].astype(np.int64) << 2) | \
            (part["p"].astype(np.int64) << 1) | 1
        rec = np.stack([data, t & 0x7FFFFFFF], axis=1).astype("<u4")
        out.append(struct.pack("<hhiiiiii", 1, 1, 8, 4, overflow, len(part), len(part), len(part)))
        out.append(rec.tobytes())
    Path(path).write_bytes(b"".join(out))


def read_aedat2(path) -> np.ndarray:
    """Events of an AEDAT 2.0 file with DVS128 addresses (CIFAR10-DVS); see the module doc."""
    raw = _read_bytes(path)
    version = _aedat_version(raw, path)
    if not version.startswith("2."):
        raise EventFileError(f"{path}: AEDAT version {version}; expected 2.0")
    _, pos = _split_header(raw, path, "2.0")
    body = len(raw) - pos
    if body % 8:
        raise EventFileError(f"{path}: {body} bytes after the header is not a multiple of 8; AEDAT 2.0 holds "
                             "8-byte events (uint32 address, uint32 timestamp, big-endian): truncated file")
    rec = np.frombuffer(raw, dtype=">u4", offset=pos).reshape(-1, 2).astype(np.int64)
    a = rec[:, 0]
    return check_events(make_events((a >> 1) & 0x7F, (a >> 8) & 0x7F, rec[:, 1], a & 1), where=str(path))


def write_aedat2(path, events) -> None:
    """Write ``events`` (DVS128: ``x, y < 128``) as an AEDAT 2.0 file."""
    ev = check_events(events, (128, 128, 2), where="write_aedat2")
    a = (ev["y"].astype(np.int64) << 8) | (ev["x"].astype(np.int64) << 1) | ev["p"].astype(np.int64)
    rec = np.stack([a, ev["t"].astype(np.int64)], axis=1).astype(">u4")
    Path(path).write_bytes(b"#!AER-DAT2.0\r\n#This is a raw AE data file\r\n" + rec.tobytes())


def read_numpy_events(path) -> np.ndarray:
    """A structured event array from ``.npy`` or ``.npz`` (see the module doc)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"event file not found: {path}")
    try:
        obj = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise EventFileError(f"{path}: not a readable numpy file ({e}); expected a structured array with fields "
                             "x, y, t, p") from e
    if isinstance(obj, np.lib.npyio.NpzFile):
        with obj:
            if "events" in obj.files:
                arr = obj["events"]
            elif all(k in obj.files for k in "xytp"):
                arr = make_events(obj["x"], obj["y"], obj["t"], obj["p"])
            else:
                raise EventFileError(f"{path}: holds {obj.files}; expected an array 'events' or arrays x, y, t, p")
    else:
        arr = obj
    if arr.dtype.names is None or any(f not in arr.dtype.names for f in "xytp"):
        raise EventFileError(f"{path}: array of dtype {arr.dtype}; expected a structured array with fields x, y, t, p")
    return check_events(make_events(arr["x"], arr["y"], arr["t"], arr["p"]), where=str(path))


def read_aedat4(path) -> np.ndarray:
    """Polarity events of an AEDAT 4 file through the optional ``aedat`` package."""
    try:
        import aedat  # type: ignore
    except ImportError as e:
        raise ImportError("reading .aedat4 files needs the 'aedat' package: pip install 'spikede[vision]' "
                          "(or pip install aedat)") from e
    xs, ys, ts, ps = [], [], [], []
    try:
        for packet in aedat.Decoder(str(path)):
            if "events" in packet:
                e = packet["events"]
                xs.append(e["x"]), ys.append(e["y"]), ts.append(e["t"]), ps.append(e["on"])
    except Exception as e:  # the decoder's own errors for foreign / truncated files
        raise EventFileError(f"{path}: not a readable AEDAT 4 file ({e})") from e
    if not xs:
        return np.empty(0, dtype=EVENT_DTYPE)
    t = np.concatenate(ts).astype(np.int64)
    t = t - t.min() if len(t) else t
    return check_events(make_events(np.concatenate(xs), np.concatenate(ys), t, np.concatenate(ps).astype(np.int64)),
                        where=str(path))


_READERS = {".bin": read_atis_bin, ".npy": read_numpy_events, ".npz": read_numpy_events, ".aedat4": read_aedat4}


def load_events(path, sensor_size=None) -> np.ndarray:
    """Read an event file by its extension (see the module doc), sorted by ``t``; with ``sensor_size`` the
    coordinates are checked against it."""
    ext = Path(path).suffix.lower()
    if ext == ".aedat":
        raw = _read_bytes(path)
        version = _aedat_version(raw[:64], path)
        reader = read_aedat31 if version.startswith("3.") else read_aedat2 if version.startswith("2.") else None
        if reader is None:
            raise EventFileError(f"{path}: AEDAT version {version} is not read here; versions 2.0 and 3.1 are "
                                 "(AEDAT 4 as .aedat4)")
        ev = reader(path)
    elif ext in _READERS:
        ev = _READERS[ext](path)
    else:
        raise EventFileError(f"{path}: unknown event file extension {ext!r}; expected one of .bin, .aedat, "
                             ".aedat4, .npy, .npz")
    return check_events(ev, sensor_size, where=str(path)) if sensor_size is not None else ev


# ------------------------------------------------------------------------------------------------ frames
def frame_bounds(events, n_time_bins=None, time_window=None, event_count=None, split_by: str = "number"):
    """``(bounds [T + 1], T)``: slice ``k`` of a time-sorted stream is ``events[bounds[k]:bounds[k + 1]]`` (the
    slices of the module doc, found by ``O(T log N)`` binary searches)."""
    given = [k for k, v in (("n_time_bins", n_time_bins), ("time_window", time_window),
                            ("event_count", event_count)) if v is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of n_time_bins, time_window, event_count; got {given or 'none'}")
    if split_by not in _SPLITS:
        raise ValueError(f"split_by must be one of {_SPLITS}, got {split_by!r}")
    n = len(events)
    if n_time_bins is not None:
        T = _positive_int(n_time_bins, "n_time_bins")
        if n == 0:
            return np.zeros(T + 1, np.int64), T
        if split_by == "number":                      # event i in slice floor(i T / N)  <=>  i >= ceil(k N / T)
            return (np.arange(T + 1, dtype=np.int64) * n + T - 1) // T, T
        t = events["t"]
        t0, dur = int(t[0]), int(t[-1]) - int(t[0]) + 1
        # event in slice k  <=>  t - t0 >= ceil(k dur / T)
        edges = t0 + (np.arange(T + 1, dtype=np.int64) * dur + T - 1) // T
        return np.searchsorted(t, edges, side="left").astype(np.int64), T
    if time_window is not None:
        w = float(time_window)
        if not (w > 0 and np.isfinite(w)):
            raise ValueError(f"time_window must be a finite number of microseconds > 0, got {time_window!r}")
        if n == 0:
            return np.zeros(1, np.int64), 0
        t = events["t"]
        T = int((int(t[-1]) - int(t[0])) // w) + 1
        edges = int(t[0]) + np.ceil(np.arange(T + 1) * w).astype(np.int64)
        return np.searchsorted(t, edges, side="left").astype(np.int64), T
    c = _positive_int(event_count, "event_count")
    T = -(-n // c)
    return np.minimum(np.arange(T + 1, dtype=np.int64) * c, n), T


def frame_slices(events, n_time_bins=None, time_window=None, event_count=None, split_by: str = "number"):
    """``(slice_index [N], T)``: the slice of every event of a sorted stream (module doc)."""
    bounds, T = frame_bounds(events, n_time_bins, time_window, event_count, split_by)
    return np.repeat(np.arange(T, dtype=np.int64), np.diff(bounds)), T


def _positive_int(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    return int(v)


def to_frames(events, sensor_size, n_time_bins=None, time_window=None, event_count=None, split_by: str = "number",
              dtype=torch.float32) -> torch.Tensor:
    """Event counts per slice, polarity and pixel: a ``[T, P, H, W]`` tensor (``sensor_size = (W, H, P)``).

    ``F[k, c, y, x] = #{i in slice k : p_i = c, y_i = y, x_i = x}``; the slices are described in the module
    doc; ``F.sum() == len(events)``. Events are validated (:func:`check_events`) and sorted by time first.
    """
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a floating torch dtype, got {dtype!r}")
    W, H, P = check_sensor_size(sensor_size)
    events = check_events(events, sensor_size, "to_frames: events")
    bounds, T = frame_bounds(events, n_time_bins, time_window, event_count, split_by)
    frame = P * H * W
    pix = events["p"].astype(np.intp)                  # (p H + y) W + x, in place
    pix *= H
    pix += events["y"]
    pix *= W
    pix += events["x"]
    if T <= 256:
        # the events of a slice are contiguous (sorted stream): one bincount per slice
        counts = np.empty((T, frame), dtype=np.int64)
        for j in range(T):
            counts[j] = np.bincount(pix[bounds[j]:bounds[j + 1]], minlength=frame)
    else:
        pix += np.repeat(np.arange(T, dtype=np.intp) * frame, np.diff(bounds))
        counts = np.bincount(pix, minlength=T * frame)
    return torch.from_numpy(counts.reshape(T, P, H, W)).to(dtype)


def voxel_grid(events, sensor_size, n_time_bins: int, dtype=torch.float32) -> torch.Tensor:
    r"""Voxel grid ``V [T, H, W]``: each event adds its signed polarity ``s_i = 2 p_i - 1`` to its pixel in the two
    nearest time bins, ``V[k, y_i, x_i] += s_i max(0, 1 - |k - \tau_i|)`` with
    ``\tau_i = (T - 1)(t_i - t_0) / (t_N - t_0)`` (``\tau_i = 0`` for a stream of one timestamp)."""
    W, H, _ = check_sensor_size(sensor_size)
    T = _positive_int(n_time_bins, "n_time_bins")
    events = check_events(events, sensor_size, "voxel_grid: events")
    out = np.zeros(T * H * W, dtype=np.float64)
    if len(events):
        t = events["t"].astype(np.float64)
        span = t[-1] - t[0]
        tau = (T - 1) * (t - t[0]) / span if span > 0 else np.zeros_like(t)
        lo = np.floor(tau).astype(np.int64)
        frac = tau - lo
        s = 2.0 * events["p"].astype(np.float64) - 1.0
        pix = events["y"].astype(np.int64) * W + events["x"]
        out += np.bincount(lo * H * W + pix, weights=s * (1 - frac), minlength=T * H * W)
        hi = lo + 1
        ok = hi < T
        out += np.bincount(hi[ok] * H * W + pix[ok], weights=(s * frac)[ok], minlength=T * H * W)
    return torch.from_numpy(out.reshape(T, H, W)).to(dtype)


# ------------------------------------------------------------------------------------------------ filters
def denoise(events, sensor_size, filter_time: float) -> np.ndarray:
    """Background-activity filter: keep event ``i`` iff an event ``j`` with ``t_i - filter_time <= t_j < t_i`` fired
    at a pixel of the 3x3 neighbourhood of ``(x_i, y_i)`` (its own pixel included). Isolated noise events,
    with no support in space and time, are removed. Vectorised: per neighbour offset, one binary search of
    the latest earlier event at that pixel."""
    W, H, _ = check_sensor_size(sensor_size)
    if not (float(filter_time) >= 0 and np.isfinite(float(filter_time))):
        raise ValueError(f"filter_time must be a finite number of microseconds >= 0, got {filter_time!r}")
    events = check_events(events, sensor_size, "denoise: events")
    if len(events) == 0:
        return events
    x, y, t = events["x"].astype(np.int64), events["y"].astype(np.int64), events["t"].astype(np.int64)
    span = int(t.max()) + 2
    pix = y * W + x
    keys = np.sort(pix * span + t)
    keep = np.zeros(len(events), dtype=bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            qx, qy = x + dx, y + dy
            inside = (qx >= 0) & (qx < W) & (qy >= 0) & (qy < H)
            q = qy * W + qx
            j = np.searchsorted(keys, q * span + t, side="left") - 1   # latest key < (q, t_i)
            jj = np.maximum(j, 0)
            found = inside & (j >= 0) & (keys[jj] // span == q)
            tj = keys[jj] % span
            keep |= found & (t - tj <= filter_time)
    return events[keep]


def downsample(events, sensor_size, factor) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Pool pixels by integer ``factor`` (an int or ``(fx, fy)``): ``x <- floor(x / fx)``, ``y <- floor(y / fy)``;
    returns the events and the new sensor size ``(ceil(W / fx), ceil(H / fy), P)``. No event is lost."""
    W, H, P = check_sensor_size(sensor_size)
    fx, fy = (factor, factor) if not isinstance(factor, (tuple, list)) else factor
    fx, fy = _positive_int(fx, "factor"), _positive_int(fy, "factor")
    ev = check_events(events, sensor_size, "downsample: events").copy()
    ev["x"] //= fx
    ev["y"] //= fy
    return ev, (-(-W // fx), -(-H // fy), P)


# ------------------------------------------------------------------------------------------------ augmentations
def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)):
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be an int, a numpy Generator or None, got {type(seed).__name__}")


def _probability(v, name):
    if not (0.0 <= float(v) <= 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {v!r}")
    return float(v)


def flip_lr(events, sensor_size) -> np.ndarray:
    """Mirror left-right: ``x <- W - 1 - x``."""
    W, _, _ = check_sensor_size(sensor_size)
    ev = check_events(events, sensor_size, "flip_lr: events").copy()
    ev["x"] = W - 1 - ev["x"]
    return ev


def flip_ud(events, sensor_size) -> np.ndarray:
    """Mirror up-down: ``y <- H - 1 - y``."""
    _, H, _ = check_sensor_size(sensor_size)
    ev = check_events(events, sensor_size, "flip_ud: events").copy()
    ev["y"] = H - 1 - ev["y"]
    return ev


def flip_polarity(events, sensor_size=None) -> np.ndarray:
    """Swap ON and OFF: ``p <- 1 - p`` (two-polarity streams)."""
    ev = check_events(events, sensor_size, "flip_polarity: events").copy()
    if len(ev) and ev["p"].max() > 1:
        raise ValueError("flip_polarity needs polarities 0/1")
    ev["p"] = 1 - ev["p"]
    return ev


def shift(events, sensor_size, dx: int, dy: int) -> np.ndarray:
    """Translate by ``(dx, dy)`` pixels; events that leave the sensor are dropped."""
    W, H, _ = check_sensor_size(sensor_size)
    ev = check_events(events, sensor_size, "shift: events")
    x, y = ev["x"].astype(np.int64) + int(dx), ev["y"].astype(np.int64) + int(dy)
    keep = (x >= 0) & (x < W) & (y >= 0) & (y < H)
    out = ev[keep].copy()
    out["x"], out["y"] = x[keep], y[keep]
    return out


def random_crop(events, sensor_size, crop_size, seed=None) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Keep a ``(cw, ch)`` window at a uniformly random position, re-indexed to start at 0; returns the events
    and the new sensor size ``(cw, ch, P)``."""
    W, H, P = check_sensor_size(sensor_size)
    cw, ch = (int(crop_size[0]), int(crop_size[1]))
    if not (1 <= cw <= W and 1 <= ch <= H):
        raise ValueError(f"crop_size must fit in the sensor ({W}, {H}), got {crop_size!r}")
    g = _rng(seed)
    x0, y0 = int(g.integers(0, W - cw + 1)), int(g.integers(0, H - ch + 1))
    ev = shift(events, (W, H, P), -x0, -y0)
    keep = (ev["x"] < cw) & (ev["y"] < ch)
    return ev[keep], (cw, ch, P)


def drop_events(events, p_drop: float, seed=None) -> np.ndarray:
    """Remove each event independently with probability ``p_drop``."""
    p_drop = _probability(p_drop, "p_drop")
    ev = check_events(events, None, "drop_events: events")
    return ev[_rng(seed).random(len(ev)) >= p_drop]


def time_jitter(events, std_us: float, seed=None) -> np.ndarray:
    """``t <- max(0, round(t + std_us * N(0, 1)))`` independently per event, then sorted by time."""
    if not (float(std_us) >= 0 and np.isfinite(float(std_us))):
        raise ValueError(f"std_us must be a finite number >= 0, got {std_us!r}")
    ev = check_events(events, None, "time_jitter: events").copy()
    t = ev["t"] + np.rint(float(std_us) * _rng(seed).standard_normal(len(ev))).astype(np.int64)
    ev["t"] = np.maximum(t, 0)
    return ev[np.argsort(ev["t"], kind="stable")]


class EventAugment:
    """A seeded training augmentation of event streams, applied in this order: left-right flip (probability
    ``p_flip_lr``), up-down flip (``p_flip_ud``), a shift by ``dx, dy ~ U{-max_shift..max_shift}``, event drop
    (each event with probability ``p_drop``), time jitter (``jitter_us``), polarity flip (``p_flip_polarity``).
    ``aug(events, rng)`` draws from the numpy Generator ``rng``; the same seed gives the same result."""

    def __init__(self, sensor_size, p_flip_lr: float = 0.5, p_flip_ud: float = 0.0, max_shift: int = 0,
                 p_drop: float = 0.0, jitter_us: float = 0.0, p_flip_polarity: float = 0.0):
        self.sensor_size = check_sensor_size(sensor_size)
        self.p_flip_lr = _probability(p_flip_lr, "p_flip_lr")
        self.p_flip_ud = _probability(p_flip_ud, "p_flip_ud")
        self.p_drop = _probability(p_drop, "p_drop")
        self.p_flip_polarity = _probability(p_flip_polarity, "p_flip_polarity")
        if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)) or max_shift < 0:
            raise ValueError(f"max_shift must be an int >= 0, got {max_shift!r}")
        self.max_shift = int(max_shift)
        if not (float(jitter_us) >= 0):
            raise ValueError(f"jitter_us must be >= 0, got {jitter_us!r}")
        self.jitter_us = float(jitter_us)

    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("p_flip_lr", "p_flip_ud", "max_shift", "p_drop", "jitter_us",
                                               "p_flip_polarity")}

    def __call__(self, events, seed=None) -> np.ndarray:
        g, s = _rng(seed), self.sensor_size
        ev = check_events(events, s, "EventAugment: events")
        if g.random() < self.p_flip_lr:
            ev = flip_lr(ev, s)
        if g.random() < self.p_flip_ud:
            ev = flip_ud(ev, s)
        if self.max_shift:
            ev = shift(ev, s, int(g.integers(-self.max_shift, self.max_shift + 1)),
                       int(g.integers(-self.max_shift, self.max_shift + 1)))
        if self.p_drop:
            ev = drop_events(ev, self.p_drop, g)
        if self.jitter_us:
            ev = time_jitter(ev, self.jitter_us, g)
        if g.random() < self.p_flip_polarity:
            ev = flip_polarity(ev, s)
        return ev


# ------------------------------------------------------------------------------------------------ frame cache
class FrameCache:
    """Frames on disk, one ``.npy`` per (file, transform) pair, so that a second epoch reads no events.

    The key is a SHA-1 of the file's absolute path, size and modification time and of the transform's
    parameters (a JSON-able dict): change either and the frames are rebuilt. Writes are atomic (temporary
    file, then rename)."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def key(self, path, params: dict) -> str:
        p = Path(path).resolve()
        st = p.stat()
        blob = json.dumps({"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "params": params},
                          sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()

    def get(self, path, params: dict, build):
        """The cached array for ``(path, params)``, else ``build()`` (a numpy array), stored and returned."""
        f = self.folder / f"{self.key(path, params)}.npy"
        if f.is_file():
            return np.load(f)
        arr = np.ascontiguousarray(build())
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, arr)
            os.replace(tmp, f)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        return arr


def frames_from_file(path, sensor_size, n_time_bins=None, time_window=None, event_count=None,
                     split_by: str = "number", downsample_factor: int = 1, denoise_us: float | None = None,
                     cache: FrameCache | None = None, select=None) -> np.ndarray:
    """Frames ``[T, P, H', W']`` (numpy) of one event file: load, optionally ``select(events)`` (e.g. a time window
    of a longer recording; its ``cache_key`` attribute, if any, enters the cache key), denoise, downsample,
    integrate; cached on disk when ``cache`` is given."""
    params = {"sensor_size": list(check_sensor_size(sensor_size)), "n_time_bins": n_time_bins,
              "time_window": time_window, "event_count": event_count, "split_by": split_by,
              "downsample": downsample_factor, "denoise_us": denoise_us,
              "select": getattr(select, "cache_key", None)}

    def build():
        ev = load_events(path)
        if select is not None:
            ev = select(ev)
        ev = check_events(ev, sensor_size, str(path))
        s = sensor_size
        if denoise_us is not None:
            ev = denoise(ev, s, denoise_us)
        if downsample_factor != 1:
            ev, s = downsample(ev, s, downsample_factor)
        return to_frames(ev, s, n_time_bins, time_window, event_count, split_by).numpy()

    return cache.get(path, params, build) if cache is not None else build()
