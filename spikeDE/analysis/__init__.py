"""Analysis: spike monitors, synaptic operations and energy, robustness attacks, plots (matplotlib optional)."""
from .attacks import ATTACKS, DEFAULT_LEVELS, apply_attack, gaussian_noise, input_dropout, occlusion, temporal_jitter
from .energy import E_AC_PJ, E_MAC_PJ, SynapticOpCounter, SynapticOps, count_synaptic_ops
from .orders import fractional_orders, mean_orders, multiterm_weights
from .monitors import SpikeMonitor, is_spiking_layer, register_spiking_type, spiking_types

__all__ = ["ATTACKS", "DEFAULT_LEVELS", "apply_attack", "gaussian_noise", "input_dropout", "occlusion",
           "temporal_jitter", "E_AC_PJ", "E_MAC_PJ", "SynapticOpCounter", "SynapticOps", "count_synaptic_ops",
           "fractional_orders", "mean_orders", "multiterm_weights", "SpikeMonitor", "is_spiking_layer", "register_spiking_type", "spiking_types"]
