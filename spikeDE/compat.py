r"""Compatibility with spikeDE 0.1.0: its names and calls keep working, each with a ``DeprecationWarning`` that
says what to write instead.

* Neuron classes ``LIFNeuronFDE`` (fractional LIF with ``beta``, ``step_size``, ``memory``),
  ``LIFNeuron_OrderOne`` and ``NoisyLIFNeuron_OrderOne`` (integer-order neurons) build today's neurons.
* :class:`LegacyWrapperAPI` (a base of :class:`spikeDE.SNNWrapper`): ``net._alpha_case`` (``'A_scalar'``, ``'A'``,
  ``'B'``, ``'C'``), ``net.per_layer_alpha_params`` and ``net.per_layer_coefficient_params`` (one 1-D tensor per
  layer, with the graph of a learnable order).
* :class:`Orders` / :class:`Order`: what ``get_per_layer_alpha()`` returns, plain floats (lists for multi-term
  layers) that still answer 0.1.0's tensor calls (``.tolist()``, ``.item()``, ``.detach()``, ``.numpy()``).
* :func:`legacy_alpha_config`: the alpha configurations 0.1.0 accepted and 0.2 reads differently (a flat
  ``alpha`` with per-layer ``multi_coefficient``; a flat ``alpha`` whose length is not the number of layers in
  ``'auto'`` mode, which 0.1.0 broadcast as multi-term orders with a warning).
"""
from __future__ import annotations

import warnings

import torch

from .neuron import LIFNeuron, NoisyLIFNeuron

__all__ = ["LIFNeuronFDE", "LIFNeuron_OrderOne", "NoisyLIFNeuron_OrderOne", "LegacyWrapperAPI", "Order",
           "OrderList", "legacy_alpha_config", "deprecated"]


def deprecated(message: str, stacklevel: int = 3) -> None:
    """Issue a ``DeprecationWarning`` (``message`` says what to write instead)."""
    warnings.warn(message, DeprecationWarning, stacklevel=stacklevel)


# ---------------------------------------------------------------------------------------------- neuron names
class LIFNeuronFDE(LIFNeuron):
    """spikeDE 0.1.0's fractional LIF neuron: ``LIFNeuron(alpha=beta, dt=step_size, memory=memory)``.

    ``batchsize``, ``T`` and ``name`` are accepted and unused (no buffer is preallocated); ``memory=-1`` means the
    full history. 0.1.0's default ``tau = 0.5`` is kept.
    """

    def __init__(self, tau: float = 0.5, threshold: float = 1.0, surrogate_grad_scale: float = 5.0,
                 surrogate_opt: str = "arctan_surrogate", tau_learnable: bool = False, method: str = "gl",
                 beta: float = 0.5, batchsize: int = 32, T: int = 16, step_size: float = 1.0, memory: int = -1,
                 name: str = ""):
        deprecated(f"LIFNeuronFDE is spikeDE 0.1.0's name; write LIFNeuron(tau={tau}, threshold={threshold}, "
                   f"alpha={beta}, method={method!r}, dt={step_size}, memory={None if memory == -1 else memory}) "
                   f"(batchsize and T are not needed)")
        super().__init__(tau, threshold, surrogate_grad_scale, surrogate_opt, tau_learnable, alpha=beta,
                         method=method, dt=step_size, memory=memory)
        self.name = name


class LIFNeuron_OrderOne(LIFNeuron):  # noqa: N801  (0.1.0's name)
    """spikeDE 0.1.0's integer-order LIF neuron: ``LIFNeuron(..., integrator='odeint')``
    (``H = V + (X - V)/tau``, ``V = H - theta S``)."""

    def __init__(self, tau: float = 0.5, threshold: float = 1.0, surrogate_grad_scale: float = 5.0,
                 surrogate_opt: str = "arctan_surrogate", tau_learnable: bool = False, **kwargs):
        deprecated(f"LIFNeuron_OrderOne is spikeDE 0.1.0's name; write LIFNeuron(tau={tau}, threshold={threshold}, "
                   f"integrator='odeint') (or SNNWrapper(..., integrator='odeint'))")
        kwargs.setdefault("integrator", "odeint")
        super().__init__(tau, threshold, surrogate_grad_scale, surrogate_opt, tau_learnable, **kwargs)


class NoisyLIFNeuron_OrderOne(NoisyLIFNeuron):  # noqa: N801  (0.1.0's name)
    """spikeDE 0.1.0's integer-order noisy-threshold LIF neuron: ``NoisyLIFNeuron(..., integrator='odeint')``
    with 0.1.0's defaults ``tau = 10`` and ``gamma = 0.2``. 0.1.0's ``train_spike_mode`` and related options are
    accepted; the spike is always the hard (straight-through) one."""

    def __init__(self, tau: float = 10.0, threshold: float = 1.0, gamma: float = 0.2,
                 train_spike_mode: str = "hard_concrete", concrete_temp: float = 0.25, z_clip: float = 10.0,
                 hard_eval: bool = True, detach_reset: bool = True, **kwargs):
        deprecated(f"NoisyLIFNeuron_OrderOne is spikeDE 0.1.0's name; write NoisyLIFNeuron(tau={tau}, "
                   f"threshold={threshold}, noise_scale={gamma}, integrator='odeint')")
        kwargs.setdefault("integrator", "odeint")
        super().__init__(tau, threshold, noise_scale=gamma, detach_reset=detach_reset, **kwargs)
        self.train_spike_mode = train_spike_mode


# ---------------------------------------------------------------------------------------------- orders as values
_VALUE_HINT = ("get_per_layer_alpha() returns Python floats (a list of floats for a multi-term layer); use the "
               "value directly, or net.orders[i]() for the tensor with its graph")


