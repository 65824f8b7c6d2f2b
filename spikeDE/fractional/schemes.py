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

Defaults (one place, used by every driver of the history engine :mod:`.history`):

=========================  ==========  ===============================================================================
name                       value       meaning
=========================  ==========  ===============================================================================
``DEFAULT_SOE_TOL``        ``1e-6``    relative accuracy of every far-field SOE kernel: ``fdeint``, the neurons,
                                       the SSM streaming step and the NIR export (results equal full memory to
                                       about ``1e-6``; 16-19 modes for the neurons' GL kernel)
``SOE_HORIZON``            ``2^14``    the neurons' SOE holds to ``DEFAULT_SOE_TOL`` up to this lag (beyond, the
                                       error grows like ``tol * n / horizon``)
``STREAM_HORIZON``         ``2^20``    the same for the SSM streaming step (long-sequence inference)
``HISTORY_BLOCK``          ``32``      block ``C`` of ``fdeint``'s online history (one GEMM per block)
``NEURON_BLOCK``           ``64``      block of the neurons' fused kernels, exact and short memory
``NEURON_SOE_BLOCK``       ``16``      block of the neurons' fused kernels with SOE memory (lags ``< 2C`` exact;
                                       16 measured faster than 32 with the optimal SOE)
``SUB_BLOCK``              ``8``       sub-block inside a block (one small GEMM per sub-block)
``STREAM_WINDOW``          ``4``       exact lags of the SSM streaming step before its SOE modes
=========================  ==========  ===============================================================================

The blocks differ because the drivers differ: ``fdeint`` pushes one value per call (its block trades the
far-field GEMMs against the per-step near products), the neurons run whole sequences in fused kernels, and
the SSM step has no blocks at all (``C = 1``). ``LAYER_SOE_TOL`` is the earlier name of ``DEFAULT_SOE_TOL``.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

__all__ = ["Scheme", "SCHEMES", "resolve", "DEFAULT_SOE_TOL", "LAYER_SOE_TOL", "SOE_HORIZON", "STREAM_HORIZON",
           "HISTORY_BLOCK", "NEURON_BLOCK", "NEURON_SOE_BLOCK", "SUB_BLOCK", "STREAM_WINDOW"]

DEFAULT_SOE_TOL = 1e-6
LAYER_SOE_TOL = DEFAULT_SOE_TOL
SOE_HORIZON = 1 << 14
STREAM_HORIZON = 1 << 20
HISTORY_BLOCK = 32
NEURON_BLOCK = 64
NEURON_SOE_BLOCK = 16
SUB_BLOCK = 8
STREAM_WINDOW = 4


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
