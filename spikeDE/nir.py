r"""Export to and import from the Neuromorphic Intermediate Representation (NIR, ``pip install nir``).

:func:`to_nir` turns a spikeDE network (an ``nn.Sequential`` of ``Linear`` / ``Conv1d`` / ``Conv2d`` /
``AvgPool2d`` / ``Flatten`` / ``BatchNorm`` layers and spikeDE neurons, on its own or inside
:class:`spikeDE.SNNWrapper`) into a ``nir.NIRGraph``; :func:`from_nir` turns a NIR graph (spikeDE's or another
library's) into a spikeDE ``nn.Module``, multi-step (``[T, B, ...]``) or single-step (``[B, ...]``).

Time. NIR parameters are continuous-time. A spikeDE neuron steps with ``dt_model`` (its own ``dt``, or the
wrapper's); the export states that **one spikeDE step lasts ``dt`` NIR time units** (``to_nir(model, dt)``;
seconds for hardware and for Norse / snnTorch) and scales every time constant by ``dt / dt_model``. The discrete
LIF step ``H = V + (X - V) dt_model / tau`` is forward Euler of ``tau dv/dt = -v + I``, so a backend that
integrates the exported graph by forward Euler with step ``dt`` reproduces spikeDE exactly; :func:`from_nir`
does the inverse (``tau_steps = tau_nir / dt``). The ``dt`` is written into the graph's metadata.

Execution order of a graph with cycles (the reset cycle and the fractional neuron below): the edges that a
depth-first search from the ``Input`` node (following the graph's edge list in order) finds closing a cycle carry
their source's output of the previous step; all other nodes run, every step, in a topological order of the
remaining acyclic graph (stateful nodes update with forward Euler on the inputs of the current step).

Neurons (``N`` neurons of one layer, ``theta`` threshold, ``tau_s = tau / dt_model`` the time constant in steps):

========================================  =====================================================  =============
spikeDE neuron                            NIR subgraph                                           exactness
========================================  =====================================================  =============
LIF, ``alpha = 1``, ``reset='zero'``      ``LIF(tau = tau_s dt, r = 1, v_leak = 0, v_reset)``    exact
IF, ``alpha = 1``, ``reset='zero'``       ``IF(r = 1 / (tau_s dt), v_reset)``                    exact
LIF, ``alpha = 1``, ``reset='subtract'``  ``LI -> Threshold -> Scale(-theta (tau_s - 1)) -> LI``  exact
IF, ``alpha = 1``, ``reset='subtract'``   ``I -> Threshold -> Scale(-theta tau_s) -> I``          exact
CubaLIF, ``alpha = 1``, ``reset='zero'``  ``CubaLIF(tau_syn = k dt, tau_mem = tau_s dt, r = 1,    exact
                                          v_leak = 0, w_in = 1, v_reset)``
CubaLIF, ``alpha = 1``,                   ``LI(tau = k dt)`` synapse, then the LIF reset cycle   exact
``reset='subtract'``
f-LIF / f-IF ``alpha < 1`` (gl, l1),      SOE bank: ``Scale`` drive, ``Scale`` membrane sum,     SOE kernel
multi-term, ``reset='subtract'``          ``Threshold``, ``Scale(-theta)`` reset, one ``LI``     error in the
                                          (``I`` for rate 0) per mode and one lag-1 ``LI``       metadata
f-CubaLIF ``alpha < 1``, as f-LIF         ``LI(tau = k dt)`` synapse, then the SOE bank          as f-LIF
========================================  =====================================================  =============

``CubaLIFNeuron`` (``k = tau_syn / dt_model``): its synapse ``I_n = I_{n-1} + (x_n - I_{n-1}) / k`` is the NIR
``LI(tau = k dt, r = 1, v_leak = 0)`` (and the synapse of a NIR ``CubaLIF``) under forward Euler with step ``dt``,
and the membrane runs on ``I_n``, as NIR's ``CubaLIF`` does (synapse first, then membrane, in one step). The
synapse node carries the group's metadata (role ``synapse``), so :func:`from_nir` re-imports the subgraph as a
``CubaLIFNeuron``; a NIR ``CubaLIF`` node with one ``tau_syn`` and ``v_leak = 0`` becomes a ``CubaLIFNeuron``
(``r w_in`` scales the input of the linear synapse), any other a synapse layer and a ``LIFNeuron``.

The reset cycle: spikeDE's ``H_n = V_{n-1} + (X_n - V_{n-1})/tau_s``, ``V_n = H_n - theta S_n`` is the ``LI`` node
``u_n = u_{n-1} + (X_n + w S_{n-1} - u_{n-1})/tau_s`` (state ``u = H``, the spike of step ``n-1`` arriving at
step ``n``) exactly when ``w = -theta (tau_s - 1)`` (``I`` node: ``w = -theta tau_s``). The nodes carry metadata
(``{'spikeDE': json}``: role, group, neuron class) so that :func:`from_nir` re-imports the cycle as a spikeDE
neuron with ``reset='subtract'``.

The fractional neuron. spikeDE's recurrence (:mod:`spikeDE.dynamics.schemes`) is
``H_n = c_X X_n - sum_{k>=1} K'_k V_{n-k}``, ``V_n = H_n - theta S_n``. The kernel's far part is a sum of
exponentials, ``K'_k ~ sum_m omega_m e^{-lambda_m k}`` for ``k >= 2`` (:func:`spikeDE.fractional.soe_approximation`
of the ``gl`` or ``l1`` kernel, relative accuracy ``tol`` on lags ``2..n_max``; for multi-term orders the
terms' modes add). Each mode is a leaky compartment fed by the membrane after reset,
``z_{m,n} = e^{-lambda_m} z_{m,n-1} + c_m V_n`` with ``c_m = -omega_m e^{-lambda_m}``: the NIR node
``LI(tau = dt / (1 - e^{-lambda_m}), r = c_m / (1 - e^{-lambda_m}))`` under forward Euler (the rate-0 mode is
``I(r = c_0 / dt)``), whose previous state enters ``H_n``: ``sum_m z_{m,n-1} = -sum_{k>=1} (sum_m omega_m
e^{-lambda_m k}) V_{n-k}``. Lag 1 is made exact by one more node ``LI(tau = dt, r = c_1)`` (it keeps only the
last ``V``) with ``c_1 = -K'_1 + sum_m omega_m e^{-lambda_m}`` (this is where the leak ``dt_model/tau`` sits).
For ``l1`` (``K_k = b_k - b_{k-1}``, the SOE of ``b`` holding from lag 2) the modes carry lags ``>= 3`` and lag 2 is
an exact tap ``Delay(dt) -> Scale(c_2)``, ``c_2 = -K'_2 - sum_m c_m e^{-lambda_m}``.
So the graph is the spikeDE neuron with its kernel replaced by the SOE: exact in structure (drive, leak,
threshold, reset entering the memory), approximate only in the far kernel, whose measured error (largest
relative error and the l1 norm ``sum_k |K'_k - K'_SOE,k|``, a bound on ``|dH| / max|V|``) is written into
the graph metadata. In continuous time a mode is ``dz/dt ~ -(lambda_m / dt) z + c_m V / dt`` for slow modes;
the time constants are chosen for forward Euler at the stated ``dt`` (an exponential integrator would differ
on the fast modes, ``lambda_m > 0.1``). A fractional neuron with ``reset='zero'`` has no NIR form (its reset
``(v_reset - H) S`` is a product) and is refused, as are the ``predictor`` / ``corrector`` schemes (no SOE kernel)
and short memory.

Spikes: spikeDE fires on ``H >= theta``, NIR on ``v > v_threshold``; they differ only when the membrane equals
the threshold exactly. :func:`from_nir` keeps spikeDE's rule.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .dynamics.schemes import canonical_method, derivative_kernel, membrane_recurrence, multiterm_kernel
from .fractional.soe import soe_approximation
from .fractional.schemes import DEFAULT_SOE_TOL
from .neuron import BaseNeuron, HardResetLIFNeuron, IFNeuron, LIFNeuron, NoisyLIFNeuron
from .neuron_current import CubaLIFNeuron
from .wrapper import SNNWrapper

__all__ = ["to_nir", "from_nir", "NIRNetwork", "SOEBankNeuron", "SUPPORTED_MODULES", "SUPPORTED_NODES",
           "DEFAULT_TOL", "DEFAULT_HORIZON"]

DEFAULT_TOL = DEFAULT_SOE_TOL
DEFAULT_HORIZON = 1 << 14
META_KEY = "spikeDE"
FORMAT_VERSION = 1
SUPPORTED_MODULES = ("Linear", "Conv1d", "Conv2d", "AvgPool2d", "Flatten", "BatchNorm1d", "BatchNorm2d",
                     "Dropout", "Identity", "Sequential", "SNNWrapper", "LIFNeuron", "IFNeuron",
                     "HardResetLIFNeuron", "CubaLIFNeuron", "NoisyLIFNeuron (exported deterministic, as in eval mode)")
SUPPORTED_NODES = ("Input", "Output", "Affine", "Linear", "Scale", "Conv1d", "Conv2d", "AvgPool2d", "SumPool2d",
                   "Flatten", "LIF", "IF", "CubaLIF", "LI", "spikeDE reset cycles and SOE neurons (LI, I, Threshold, "
                   "Scale, Delay with spikeDE metadata)")
_INSTALL = "pip install 'spikede[nir]'  (or: pip install nir==1.0.8)"


def _nir():
    try:
        import nir
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError(f"spikeDE.nir needs the NIR package: {_INSTALL}") from e
    return nir


def _check_dt(dt, name="dt") -> float:
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0:
        raise ValueError(f"{name} must be a positive number (the duration of one step in NIR time units), got {dt!r}")
    return float(dt)


def _meta(**fields) -> dict:
    return {META_KEY: json.dumps(fields, sort_keys=True)}


def _read_meta(node) -> dict | None:
    md = getattr(node, "metadata", None) or {}
    raw = md.get(META_KEY) if isinstance(md, dict) else None
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf8")
    try:
        return json.loads(str(raw))
    except json.JSONDecodeError:
        return None


def _t64(a) -> torch.Tensor:
    """A float64 tensor of an array, a 0-d array or a number (NIR nodes hold numpy arrays or torch tensors)."""
    if isinstance(a, torch.Tensor):
        return a.detach().to(torch.float64).clone()
    return torch.as_tensor(np.array(a, dtype=np.float64))


def _full(shape, value) -> np.ndarray:
    return np.full(tuple(int(s) for s in shape), float(value), dtype=np.float64)


# ====================================================================================================== export
@dataclass
class _NeuronSpec:
    name: str
    cls: str
    leak: bool
    tau: float  # model time units
    theta: float
    reset: str
    v_reset: float
    dt_model: float
    integer: bool
    alphas: list
    coefs: list | None
    method: str
    memory: object
    tau_syn: float | None = None  # CubaLIFNeuron: synaptic time constant (model time units)

    @property
    def syn_steps(self) -> float | None:
        """``k = tau_syn / dt_model`` of a current-based neuron's synapse (``None``: no synapse)."""
        return None if self.tau_syn is None else self.tau_syn / self.dt_model

    @property
    def tau_steps(self) -> float:
        """``tau / dt_model`` of the integer-order step (multi-term: ``tau sum_i c_i``)."""
        tau = self.tau * (sum(self.coefs) if (self.integer and self.coefs) else 1.0)
        return tau / self.dt_model