class Order(float):
    """A layer's order as a float; 0.1.0's tensor calls work with a ``DeprecationWarning``."""

    def _warn(self):
        deprecated(_VALUE_HINT, stacklevel=4)

    def tolist(self):
        self._warn()
        return [float(self)]  # 0.1.0 kept every order as a 1-D tensor

    def item(self):
        self._warn()
        return float(self)

    def detach(self):
        self._warn()
        return torch.tensor([float(self)])

    def numpy(self):
        self._warn()
        return torch.tensor([float(self)]).numpy()


class OrderList(list):
    """A multi-term layer's orders as a list of floats; 0.1.0's tensor calls work with a ``DeprecationWarning``."""

    def _warn(self):
        deprecated(_VALUE_HINT, stacklevel=4)

    def tolist(self):
        self._warn()
        return [float(v) for v in self]

    def detach(self):
        self._warn()
        return torch.tensor([float(v) for v in self])

    def numpy(self):
        self._warn()
        return torch.tensor([float(v) for v in self]).numpy()


def as_order_value(v: torch.Tensor):
    """A detached order tensor as :class:`Order` (0-d) or :class:`OrderList` (1-D)."""
    return Order(v.item()) if v.dim() == 0 else OrderList(v.tolist())


# ---------------------------------------------------------------------------------------------- alpha configurations
def _flat(v) -> bool:
    return isinstance(v, (list, tuple)) and len(v) > 0 and not any(isinstance(e, (list, tuple)) for e in v)


def _nested(v) -> bool:
    return isinstance(v, (list, tuple)) and len(v) > 0 and all(isinstance(e, (list, tuple)) for e in v)


def legacy_alpha_config(alpha, multi_coefficient, alpha_mode: str, n_layers: int, layers: str):
    """Rewrite the 0.1.0 configurations that 0.2 reads differently; returns ``(alpha, multi_coefficient,
    alpha_mode)`` (unchanged when nothing applies), warning with what to write instead.

    * flat ``alpha`` with nested (per-layer) ``multi_coefficient`` (``'auto'`` or ``'multiterm'``): the orders
      are shared, the weights per layer (0.1.0's case B) -> ``alpha`` repeated per layer (case C);
    * flat ``alpha`` of ``len != n_layers`` (``> 1``) in ``'auto'`` mode without coefficients: 0.1.0 broadcast
      it as multi-term orders with a warning -> ``alpha_mode='multiterm'``.
    """
    if isinstance(alpha, torch.Tensor) and alpha.numel() > 1:
        alpha = alpha.tolist()
    if isinstance(multi_coefficient, torch.Tensor):
        multi_coefficient = multi_coefficient.tolist()
    if not _flat(alpha) or alpha_mode == "per_layer":
        return alpha, multi_coefficient, alpha_mode
    if _nested(multi_coefficient):
        if len(multi_coefficient) != n_layers:
            raise ValueError(f"multi_coefficient has {len(multi_coefficient)} per-layer lists but the network has "
                             f"{n_layers} neuron layers (in order: {layers})")
        nested = [list(alpha) for _ in range(n_layers)]
        deprecated(f"alpha={list(alpha)} with per-layer multi_coefficient={multi_coefficient}: the same orders "
                   f"in every layer, weights per layer (spikeDE 0.1.0's case B); write alpha={nested}, "
                   f"multi_coefficient={multi_coefficient} (one list per layer)", stacklevel=4)
        return nested, multi_coefficient, "auto"
    if alpha_mode == "auto" and multi_coefficient is None and len(alpha) > 1 and len(alpha) != n_layers:
        deprecated(f"alpha has {len(alpha)} entries but the network has {n_layers} neuron layers (in order: "
                   f"{layers}): len(alpha) != n_layers, treated as multi-term orders shared by every layer "
                   f"(spikeDE 0.1.0's case B); write alpha_mode='multiterm' for that, or give one order per layer",
                   stacklevel=4)
        return alpha, multi_coefficient, "multiterm"
    return alpha, multi_coefficient, alpha_mode


def alpha_case(alpha) -> str:
    """0.1.0's name of a configuration: ``'A_scalar'`` (one number), ``'A'`` (one order per layer), ``'B'``
    (multi-term orders shared by all layers) or ``'C'`` (per-layer lists)."""
    if isinstance(alpha, torch.Tensor):
        alpha = alpha.item() if alpha.numel() == 1 else alpha.tolist()
    if not isinstance(alpha, (list, tuple)):
        return "A_scalar"
    return "C" if any(isinstance(a, (list, tuple)) for a in alpha) else "A"


class LegacyWrapperAPI:
    """0.1.0's attributes of ``SNNWrapper`` (read-only, each with a ``DeprecationWarning``)."""

    @property
    def _alpha_case(self) -> str:
        deprecated("net._alpha_case is spikeDE 0.1.0's; read net.layer_orders (alphas and coefficients of every "
                   "layer)")
        return self._case

    @property
    def per_layer_alpha_params(self) -> list:
        deprecated("net.per_layer_alpha_params is spikeDE 0.1.0's; write net.get_per_layer_alpha() for the values "
                   "or [o() for o in net.orders] for tensors with their graph (parameters: net.orders)")
        if self.integrator == "odeint":
            return [torch.ones(1) for _ in self._neurons]
        return [o().reshape(-1) for o in self.orders]

    @property
    def per_layer_coefficient_params(self) -> list:
        deprecated("net.per_layer_coefficient_params is spikeDE 0.1.0's; write net.get_per_layer_coefficient() for "
                   "the values or net.coefficients[str(i)]() for tensors (parameters: net.coefficients)")
        out = []
        for i in range(len(self._neurons)):
            key = str(i)
            out.append(self.coefficients[key]().reshape(-1) if key in self.coefficients else torch.ones(1))
        return out
