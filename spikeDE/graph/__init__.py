"""Graph operations for spiking graph networks: sparse normalised adjacency and K-hop propagation, positional
encodings (Laplacian eigenvectors from a sparse eigensolver, random-walk return probabilities), rate encoders
that turn node features into spike trains, and a spiking graph convolution.

Everything is sparse (``torch.sparse`` COO); no function builds a dense ``N x N`` matrix. scipy (the ``[graph]``
extra) is needed only by :func:`laplacian_pe`.
"""
from .adjacency import check_edge_index, normalized_adjacency
from .propagate import propagate
from .encodings import laplacian_pe, random_walk_pe
from .spikes import ENCODERS, SpikeEncoder, bernoulli_spikes, deterministic_spikes, poisson_spikes
from .conv import SpikingGraphConv

__all__ = ["check_edge_index", "normalized_adjacency", "propagate", "laplacian_pe", "random_walk_pe", "ENCODERS",
           "SpikeEncoder", "bernoulli_spikes", "poisson_spikes", "deterministic_spikes", "SpikingGraphConv"]
