"""Reference networks as plain ``nn.Module``s (spiking MLP / CNN, vision, graph and sequence models).

Each file holds one family of networks and takes plain arguments (sizes, a neuron factory, orders); the
``spikede`` command (:mod:`spikeDE.train`) only registers builders that call them.
"""
from .recurrent import GRUClassifier, StepMLP
from .spiking import SpikingCNN, SpikingMLP
from .ssm_classifier import SpikingSSMClassifier, SpikingSSMClassifierState

__all__ = ["SpikingMLP", "SpikingCNN", "GRUClassifier", "StepMLP", "SpikingSSMClassifier",
           "SpikingSSMClassifierState"]
