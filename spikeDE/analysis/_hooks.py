"""Forward-hook bookkeeping shared by the analysis tools: attach, remove, use as a context manager."""
from __future__ import annotations

from torch import nn


class HookedModel:
    """Base of the analysis tools that watch a model through forward hooks.

    Subclasses call :meth:`_attach` for every module they watch; :meth:`remove` (or leaving a ``with`` block)
    detaches all hooks, and what was collected stays readable.
    """

    def _attach(self, module: nn.Module, hook) -> None:
        if not hasattr(self, "_handles"):
            self._handles = []
        self._handles.append(module.register_forward_hook(hook))

    def remove(self) -> None:
        """Remove the hooks (the statistics stay readable)."""
        for h in getattr(self, "_handles", ()):
            h.remove()
        self._handles = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False
