r"""Per-layer spike monitors: firing rates and spike counts collected by forward hooks.

A monitored layer's output ``S`` (the first element when the layer returns a tuple) is read as spikes. For
each layer the monitor accumulates the number of events ``N_ev = #{S != 0}`` and the number of output
entries ``N``; the firing rate is ``r = N_ev / N`` (events per neuron per time step, in ``[0, 1]`` for binary
spikes). The mean spike count per neuron over a ``[T, B, ...]`` sequence is ``r * T``.

Which layers are spiking is decided by ``types`` (module classes), by a ``predicate(name, module)`` or, by
default, by :func:`is_spiking_layer`, which matches the classes given to :func:`register_spiking_type`
(spikeDE's own neurons, :class:`spikeDE.BaseNeuron` and its subclasses, are registered from the start).
Counts are accumulated on the device of the outputs (no host synchronisation inside the forward pass).
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

from ..neuron import BaseNeuron
from ._hooks import HookedModel

__all__ = ["SpikeMonitor", "register_spiking_type", "is_spiking_layer", "spiking_types"]

_SPIKING_TYPES: list[type] = [BaseNeuron]


def register_spiking_type(cls: type) -> type:
    """Make instances of ``cls`` (an ``nn.Module`` subclass) monitored by default; usable as a decorator."""
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"register_spiking_type: expected an nn.Module subclass, got {cls!r}")
    if cls not in _SPIKING_TYPES:
        _SPIKING_TYPES.append(cls)
    return cls


def spiking_types() -> tuple[type, ...]:
    """The module classes registered as spiking layers."""
    return tuple(_SPIKING_TYPES)


def is_spiking_layer(name: str, module: nn.Module) -> bool:
    """Default predicate: ``module`` is an instance of a registered spiking type."""
    return bool(_SPIKING_TYPES) and isinstance(module, tuple(_SPIKING_TYPES))


def _first_tensor(out):
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    return None


class SpikeMonitor(HookedModel):
    """Firing statistics of the spiking layers of ``model`` (a context manager; hooks removed on exit).

    Args:
        model: the network.
        types: module classes to monitor (instead of the default predicate).
        predicate: ``predicate(name, module) -> bool`` selecting layers (instead of the default).
        record: keep every output (detached, on the CPU) for rasters: :meth:`records`.

    Raises ``ValueError`` when no layer matches.
    """

    def __init__(self, model: nn.Module, types: Iterable[type] | None = None,
                 predicate: Callable[[str, nn.Module], bool] | None = None, record: bool = False):
        if types is not None and predicate is not None:
            raise ValueError("SpikeMonitor: pass either types or predicate, not both")
        if types is not None:
            types = tuple(types)
            if not types or not all(isinstance(t, type) for t in types):
                raise ValueError(f"SpikeMonitor: types must be a non-empty sequence of classes, got {types!r}")
            predicate = lambda name, m: isinstance(m, types)  # noqa: E731
        elif predicate is None:
            predicate = is_spiking_layer
        self.record = bool(record)
        self._events: dict[str, torch.Tensor] = {}
        self._elements: dict[str, int] = {}
        self._records: dict[str, list[torch.Tensor]] = {}
        self.names: list[str] = []
        for name, module in model.named_modules():
            if predicate(name, module):
                name = name or type(module).__name__
                self.names.append(name)
                self._attach(module, self._hook(name))
        if not self.names:
            registered = ", ".join(t.__name__ for t in _SPIKING_TYPES) or "none registered"
            raise ValueError(f"SpikeMonitor: no layer of {type(model).__name__} matched (default spiking types: "
                             f"{registered}); pass types=... or predicate=...")
        self.reset()

    def _hook(self, name: str):
        def hook(module, inputs, output):
            s = _first_tensor(output)
            if s is None:
                raise TypeError(f"SpikeMonitor: layer {name!r} returned {type(output).__name__}, "
                                "expected a tensor (or a tuple starting with one)")
            s = s.detach()
            ev = torch.count_nonzero(s)
            self._events[name] = ev if name not in self._events else self._events[name] + ev
            self._elements[name] = self._elements.get(name, 0) + s.numel()
            if self.record:
                self._records.setdefault(name, []).append(s.cpu())
        return hook

    def reset(self) -> None:
        """Forget everything counted so far."""
        self._events.clear()
        self._elements.clear()
        self._records.clear()

    def spike_counts(self) -> dict[str, float]:
        """Events (nonzero outputs) per layer since the last reset."""
        return {n: float(self._events[n]) if n in self._events else 0.0 for n in self.names}

    def elements(self) -> dict[str, int]:
        """Output entries seen per layer since the last reset."""
        return {n: self._elements.get(n, 0) for n in self.names}

    def rates(self) -> dict[str, float]:
        """Firing rate per layer: events / output entries (``nan`` for a layer that has not run)."""
        counts, elems = self.spike_counts(), self.elements()
        return {n: counts[n] / elems[n] if elems[n] else float("nan") for n in self.names}

    def total_rate(self) -> float:
        """Firing rate over all monitored layers together (``nan`` before any forward pass)."""
        ev = sum(self.spike_counts().values())
        el = sum(self.elements().values())
        return ev / el if el else float("nan")

    def records(self, name: str) -> list[torch.Tensor]:
        """The outputs of layer ``name``, one tensor per forward call (needs ``record=True``)."""
        if not self.record:
            raise RuntimeError("SpikeMonitor: outputs are kept only with record=True")
        if name not in self.names:
            raise KeyError(f"SpikeMonitor: no monitored layer {name!r}; monitored: {self.names}")
        return list(self._records.get(name, []))
