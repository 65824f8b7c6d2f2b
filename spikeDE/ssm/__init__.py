"""Fractional state-space layers (parallel FFT training, streaming inference) and the spiking SSM block.

The classifier built from the blocks lives with the other reference networks
(:mod:`spikeDE.models.ssm_classifier`) and is importable from here as well."""
from .block import LoongSpike, LoongSpikeState
from .fractional_ssm import FractionalSSM, FractionalSSMState
from .kernel import cauchy_pairs, gl_ssm_kernel

__all__ = ["FractionalSSM", "FractionalSSMState", "LoongSpike", "LoongSpikeState", "SpikingSSMClassifier",
           "SpikingSSMClassifierState", "gl_ssm_kernel", "cauchy_pairs"]


def __getattr__(name):
    # the classifier is a network of spikeDE.models; imported on first use (it imports this package's blocks)
    if name in ("SpikingSSMClassifier", "SpikingSSMClassifierState"):
        from ..models import ssm_classifier
        return getattr(ssm_classifier, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
