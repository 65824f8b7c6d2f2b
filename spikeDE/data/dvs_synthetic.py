r"""Embedded event-camera tasks (no download, seeded): a simulated DVS watching moving images.

**The simulated camera** (:func:`simulate_dvs`). A video ``I_s(y, x) in [0, 1]`` is rendered at ``S`` instants
``t_s = s * dt`` (``s = 0 .. S-1``). Each pixel keeps a reference log intensity ``R`` (initially
``L_0 = log(I_0 + eps)``) and a contrast threshold ``C_xy = C (1 + sigma_C z_xy)`` (fixed-pattern mismatch,
``z ~ N(0, 1)``, clipped at ``C / 4``). At every instant the pixel emits ``n = floor(|L_s - R| / C_xy)`` events
of polarity ``1`` (ON) if ``L_s > R`` else ``0`` (OFF), with timestamps uniform in ``(t_{s-1}, t_s]``, and moves
``R`` by ``n C_xy`` towards ``L_s``; so ``|L_s - R| < C_xy`` always holds after the instant: the events encode
the log-intensity video to within one contrast step. Background-activity noise adds Poisson events at
``noise_rate`` Hz per pixel, uniform in time, random polarity.

**dvs-digits** (:func:`dvs_digits`): the 8x8 digits of scikit-learn upsampled (bilinear) to ``digit_size``
pixels on a ``size x size`` sensor, moved along three saccades (a triangle of side ``amplitude`` pixels, like the
recording of N-MNIST), 100 ms each; 10 classes. Splits 70/10/20, stratified and seeded (as the sequential
digits of :mod:`spikeDE.data.digits`).

**dvs-rotation** (:func:`dvs_rotation`): a bright dot (Gaussian, ``sigma = 1.5`` px) goes exactly once around a
circle (random centre jitter, radius and start angle) clockwise (label 0) or counter-clockwise (label 1).
Both directions light the same ring, so the frames summed over time carry no label information (a memoryless
classifier of the summed frames is at chance); the order of the frames carries it. With ``motion="blink"``
(default) the dot flashes at 32 successive positions (apparent motion): each flash gives its ON and its OFF
events at the same place, so a single frame shows a piece of arc with no direction either. With
``motion="smooth"`` the dot glides, and within one frame the ON events lead and the OFF events trail it: the
polarities of a single frame then tell the direction locally.

Both return ``TensorDataset``s of ``(frames [T, 2, size, size] float32 or float64, label)`` built by
:func:`spikeDE.data.events.to_frames` (``split_by="time"``); :func:`dvs_digits_events` and
:func:`dvs_rotation_events` give the raw event streams.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import TensorDataset

from .digits import _split_indices, load_digits_arrays
from .events import make_events, to_frames

__all__ = ["simulate_dvs", "saccade_offsets", "render_shifted", "dvs_digits", "dvs_digits_events", "dvs_rotation",
           "dvs_rotation_events", "rotation_video"]

_EPS = 0.1
_SPLITS = ("train", "val", "test")


def _hat(size: int, length: int, offset: np.ndarray) -> np.ndarray:
    """Bilinear weights ``M[n, i, j] = max(0, 1 - |i - offset_n - j|)``: ``(M v)_i`` samples ``v`` at ``i - offset``."""
    i = np.arange(size)[None, :, None] - np.asarray(offset, float)[:, None, None]
    return np.maximum(0.0, 1.0 - np.abs(i - np.arange(length)[None, None, :]))


def render_shifted(images: np.ndarray, ox: np.ndarray, oy: np.ndarray, size: int) -> np.ndarray:
    """Place images ``[N, h, w]`` on a ``size x size`` black canvas with their top-left corner at the sub-pixel
    offsets ``(ox[n], oy[n])``: ``out[n, y, x] = bilinear(images[n], y - oy, x - ox)``, zero outside (two small
    interpolation matrices per image, ``out = M_y image M_x^T``)."""
    N, h, w = images.shape
    return _hat(size, h, oy) @ images @ _hat(size, w, ox).transpose(0, 2, 1)


def _upsample(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of ``[N, h, w]`` to ``[N, size, size]`` (pixel centres aligned)."""
    N, h, w = images.shape
    c = (np.arange(size) + 0.5) * h / size - 0.5
    i0 = np.clip(np.floor(c).astype(int), 0, h - 1)
    i1 = np.clip(i0 + 1, 0, h - 1)
    f = np.clip(c - i0, 0, 1)
    rows = images[:, i0, :] * (1 - f)[None, :, None] + images[:, i1, :] * f[None, :, None]
    return rows[:, :, i0] * (1 - f)[None, None, :] + rows[:, :, i1] * f[None, None, :]


