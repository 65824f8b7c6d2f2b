"""Event-driven spiking ODE layer: LIF neurons solved exactly between input events, exact spike times.

* :class:`ODELIFDynamics`: the membrane ODE (threshold, reset, refractoriness, optional synapse).
* :class:`SpikingODELayer`: fully connected ``nn.Module``; counts per interval, exact differentiable times.
* :class:`SpikeTrain`: padded spike times per neuron.
* :mod:`~spikeDE.events.crossing` / :mod:`~spikeDE.events.interval`: the functional core (closed forms,
  bracketed root finding, implicit gradients, one-interval updates on explicit state).
"""
from .crossing import first_crossing, zoh_crossing_time, zoh_interspike_interval
from .dynamics import ODELIFDynamics
from .interval import LIFState, SpikeGroup, synaptic_segment, zoh_interval
from .layer import SpikingODELayer
from .spike_train import SpikeTrain

__all__ = [
    "ODELIFDynamics",
    "SpikingODELayer",
    "SpikeTrain",
    "LIFState",
    "SpikeGroup",
    "zoh_interval",
    "synaptic_segment",
    "first_crossing",
    "zoh_crossing_time",
    "zoh_interspike_interval",
]