def _as_list(v):
    if isinstance(v, torch.Tensor):
        v = v.detach().reshape(-1).tolist()
    return [float(a) for a in v] if isinstance(v, (list, tuple)) else [float(v)]


def _neuron_spec(name: str, neuron: BaseNeuron, wrapper: SNNWrapper | None, index: int) -> _NeuronSpec:
    if wrapper is not None:
        integrator, method, memory, dt = wrapper.integrator, wrapper.method, wrapper.memory, wrapper.dt
        if integrator == "fdeint":
            alphas = _as_list(wrapper.get_per_layer_alpha()[index])
            c = wrapper.get_per_layer_coefficient()[index]
            coefs = None if c is None else _as_list(c)
        else:
            alphas, coefs = [1.0], None
    else:
        integrator, method, memory, dt = neuron.integrator, neuron.method, neuron.memory, neuron.dt
        alphas = _as_list(neuron.order.value) if integrator == "fdeint" else [1.0]
        coefs = None if (neuron.coefficients is None or integrator != "fdeint") else _as_list(neuron.coefficients())
    method = "gl" if method == "euler" else canonical_method(method)
    integer = integrator == "odeint" or (all(a == 1.0 for a in alphas) and method != "corrector")
    return _NeuronSpec(name, type(neuron).__name__, bool(neuron.leak), float(neuron.tau), float(neuron.threshold),
                       neuron.reset_mode, float(neuron.v_reset), float(dt), integer, alphas, coefs, method, memory,
                       float(neuron.tau_syn) if isinstance(neuron, CubaLIFNeuron) else None)


# neuron classes with a NIR mapping: the LIF / IF family of BaseNeuron and the current-based LIF (other subclasses
# that change the input, the state or the threshold, e.g. adaptive neurons, are refused rather than exported wrongly)
_NEURONS = (LIFNeuron, IFNeuron, HardResetLIFNeuron, NoisyLIFNeuron, CubaLIFNeuron)


def _flatten_layers(module: nn.Module, prefix: str, out: list, bad: list):
    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            _flatten_layers(child, f"{prefix}.{name}" if prefix else name, out, bad)
        return
    if isinstance(module, BaseNeuron) and type(module) not in _NEURONS:
        bad.append(f"{prefix or '<model>'} ({type(module).__name__}: a neuron without a NIR mapping here)")
        return
    if isinstance(module, (BaseNeuron, nn.Linear, nn.Conv1d, nn.Conv2d, nn.AvgPool2d, nn.Flatten,
                           nn.BatchNorm1d, nn.BatchNorm2d, nn.Dropout, nn.Identity)):
        out.append((prefix or type(module).__name__.lower(), module))
        return
    bad.append(f"{prefix or '<model>'} ({type(module).__name__})")


