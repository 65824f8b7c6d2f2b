"""Neuron dynamics: time stepping of integer- and fractional-order spiking neurons (functional core).

* :mod:`.schemes`: the fractional schemes (gl, l1, predictor, heun, multi-term; names from
  :mod:`spikeDE.fractional.schemes`) as one membrane recurrence.
* :mod:`.spiking`: spike and reset, and their partial derivatives for the backward passes.
* :mod:`.lif`: integer-order LIF/IF, fused multi-step kernel and single step.
* :mod:`.fractional`: fractional kernel with exact, short and SOE memory, and the streaming state.
* :mod:`.functional`: the core the neuron modules call: ``MembraneParams``/``MembraneState`` (NamedTuples),
  ``membrane_sequence`` and ``membrane_step``.
* :mod:`.synapse` (current-based synapse) and :mod:`.adaptive` (spike-triggered threshold adaptation): the pieces
  of the CubaLIF and ALIF neurons.
"""
from .adaptive import AdaptationParams, AdaptationState, adapt, adaptation_params, adaptive_threshold
from .fractional import MemoryPlan, StreamState, fractional_sequence, lag_correlation
from .functional import Dynamics, MembraneParams, MembraneState, membrane_sequence, membrane_step
from .lif import fire_and_reset, lif_sequence, lif_step
from .schemes import (METHODS, canonical_method, derivative_kernel, far_soe_weights, membrane_recurrence,
                      multiterm_kernel, series_inverse)
from .spiking import SpikeConfig, spike_config
from .synapse import synaptic_current, synaptic_step

__all__ = [
    "MemoryPlan", "StreamState", "fractional_sequence", "lag_correlation", "fire_and_reset", "lif_sequence",
    "lif_step", "METHODS", "canonical_method", "derivative_kernel", "far_soe_weights", "membrane_recurrence",
    "multiterm_kernel", "series_inverse", "SpikeConfig", "spike_config", "Dynamics", "MembraneParams",
    "MembraneState", "membrane_sequence", "membrane_step", "synaptic_current", "synaptic_step", "AdaptationParams",
    "AdaptationState", "adaptation_params", "adaptive_threshold", "adapt",
]
