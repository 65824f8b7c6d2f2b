"""Fractional calculus on tensors: weights, Mittag-Leffler function, SOE kernel compression, ``fdeint``.

Math only: pure functions on tensors, no ``nn.Module``.
"""
from .fdeint import METHODS, fdeint
from .history import causal_conv, decay_matrix, toeplitz_block
from .memory import HistorySum, short_memory_bound
from .mittag_leffler import mittag_leffler
from .schemes import DEFAULT_SOE_TOL, LAYER_SOE_TOL, SCHEMES, Scheme
from .soe import SOE, balanced_truncation, soe_approximation, soe_eval, soe_quadrature, soe_rates, soe_weights
from .weights import (
    gl_weights, l1_weights, rectangle_weights, scheme_factor, trapezoid_start_weights, trapezoid_weights,
)

__all__ = [
    "fdeint", "METHODS", "mittag_leffler", "HistorySum", "short_memory_bound",
    "gl_weights", "l1_weights", "rectangle_weights", "trapezoid_weights", "trapezoid_start_weights",
    "scheme_factor", "SOE", "soe_rates", "soe_weights", "soe_approximation", "soe_quadrature",
    "balanced_truncation", "soe_eval",
    "toeplitz_block", "causal_conv", "decay_matrix", "SCHEMES", "Scheme", "DEFAULT_SOE_TOL", "LAYER_SOE_TOL",
]
