"""Fractional calculus on tensors: weights, Mittag-Leffler function, SOE kernel compression, ``fdeint``.

Math only: pure functions on tensors, no ``nn.Module``.
"""