def simulate_dvs(video: np.ndarray, dt_us: float, threshold: float = 0.15, threshold_sigma: float = 0.03,
                 noise_rate: float = 0.0, seed=0):
    """Events of a simulated DVS watching ``video [N, S, H, W]`` (intensities in ``[0, 1]``, instants ``dt_us``
    apart); see the module doc. Returns ``(sample [M], events [M])``: the sample index of every event and one
    structured array (``x, y, t, p``) sorted by sample, then time."""
    video = np.asarray(video, dtype=np.float64)
    if video.ndim != 4:
        raise ValueError(f"video must be [N, S, H, W], got shape {video.shape}")
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")
    if not (threshold_sigma >= 0 and noise_rate >= 0 and dt_us > 0):
        raise ValueError(f"threshold_sigma and noise_rate must be >= 0 and dt_us > 0, got {threshold_sigma!r}, "
                         f"{noise_rate!r}, {dt_us!r}")
    g = np.random.default_rng(seed)
    N, S, H, W = video.shape
    C = threshold * (1 + threshold_sigma * g.standard_normal((H, W)))
    C = np.maximum(C, threshold / 4)
    L = np.log(video + _EPS)
    R = L[:, 0].copy()
    parts = []
    for s in range(1, S):
        d = L[:, s] - R
        n = np.floor(np.abs(d) / C).astype(np.int64)
        R += np.sign(d) * n * C
        idx = np.flatnonzero(n)
        if len(idx):
            flat = np.repeat(idx, n.reshape(-1)[idx])
            k, rem = np.divmod(flat, H * W)
            y, x = np.divmod(rem, W)
            p = d.reshape(-1)[flat] > 0
            t = (s - 1 + g.random(len(flat))) * dt_us
            parts.append((k, x, y, t, p))
    if noise_rate > 0:
        duration = (S - 1) * dt_us
        m = g.poisson(noise_rate * duration * 1e-6 * H * W, size=N)
        k = np.repeat(np.arange(N), m)
        parts.append((k, g.integers(0, W, len(k)), g.integers(0, H, len(k)), g.random(len(k)) * duration,
                      g.integers(0, 2, len(k))))
    if not parts:
        return np.zeros(0, np.int64), make_events([], [], [], [])
    k, x, y, t, p = (np.concatenate(a) for a in zip(*parts))
    t = np.ceil(t).astype(np.int64)
    order = np.argsort(k * (int(t.max()) + 1) + t, kind="stable")
    return k[order], make_events(x[order], y[order], t[order], p[order])


def saccade_offsets(steps_per_saccade: int, amplitude: float) -> tuple[np.ndarray, np.ndarray]:
    """``(ox, oy)`` along three straight saccades: ``(0, 0) -> (a/2, a) -> (a, 0) -> (0, 0)`` (a triangle), with
    ``steps_per_saccade`` instants each, plus the start: ``3 * steps + 1`` instants."""
    corners = np.array([[0, 0], [amplitude / 2, amplitude], [amplitude, 0], [0, 0]], dtype=float)
    pts = [corners[0]]
    for a, b in zip(corners[:-1], corners[1:]):
        f = np.arange(1, steps_per_saccade + 1)[:, None] / steps_per_saccade
        pts.extend(a + f * (b - a))
    pts = np.array(pts)
    return pts[:, 0], pts[:, 1]


def _frames(sample, events, n, size, frames, dtype):
    bounds = np.searchsorted(sample, np.arange(n + 1))
    out = torch.zeros((n, frames, 2, size, size), dtype=dtype)
    for i in range(n):
        out[i] = to_frames(events[bounds[i]:bounds[i + 1]], (size, size, 2), n_time_bins=frames, split_by="time",
                           dtype=dtype)
    return out


def _check(split, size, frames):
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int >= 8, got {size!r}")
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames must be an int >= 1, got {frames!r}")


def dvs_digits_events(split: str = "train", size: int = 32, digit_size: int | None = None, amplitude: float = 4.0,
                      steps_per_saccade: int = 8, saccade_us: float = 100_000.0, threshold: float = 0.25,
                      threshold_sigma: float = 0.03, noise_rate: float = 0.5, seed: int = 0,
                      n_samples: int | None = None):
    """``(sample, events, labels)`` of the dvs-digits split (module doc): events of all samples, the sample
    index of each, and the labels (``n_samples``: only the first ``n`` samples of the split)."""
    _check(split, size, 1)
    digit_size = digit_size or size - int(np.ceil(amplitude)) - 2
    if digit_size + amplitude > size:
        raise ValueError(f"digit_size + amplitude = {digit_size + amplitude} must fit the sensor size {size}")
    images, labels = load_digits_arrays()
    idx = _split_indices(labels, seed)[split]
    if n_samples is not None:
        idx = idx[:int(n_samples)]
    img = _upsample(images[idx].reshape(-1, 8, 8), digit_size)
    ox, oy = saccade_offsets(steps_per_saccade, amplitude)
    margin = (size - digit_size - amplitude) / 2
    video = np.stack([render_shifted(img, np.full(len(img), margin + a), np.full(len(img), margin + b), size)
                      for a, b in zip(ox, oy)], axis=1)
    sample, ev = simulate_dvs(video, saccade_us / steps_per_saccade, threshold, threshold_sigma, noise_rate,
                              seed=[seed, _SPLITS.index(split), 1])
    return sample, ev, labels[idx]


