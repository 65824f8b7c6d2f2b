"""Fractional state-space layers (parallel FFT training, streaming inference) and the spiking SSM block and
classifier built from them."""
from .block import LoongSpike, LoongSpikeState
from .classifier import SpikingSSMClassifier, SpikingSSMClassifierState
from .fractional_ssm import FractionalSSM, FractionalSSMState
from .kernel import cauchy_pairs, gl_ssm_kernel

__all__ = ["FractionalSSM", "FractionalSSMState", "LoongSpike", "LoongSpikeState", "SpikingSSMClassifier",
           "SpikingSSMClassifierState", "gl_ssm_kernel", "cauchy_pairs"]
