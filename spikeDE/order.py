r"""The fractional order ``alpha`` of a layer: fixed, or learnable and kept inside ``(0, 1]``.

A learnable order is stored as an unconstrained ``alpha_logit`` and read as ``alpha = sigmoid(alpha_logit)`` (the
name contains ``alpha``, so ``[p for n, p in model.named_parameters() if 'alpha' in n]`` selects every learnable
order, e.g. for its own learning rate), so it
always lies in ``(0, 1)`` and its gradient never dies at a clamp (``d alpha/d logit = alpha (1 - alpha)``).
``alpha = 1`` (the integer order) is its limit; a learnable order initialised at ``1`` starts at
``1 - 1e-3`` (documented, so that it can move). A fixed order is a buffer and may equal 1 exactly; it is
created in float64, so that a value such as 0.35 is not rounded to float32 before a float64 model uses it.

:class:`MultiTermCoefficients`: the positive weights ``c_i`` of a multi-term order ``sum_i c_i D^{alpha_i}``.
"""
from __future__ import annotations


import torch
from torch import nn

from ._checks import check_alpha, check_positive

__all__ = ["FractionalOrder", "MultiTermCoefficients", "make_orders", "LEARNABLE_ALPHA_MAX"]

LEARNABLE_ALPHA_MAX = 1.0 - 1e-3


class _FormerName:
    """Loads a parameter saved under a former name (``FORMER = (old, new)``), from a ``state_dict`` or a pickled
    module."""

    FORMER: tuple = ()

    def __setstate__(self, state):
        old, new = self.FORMER
        params = state.get("_parameters", {})
        if old in params:
            params[new] = params.pop(old)
        super().__setstate__(state)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        old, new = prefix + self.FORMER[0], prefix + self.FORMER[1]
        if old in state_dict and new not in state_dict:
            state_dict[new] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class FractionalOrder(_FormerName, nn.Module):
    """``alpha``, one value or one per channel (``shape``), fixed or learnable.

    Calling the module returns the order as a tensor (with its graph when learnable).

    Args:
        alpha: initial order(s), ``0 < alpha <= 1``: a number, a sequence or a tensor.
        learnable: make it a parameter ``alpha_logit`` with ``alpha = sigmoid(alpha_logit)``.
        shape: broadcast a scalar ``alpha`` to this shape (e.g. one order per channel).
        name: used in error messages (e.g. the layer's name).
    """

    FORMER = ("logit", "alpha_logit")  # spikeDE 0.2.0's name

    def __init__(self, alpha=0.5, learnable: bool = False, shape=(), name: str | None = None):
        super().__init__()
        value = torch.as_tensor(alpha.detach() if isinstance(alpha, torch.Tensor) else alpha,
                                dtype=torch.float64)
        check_alpha(value, where=name)
        value = value.expand(shape).clone() if value.dim() == 0 else value.clone()
        if tuple(shape) and tuple(value.shape) != tuple(shape):
            raise ValueError(f"{name or 'FractionalOrder'}: alpha has shape {tuple(value.shape)}, "
                             f"expected {tuple(shape)}")
        self.learnable = bool(learnable)
        if self.learnable:
            v = value.clamp(max=LEARNABLE_ALPHA_MAX)
            self.alpha_logit = nn.Parameter((torch.log(v) - torch.log1p(-v)).to(torch.get_default_dtype()))
        else:
            self.register_buffer("fixed", value)

    @property
    def logit(self) -> nn.Parameter:
        """The learnable parameter (``alpha_logit``; the name of spikeDE 0.2.0 before it carried ``alpha``)."""
        return self.alpha_logit

    def forward(self) -> torch.Tensor:
        return torch.sigmoid(self.alpha_logit) if self.learnable else self.fixed

    @property
    def value(self) -> torch.Tensor:
        """The current order, detached."""
        return self().detach()

    def is_one(self) -> bool:
        """True when the order is fixed and exactly 1 everywhere (the integer-order case)."""
        return (not self.learnable) and bool((self.fixed == 1).all())

    def extra_repr(self) -> str:
        v = self.value
        shown = f"{v.item():.4g}" if v.numel() == 1 else f"shape={tuple(v.shape)}"
        return f"alpha={shown}, learnable={self.learnable}"


class MultiTermCoefficients(_FormerName, nn.Module):
    """Positive weights ``c_i`` of a distributed-order derivative ``sum_i c_i D^{alpha_i}``.

    A learnable set is stored as ``log_coefficient`` (``c = exp(log_coefficient)``, always positive); a fixed set
    is a buffer.
    """

    FORMER = ("log_c", "log_coefficient")  # spikeDE 0.2.0's name

    def __init__(self, values, learnable: bool = False, name: str | None = None):
        super().__init__()
        v = torch.as_tensor(values, dtype=torch.get_default_dtype()).reshape(-1).clone()
        check_positive(v, "multi_coefficient", where=name)
        self.learnable = bool(learnable)
        if self.learnable:
            self.log_coefficient = nn.Parameter(torch.log(v))
        else:
            self.register_buffer("fixed", v)

    @property
    def log_c(self) -> nn.Parameter:
        """The learnable parameter (``log_coefficient``; its name before it carried ``coefficient``)."""
        return self.log_coefficient

    def forward(self) -> torch.Tensor:
        return torch.exp(self.log_coefficient) if self.learnable else self.fixed

    def extra_repr(self) -> str:
        return f"coefficients={[round(float(c), 4) for c in self().detach()]}, learnable={self.learnable}"


def make_orders(alphas, coefficients=None, learn_alpha: bool = False, learn_coefficient: bool = False,
                name: str | None = None):
    """``(FractionalOrder, MultiTermCoefficients or None)`` for the orders ``alphas`` (a number or a non-empty
    list; several entries are a multi-term order, with ``coefficients`` or weights 1)."""
    if isinstance(alphas, (list, tuple)):
        if len(alphas) == 0:
            raise ValueError(f"{name or 'orders'}: alpha is an empty list")
        n_terms = len(alphas)
        alphas = list(alphas) if n_terms > 1 else alphas[0]
    else:
        n_terms = 1
    order = FractionalOrder(alphas, learnable=learn_alpha, shape=(n_terms,) if n_terms > 1 else (), name=name)
    if n_terms == 1 and coefficients is None:
        return order, None
    coefs = [1.0] * n_terms if coefficients is None else list(coefficients)
    if len(coefs) != n_terms:
        raise ValueError(f"{name or 'orders'}: {n_terms} orders need {n_terms} multi_coefficient entries, "
                         f"got {len(coefs)}")
    return order, MultiTermCoefficients(coefs, learn_coefficient, name)