def dvs_digits(split: str = "train", frames: int = 8, size: int = 32, n_samples: int | None = None, seed: int = 0,
               dtype=torch.float32, **camera) -> TensorDataset:
    """The dvs-digits split as ``TensorDataset(frames [N, T, 2, size, size], labels)`` (module doc)."""
    _check(split, size, frames)
    sample, ev, labels = dvs_digits_events(split, size, seed=seed, n_samples=n_samples, **camera)
    return TensorDataset(_frames(sample, ev, len(labels), size, frames, dtype), torch.tensor(labels))


def rotation_video(n: int, size: int, steps: int, seed, sigma: float = 1.5, motion: str = "blink"):
    """``(video [n, S, size, size], labels [n])``: a Gaussian dot going once around a jittered centre (random
    radius and start angle) clockwise (label 0) or counter-clockwise (label 1), at ``steps`` positions.

    ``motion="smooth"``: the dot glides (``S = steps + 1`` instants). ``motion="blink"``: apparent motion, the dot
    flashes at each position in turn, one instant on and one instant off (``S = 2 steps + 1``, dark at the
    start), so every flash gives ON and OFF events at the same place and a frame holding whole flashes shows an
    arc with no direction in it; only the order of the frames tells the direction."""
    if motion not in ("smooth", "blink"):
        raise ValueError(f"motion must be 'smooth' or 'blink', got {motion!r}")
    g = np.random.default_rng(seed)
    labels = g.integers(0, 2, n)
    c = size / 2 - 0.5 + g.uniform(-1.5, 1.5, (n, 2))
    r = g.uniform(0.22, 0.32, n) * size
    a0 = g.uniform(0, 2 * np.pi, n)
    direction = np.where(labels == 0, -1.0, 1.0)     # image rows grow downwards: -1 turns clockwise on screen
    s = np.arange(steps + 1) / steps if motion == "smooth" else np.arange(steps) / steps
    ang = a0[:, None] + direction[:, None] * 2 * np.pi * s[None, :]
    px = c[:, 0, None] + r[:, None] * np.cos(ang)
    py = c[:, 1, None] - r[:, None] * np.sin(ang)
    yy, xx = np.mgrid[0:size, 0:size]
    dots = np.exp(-((xx[None, None] - px[..., None, None]) ** 2 + (yy[None, None] - py[..., None, None]) ** 2)
                  / (2 * sigma ** 2))
    if motion == "smooth":
        return dots, labels
    video = np.zeros((n, 2 * steps + 1, size, size))
    video[:, 1::2] = dots
    return video, labels


_ROTATION_SIZES = {"train": 1000, "val": 200, "test": 400}


def dvs_rotation_events(split: str = "train", size: int = 32, n_samples: int | None = None, steps: int = 32,
                        duration_us: float = 300_000.0, threshold: float = 0.25, threshold_sigma: float = 0.03,
                        noise_rate: float = 0.5, motion: str = "blink", seed: int = 0):
    """``(sample, events, labels)`` of the dvs-rotation split (module doc)."""
    _check(split, size, 1)
    n = _ROTATION_SIZES[split] if n_samples is None else int(n_samples)
    video, labels = rotation_video(n, size, steps, [seed, _SPLITS.index(split), 2], motion=motion)
    sample, ev = simulate_dvs(video, duration_us / (video.shape[1] - 1), threshold, threshold_sigma, noise_rate,
                              seed=[seed, _SPLITS.index(split), 3])
    return sample, ev, labels


def dvs_rotation(split: str = "train", frames: int = 8, size: int = 32, n_samples: int | None = None, seed: int = 0,
                 dtype=torch.float32, **camera) -> TensorDataset:
    """The dvs-rotation split as ``TensorDataset(frames [N, T, 2, size, size], labels)`` (module doc)."""
    _check(split, size, frames)
    sample, ev, labels = dvs_rotation_events(split, size, n_samples, seed=seed, **camera)
    return TensorDataset(_frames(sample, ev, len(labels), size, frames, dtype), torch.tensor(labels))
