r"""Neuron figures of a run with spiking arms (written to ``RUN/plots/`` after training).

* ``membrane_traces.png``: one neuron of every arm driven by the **same** input current: the current that the
  first neuron layer of the first fractional arm receives on one test sample (its unit with the largest
  current variance). Each arm's neuron is a standalone :class:`spikeDE.LIFNeuron` with the arm's ``tau``,
  threshold and learned order(s) of that layer, so the traces differ only by the time derivative.
* ``relaxation.png``: the free relaxation from ``v(0) = 1`` of the membrane of each arm's first layer:
  ``exp(-t/tau)`` for the LIF neuron, the Mittag-Leffler function ``E_alpha(-t^alpha/tau)`` for a learned
  single-term order; linear and log-log axes (a power-law tail is a straight line there).
"""
from __future__ import annotations

import os

import torch

from ..analysis.plots import mittag_leffler_relaxation, plot_membrane_traces, plot_relaxation
from ..neuron import LIFNeuron
from ..wrapper import SNNWrapper

__all__ = ["neuron_figures"]


def _first_layer(model):
    if not isinstance(model, SNNWrapper):
        return None
    name, neuron = model.neuron_layers[0]
    return model, name, neuron


def _orders(wrapper: SNNWrapper):
    """(alpha value(s) of layer 0, coefficients or None): ``None`` alpha means integer order."""
    if wrapper.integrator != "fdeint":
        return None, None
    alpha = wrapper.get_per_layer_alpha()[0]
    return alpha, wrapper.get_per_layer_coefficient()[0]


def _label(arm, alpha, coefs) -> str:
    if alpha is None:
        return f"{arm} (alpha = 1)"
    if isinstance(alpha, list):
        terms = " + ".join(f"{c:.2f} D^{a:.2f}" for a, c in zip(alpha, coefs or [1.0] * len(alpha)))
        return f"{arm} ({terms})"
    return f"{arm} (alpha = {alpha:.3f})"


@torch.no_grad()
def _input_current(models: dict, x: torch.Tensor) -> torch.Tensor:
    """``I[T]``: the current into the first neuron layer of the first fractional arm (or the first arm)."""
    arms = [a for a, m in models.items() if _first_layer(m) is not None]
    frac = [a for a in arms if models[a].integrator == "fdeint"]
    wrapper, _, neuron = _first_layer(models[(frac or arms)[0]])
    seen = {}
    handle = neuron.register_forward_hook(lambda mod, inp, out: seen.setdefault("i", inp[0].detach()))
    try:
        wrapper.eval()
        wrapper(x)
    finally:
        handle.remove()
    current = seen["i"].reshape(x.shape[0], -1).double()
    return current[:, int(current.var(0).argmax())]


def neuron_figures(folder: str, models: dict, x: torch.Tensor) -> list[str]:
    """Write the two figures for the spiking arms among ``models`` (arm -> model) on one input ``x`` of shape
    ``[T, 1, ...]``; returns the paths written (none when no arm is a wrapped spiking network)."""
    layers = {arm: _first_layer(m) for arm, m in models.items()}
    layers = {a: v for a, v in layers.items() if v is not None}
    if not layers:
        return []
    p = next(next(iter(layers.values()))[0].parameters())
    current = _input_current({a: models[a] for a in layers}, x.to(device=p.device, dtype=p.dtype))
    traces, spikes, relax = {}, {}, {}
    T = current.shape[0]
    t = torch.linspace(0.0, float(T), 400, dtype=torch.float64).numpy()
    taus = []
    for arm, (wrapper, _, neuron) in layers.items():
        alpha, coefs = _orders(wrapper)
        tau, theta = float(neuron.tau), float(neuron.theta(current))
        taus.append(tau)
        kw = {}
        if alpha is not None:
            kw = dict(alpha=alpha, method=wrapper.method, memory=wrapper.memory)
            if isinstance(alpha, list):
                kw["multi_coefficient"] = coefs
        probe = LIFNeuron(tau=tau, threshold=theta, **kw).double()
        probe.record = True
        probe(current.reshape(T, 1).cpu())
        label = _label(arm, alpha, coefs)
        traces[label], spikes[label] = probe.v_seq[:, 0], probe.spike_seq[:, 0]
        if alpha is None:
            relax[f"{arm}: exp(-t/tau)"] = mittag_leffler_relaxation(t, 1.0, tau)
        elif not isinstance(alpha, list):
            relax[f"{arm}: E_a(-t^a/tau), a = {alpha:.3f}"] = mittag_leffler_relaxation(t, alpha, tau)
    theta = float(next(iter(layers.values()))[2].theta(current))
    paths = [plot_membrane_traces(traces, os.path.join(folder, "membrane_traces.png"), threshold=theta,
                                  spikes=spikes, inputs=current.cpu(),
                                  title="one neuron per arm, same input current (first layer, one test sample)")]
    if relax:
        if not any(k.endswith("exp(-t/tau)") for k in relax):
            relax["exp(-t/tau) (LIF)"] = mittag_leffler_relaxation(t, 1.0, taus[0])
        paths.append(plot_relaxation(t, relax, os.path.join(folder, "relaxation.png"),
                                     title=f"free membrane relaxation from v(0) = 1 (tau = {taus[0]:g})"))
    return paths
