"""``convert(model)``: detect the library a spiking network was built with and convert it to spikeDE."""
from __future__ import annotations

from torch import nn

from ._common import framework_of
from .norse import from_norse
from .snntorch import from_snntorch
from .spikingjelly import from_spikingjelly

__all__ = ["convert", "detect_frameworks"]

_CONVERTERS = {"spikingjelly": from_spikingjelly, "snntorch": from_snntorch, "norse": from_norse}


def detect_frameworks(model: nn.Module) -> list[str]:
    """The peer libraries (``'spikingjelly'``, ``'snntorch'``, ``'norse'``) whose modules ``model`` contains, in
    the order their first module appears in ``model.modules()``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    found: list[str] = []
    for m in model.modules():
        fw = framework_of(m)
        if fw is not None and fw not in found:
            found.append(fw)
    return found


def convert(model: nn.Module, **neuron_kwargs) -> nn.Module:
    """Convert a SpikingJelly, snnTorch or Norse network (in place) into spikeDE neurons that reproduce it at
    ``alpha = 1``: :func:`from_spikingjelly`, :func:`from_snntorch` or :func:`from_norse`, chosen from the modules
    found (a network mixing libraries goes through each converter in turn).

    Raises:
        ValueError: the network has no module of these libraries.
        UnsupportedModuleError: listing every module that cannot be converted exactly, and the supported set.
    """
    found = detect_frameworks(model)
    if not found:
        raise ValueError("convert: the model has no SpikingJelly, snnTorch or Norse module; for a trained ANN "
                         "(ReLU network) use spikeDE.convert.ann_to_snn")
    for fw in found:
        model = _CONVERTERS[fw](model, **neuron_kwargs)
    return model
