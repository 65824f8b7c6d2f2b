"""Figures for training runs and experiments (matplotlib, an optional extra: ``pip install 'spikede[plot]'``).

Every function takes plain arrays (NumPy arrays, lists or tensors), writes one PNG to ``path`` and returns
the path. Figures are drawn on the non-interactive Agg canvas, so nothing needs a display.

Curves over seeds are given either as ``(mean, std)`` pairs or as a 2-D array ``[seeds, points]`` (mean and
standard deviation are then taken over the seeds; the band is ``mean +- std``).
"""
from __future__ import annotations

import os

import numpy as np
import torch

from ..fractional.mittag_leffler import mittag_leffler

__all__ = ["require_matplotlib", "plot_training_curves", "plot_raster", "plot_membrane_traces",
           "plot_relaxation", "plot_accuracy_vs_delay", "plot_robustness", "mittag_leffler_relaxation"]

_INSTALL = "pip install 'spikede[plot]'"


def require_matplotlib():
    """The ``matplotlib`` module, or an ``ImportError`` naming the install command."""
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError as e:
        raise ImportError(f"plotting needs matplotlib: {_INSTALL}") from e
    return matplotlib


def _figure(ncols=1, nrows=1, size=(6.0, 4.0), **kw):
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _save(fig, path) -> str:
    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def _np(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=float)


def _mean_std(v):
    if isinstance(v, tuple) and len(v) == 2:
        mean = _np(v[0])
        std = None if v[1] is None else _np(v[1])
        return mean, std
    a = _np(v)
    if a.ndim == 2:
        return a.mean(0), (a.std(0, ddof=1) if a.shape[0] > 1 else None)
    return a, None


def _curves(ax, x, results, chance):
    x = _np(x)
    for label, v in results.items():
        mean, std = _mean_std(v)
        if mean.shape != x.shape:
            raise ValueError(f"curve {label!r} has {mean.shape[0] if mean.ndim else 0} points, expected {x.shape[0]}")
        line, = ax.plot(x, mean, marker="o", label=str(label))
        if std is not None:
            ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
    if chance is not None:
        ax.axhline(chance, color="0.5", linestyle=":", label="chance")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend()


def mittag_leffler_relaxation(t, alpha: float, tau: float = 1.0) -> np.ndarray:
    r"""The free relaxation of the fractional membrane, ``tau D^alpha v = -v``, ``v(0) = 1`` (Caputo):
    ``v(t) = E_alpha(-t^alpha / tau)`` (:func:`spikeDE.fractional.mittag_leffler`); ``alpha = 1`` gives
    ``exp(-t / tau)``. Float64 NumPy array, ``t >= 0``.
    """
    t = _np(t)
    if not 0 < alpha <= 1:
        raise ValueError(f"mittag_leffler_relaxation: alpha must satisfy 0 < alpha <= 1, got {alpha!r}")
    if not tau > 0:
        raise ValueError(f"mittag_leffler_relaxation: tau must be > 0, got {tau!r}")
    if (t < 0).any():
        raise ValueError("mittag_leffler_relaxation: t must be >= 0")
    z = -torch.from_numpy(np.asarray(t, dtype=np.float64)) ** alpha / tau
    return mittag_leffler(z, float(alpha)).numpy()


