"""A dependency-free progress bar for terminals; silent when the stream is not a terminal (logs get one line
per epoch from the trainer instead)."""
from __future__ import annotations

import sys
import time

__all__ = ["ProgressBar", "format_seconds"]


def format_seconds(s: float) -> str:
    """``75.2`` -> ``'1:15'``, ``3725`` -> ``'1:02:05'``."""
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class ProgressBar:
    """``[#########.......] 45/90  loss 0.532  acc 0.810  12.3 it/s, 787.2 samples/s  0:04 elapsed  ETA 0:04``,
    redrawn at most every ``min_interval`` s; the throughput counts the steps drawn since the bar started (a
    resumed epoch does not count its earlier steps), ``items_per_step`` turns steps into ``unit``."""

    def __init__(self, total: int, desc: str = "", stream=None, enabled: bool = True, width: int = 24,
                 min_interval: float = 0.2, items_per_step: int | None = None, unit: str = "items"):
        self.total, self.desc, self.width = max(int(total), 1), desc, width
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(enabled) and bool(isatty and isatty())
        self.min_interval = min_interval
        self.start = time.perf_counter()
        self._last = -float("inf")
        self.n = 0
        self.items_per_step, self.unit = items_per_step, unit
        self._n0 = None  # steps already done when the bar started (a resumed epoch)

    def due(self) -> bool:
        """Whether the next :meth:`update` would redraw (lets callers skip computing the figures)."""
        return self.enabled and time.perf_counter() - self._last >= self.min_interval

    def update(self, n: int, **info) -> None:
        if self._n0 is None:
            self._n0 = n
            self.start = time.perf_counter()
        self.n = n
        if self.due():
            self._draw(info)

    def close(self, **info) -> None:
        if self.enabled:
            self._draw(info)
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, info) -> None:
        self._last = time.perf_counter()
        frac = min(self.n / self.total, 1.0)
        filled = int(round(frac * self.width))
        elapsed = max(self._last - self.start, 1e-9)
        rate = (self.n - (self._n0 or 0)) / elapsed
        extra = "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items())
        speed = f"{rate:.2f} it/s" if rate < 10 else f"{rate:.1f} it/s"
        if self.items_per_step:
            speed += f", {rate * self.items_per_step:.1f} {self.unit}/s"
        left = self.total - self.n
        eta = f"  ETA {format_seconds(left / rate)}" if rate > 0 and left > 0 else ""
        line = (f"\r{self.desc} [{'#' * filled}{'.' * (self.width - filled)}] {self.n}/{self.total}  {extra}"
                f"  {speed}  {format_seconds(elapsed)} elapsed{eta}")
        self.stream.write(line)
        self.stream.flush()
