r"""Leaky integrate-and-fire membrane as an ODE, and its exact solution between input events.

Membrane (``C_mem``, ``tau_mem`` in ms, ``v`` in the units of ``v_threshold``)::

    C_mem * dv/dt = -(v - v_rest) * C_mem / tau_mem + I(t)      i.e.  dv/dt = -(v - v_rest)/tau_mem + I/C_mem

and, with a current-based synapse (``tau_syn`` not ``None``), ``tau_syn * dI/dt = -I`` between input spikes,
each input spike making ``I`` jump by its weight. When ``v`` reaches ``v_threshold`` the neuron spikes, ``v``
is set to ``v_reset`` and held there for the refractory period ``t_ref``; then the same law applies again.

Between two events (input change, input spike, end of refractoriness, own spike) the equation is linear
with constant coefficients, so it is solved in closed form. Starting from ``v(0) = w`` with a held current
``I_c`` and a synaptic current ``J exp(-u/tau_syn)``::

    v(u) = v_inf + (w - v_inf) exp(-u/tau_mem) + (J/C_mem) K(u),     v_inf = v_rest + tau_mem * I_c / C_mem
    K(u) = int_0^u exp(-(u-s)/tau_mem) exp(-s/tau_syn) ds
         = exp(-u/tau_slow) * (-expm1(-u*|d|)) / |d|,   d = 1/tau_syn - 1/tau_mem,  tau_slow = max(tau_mem, tau_syn)
         = u * exp(-u/tau_mem)                           when tau_syn == tau_mem (the limit d -> 0).

``(w - v_inf) exp(-u/tau) = -(v_inf - w) * (1 + expm1(-u/tau))`` is evaluated as
``w - (v_inf - w) * expm1(-u/tau)``, which keeps full relative precision for ``u << tau``; the ``K`` form never
forms the difference of two nearly equal exponentials and never overflows (``tau_slow`` is the slower rate).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

import torch

from .._checks import check_positive

__all__ = ["ODELIFDynamics"]


def _finite_real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"ODELIFDynamics: {name} must be a real number, got {type(value).__name__}")
    if not math.isfinite(float(value)):
        raise ValueError(f"ODELIFDynamics: {name} must be finite, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class ODELIFDynamics:
    r"""LIF membrane ``C_mem dv/dt = -(v - v_rest) C_mem/tau_mem + I`` with threshold, reset and refractoriness.

    Parameters (times in ms):
        tau_mem: membrane time constant, ``> 0``.
        v_rest: resting potential (the membrane starts there after ``reset()``).
        v_threshold: spike threshold ``theta``.
        v_reset: potential after a spike; must be ``< v_threshold``.
        C_mem: membrane capacitance, ``> 0``: a held current ``I`` drives ``v`` towards
            ``v_inf = v_rest + tau_mem * I / C_mem``.
        t_ref: absolute refractory period, ``>= 0``: after a spike ``v`` stays at ``v_reset`` for ``t_ref``.
        tau_syn: ``None`` (default): the input current is held constant over each input interval
            (zero-order hold). A number ``> 0``: current-based synapse ``tau_syn dI/dt = -I``; inputs are spikes
            that make ``I`` jump.
    """

    tau_mem: float = 20.0
    v_rest: float = 0.0
    v_threshold: float = 1.0
    v_reset: float = 0.0
    C_mem: float = 1.0
    t_ref: float = 0.0
    tau_syn: float | None = None

    def __post_init__(self):
        where = "ODELIFDynamics"
        check_positive(self.tau_mem, "tau_mem", where)
        check_positive(self.C_mem, "C_mem", where)
        check_positive(self.t_ref, "t_ref", where, allow_zero=True)
        if self.tau_syn is not None:
            check_positive(self.tau_syn, "tau_syn", where)
            object.__setattr__(self, "tau_syn", float(self.tau_syn))
        for name in ("tau_mem", "C_mem", "t_ref"):
            object.__setattr__(self, name, float(getattr(self, name)))
        for name in ("v_rest", "v_threshold", "v_reset"):
            object.__setattr__(self, name, _finite_real(getattr(self, name), name))
        if not self.v_reset < self.v_threshold:
            raise ValueError(
                f"ODELIFDynamics: v_reset must be < v_threshold (otherwise a neuron would spike again at once "
                f"after every reset), got v_reset={self.v_reset!r}, v_threshold={self.v_threshold!r}"
            )

    # ------------------------------------------------------------------ the ODE itself
    @property
    def has_synapse(self) -> bool:
        """``True`` when inputs act through the synaptic current (``tau_syn`` is set)."""
        return self.tau_syn is not None

    def dvdt(self, v, I):
        """Right-hand side ``dv/dt = -(v - v_rest)/tau_mem + I/C_mem`` (tensors or NumPy arrays)."""
        return -(v - self.v_rest) / self.tau_mem + I / self.C_mem

    def steady_state(self, I):
        """``v_inf = v_rest + tau_mem * I / C_mem``: where a held current ``I`` drives the membrane."""
        return self.v_rest + (self.tau_mem / self.C_mem) * I

    # ------------------------------------------------------------------ exact solution between events
    def synaptic_kernel(self, u: torch.Tensor) -> torch.Tensor:
        """``K(u) = int_0^u exp(-(u-s)/tau_mem) exp(-s/tau_syn) ds`` (see the module docstring), ``u >= 0``."""
        if self.tau_syn is None:
            raise ValueError("ODELIFDynamics.synaptic_kernel: tau_syn is None (no synapse)")
        d = abs(1.0 / self.tau_syn - 1.0 / self.tau_mem)
        tau_slow = max(self.tau_mem, self.tau_syn)
        if d == 0.0:
            return u * torch.exp(-u / tau_slow)
        return torch.exp(-u / tau_slow) * (-torch.expm1(-u * d)) / d

    def membrane(self, w: torch.Tensor, u: torch.Tensor, current=None, syn_current=None) -> torch.Tensor:
        """Exact ``v(u)`` from ``v(0) = w`` with held current ``current`` (``I_c``, default 0) and synaptic
        current ``syn_current * exp(-u/tau_syn)`` (``J``, default none): the formula in the module docstring."""
        v_inf = self.v_rest if current is None else self.steady_state(current)
        v = w - (v_inf - w) * torch.expm1(-u / self.tau_mem)
        if syn_current is not None:
            v = v + (syn_current / self.C_mem) * self.synaptic_kernel(u)
        return v

    def membrane_slope(self, v: torch.Tensor, u: torch.Tensor, current=None, syn_current=None) -> torch.Tensor:
        """``dv/du`` at time ``u`` where the membrane is ``v`` (the ODE right-hand side with the current at ``u``)."""
        i = 0.0 if current is None else current
        if syn_current is not None:
            i = i + syn_current * torch.exp(-u / self.tau_syn)
        return self.dvdt(v, i)
