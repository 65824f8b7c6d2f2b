"""Neuron dynamics: time stepping of integer- and fractional-order spiking neurons (functional core).

* :mod:`.schemes`: the fractional schemes (gl, l1, predictor, heun, multi-term; names from
  :mod:`spikeDE.fractional.schemes`) as one membrane recurrence.
* :mod:`.spiking`: spike and reset, and their partial derivatives for the backward passes.
* :mod:`.lif`: integer-order LIF/IF, fused multi-step kernel and single step.
* :mod:`.fractional`: fractional kernel with exact, short and SOE memory, and the streaming state.
"""
from .fractional import MemoryPlan, StreamState, fractional_sequence, lag_correlation
from .lif import fire_and_reset, lif_sequence, lif_step
from .schemes import (METHODS, canonical_method, derivative_kernel, far_soe_weights, membrane_recurrence,
                      multiterm_kernel, series_inverse)
from .spiking import SpikeConfig, spike_config

__all__ = [
    "MemoryPlan", "StreamState", "fractional_sequence", "lag_correlation", "fire_and_reset", "lif_sequence",
    "lif_step", "METHODS", "canonical_method", "derivative_kernel", "far_soe_weights", "membrane_recurrence",
    "multiterm_kernel", "series_inverse", "SpikeConfig", "spike_config",
]
