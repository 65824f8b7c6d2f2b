r"""Optimiser parameter groups chosen by parameter name.

A rule is ``(regex, overrides)``: every trainable parameter whose qualified name (``model.named_parameters()``)
matches ``regex`` (``re.search``) goes into that rule's group with the ``overrides`` (e.g. ``{"lr": 1e-3,
"weight_decay": 0.0}``); the first matching rule wins; unmatched parameters form the default group.

:data:`SSM_PARAMETERS` matches the state-space parameters of :class:`spikeDE.ssm.FractionalSSM` that S4-type
models train at a small learning rate without weight decay: the step ``log_dt``, the state matrix
(``log_A_real``, ``A_imag``), ``B`` and the SSM's fractional order (``ssm.order.alpha_logit``). ``C``, ``D``, the
neurons and the mixing layers stay in the default group.
"""
from __future__ import annotations

import re

from torch import nn

__all__ = ["SSM_PARAMETERS", "parameter_groups", "ssm_rules"]

SSM_PARAMETERS = r"(^|\.)ssm\.(log_dt|log_A_real|A_imag|B|order\.(alpha_)?logit)$"


def ssm_rules(ssm_lr: float | None, ssm_weight_decay: float = 0.0) -> list:
    """The rule list for the configuration keys ``ssm_lr`` / ``ssm_weight_decay`` (``None``: no rule)."""
    if ssm_lr is None:
        return []
    return [(SSM_PARAMETERS, {"lr": float(ssm_lr), "weight_decay": float(ssm_weight_decay)})]


def parameter_groups(model: nn.Module, rules) -> list[dict]:
    """Optimiser groups of ``model``'s trainable parameters by ``rules`` (see the module docstring); the default
    group comes first, then one group per rule that matched something. Each group records its rule in
    ``"rule"`` (``None`` for the default group)."""
    compiled = []
    for pattern, overrides in rules or []:
        if not isinstance(overrides, dict):
            raise ValueError(f"parameter group rule {pattern!r}: overrides must be a dict, got {overrides!r}")
        try:
            compiled.append((re.compile(pattern), pattern, overrides))
        except re.error as e:
            raise ValueError(f"parameter group rule {pattern!r} is not a valid regular expression: {e}") from e
    default, matched = [], [[] for _ in compiled]
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        for k, (rx, _, _) in enumerate(compiled):
            if rx.search(name):
                matched[k].append(p)
                break
        else:
            default.append(p)
    groups = [{"params": default, "rule": None}] if default else []
    for (rx, pattern, overrides), params in zip(compiled, matched):
        if params:
            groups.append({"params": params, "rule": pattern, **overrides})
    return groups