def _layers_of(model: nn.Module):
    wrapper = model if isinstance(model, SNNWrapper) else None
    base = model.base if wrapper is not None else model
    layers, bad = [], []
    _flatten_layers(base, "", layers, bad)
    for name, m in layers:
        if isinstance(m, (nn.Conv1d, nn.Conv2d)) and m.padding_mode != "zeros":
            bad.append(f"{name} ({type(m).__name__} with padding_mode={m.padding_mode!r})")
        if isinstance(m, nn.AvgPool2d) and m.ceil_mode:
            bad.append(f"{name} (AvgPool2d with ceil_mode=True)")
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.running_mean is None:
            bad.append(f"{name} ({type(m).__name__} without running statistics)")
    if bad:
        raise ValueError("to_nir: cannot export " + "; ".join(bad) + ". Supported: an nn.Sequential (nested, or "
                         "the base of an SNNWrapper) of " + ", ".join(SUPPORTED_MODULES) + ". Recurrent layers, "
                         "custom modules and modules whose forward is not a chain have no NIR form here.")
    return wrapper, layers


def _fold_batchnorm(layers):
    """Fold eval-mode BatchNorm into the preceding Linear/Conv: ``W' = s W``, ``b' = s (b - mu) + beta``."""
    out = []
    for name, m in layers:
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if not out or not isinstance(out[-1][1], tuple):
                raise ValueError(f"to_nir: {name} ({type(m).__name__}) must follow a Linear or Conv layer, whose "
                                 f"weights it is folded into")
            prev_name, (w, b, layer) = out[-1]
            s = (m.weight.detach().cpu().double() if m.affine else torch.ones(m.num_features, dtype=torch.float64)) \
                / torch.sqrt(m.running_var.detach().cpu().double() + m.eps)
            shift = m.bias.detach().cpu().double() if m.affine else torch.zeros_like(s)
            w = w * s.reshape(-1, *([1] * (w.dim() - 1)))
            b = (b - m.running_mean.detach().cpu().double()) * s + shift
            out[-1] = (prev_name, (w, b, layer))
        elif isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            w = m.weight.detach().cpu().double()
            b = m.bias.detach().cpu().double() if m.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
            out.append((name, (w, b, m)))
        elif isinstance(m, (nn.Dropout, nn.Identity)):
            continue
        else:
            out.append((name, m))
    return out


def _out_shape(m: nn.Module, shape: tuple) -> tuple:
    p = next(m.parameters(), None)
    kw = {"dtype": p.dtype, "device": p.device} if p is not None else {}
    with torch.no_grad():
        return tuple(m(torch.zeros((1,) + shape, **kw)).shape[1:])


def _node_name(name: str) -> str:
    return name.replace(".", "_")


class _Builder:
    def __init__(self):
        self.nodes, self.edges = {}, []

    def add(self, name, node):
        if name in self.nodes:
            raise ValueError(f"to_nir: duplicate node name {name!r}")
        self.nodes[name] = node
        return name

    def edge(self, a, b):
        self.edges.append((a, b))


def _soe_modes(spec: _NeuronSpec, tol: float, n_max: int):
    """``(cx, K', rates, omega, near)``: exact recurrence coefficients (lags ``0..n_max``) and SOE modes of
    ``K'_k`` for ``k > near`` (float64). ``gl``: the SOE of the GL weights holds from lag 2 (``near = 1``);
    ``l1``: ``K_k = b_k - b_{k-1}`` with the SOE of ``b`` from lag 2 holds from lag 3 (``near = 2``)."""
    method = spec.method
    kern = {"gl": "gl", "l1": "l1"}[method]
    a_t = torch.tensor(spec.alphas, dtype=torch.float64)
    c_t = None if spec.coefs is None else torch.tensor(spec.coefs, dtype=torch.float64)
    g, k = multiterm_kernel(method, a_t if len(spec.alphas) > 1 else a_t[0], c_t, n_max + 1, spec.dt_model)
    cx, kp = membrane_recurrence(method, g, k, spec.tau, spec.leak, a_t[0], spec.dt_model)
    coefs = spec.coefs if spec.coefs is not None else [1.0] * len(spec.alphas)
    weights_by_term = [c / float(derivative_kernel(method, a, 2, spec.dt_model)[0]) for a, c in zip(spec.alphas, coefs)]
    total = sum(weights_by_term)
    rates, omegas = [], []
    for a, wt in zip(spec.alphas, weights_by_term):
        soe = soe_approximation(kern, a, 2, n_max, tol)
        om = soe.weights.detach().double()
        lam = soe.rates.detach().double()
        if kern == "l1":  # K_k = b_k - b_{k-1}
            om = om * (-torch.expm1(lam))
        rates.append(lam)
        omegas.append(om * (wt / total))
    if all(torch.equal(rates[0], r) for r in rates[1:]):
        lam, om = rates[0], sum(omegas)
    else:
        lam, om = torch.cat(rates), torch.cat(omegas)
    return float(cx), kp.detach().double(), lam, om, (2 if kern == "l1" else 1)


def _export_synapse(b: _Builder, spec: _NeuronSpec, shape, dt: float, prev: str, group: dict) -> str:
    """The synapse of a current-based neuron, ``I_n = I_{n-1} + (x_n - I_{n-1}) / k``: the node
    ``LI(tau = k dt, r = 1, v_leak = 0)`` under forward Euler with step ``dt`` (its state is ``I``)."""
    nir = _nir()
    name = f"{_node_name(spec.name)}_synapse"
    b.add(name, nir.LI(_full(shape, spec.syn_steps * dt), _full(shape, 1.0), _full(shape, 0.0),
                       metadata=_meta(role="synapse", tau_syn=spec.syn_steps, **group)))
    b.edge(prev, name)
    return name


