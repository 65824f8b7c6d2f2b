r"""Bring your SNN: convert SpikingJelly, snnTorch and Norse networks, and trained ANNs, into spikeDE networks.

* :func:`from_spikingjelly`, :func:`from_snntorch`, :func:`from_norse` and :func:`convert` (detects the library)
  replace every supported neuron by the spikeDE neuron that reproduces it at ``alpha = 1``; the result runs
  through ``SNNWrapper(net, integrator="fdeint", alpha=...)`` and becomes a fractional-order SNN.
* :func:`ann_to_snn` turns a trained ReLU network into a rate-coded spiking network (integrate-and-fire neurons
  with data-based thresholds, BatchNorm folded, an accumulating output layer).

The peer libraries are never imported: their modules are recognised by class and read attribute by attribute.
Anything that cannot be reproduced exactly raises :class:`UnsupportedModuleError` listing the offending modules
and the supported set.
"""
from ._common import TauInput, UnsupportedModuleError
from .ann import RateCodedSNN, ann_to_snn, fold_batchnorm
from .detect import convert, detect_frameworks
from .norse import NorseAdapter, from_norse
from .snntorch import LeakyAdapter, SynapticAdapter, from_snntorch
from .spikingjelly import from_spikingjelly

__all__ = ["ann_to_snn", "RateCodedSNN", "fold_batchnorm", "convert", "detect_frameworks", "from_spikingjelly", "from_snntorch", "from_norse",
           "UnsupportedModuleError", "TauInput", "LeakyAdapter", "SynapticAdapter", "NorseAdapter"]
