"""A dependency-free progress bar for terminals; silent when the stream is not a terminal (logs get one line
per epoch from the trainer instead)."""
from __future__ import annotations

import sys
import time

__all__ = ["ProgressBar"]


class ProgressBar:
    """``[#########.......] 45/90  loss 0.532  acc 0.810  12.3 it/s``, redrawn at most every ``min_interval`` s."""

    def __init__(self, total: int, desc: str = "", stream=None, enabled: bool = True, width: int = 24,
                 min_interval: float = 0.2):
        self.total, self.desc, self.width = max(int(total), 1), desc, width
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(enabled) and bool(isatty and isatty())
        self.min_interval = min_interval
        self.start = time.perf_counter()
        self._last = -float("inf")
        self.n = 0

    def due(self) -> bool:
        """Whether the next :meth:`update` would redraw (lets callers skip computing the figures)."""
        return self.enabled and time.perf_counter() - self._last >= self.min_interval

    def update(self, n: int, **info) -> None:
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
        rate = self.n / max(self._last - self.start, 1e-9)
        extra = "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items())
        line = (f"\r{self.desc} [{'#' * filled}{'.' * (self.width - filled)}] {self.n}/{self.total}  {extra}"
                f"  {rate:.1f} it/s")
        self.stream.write(line)
        self.stream.flush()