def _export_fractional(b: _Builder, spec: _NeuronSpec, shape, dt: float, tol: float, n_max: int, prev: str):
    where = f"{spec.name} ({spec.cls})"
    if spec.reset != "subtract":
        raise ValueError(f"to_nir: {where} is fractional (alpha = {spec.alphas}) with reset='zero', which has no NIR "
                         f"form (the reset (v_reset - H) S is a product); use reset='subtract'")
    if spec.method not in ("gl", "l1"):
        raise ValueError(f"to_nir: {where} uses method {spec.method!r}; fractional neurons export with the gl or l1 "
                         f"scheme (whose kernels have an SOE form)")
    if isinstance(spec.memory, int):
        raise ValueError(f"to_nir: {where} uses short memory (memory={spec.memory}); export needs full memory "
                         f"(memory=None) or memory='soe'")
    nir = _nir()
    cx, kp, lam, om, near = _soe_modes(spec, tol, n_max)
    # measured kernel error on the lags the modes carry, near+1..n_max (lags 1..near are exact taps)
    n = torch.arange(near + 1, n_max + 1, dtype=torch.float64)
    k_soe = (om * torch.exp(-n[:, None] * lam)).sum(1)
    err = (k_soe - kp[near + 1:n_max + 1]).abs()
    rel = float((err / kp[near + 1:n_max + 1].abs().clamp_min(1e-300)).max())
    l1 = float(err.sum())
    p = _node_name(spec.name)
    group = dict(group=p, neuron=spec.cls, alpha=spec.alphas, coefficients=spec.coefs, method=spec.method,
                 tau=spec.tau, dt_model=spec.dt_model, threshold=spec.theta, leak=spec.leak)
    N = shape
    if spec.syn_steps is not None:
        prev = _export_synapse(b, spec, shape, dt, prev, group)
    b.add(f"{p}_drive", nir.Scale(_full(N, cx), metadata=_meta(role="drive", **group)))
    b.add(f"{p}_membrane", nir.Scale(_full(N, 1.0), metadata=_meta(role="membrane", **group)))
    b.add(f"{p}_spike", nir.Threshold(_full(N, spec.theta), metadata=_meta(role="spike", **group)))
    b.add(f"{p}_reset", nir.Scale(_full(N, -spec.theta), metadata=_meta(role="reset", **group)))
    b.edge(prev, f"{p}_drive")
    b.edge(f"{p}_drive", f"{p}_membrane")
    b.edge(f"{p}_membrane", f"{p}_spike")
    b.edge(f"{p}_spike", f"{p}_reset")
    decay = torch.exp(-lam)
    c = -om * decay

    def tap(k):  # exact lag k: -K'_k minus what the modes put there (c_m e^{-lambda_m (k-1)})
        return float(-kp[k] - (c * torch.exp(-lam * (k - 1))).sum())

    mode_nodes = [(f"{p}_lag1", nir.LI(_full(N, dt), _full(N, tap(1)), _full(N, 0.0),
                                       metadata=_meta(role="mode", rate="inf", **group)))]
    for k in range(2, near + 1):  # Delay((k-1) dt) -> Scale: the membrane reads it one step later, lag k
        b.add(f"{p}_lag{k}", nir.Delay(_full(N, (k - 1) * dt), metadata=_meta(role="delay", lag=k, **group)))
        b.add(f"{p}_lag{k}_weight", nir.Scale(_full(N, tap(k)), metadata=_meta(role="tap", lag=k, **group)))
        b.edge(f"{p}_membrane", f"{p}_lag{k}")
        b.edge(f"{p}_reset", f"{p}_lag{k}")
        b.edge(f"{p}_lag{k}", f"{p}_lag{k}_weight")
        b.edge(f"{p}_lag{k}_weight", f"{p}_membrane")
    for j in range(lam.numel()):
        lj, cj = float(lam[j]), float(c[j])
        if lj == 0.0:
            node = nir.I(_full(N, cj / dt), metadata=_meta(role="mode", rate=0.0, **group))
        else:
            one_m = -math.expm1(-lj)
            node = nir.LI(_full(N, dt / one_m), _full(N, cj / one_m), _full(N, 0.0),
                          metadata=_meta(role="mode", rate=lj, **group))
        mode_nodes.append((f"{p}_mode{j}", node))
    for name, node in mode_nodes:
        b.add(name, node)
        b.edge(f"{p}_membrane", name)
        b.edge(f"{p}_reset", name)
        b.edge(name, f"{p}_membrane")
    info = dict(modes=lam.numel(), nodes=len(mode_nodes) + 4 + 2 * (near - 1) + (spec.syn_steps is not None),
                exact_lags=near, tol=tol,
                n_max=n_max, kernel_max_rel_error=rel,
                kernel_l1_error=l1, kernel_l1_norm=float(kp[1:n_max + 1].abs().sum()), alpha=spec.alphas,
                coefficients=spec.coefs, method=spec.method)
    return f"{p}_spike", info


def _export_neuron(b: _Builder, spec: _NeuronSpec, shape, dt: float, tol: float, n_max: int, prev: str):
    nir = _nir()
    if not spec.integer:
        return _export_fractional(b, spec, shape, dt, tol, n_max, prev)
    ts = spec.tau_steps
    p = _node_name(spec.name)
    group = dict(group=p, neuron=spec.cls, tau=spec.tau_steps, threshold=spec.theta, reset=spec.reset,
                 v_reset=spec.v_reset, leak=spec.leak)
    syn = spec.syn_steps
    if syn is not None and spec.reset == "zero":  # synapse and membrane in one node, both forward Euler
        b.add(p, nir.CubaLIF(_full(shape, syn * dt), _full(shape, ts * dt), _full(shape, 1.0), _full(shape, 0.0),
                             _full(shape, spec.theta), _full(shape, spec.v_reset), _full(shape, 1.0),
                             metadata=_meta(role="neuron", tau_syn=syn, **group)))
        b.edge(prev, p)
        return p, dict(exact=True, nodes=1, tau_steps=ts, tau_syn_steps=syn, reset="zero")
    if spec.reset == "zero":
        if spec.leak:
            node = nir.LIF(_full(shape, ts * dt), _full(shape, 1.0), _full(shape, 0.0), _full(shape, spec.theta),
                           _full(shape, spec.v_reset), metadata=_meta(role="neuron", **group))
        else:
            node = nir.IF(_full(shape, 1.0 / (ts * dt)), _full(shape, spec.theta), _full(shape, spec.v_reset),
                          metadata=_meta(role="neuron", **group))
        b.add(p, node)
        b.edge(prev, p)
        return p, dict(exact=True, nodes=1, tau_steps=ts, reset="zero")
    if spec.leak:
        mem = nir.LI(_full(shape, ts * dt), _full(shape, 1.0), _full(shape, 0.0), metadata=_meta(role="membrane", **group))
        w = -spec.theta * (ts - 1.0)
    else:
        mem = nir.I(_full(shape, 1.0 / (ts * dt)), metadata=_meta(role="membrane", **group))
        w = -spec.theta * ts
    if syn is not None:
        prev = _export_synapse(b, spec, shape, dt, prev, group)
    b.add(f"{p}_membrane", mem)
    b.add(f"{p}_spike", nir.Threshold(_full(shape, spec.theta), metadata=_meta(role="spike", **group)))
    b.add(f"{p}_reset", nir.Scale(_full(shape, w), metadata=_meta(role="reset", **group)))
    b.edge(prev, f"{p}_membrane")
    b.edge(f"{p}_membrane", f"{p}_spike")
    b.edge(f"{p}_spike", f"{p}_reset")
    b.edge(f"{p}_reset", f"{p}_membrane")
    info = dict(exact=True, nodes=3 + (syn is not None), tau_steps=ts, reset="subtract")
    if syn is not None:
        info["tau_syn_steps"] = syn
    return f"{p}_spike", info


