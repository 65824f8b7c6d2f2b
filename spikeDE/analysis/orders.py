"""The fractional orders of a network: every :class:`spikeDE.order.FractionalOrder` inside it."""
from __future__ import annotations

from torch import nn

from ..order import FractionalOrder

__all__ = ["fractional_orders", "mean_orders"]


def fractional_orders(model: nn.Module) -> dict[str, list[float]]:
    """``{module name: [alpha values]}`` (detached; one value per channel for per-channel orders)."""
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, FractionalOrder):
            out[name or "alpha"] = [float(v) for v in m.value.reshape(-1)]
    return out


def mean_orders(model: nn.Module) -> dict[str, float]:
    """``{module name: mean alpha}``: one figure per fractional layer."""
    return {k: sum(v) / len(v) for k, v in fractional_orders(model).items()}
