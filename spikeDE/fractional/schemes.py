r"""The one table of fractional schemes, used by ``fdeint``, the spiking neurons and the SSMs, and the defaults.

Each :class:`Scheme` records a discrete Caputo derivative: its name and aliases, its history kernel (the
weights of :mod:`spikeDE.fractional.weights`), the factor in front of ``f`` (:func:`~.weights.scheme_factor`),
its order of convergence on smooth problems, how it corrects (if it does) and where it is available.

=============  ===============  =======================  ========  =============================================
name           kernel           factor                   order     correction / availability
=============  ===============  =======================  ========  =============================================
``gl``         ``gl``           ``h^a``                  1         none; fdeint, neurons (SOE memory too)
``l1``         ``l1``           ``Gamma(2-a) h^a``       2 - a     none; fdeint, neurons (SOE memory too)
``predictor``  ``rectangle``    ``h^a/Gamma(a+1)``       1         none (fractional Adams–Bashforth); both
``corrector``  ``rectangle`` +  ``h^a/Gamma(a+2)``       1 + a     Adams–Bashforth–Moulton: the whole history
               ``trapezoid``                                       re-weighted by the product trapezoid; fdeint
``heun``       ``rectangle``    ``h^a/Gamma(a+1)``,      1         predictor, then the newest step's drift taken
                                ``h^a/Gamma(a+2)``                 as linear (Heun); neurons
``glmulti``    ``gl`` per term  ``1/sum c_m h^-a_m``     1         none (multi-term orders); fdeint
=============  ===============  =======================  ========  =============================================

``corrector`` (fdeint) and ``heun`` (neurons) are different schemes and carry different names: the neuron
scheme corrects only the newest step (so the fused spiking kernels keep one recurrence); spikeDE's neurons
accepted ``'corrector'``/``'trap'`` for it, which still works with a ``DeprecationWarning``.

Defaults (one place): :data:`DEFAULT_SOE_TOL` is the relative kernel accuracy of ``memory='soe'`` in
``fdeint`` (a general solver, checked against the full history to ``1e-6``); :data:`LAYER_SOE_TOL` that of
the spiking neurons and the SSM streaming memory (33 instead of 53 modes, results equal to full memory to a
few ``1e-4`` of a threshold). :data:`SOE_HORIZON` is the lag up to which the neurons' SOE holds.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

__all__ = ["Scheme", "SCHEMES", "resolve", "DEFAULT_SOE_TOL", "LAYER_SOE_TOL", "SOE_HORIZON"]

DEFAULT_SOE_TOL = 1e-6
LAYER_SOE_TOL = 1e-4
SOE_HORIZON = 1 << 14


class Scheme(NamedTuple):
    """One discrete Caputo derivative (see the module docstring)."""

    name: str
    aliases: tuple
    kernel: tuple  # weight generators of spikeDE.fractional.weights
    factor: tuple  # scheme_factor names, one per kernel
    order: str
    correction: str | None
    fdeint: bool
    neurons: bool
    soe: bool  # the neurons' SOE memory supports it


SCHEMES = {s.name: s for s in (
    Scheme("gl", ("grunwald", "grunwald_letnikov"), ("gl",), ("gl",), "1", None, True, True, True),
    Scheme("l1", (), ("l1",), ("l1",), "2 - alpha", None, True, True, True),
    Scheme("predictor", ("pred", "rectangle", "adams_bashforth"), ("rectangle",), ("rectangle",), "1", None,
           True, True, False),
    Scheme("corrector", ("trap", "trapezoid", "abm", "predictor_corrector"), ("rectangle", "trapezoid"),
           ("rectangle", "trapezoid"), "1 + alpha", "Adams–Bashforth–Moulton (product trapezoid over the history)",
           True, False, False),
    Scheme("heun", ("predictor_heun",), ("rectangle",), ("rectangle", "trapezoid"), "1",
           "Heun correction of the newest step", False, True, False),
    Scheme("glmulti", ("gl_multi",), ("gl",), ("gl",), "1", None, True, False, False),
)}

_LOOKUP = {alias: s.name for s in SCHEMES.values() for alias in (s.name, *s.aliases)}
_NEURON_CORRECTOR = ("corrector", "trap", "trapezoid", "abm", "predictor_corrector")


def resolve(method, user: str) -> str:
    """Canonical name of ``method`` for ``user`` (``'fdeint'`` or ``'neurons'``); a ``ValueError`` lists what
    that user offers. For neurons, spikeDE's ``'corrector'``/``'trap'`` mean ``'heun'`` (with a
    ``DeprecationWarning``)."""
    if user not in ("fdeint", "neurons"):
        raise ValueError(f"user must be 'fdeint' or 'neurons', got {user!r}")
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, got {type(method).__name__}")
    key = method.strip().lower().replace("-", "_")
    if user == "neurons" and key in _NEURON_CORRECTOR:
        warnings.warn(f"method {method!r} for neurons is the predictor with a Heun correction of the newest step, "
                      f"not fdeint's Adams–Bashforth–Moulton corrector; write method='heun'", DeprecationWarning,
                      stacklevel=4)
        return "heun"
    name = _LOOKUP.get(key)
    if name is None or not getattr(SCHEMES[name], user):
        offered = [s for s in SCHEMES.values() if getattr(s, user)]
        valid = ", ".join(f"'{s.name}'" + (" (" + ", ".join(f"'{a}'" for a in s.aliases) + ")" if s.aliases else "")
                          for s in offered)
        extra = "; 'corrector' ('trap') means 'heun'" if user == "neurons" else ""
        raise ValueError(f"unknown method {method!r} for {user}; valid: {valid}{extra}")
    return name
