r"""The fractional orders a network uses: every :class:`spikeDE.order.FractionalOrder` that takes part in it.

Inside a :class:`spikeDE.SNNWrapper` the wrapper's orders apply (``integrator='fdeint'``; none with
``'odeint'``, the integer order) and the neurons' own, unused ``order`` modules are skipped; a wrapper's order
``i`` is reported under the name of its ``i``-th neuron layer. A multi-term layer
``sum_i c_i D^{alpha_i}`` is summarised by its weighted mean order ``sum_i c_i alpha_i / sum_i c_i``
(:func:`mean_orders`; :func:`multiterm_weights` gives the weights themselves).
"""
from __future__ import annotations

from torch import nn

from ..order import FractionalOrder
from ..wrapper import SNNWrapper

__all__ = ["fractional_orders", "mean_orders", "multiterm_weights"]


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix and name else prefix or name


def _wrappers(model: nn.Module):
    return [(name, m) for name, m in model.named_modules() if isinstance(m, SNNWrapper)]


def _skipped(model: nn.Module) -> set[int]:
    """ids of the FractionalOrder modules that do not take part: those of neurons driven by a wrapper and
    those a wrapper holds as its own (reported separately by layer name)."""
    skip = set()
    for _, w in _wrappers(model):
        for _, neuron in w.neuron_layers:
            for m in neuron.modules():
                if isinstance(m, FractionalOrder):
                    skip.add(id(m))
        for o in w.orders:
            skip.add(id(o))
    return skip


def _layer_terms(model: nn.Module):
    """``(name, alphas [list], weights [list] or None)`` of every order that takes part, in module order."""
    out = []
    skip = _skipped(model)
    wrapped = {id(w): (prefix, w) for prefix, w in _wrappers(model)}
    for name, m in model.named_modules():
        if id(m) in wrapped:
            prefix, w = wrapped[id(m)]
            if w.integrator != "fdeint":
                continue
            coefs = w.get_per_layer_coefficient()
            for i, ((lname, _), order) in enumerate(zip(w.neuron_layers, w.orders)):
                vals = [float(v) for v in order.value.reshape(-1)]
                out.append((_join(prefix, lname) or f"alpha{i}", vals, coefs[i]))
        elif isinstance(m, FractionalOrder) and id(m) not in skip:
            out.append((name or "alpha", [float(v) for v in m.value.reshape(-1)], None))
    return out


def fractional_orders(model: nn.Module) -> dict[str, list[float]]:
    """``{layer name: [alpha values]}`` (detached; one value per channel for per-channel orders, one per term
    for multi-term layers)."""
    return {name: vals for name, vals, _ in _layer_terms(model)}


def multiterm_weights(model: nn.Module) -> dict[str, list[float]]:
    """``{layer name: [c_i]}`` of the multi-term layers (the weights of ``sum_i c_i D^{alpha_i}``)."""
    return {name: w for name, _, w in _layer_terms(model) if w is not None}


def mean_orders(model: nn.Module) -> dict[str, float]:
    """``{layer name: alpha}``: one figure per fractional layer (the mean over channels; for a multi-term layer
    the weighted mean ``sum_i c_i alpha_i / sum_i c_i``)."""
    out = {}
    for name, vals, w in _layer_terms(model):
        if w is not None and len(w) == len(vals):
            out[name] = sum(c * a for c, a in zip(w, vals)) / sum(w)
        else:
            out[name] = sum(vals) / len(vals)
    return out