def plot_training_curves(histories: dict, path, title: str | None = None) -> str:
    """Loss and accuracy per epoch. ``histories``: label -> list of per-epoch dicts with ``epoch`` and any of
    ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc``."""
    fig, axes = _figure(2, 1, size=(10.0, 4.0))
    for k, (label, hist) in enumerate(histories.items()):
        color = f"C{k % 10}"
        epochs = [h["epoch"] for h in hist]
        for ax, metric in ((axes[0, 0], "loss"), (axes[0, 1], "acc")):
            for split, style in (("train", "-"), ("val", "--")):
                key = f"{split}_{metric}"
                if hist and all(key in h for h in hist):
                    ax.plot(epochs, [h[key] for h in hist], style, color=color, marker=".", label=f"{label} {split}")
    axes[0, 0].set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    axes[0, 1].set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in axes[0]:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_raster(spikes, path, title: str | None = None, max_neurons: int = 200) -> str:
    """Spike raster: a dot at ``(t, n)`` for every nonzero ``spikes[t, n]``. ``spikes``: ``[T, N]`` or a dict
    name -> ``[T, N]`` (one panel per entry, sharing the time axis). At most ``max_neurons`` rows are drawn."""
    panels = spikes if isinstance(spikes, dict) else {"": spikes}
    from matplotlib.ticker import MaxNLocator
    fig, axes = _figure(1, len(panels), size=(8.0, 1.0 + 2.2 * len(panels)), sharex=True)
    for ax, (name, s) in zip(axes[:, 0], panels.items()):
        s = _np(s)
        if s.ndim != 2:
            raise ValueError(f"plot_raster: {name or 'spikes'} must be [T, N], got shape {s.shape}")
        s = s[:, :max_neurons]
        t, n = np.nonzero(s)
        size = float(np.clip(600.0 / max(s.shape[1], 1), 4.0, 40.0))
        ax.scatter(t, n, s=size, marker="|", color="k", linewidths=1.0)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(-0.5, s.shape[0] - 0.5)
        ax.set_ylim(-0.5, s.shape[1] - 0.5)
        ax.set_ylabel(f"{name} neuron" if name else "neuron")
        rate = s.astype(bool).mean() if s.size else float("nan")
        ax.set_title(f"{name}  (rate {rate:.3f})" if name else f"rate {rate:.3f}", fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("time step")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_membrane_traces(traces: dict, path, threshold: float | None = None, spikes: dict | None = None,
                         inputs=None, title: str | None = None) -> str:
    """Membrane potentials of several neurons on the same input. ``traces``: label -> ``v[T]``; ``spikes``:
    label -> ``s[T]`` (marked on the trace); ``inputs``: ``I[T]`` drawn in a panel above."""
    rows = 2 if inputs is not None else 1
    fig, axes = _figure(1, rows, size=(8.0, 2.5 + 2.0 * rows), sharex=True,
                        gridspec_kw={"height_ratios": [1, 2.5] if rows == 2 else [1]})
    ax = axes[-1, 0]
    if inputs is not None:
        i = _np(inputs)
        axes[0, 0].step(np.arange(len(i)), i, where="mid", color="0.3")
        axes[0, 0].set_ylabel("input")
        axes[0, 0].grid(alpha=0.3)
    arrays = {label: _np(v) for label, v in traces.items()}
    hi = max([np.nanmax(v) for v in arrays.values()] + ([threshold] if threshold is not None else []))
    lo = min(np.nanmin(v) for v in arrays.values())
    for k, (label, v) in enumerate(arrays.items()):
        color = f"C{k % 10}"
        ax.plot(np.arange(len(v)), v, color=color, label=str(label))
        if spikes and label in spikes:
            ts = np.nonzero(_np(spikes[label]))[0]
            row = hi + (0.08 + 0.07 * k) * (hi - lo if hi > lo else 1.0)
            ax.plot(ts, np.full(len(ts), row), linestyle="none", marker="|", color=color, markersize=10,
                    markeredgewidth=2)
    if threshold is not None:
        ax.axhline(threshold, color="0.4", linestyle="--", linewidth=1, label="threshold")
    ax.set(xlabel="time step", ylabel="membrane potential")
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_relaxation(t, curves: dict, path, title: str | None = None) -> str:
    """Relaxation curves ``y(t)`` (e.g. Mittag-Leffler ``E_a(-t^a)`` versus ``exp(-t)``): linear axes on the
    left, log-log on the right, where a power-law tail is a straight line and an exponential falls off."""
    t = _np(t)
    fig, axes = _figure(2, 1, size=(10.0, 4.0))
    for k, (label, y) in enumerate(curves.items()):
        y = _np(y)
        if y.shape != t.shape:
            raise ValueError(f"plot_relaxation: curve {label!r} has shape {y.shape}, t has {t.shape}")
        axes[0, 0].plot(t, y, color=f"C{k % 10}", label=str(label))
        pos = (t > 0) & (y > 0)
        axes[0, 1].loglog(t[pos], y[pos], color=f"C{k % 10}", label=str(label))
    axes[0, 0].set(xlabel="t", ylabel="y(t)", title="relaxation")
    axes[0, 1].set(xlabel="t", ylabel="y(t)", title="log-log")
    for ax in axes[0]:
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_accuracy_vs_delay(delays, results: dict, path, chance: float | None = None,
                           title: str | None = None) -> str:
    """Test accuracy against the delay ``D`` of the delayed-cue task, one curve per model."""
    fig, axes = _figure()
    _curves(axes[0, 0], delays, results, chance)
    axes[0, 0].set_xlabel("delay D (steps)")
    axes[0, 0].set_title(title or "accuracy versus delay")
    return _save(fig, path)


def plot_robustness(levels, results: dict, path, attack: str = "noise", chance: float | None = None,
                    title: str | None = None) -> str:
    """Accuracy against the level of an input perturbation (``attack``), one curve per model."""
    fig, axes = _figure()
    _curves(axes[0, 0], levels, results, chance)
    axes[0, 0].set_xlabel(f"{attack} level")
    axes[0, 0].set_title(title or f"robustness to {attack}")
    return _save(fig, path)