def to_nir(model: nn.Module, dt: float = 1.0, *, input_shape=None, tol: float = DEFAULT_TOL,
           horizon: int = DEFAULT_HORIZON):
    r"""The ``nir.NIRGraph`` of ``model`` (see the module docstring for the neuron subgraphs).

    Args:
        model: an ``nn.Sequential`` (possibly nested) of supported layers and spikeDE neurons, an
            :class:`spikeDE.SNNWrapper` around one, or a single neuron.
        dt: duration of one spikeDE step in NIR time units (``> 0``): every time constant is
            ``tau_steps * dt`` with ``tau_steps = tau / dt_model`` (``dt_model``: the neuron's or wrapper's step).
        input_shape: shape of one step of input without time and batch (needed unless the first layer is a
            ``Linear``, whose ``in_features`` give it).
        tol: relative accuracy of the SOE kernel of fractional neurons on lags ``2..horizon`` (sets the mode count).
        horizon: the largest lag (steps) the SOE kernel is fitted on.

    Linear and Conv weights keep their dtype; BatchNorm (running statistics, as in eval mode) is folded into the
    preceding Linear/Conv. The graph metadata (``graph.metadata['spikeDE']``, JSON) states ``dt``, the format and,
    for each fractional neuron, the mode count and the measured kernel error.
    """
    nir = _nir()
    dt = _check_dt(dt)
    if not (isinstance(tol, float) and 1e-15 <= tol < 1):
        raise ValueError(f"tol must be a float in [1e-15, 1), got {tol!r}")
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 3:
        raise ValueError(f"horizon must be an int >= 3 (lags the SOE kernel covers), got {horizon!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    wrapper, layers = _layers_of(model)
    neuron_index = {id(m): i for i, (_, m) in enumerate(wrapper.neuron_layers)} if wrapper is not None else {}
    layers = _fold_batchnorm(layers)
    if input_shape is None:
        first = layers[0][1] if layers else None
        if isinstance(first, tuple) and isinstance(first[2], nn.Linear):
            input_shape = (first[2].in_features,)
        else:
            raise ValueError("to_nir: input_shape (one step, without time and batch) is needed when the first layer "
                             "is not a Linear")
    shape = tuple(int(s) for s in (input_shape if isinstance(input_shape, (tuple, list, torch.Size))
                                   else (input_shape,)))
    b = _Builder()
    prev = b.add("input", nir.Input(input_type={"input": np.array(shape)}))
    neurons_info = {}
    for name, m in layers:
        nn_name = _node_name(name)
        if isinstance(m, tuple):
            w, bias, layer = m
            wt = w.to(layer.weight.dtype).numpy()
            bt = bias.to(layer.weight.dtype).numpy()
            if isinstance(layer, nn.Linear):
                node = nir.Affine(wt, bt)
            elif isinstance(layer, nn.Conv1d):
                node = nir.Conv1d(int(shape[-1]), wt, int(layer.stride[0]),
                                  layer.padding if isinstance(layer.padding, str) else int(layer.padding[0]),
                                  int(layer.dilation[0]), int(layer.groups), bt)
            else:
                node = nir.Conv2d(tuple(int(s) for s in shape[-2:]), wt, tuple(layer.stride),
                                  layer.padding if isinstance(layer.padding, str) else tuple(layer.padding),
                                  tuple(layer.dilation), int(layer.groups), bt)
            b.add(nn_name, node)
            b.edge(prev, nn_name)
            prev = nn_name
            shape = _out_shape(layer, shape)
        elif isinstance(m, BaseNeuron):
            wrapper_here = wrapper if id(m) in neuron_index else None
            spec = _neuron_spec(name, m, wrapper_here, neuron_index.get(id(m), 0))
            prev, info = _export_neuron(b, spec, shape, dt, tol, horizon, prev)
            neurons_info[_node_name(name)] = info
        elif isinstance(m, nn.AvgPool2d):
            pair = (lambda v: np.array(v if isinstance(v, (tuple, list)) else (v, v)))
            stride = m.stride if m.stride is not None else m.kernel_size
            b.add(nn_name, nir.AvgPool2d(pair(m.kernel_size), pair(stride), pair(m.padding)))
            b.edge(prev, nn_name)
            prev = nn_name
            shape = _out_shape(m, shape)
        elif isinstance(m, nn.Flatten):
            start = m.start_dim - 1 if m.start_dim > 0 else m.start_dim
            end = m.end_dim - 1 if m.end_dim > 0 else m.end_dim
            new_shape = _out_shape(m, shape)
            if new_shape == shape:
                continue
            b.add(nn_name, nir.Flatten({"input": np.array(shape)}, start, end))
            b.edge(prev, nn_name)
            prev = nn_name
            shape = new_shape
    b.add("output", nir.Output(output_type={"output": np.array(shape)}))
    b.edge(prev, "output")
    meta = _meta(format=FORMAT_VERSION, dt=dt, time="one spikeDE step lasts dt NIR time units; parameters are "
                 "exact for forward Euler with step dt", spike_rule="v >= threshold", neurons=neurons_info)
    return nir.NIRGraph(nodes=b.nodes, edges=b.edges, metadata=meta)


# ====================================================================================================== import
class _PerStep(nn.Module):
    """A stateless layer applied to every step: ``[T, B, ...] -> [T, B, ...]`` (multi-step) or ``[B, ...]``."""

    def __init__(self, layer: nn.Module, step_mode: str):
        super().__init__()
        self.layer, self.step_mode = layer, step_mode

    def forward(self, x):
        if self.step_mode == "s":
            return self.layer(x)
        T, B = x.shape[:2]
        y = self.layer(x.reshape(T * B, *x.shape[2:]))
        return y.reshape(T, B, *y.shape[1:])


class _Scale(nn.Module):
    """``y = scale * x + bias`` elementwise (NIR ``Scale``, and the ``r`` / ``v_leak`` of imported neurons)."""

    def __init__(self, scale, bias=None):
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float64))
        self.register_buffer("bias", None if bias is None else torch.as_tensor(bias, dtype=torch.float64))

    def forward(self, x):
        y = x * self.scale.to(x.dtype)
        return y if self.bias is None else y + self.bias.to(x.dtype)


class _LeakyIntegrator(nn.Module):
    """NIR ``LI`` on its own (a non-spiking readout): ``v <- v + (dt/tau)(v_leak - v + r I)``, output ``v``."""

    def __init__(self, decay, gain, bias, step_mode: str):
        super().__init__()
        self.register_buffer("decay", torch.as_tensor(decay, dtype=torch.float64))
        self.register_buffer("gain", torch.as_tensor(gain, dtype=torch.float64))
        self.register_buffer("bias", torch.as_tensor(bias, dtype=torch.float64))
        self.step_mode = step_mode
        self.v = None

    def reset(self):
        self.v = None

    def _step(self, x, v):
        return self.decay.to(x.dtype) * v + self.gain.to(x.dtype) * x + self.bias.to(x.dtype)

    def forward(self, x):
        if self.step_mode == "s":
            v = self.v if self.v is not None else torch.zeros_like(x)
            self.v = self._step(x, v)
            return self.v
        v, out = torch.zeros_like(x[0]), []
        for t in range(x.shape[0]):
            v = self._step(x[t], v)
            out.append(v)
        return torch.stack(out)


