"""spikeDE: fractional-order spiking neural networks in PyTorch.

The membrane of a fractional spiking neuron obeys the Caputo equation ``tau * D^alpha v = -v + I``
(``0 < alpha <= 1``); ``alpha = 1`` is the leaky integrate-and-fire neuron, exactly.
"""

__version__ = "0.2.0"

from .neuron import BaseNeuron, HardResetLIFNeuron, IFNeuron, LIFNeuron, NoisyLIFNeuron, reset_net  # noqa: E402
from .neuron_adaptive import AdaptiveLIFNeuron  # noqa: E402
from .neuron_current import CubaLIFNeuron  # noqa: E402
from .wrapper import SNNWrapper  # noqa: E402
from .fractional import fdeint, mittag_leffler  # noqa: E402
from .compat import LIFNeuron_OrderOne, LIFNeuronFDE, NoisyLIFNeuron_OrderOne  # noqa: E402,F401  (0.1.0 names)

__all__ = ["SNNWrapper", "BaseNeuron", "IFNeuron", "LIFNeuron", "HardResetLIFNeuron", "NoisyLIFNeuron",
           "AdaptiveLIFNeuron", "CubaLIFNeuron",
           "reset_net", "fdeint", "mittag_leffler", "__version__"]
