r"""The neurons of the ``spikede`` command: ``lif``, ``flif``, ``multiterm``, ``alif`` and ``cubalif``.

All three are the leaky integrate-and-fire membrane of :class:`spikeDE.LIFNeuron` (threshold ``theta = 1``,
subtractive reset, arctan surrogate) with a different time derivative; a spiking model builds its network
with the neuron layers of the arm and runs it through :class:`spikeDE.SNNWrapper` with the keywords that
``dynamics(cfg)`` returns (one fused multi-step kernel per layer):

* ``lif``: ``tau dv/dt = -v + I`` (integer order; ``H = V + (X - V)/tau``, the discrete LIF neuron).
* ``flif``: ``tau D^alpha v = -v + I`` (Caputo, one order per layer). ``alpha`` starts at ``cfg.alpha``
  (default :data:`FLIF_ALPHA`) and is learned when ``cfg.learn_alpha`` (kept in ``(0, 1)`` by a sigmoid);
  ``cfg.method`` (default ``gl``) and ``cfg.memory`` (default: the full history) choose the scheme.
  With ``alpha = 1`` fixed it is the ``lif`` neuron bit for bit.
* ``multiterm``: the distributed-order neuron ``tau sum_i c_i D^{alpha_i} v = -v + I`` with the fixed orders
  :data:`MULTITERM_ALPHAS` and positive weights ``c_i`` (starting equal, summing to 1), learned when
  ``cfg.learn_alpha``: the network learns how its memory is spread over the orders.
* ``alif``: :class:`spikeDE.AdaptiveLIFNeuron`, the ``flif`` membrane with a spike-triggered adaptive threshold
  ``theta + beta a_t`` (:data:`ALIF_BETA`, :data:`ALIF_TAU_ADAPT`); order as ``flif`` (``--alpha 1`` with
  ``--no-learn-alpha``: integer order).
* ``cubalif``: :class:`spikeDE.CubaLIFNeuron`, the ``flif`` membrane driven through a current-based synapse
  ``tau_syn dI/dt = -I + x`` (:data:`CUBA_TAU_SYN`); order as ``flif``.
"""
from __future__ import annotations

from ..neuron import LIFNeuron, check_memory
from ..neuron_adaptive import AdaptiveLIFNeuron
from ..neuron_current import CubaLIFNeuron
from .config import ConfigError, TrainConfig
from .registry import register_neuron

__all__ = ["FLIF_ALPHA", "MULTITERM_ALPHAS", "TAU", "THRESHOLD", "ALIF_BETA", "ALIF_TAU_ADAPT", "CUBA_TAU_SYN",
           "memory_option"]

FLIF_ALPHA = 0.5
MULTITERM_ALPHAS = (0.3, 0.7, 1.0)
TAU = 2.0
THRESHOLD = 1.0
ALIF_BETA = 0.2
ALIF_TAU_ADAPT = 20.0
CUBA_TAU_SYN = 5.0


def memory_option(memory):
    """``cfg.memory`` as :class:`spikeDE.SNNWrapper` takes it: ``None``/``"full"`` (full history), ``"soe"`` or
    a number of steps ``L`` (short memory); the text is read here, the value checked by the one memory parser."""
    if memory is None:
        return None
    text = str(memory).strip().lower()
    value = None if text in ("full", "none", "-1") else int(text) if text.isdigit() else text
    try:
        return check_memory(value)
    except ValueError:
        raise ConfigError(f"memory must be 'full', 'soe' or a number of steps >= 1, got {memory!r}") from None


def _lif(cfg: TrainConfig, tau: float = TAU, threshold: float = THRESHOLD, learn_tau: bool = False, **_):
    return LIFNeuron(tau=tau, threshold=threshold, tau_learnable=learn_tau)


def _fractional(cfg: TrainConfig) -> dict:
    return {"method": cfg.method or "gl", "memory": memory_option(cfg.memory)}


@register_neuron("lif", description="leaky integrate-and-fire, integer order (tau dv/dt = -v + I)",
                 dynamics=lambda cfg: {"integrator": "odeint"})
def _make_lif(cfg: TrainConfig, **layer_kwargs):
    return _lif(cfg, **layer_kwargs)


def _flif_dynamics(cfg: TrainConfig) -> dict:
    alpha = FLIF_ALPHA if cfg.alpha is None else cfg.alpha
    return {"integrator": "fdeint", "alpha": alpha, "learn_alpha": cfg.learn_alpha, **_fractional(cfg)}


@register_neuron("flif", description=f"fractional LIF, tau D^alpha v = -v + I (alpha from --alpha, default "
                                     f"{FLIF_ALPHA}; learned unless --no-learn-alpha)",
                 fractional=True, dynamics=_flif_dynamics)
def _make_flif(cfg: TrainConfig, **layer_kwargs):
    return _lif(cfg, **layer_kwargs)


def _multiterm_dynamics(cfg: TrainConfig) -> dict:
    n = len(MULTITERM_ALPHAS)
    return {"integrator": "fdeint", "alpha": list(MULTITERM_ALPHAS), "alpha_mode": "multiterm",
            "multi_coefficient": [1.0 / n] * n, "learn_coefficient": cfg.learn_alpha, **_fractional(cfg)}


@register_neuron("multiterm", description="distributed-order LIF, tau sum_i c_i D^alpha_i v = -v + I, orders "
                                          f"{', '.join(map(str, MULTITERM_ALPHAS))}, learned weights c_i",
                 fractional=True, dynamics=_multiterm_dynamics)
def _make_multiterm(cfg: TrainConfig, **layer_kwargs):
    return _lif(cfg, **layer_kwargs)


@register_neuron("alif", description=f"adaptive-threshold LIF (ALIF): flif membrane, threshold + {ALIF_BETA} per spike "
                                     f"relaxing with tau_adapt = {ALIF_TAU_ADAPT} steps",
                 fractional=True, dynamics=_flif_dynamics)
def _make_alif(cfg: TrainConfig, tau: float = TAU, threshold: float = THRESHOLD, learn_tau: bool = False, **_):
    return AdaptiveLIFNeuron(tau=tau, threshold=threshold, tau_learnable=learn_tau, beta=ALIF_BETA,
                             tau_adapt=ALIF_TAU_ADAPT)


@register_neuron("cubalif", description=f"current-based LIF: synapse tau_syn dI/dt = -I + x (tau_syn = {CUBA_TAU_SYN} "
                                        f"steps) feeding the flif membrane",
                 fractional=True, dynamics=_flif_dynamics)
def _make_cubalif(cfg: TrainConfig, tau: float = TAU, threshold: float = THRESHOLD, learn_tau: bool = False, **_):
    return CubaLIFNeuron(tau=tau, threshold=threshold, tau_learnable=learn_tau, tau_syn=CUBA_TAU_SYN)