class SOEBankNeuron(nn.Module):
    r"""The fractional neuron of a NIR graph: a bank of leaky compartments with threshold and subtractive reset.

    ``H_n = c_X X_n + sum_j z_{j,n-1}``, ``S_n = Heaviside(H_n - theta)``, ``V_n = H_n + rho S_n`` (``rho = -theta``),
    ``z_{j,n} = a_j z_{j,n-1} + b_j V_n`` with ``a_j = 1 - dt/tau_j``, ``b_j = dt r_j / tau_j`` (forward Euler of the
    ``LI`` nodes; ``I`` nodes: ``a = 1``, ``b = dt r``). Built by :func:`from_nir`; multi-step ``[T, B, ...]`` or
    single-step ``[B, ...]`` (state kept until :meth:`reset`). Spikes only (no surrogate gradient: inference).
    """

    def __init__(self, cx, decay, gain, threshold, reset_gain, step_mode: str = "m", taps=None):
        super().__init__()
        self.register_buffer("cx", torch.as_tensor(cx, dtype=torch.float64))
        self.register_buffer("decay", torch.as_tensor(decay, dtype=torch.float64))  # [J, *shape]
        self.register_buffer("gain", torch.as_tensor(gain, dtype=torch.float64))
        self.register_buffer("threshold", torch.as_tensor(threshold, dtype=torch.float64))
        self.register_buffer("reset_gain", torch.as_tensor(reset_gain, dtype=torch.float64))
        taps = dict(taps or {})
        if any(k < 2 for k in taps):
            raise ValueError(f"SOEBankNeuron: tap lags must be >= 2, got {sorted(taps)}")
        self.tap_lags = sorted(taps)
        self.register_buffer("tap_weights", torch.stack([torch.as_tensor(taps[k], dtype=torch.float64)
                                                         for k in self.tap_lags]) if taps else None)
        self.step_mode = step_mode
        self.z = None
        self.history = None

    @property
    def modes(self) -> int:
        return int(self.decay.shape[0])

    def reset(self):
        self.z, self.history = None, None

    def _step(self, x, z, hist, p):
        cx, a, bgain, th, rho, w = p
        h = cx * x + z.sum(0)
        for j, k in enumerate(self.tap_lags):  # V_{n-k}, k >= 2: hist[-1] is V_{n-1}
            if len(hist) >= k:
                h = h + w[j] * hist[-k]
        s = (h >= th).to(x.dtype)
        v = h + rho * s
        if self.tap_lags:
            hist = (hist + [v])[-max(self.tap_lags):]
        return s, a * z + bgain * v, hist

    def _params(self, x):
        w = None if self.tap_weights is None else self.tap_weights.to(dtype=x.dtype, device=x.device)
        return tuple(t.to(dtype=x.dtype, device=x.device) for t in
                     (self.cx, self.decay.unsqueeze(1), self.gain.unsqueeze(1), self.threshold, self.reset_gain)) + (w,)

    def forward(self, x):
        if not torch.is_floating_point(x):
            raise ValueError(f"SOEBankNeuron: input must be floating point, got {x.dtype}")
        p = self._params(x)
        if self.step_mode == "s":
            z = self.z if self.z is not None else x.new_zeros((self.modes,) + tuple(x.shape))
            s, self.z, self.history = self._step(x, z, self.history or [], p)
            return s
        z, hist = x.new_zeros((self.modes,) + tuple(x.shape[1:])), []
        out = []
        for t in range(x.shape[0]):
            s, z, hist = self._step(x[t], z, hist, p)
            out.append(s)
        return torch.stack(out)


class NIRNetwork(nn.Module):
    """A network imported from NIR: its layers in order (``layers``), run multi-step (``[T, B, ...]``) or
    single-step (``[B, ...]``, state kept until :meth:`reset`). ``metadata``: the graph's spikeDE metadata."""

    def __init__(self, layers, step_mode: str, names, metadata=None):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.names = list(names)
        self.step_mode = step_mode
        self.metadata = metadata or {}

    def reset(self):
        """Forget all neuron state (single-step mode); multi-step calls always start at rest."""
        for m in self.modules():
            if m is not self and hasattr(m, "reset") and callable(m.reset):
                m.reset()

    def forward(self, x):
        for m in self.layers:
            x = m(x)
        return x


def _uniform(arr, what: str, node: str) -> float:
    a = np.asarray(arr, dtype=np.float64)
    if a.size == 0:
        raise ValueError(f"from_nir: node {node!r} has an empty {what}")
    if not np.all(a == a.reshape(-1)[0]):
        raise ValueError(f"from_nir: node {node!r} has a {what} that varies across neurons "
                         f"(min {a.min():g}, max {a.max():g}); spikeDE neurons take one {what} per layer")
    return float(a.reshape(-1)[0])


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _spike_neuron(cls_leak: bool, tau_steps: float, theta: float, reset: str, v_reset: float, step_mode: str,
                  syn_steps: float | None = None):
    """The integer-order spikeDE neuron (``dt = 1``, time constants in steps); ``syn_steps``: a
    :class:`spikeDE.CubaLIFNeuron` with ``tau_syn = syn_steps``."""
    kw = dict(tau=tau_steps, threshold=theta, reset=reset, v_reset=v_reset, integrator="odeint", step_mode=step_mode)
    if syn_steps is not None:
        return CubaLIFNeuron(tau_syn=syn_steps, **kw)
    return (LIFNeuron if cls_leak else IFNeuron)(**kw)


def _synapse_steps(name: str, members: dict, dt: float):
    """``k = tau_syn / dt`` of a group's synapse ``LI`` node (``None``: the group has none)."""
    nir = _nir()
    if "synapse" not in members:
        return None
    (yn, syn), = members["synapse"]
    if not isinstance(syn, nir.LI) or not np.all(np.asarray(syn.r) == 1.0) or not np.all(np.asarray(syn.v_leak) == 0.0):
        raise ValueError(f"from_nir: synapse {yn!r} of {name!r} must be an LI node with r = 1 and v_leak = 0")
    k = _uniform(syn.tau, "tau", yn) / dt
    meta = _read_meta(syn) or {}
    return float(meta["tau_syn"]) if "tau_syn" in meta and _same(float(meta["tau_syn"]), k) else k


def _input_transform(r, v_leak, shape):
    r = np.broadcast_to(np.asarray(r, dtype=np.float64), shape)
    v_leak = np.broadcast_to(np.asarray(v_leak, dtype=np.float64), shape)
    if np.all(r == 1.0) and np.all(v_leak == 0.0):
        return None
    return _Scale(_t64(r.copy()), None if np.all(v_leak == 0.0) else _t64(v_leak.copy()))


