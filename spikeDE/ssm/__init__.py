"""Fractional state-space layers (parallel FFT training, streaming inference) and, later, spiking SSM blocks."""
from .fractional_ssm import FractionalSSM, FractionalSSMState
from .kernel import cauchy_pairs, gl_ssm_kernel

__all__ = ["FractionalSSM", "FractionalSSMState", "gl_ssm_kernel", "cauchy_pairs"]