def _import_group(name: str, members: dict, dt: float, step_mode: str):
    """A spikeDE neuron (reset cycle) or SOE bank from its nodes (``role -> [(node name, node)]``), as a list of
    layers (an SOE bank of a current-based neuron is its synapse, then the bank)."""
    nir = _nir()
    roles = {r: v for r, v in members.items()}
    syn = _synapse_steps(name, roles, dt)
    if "drive" in roles:  # fractional SOE bank
        (dn, drive), = roles["drive"]
        (sn, spike), = roles["spike"]
        (rn, rst), = roles["reset"]
        theta = np.asarray(spike.threshold, dtype=np.float64)
        decay, gain = [], []
        for mn, node in roles.get("mode", []):
            if isinstance(node, nir.LI):
                tau = np.asarray(node.tau, dtype=np.float64)
                decay.append(1.0 - dt / tau)
                gain.append(dt * np.asarray(node.r, dtype=np.float64) / tau)
            elif isinstance(node, nir.I):
                r = np.asarray(node.r, dtype=np.float64)
                decay.append(np.ones_like(r))
                gain.append(dt * r)
            else:
                raise ValueError(f"from_nir: mode node {mn!r} of {name!r} is a {type(node).__name__}, expected LI or I")
        taps = {}
        delays = {int(_read_meta(node)["lag"]): (dn_, node) for dn_, node in roles.get("delay", [])}
        for tn, node in roles.get("tap", []):
            k = int(_read_meta(node)["lag"])
            if k not in delays:
                raise ValueError(f"from_nir: tap {tn!r} of {name!r} (lag {k}) has no Delay node")
            steps = np.asarray(delays[k][1].delay, dtype=np.float64) / dt
            if not np.allclose(steps, k - 1):
                raise ValueError(f"from_nir: Delay {delays[k][0]!r} of {name!r} is {float(steps.mean()):g} steps of "
                                 f"dt = {dt:g}, expected {k - 1}; was the graph exported with another dt?")
            taps[k] = _t64(np.asarray(node.scale, dtype=np.float64))
        bank = SOEBankNeuron(_t64(np.asarray(drive.scale, dtype=np.float64)),
                             _t64(np.stack(decay)), _t64(np.stack(gain)),
                             _t64(theta), _t64(np.asarray(rst.scale, dtype=np.float64)),
                             step_mode, taps)
        if syn is None:
            return [bank]
        shape = theta.shape
        synapse = _LeakyIntegrator(torch.full(shape, 1.0 - 1.0 / syn, dtype=torch.float64),
                                   torch.full(shape, 1.0 / syn, dtype=torch.float64),
                                   torch.zeros(shape, dtype=torch.float64), step_mode)
        return [synapse, bank]
    (mn, mem), = roles["membrane"]
    (sn, spike), = roles["spike"]
    (rn, rst), = roles["reset"]
    meta = _read_meta(mem) or {}
    theta = _uniform(spike.threshold, "threshold", sn)
    w = _uniform(rst.scale, "reset weight", rn)
    if isinstance(mem, nir.LI):
        if not np.all(np.asarray(mem.r) == 1.0) or not np.all(np.asarray(mem.v_leak) == 0.0):
            raise ValueError(f"from_nir: reset cycle {name!r}: membrane {mn!r} must have r = 1 and v_leak = 0")
        ts = _uniform(mem.tau, "tau", mn) / dt
        leak, expect = True, -theta * (ts - 1.0)
    elif isinstance(mem, nir.I):
        ts = 1.0 / (_uniform(mem.r, "r", mn) * dt)
        leak, expect = False, -theta * ts
    else:
        raise ValueError(f"from_nir: reset cycle {name!r}: membrane {mn!r} is a {type(mem).__name__}, expected LI or I")
    if "tau" in meta and _same(float(meta["tau"]), ts):
        ts = float(meta["tau"])
    if not _same(w, expect):
        raise ValueError(f"from_nir: reset cycle {name!r}: reset weight {w:g} is not the subtractive reset "
                         f"-theta{' (tau_s - 1)' if leak else ' tau_s'} = {expect:g} at dt = {dt:g}; was the graph "
                         f"exported with another dt?")
    if syn is not None and not leak:
        raise ValueError(f"from_nir: reset cycle {name!r} has a synapse but an I membrane; a current-based neuron "
                         f"has an LI membrane")
    return [_spike_neuron(leak, ts, theta, "subtract", 0.0, step_mode, syn)]


def _import_node(name: str, node, dt: float, step_mode: str, dtype):
    nir = _nir()

    def t(a):
        return torch.as_tensor(np.asarray(a), dtype=dtype)

    def per_step(layer):
        return _PerStep(layer.to(dtype), step_mode)

    if isinstance(node, nir.Affine):
        w = np.asarray(node.weight)
        lin = nn.Linear(w.shape[1], w.shape[0], bias=True)
        with torch.no_grad():
            lin.weight.copy_(t(w))
            lin.bias.copy_(t(node.bias) if node.bias is not None else torch.zeros(w.shape[0]))
        return [per_step(lin)]
    if isinstance(node, nir.Linear):
        w = np.asarray(node.weight)
        lin = nn.Linear(w.shape[1], w.shape[0], bias=False)
        with torch.no_grad():
            lin.weight.copy_(t(w))
        return [per_step(lin)]
    if isinstance(node, nir.Scale):
        return [_Scale(torch.as_tensor(np.asarray(node.scale, dtype=np.float64)))]
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        w = np.asarray(node.weight)
        cls = nn.Conv1d if isinstance(node, nir.Conv1d) else nn.Conv2d

        def arg(v):
            if isinstance(v, str):
                return v
            v = np.asarray(v).reshape(-1).tolist()
            return int(v[0]) if cls is nn.Conv1d else tuple(int(a) for a in (v * 2 if len(v) == 1 else v))

        padding = node.padding if isinstance(node.padding, str) else arg(node.padding)
        conv = cls(w.shape[1] * int(node.groups), w.shape[0], tuple(w.shape[2:]), stride=arg(node.stride),
                   padding=padding, dilation=arg(node.dilation), groups=int(node.groups), bias=True)
        with torch.no_grad():
            conv.weight.copy_(t(w))
            conv.bias.copy_(t(node.bias) if node.bias is not None else torch.zeros(w.shape[0]))
        return [per_step(conv)]
    if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
        pair = (lambda v: tuple(int(a) for a in np.asarray(v).reshape(-1)))
        kw = dict(kernel_size=pair(node.kernel_size), stride=pair(node.stride), padding=pair(node.padding))
        if isinstance(node, nir.SumPool2d):
            kw["divisor_override"] = 1
        return [per_step(nn.AvgPool2d(**kw))]
    if isinstance(node, nir.Flatten):
        start, end = int(node.start_dim), int(node.end_dim)
        if (node.input_type or {}).get("input") is None:  # no shape: torch's convention (dims count the batch)
            return [per_step(nn.Flatten(start, end))]
        # NIR's convention (shapes without the batch), which spikeDE writes
        return [per_step(nn.Flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end))]
    if isinstance(node, (nir.LIF, nir.IF)):
        meta = _read_meta(node) or {}
        theta = _uniform(node.v_threshold, "v_threshold", name)
        v_reset = _uniform(node.v_reset, "v_reset", name)
        shape = np.asarray(node.v_threshold).shape
        if isinstance(node, nir.LIF):
            ts = _uniform(node.tau, "tau", name) / dt
            pre = _input_transform(node.r, node.v_leak, shape)
            leak = True
        else:
            r = np.asarray(node.r, dtype=np.float64)
            if np.all(r == r.reshape(-1)[0]):
                ts, pre = 1.0 / (float(r.reshape(-1)[0]) * dt), None
            else:
                ts, pre = 1.0, _Scale(_t64(r * dt))
            leak = False
        if "tau" in meta and _same(float(meta["tau"]), ts):
            ts = float(meta["tau"])
        neuron = _spike_neuron(leak, ts, theta, "zero", v_reset, step_mode)
        return ([pre] if pre is not None else []) + [neuron]
    if isinstance(node, nir.CubaLIF):
        # synapse tau_syn dI/dt = -I + w_in x, then the LIF membrane on r I + v_leak (both Euler, same step)
        meta = _read_meta(node) or {}
        theta = _uniform(node.v_threshold, "v_threshold", name)
        v_reset = _uniform(node.v_reset, "v_reset", name)
        shape = np.asarray(node.v_threshold).shape
        tau_syn = np.broadcast_to(np.asarray(node.tau_syn, dtype=np.float64), shape)
        w_in = np.broadcast_to(np.asarray(node.w_in, dtype=np.float64), shape)
        ts = _uniform(node.tau_mem, "tau_mem", name) / dt
        if "tau" in meta and _same(float(meta["tau"]), ts):
            ts = float(meta["tau"])
        if np.all(tau_syn == tau_syn.reshape(-1)[0]) and np.all(np.asarray(node.v_leak) == 0.0):
            # a spikeDE CubaLIFNeuron; the synapse is linear, so r and w_in scale its input
            ks = float(tau_syn.reshape(-1)[0]) / dt
            if "tau_syn" in meta and _same(float(meta["tau_syn"]), ks):
                ks = float(meta["tau_syn"])
            pre = _input_transform(w_in * np.broadcast_to(np.asarray(node.r, dtype=np.float64), shape), 0.0, shape)
            return ([pre] if pre is not None else []) + [_spike_neuron(True, ts, theta, "zero", v_reset, step_mode,
                                                                       ks)]
        # a per-neuron tau_syn or a v_leak (an offset after the synapse): the synapse as its own layer
        synapse = _LeakyIntegrator(_t64(1.0 - dt / tau_syn), _t64(dt * w_in / tau_syn),
                                   torch.zeros(shape, dtype=torch.float64), step_mode)
        pre = _input_transform(node.r, node.v_leak, shape)
        return [synapse] + ([pre] if pre is not None else []) + [_spike_neuron(True, ts, theta, "zero", v_reset,
                                                                               step_mode)]
    if isinstance(node, nir.LI):
        tau = np.asarray(node.tau, dtype=np.float64)
        return [_LeakyIntegrator(_t64(1.0 - dt / tau), _t64(dt * np.asarray(node.r, dtype=np.float64) / tau),
                                 _t64(dt * np.asarray(node.v_leak, dtype=np.float64) / tau), step_mode)]
    raise AssertionError(name)  # unreachable: types are checked first


_GROUP_ROLES = ("drive", "membrane", "spike", "reset", "mode", "delay", "tap", "synapse")


def _supported_types():
    nir = _nir()
    return (nir.Input, nir.Output, nir.Affine, nir.Linear, nir.Scale, nir.Conv1d, nir.Conv2d, nir.AvgPool2d,
            nir.SumPool2d, nir.Flatten, nir.LIF, nir.IF, nir.CubaLIF, nir.LI)


def from_nir(graph, dt: float = 1.0, *, step_mode: str = "m", dtype: torch.dtype = torch.float32) -> NIRNetwork:
    r"""A spikeDE module that runs the NIR ``graph`` with one step of ``dt`` NIR time units.

    Neurons become spikeDE neurons with ``tau_steps = tau / dt`` (``LIF`` / ``IF`` with ``v_reset``: reset to
    ``v_reset``; a ``LIF`` / ``IF`` node's ``r`` and ``v_leak`` become an input scale and offset; ``CubaLIF``: a
    :class:`spikeDE.CubaLIFNeuron`, see the module docstring), spikeDE's reset
    cycles become neurons with ``reset='subtract'`` and its fractional neurons :class:`SOEBankNeuron` s; a lone
    ``LI`` node is a non-spiking leaky readout. The graph (after grouping spikeDE's neuron subgraphs) must be a
    chain from its input to its output.

    Args:
        graph: a ``nir.NIRGraph`` (e.g. from :func:`to_nir` or ``nir.read``).
        dt: the step in NIR time units (the ``dt`` the graph was exported with).
        step_mode: ``'m'`` (multi-step, ``[T, B, ...]``) or ``'s'`` (single-step ``[B, ...]``, state kept).
        dtype: floating dtype of the imported weights (float32 or float64).
    """
    nir = _nir()
    dt = _check_dt(dt)
    if step_mode not in ("m", "s", "multi", "single"):
        raise ValueError(f"step_mode must be 'm' (multi-step) or 's' (single-step), got {step_mode!r}")
    step_mode = "m" if step_mode in ("m", "multi") else "s"
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"graph must be a nir.NIRGraph, got {type(graph).__name__}")
    # group spikeDE neuron subgraphs
    unit_of, groups = {}, {}
    for name, node in graph.nodes.items():
        meta = _read_meta(node)
        if meta is not None and meta.get("role") in _GROUP_ROLES:
            g = str(meta["group"])
            unit_of[name] = "group:" + g
            groups.setdefault(g, {}).setdefault(meta["role"], []).append((name, node))
        else:
            unit_of[name] = name
    supported = _supported_types()
    unknown = sorted(f"{n} ({type(node).__name__})" for n, node in graph.nodes.items()
                     if unit_of[n] == n and (not isinstance(node, supported)))
    if unknown:
        raise ValueError("from_nir: unsupported NIR nodes: " + ", ".join(unknown) + ". Supported: "
                         + ", ".join(SUPPORTED_NODES))
    # edges between units
    succ, pred = {}, {}
    for a, b in graph.edges:
        ua, ub = unit_of[a], unit_of[b]
        if ua == ub:
            continue
        succ.setdefault(ua, set()).add(ub)
        pred.setdefault(ub, set()).add(ua)
    inputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise ValueError(f"from_nir: the graph must have exactly one Input node, found {len(inputs)}")
    bad = sorted(u for u in set(unit_of.values()) if len(succ.get(u, ())) > 1 or len(pred.get(u, ())) > 1)
    if bad:
        raise ValueError(f"from_nir: the graph is not a chain (after grouping spikeDE neurons): {', '.join(bad)} "
                         f"branch or merge; only sequential graphs are imported")
    order, u, seen = [], inputs[0], set()
    while True:
        if u in seen:
            raise ValueError(f"from_nir: the graph has a cycle through {u!r} outside spikeDE's neuron subgraphs "
                             f"(recurrent connections are not imported)")
        seen.add(u)
        order.append(u)
        nxt = succ.get(u)
        if not nxt:
            break
        u = next(iter(nxt))
    layers, names = [], []
    for u in order:
        if u.startswith("group:"):
            g = u[len("group:"):]
            for m in _import_group(g, groups[g], dt, step_mode):
                layers.append(m)
                names.append(g)
            continue
        node = graph.nodes[u]
        if isinstance(node, (nir.Input, nir.Output)):
            continue
        for m in _import_node(u, node, dt, step_mode, dtype):
            layers.append(m)
            names.append(u)
    return NIRNetwork(layers, step_mode, names, _read_meta(graph))
