r"""``SNNWrapper``: turn an ordinary PyTorch SNN built with spikeDE neurons into a fractional-order SNN.

::

    net = SNNWrapper(base=my_snn, integrator="fdeint", alpha=[0.5, 0.8], learn_alpha=True)
    out = net(x)            # x: [T, B, ...]  ->  out: [T, B, ...]

The wrapper finds the neuron layers of ``base`` (instances of :class:`spikeDE.BaseNeuron`, in the order of
``base.named_modules()``, i.e. registration order), owns one fractional order per layer (a
:class:`spikeDE.order.FractionalOrder`, learnable through a sigmoid so it stays in ``(0, 1)``; registered at
construction, so ``named_parameters()`` and an optimizer built right away see it) and, for multi-term layers,
the positive weights of ``sum_i c_i D^{alpha_i}``.

Execution (``step_mode``):

* ``'multi'`` (default, the fast path): the base network runs **once** on the sequence folded into the batch,
  ``[T*B, ...]``. Stateless layers (Linear, Conv, pooling, BatchNorm, dropout ...) see ``T*B`` samples; every
  neuron layer unfolds its input current to ``[T, B*...]``, runs its whole recurrence with the fused kernels
  (blocked history products, SOE modes) and folds the spikes back. Networks whose ``forward`` mixes the batch
  dimension (e.g. ``x.mean(0)``, hard-coded batch sizes in ``view``) or feeds a layer's output back into an
  earlier layer (recurrent connections) cannot be folded: a neuron that receives a tensor whose first
  dimension is not ``T*B`` raises an error naming it; use ``step_mode='single'``. BatchNorm in training mode
  then normalises over time and batch together (as SpikingJelly's multi-step containers do).
* ``'single'``: the base network is called once per time step on ``x[t]`` (``[B, ...]``); neurons keep their
  state between steps. Same results as ``'multi'`` for networks without batch-mixing layers.

Every call of :meth:`SNNWrapper.forward` is a new sequence starting at rest.

Orders (``alpha``, ``alpha_mode``; ``n`` = number of neuron layers):

* a number: every layer, single term;
* a flat list of ``n`` numbers (``alpha_mode='per_layer'`` or ``'auto'`` without ``multi_coefficient``): one order
  per layer;
* a flat list with ``alpha_mode='multiterm'`` (or ``'auto'`` with a flat ``multi_coefficient`` of the same
  length): the same multi-term orders ``sum_i c_i D^{alpha_i}`` for every layer;
* a nested list of ``n`` lists: per-layer multi-term orders (``multi_coefficient`` nested the same way).

``multi_coefficient=None`` means equal weights 1 (as in spikeDE). A length that fits none of these is a
``ValueError`` naming the neuron layers found, in order.

Compatibility with spikeDE 0.1.0 (:mod:`spikeDE.compat`): ``net._set_neuron_shapes(input_shape=...)`` is
accepted but not needed (it only records the input shape, which is then checked); ``net(x, x_time, method='gl',
options={'step_size': 1.0, 'memory': -1})`` works, and the step is the spacing of ``x_time`` as in 0.1.0 (an
explicit ``dt``/``step_size`` that differs from it is named in a warning, once); ``interpolation_method`` is accepted
and has no effect (inputs are per step, nothing is interpolated); ``integrator='fdeint_adjoint'``/
``'odeint_adjoint'`` mean ``'fdeint'``/``'odeint'``. 0.1.0's attributes ``_alpha_case``, ``per_layer_alpha_params``,
``per_layer_coefficient_params``, tensor calls on the values of :meth:`SNNWrapper.get_per_layer_alpha` and the
configurations 0.1.0 read as multi-term (a flat ``alpha`` with per-layer ``multi_coefficient``; in ``'auto'`` mode a
flat ``alpha`` whose length is not the number of layers) work with a ``DeprecationWarning`` naming what to write.
"""
from __future__ import annotations

import warnings
from numbers import Real

import torch
from torch import nn

from ._checks import check_alpha, check_floating, check_positive
from .dynamics.schemes import canonical_method
from .neuron import (SOE_HORIZON, SOE_TOL, BaseNeuron, CallContext, Dynamics,
                     check_integrator, check_memory, make_dynamics, reset_net)
from .order import make_orders
from . import compat

__all__ = ["SNNWrapper", "LayerOrders", "parse_alpha_config"]

_OPTION_KEYS = ("step_size", "memory")


class LayerOrders:
    """Parsed order configuration of one neuron layer: ``alphas`` (list), ``coefficients`` (list or ``None``
    for a single term), ``learn_alpha``, ``learn_coefficient``."""

    def __init__(self, alphas, coefficients, learn_alpha, learn_coefficient):
        self.alphas = list(alphas)
        self.coefficients = None if coefficients is None else list(coefficients)
        self.learn_alpha = bool(learn_alpha)
        self.learn_coefficient = bool(learn_coefficient)

    @property
    def multi_term(self) -> bool:
        return self.coefficients is not None

    def __repr__(self):
        return (f"LayerOrders(alphas={self.alphas}, coefficients={self.coefficients}, "
                f"learn_alpha={self.learn_alpha}, learn_coefficient={self.learn_coefficient})")


def _is_number(v) -> bool:
    return (isinstance(v, Real) and not isinstance(v, bool)) or (isinstance(v, torch.Tensor) and v.numel() == 1)


def _num(v) -> float:
    return float(v.item()) if isinstance(v, torch.Tensor) else float(v)


def _per_layer_flags(flag, n, name, layers):
    if isinstance(flag, bool):
        return [flag] * n
    if isinstance(flag, (list, tuple)) and all(isinstance(f, bool) for f in flag):
        if len(flag) != n:
            raise ValueError(f"{name} has {len(flag)} entries but the network has {n} neuron layers ({layers})")
        return list(flag)
    raise TypeError(f"{name} must be a bool or a list of bools, got {flag!r}")


def parse_alpha_config(alpha, n_layers: int, layer_names=None, multi_coefficient=None, learn_alpha=False,
                       learn_coefficient=False, alpha_mode: str = "auto") -> list[LayerOrders]:
    """Normalise an ``alpha`` specification (see the module docstring) into one :class:`LayerOrders` per layer.

    Validates every order (``0 < alpha <= 1``) and coefficient (``> 0``), naming the layer in errors.
    """
    names = list(layer_names) if layer_names is not None else [f"layer{i}" for i in range(n_layers)]
    layers = ", ".join(f"{i}: {nm}" for i, nm in enumerate(names)) or "none"
    if alpha_mode not in ("auto", "per_layer", "multiterm"):
        raise ValueError(f"alpha_mode must be 'auto', 'per_layer' or 'multiterm', got {alpha_mode!r}")
    la = _per_layer_flags(learn_alpha, n_layers, "learn_alpha", layers)
    lc = _per_layer_flags(learn_coefficient, n_layers, "learn_coefficient", layers)
    if isinstance(alpha, torch.Tensor) and alpha.numel() > 1:
        alpha = alpha.tolist()
    if isinstance(multi_coefficient, torch.Tensor):
        multi_coefficient = multi_coefficient.tolist()

    def flat(v):
        return isinstance(v, (list, tuple)) and all(_is_number(e) for e in v)

    def nested(v):
        return isinstance(v, (list, tuple)) and len(v) > 0 and all(isinstance(e, (list, tuple)) for e in v)

    if _is_number(alpha) and multi_coefficient is not None and alpha_mode != "multiterm":
        raise ValueError(f"multi_coefficient={multi_coefficient!r} is only used with multi-term orders, but alpha "
                         f"is the single order {_num(alpha)}; give alpha as a list of orders (one per term) or "
                         f"leave multi_coefficient unset")
    if _is_number(alpha) and alpha_mode == "multiterm":
        alpha = [alpha]
    if _is_number(alpha) or (flat(alpha) and len(alpha) == 1 and n_layers == 1 and multi_coefficient is None
                             and alpha_mode != "multiterm"):
        a = _num(alpha if _is_number(alpha) else alpha[0])
        per = [([a], None)] * n_layers
    elif flat(alpha):
        if len(alpha) == 0:
            raise ValueError("alpha is an empty list")
        mode = alpha_mode
        if mode == "auto":
            mode = "multiterm" if (flat(multi_coefficient) and len(multi_coefficient) == len(alpha)) else "per_layer"
        if mode == "per_layer":
            if len(alpha) != n_layers:
                raise ValueError(
                    f"alpha has {len(alpha)} entries but the network has {n_layers} neuron layers (in order: "
                    f"{layers}); give one order per layer, a single number, or alpha_mode='multiterm' for a "
                    f"multi-term order shared by all layers")
            if multi_coefficient is not None:
                raise ValueError("multi_coefficient is only used with multi-term orders (alpha_mode='multiterm' "
                                 "or nested lists)")
            per = [([_num(a)], None) for a in alpha]
        else:
            coefs = [1.0] * len(alpha) if multi_coefficient is None else multi_coefficient
            if not flat(coefs) or len(coefs) != len(alpha):
                raise ValueError(f"multi-term alpha with {len(alpha)} orders needs a flat multi_coefficient of "
                                 f"{len(alpha)} numbers, got {multi_coefficient!r}")
            per = [([_num(a) for a in alpha], [_num(c) for c in coefs])] * n_layers
    elif nested(alpha):
        if len(alpha) != n_layers:
            raise ValueError(f"alpha has {len(alpha)} per-layer lists but the network has {n_layers} neuron layers "
                             f"(in order: {layers})")
        if multi_coefficient is not None and not (nested(multi_coefficient) and len(multi_coefficient) == n_layers):
            raise ValueError(f"with per-layer multi-term alpha, multi_coefficient must be None or {n_layers} lists "
                             f"(one per layer), got {multi_coefficient!r}")
        per = []
        for i, al in enumerate(alpha):
            if not flat(al) or len(al) == 0:
                raise ValueError(f"layer {i} ({names[i]}): alpha must be a non-empty list of numbers, got {al!r}")
            co = [1.0] * len(al) if multi_coefficient is None else multi_coefficient[i]
            if not flat(co) or len(co) != len(al):
                raise ValueError(f"layer {i} ({names[i]}): {len(al)} orders need {len(al)} coefficients, got {co!r}")
            per.append(([_num(a) for a in al], [_num(c) for c in co] if len(al) > 1 or multi_coefficient else None))
    else:
        raise TypeError(f"alpha must be a number, a list of numbers or a list of lists, got {alpha!r}")

    out = []
    for i, (al, co) in enumerate(per):
        where = f"layer {i} ({names[i]})"
        for a in al:
            check_alpha(a, where=where)
        if co is not None:
            for c in co:
                check_positive(c, "multi_coefficient", where=where)
        if lc[i] and co is None:
            raise ValueError(f"{where}: learn_coefficient needs multi-term orders")
        out.append(LayerOrders(al, co, la[i], lc[i]))
    return out


def _context_hook(ctx: CallContext):
    """A forward pre-hook that passes ``ctx`` to a neuron's forward as ``context=ctx``."""

    def hook(module, args, kwargs):
        return args, {**kwargs, "context": ctx}

    return hook


class SNNWrapper(compat.LegacyWrapperAPI, nn.Module):
    r"""Fractional-order wrapper of an SNN built with spikeDE neurons (see the module docstring).

    Args:
        base: the network; its neuron layers are :class:`spikeDE.BaseNeuron` instances.
        integrator: ``'fdeint'`` (fractional neurons) or ``'odeint'`` (integer-order neurons, ``alpha`` unused).
        alpha: order(s), see the module docstring. ``0 < alpha <= 1``.
        method: ``'gl'``, ``'l1'``, ``'predictor'`` (``'pred'``) or ``'heun'`` (spikeDE's ``'corrector'``/
            ``'trap'``, deprecated names of it; see :mod:`spikeDE.fractional.schemes`).
        memory: ``None`` (full history), ``L`` (the last ``L`` steps) or ``'soe'`` (sum-of-exponentials).
        learn_alpha: learnable orders (bool, or one bool per layer).
        alpha_mode: ``'auto'``, ``'per_layer'`` or ``'multiterm'``.
        multi_coefficient: weights of multi-term orders (``None``: ones).
        learn_coefficient: learnable weights (kept positive through ``exp``).
        dt: time step (default 1; ``options={'step_size': ...}`` or the spacing of ``x_time`` in :meth:`forward`
            override it).
        step_mode: ``'multi'`` (fold time into the batch, fast) or ``'single'`` (one call of ``base`` per step).
        soe_tol, soe_horizon: relative accuracy of the SOE kernel and the lag up to which it holds.
        interpolation_method: accepted for compatibility, unused.
    """

    def __init__(self, base: nn.Module, integrator: str = "fdeint", alpha=0.5, method: str = "gl", memory=None,
                 learn_alpha=False, alpha_mode: str = "auto", multi_coefficient=None, learn_coefficient=False,
                 dt: float | None = None, *, step_mode: str = "multi", soe_tol: float = SOE_TOL,
                 soe_horizon: int = SOE_HORIZON, interpolation_method: str | None = None, options=None):
        super().__init__()
        if not isinstance(base, nn.Module):
            raise TypeError(f"base must be an nn.Module, got {type(base).__name__}")
        self.base = base
        self.integrator = check_integrator(integrator)
        self.method = self._check_method(method)
        self.memory = check_memory(memory, "SNNWrapper")
        self._dt_given = dt is not None
        dt = 1.0 if dt is None else dt
        check_positive(float(dt), "dt", "SNNWrapper")
        self.dt = float(dt)
        self._warned_x_time = False
        if step_mode not in ("multi", "single", "m", "s"):
            raise ValueError(f"step_mode must be 'multi' or 'single', got {step_mode!r}")
        self.step_mode = "multi" if step_mode in ("multi", "m") else "single"
        if not (isinstance(soe_tol, float) and 0 < soe_tol < 1):
            raise ValueError(f"soe_tol must be a float in (0, 1), got {soe_tol!r}")
        self.soe_tol = soe_tol
        if isinstance(soe_horizon, bool) or not isinstance(soe_horizon, int) or soe_horizon < 1:
            raise ValueError(f"soe_horizon must be an int >= 1 (the lag up to which the SOE kernel holds its "
                             f"tolerance), got {soe_horizon!r}")
        self.soe_horizon = int(soe_horizon)
        self.interpolation_method = interpolation_method
        self._defaults = self._parse_options(options) if options else {}
        self.input_shape = None

        self._neurons = [(name, m) for name, m in base.named_modules() if isinstance(m, BaseNeuron)]
        if not self._neurons:
            raise ValueError("base has no spikeDE neuron layers (instances of spikeDE.BaseNeuron, e.g. LIFNeuron)")
        for _, m in self._neurons:
            m.yield_orders("SNNWrapper")
        names = [f"{name} ({type(m).__name__})" for name, m in self._neurons]
        self.orders = nn.ModuleList()
        self.coefficients = nn.ModuleDict()
        if self.integrator == "fdeint":
            layers = ", ".join(f"{i}: {nm}" for i, nm in enumerate(names))
            self._case = compat.alpha_case(alpha)
            alpha, multi_coefficient, alpha_mode = compat.legacy_alpha_config(alpha, multi_coefficient, alpha_mode,
                                                                              len(names), layers)
            self.layer_orders = parse_alpha_config(alpha, len(self._neurons), names, multi_coefficient,
                                                   learn_alpha, learn_coefficient, alpha_mode)
            for i, (lo, nm) in enumerate(zip(self.layer_orders, names)):
                order, coefs = make_orders(lo.alphas, lo.coefficients, lo.learn_alpha, lo.learn_coefficient,
                                           f"layer {i} ({nm})")
                self.orders.append(order)
                if coefs is not None:
                    self.coefficients[str(i)] = coefs
            if self._case == "A" and self.layer_orders[0].multi_term:
                self._case = "B"
        else:
            self._case = "A_scalar"
            if learn_alpha not in (False, None) and (learn_alpha is True or any(learn_alpha)):
                raise ValueError("learn_alpha needs integrator='fdeint' (integrator='odeint' has integer order)")
            self.layer_orders = None

    # ----------------------------------------------------------------- configuration
    @staticmethod
    def _check_method(method):
        if isinstance(method, str) and method.strip().lower() == "euler":
            return "euler"
        return canonical_method(method)

    @staticmethod
    def _parse_options(options) -> dict:
        if not isinstance(options, dict):
            raise TypeError(f"options must be a dict, got {type(options).__name__}")
        unknown = sorted(set(options) - set(_OPTION_KEYS))
        if unknown:
            raise ValueError(f"unknown options {unknown}; supported: {', '.join(_OPTION_KEYS)}")
        out = {}
        if "step_size" in options:
            check_positive(float(options["step_size"]), "options['step_size']", "SNNWrapper")
            out["dt"] = float(options["step_size"])
        if "memory" in options:
            out["memory"] = check_memory(options["memory"], "SNNWrapper options")
        return out

    @property
    def neuron_layers(self) -> list[tuple[str, BaseNeuron]]:
        """``(name, module)`` of every neuron layer, in the order used for per-layer ``alpha``."""
        return list(self._neurons)

    def get_per_layer_alpha(self) -> list:
        """The current order(s) of each layer: a float, or a list of floats for multi-term layers (detached; the
        tensors with their graph are ``net.orders[i]()``). spikeDE 0.1.0 returned tensors: ``.tolist()``,
        ``.item()`` on the values still work, with a ``DeprecationWarning``."""
        if self.integrator == "odeint":
            return [compat.Order(1.0) for _ in self._neurons]
        return [compat.as_order_value(o.value) for o in self.orders]

    def get_per_layer_coefficient(self) -> list:
        """The current multi-term weights of each layer (``None`` for single-term layers)."""
        return [self.coefficients[str(i)]().detach().tolist() if str(i) in self.coefficients else None
                for i in range(len(self._neurons))]

    def _set_neuron_shapes(self, input_shape=None):
        """Compatibility with spikeDE 0.1.0: not needed here. Records ``input_shape`` (with or without the
        batch dimension), against which inputs are then checked."""
        if input_shape is not None:
            self.input_shape = tuple(int(s) for s in input_shape)

    # ----------------------------------------------------------------- forward
    def _dynamics(self, i: int, method: str, memory, dt: float) -> Dynamics:
        if self.integrator == "odeint":
            return make_dynamics("odeint", None, None, "gl", None, dt)
        coefs = self.coefficients[str(i)] if str(i) in self.coefficients else None
        return make_dynamics("fdeint", self.orders[i], coefs, method, memory, dt, soe_tol=self.soe_tol,
                             soe_horizon=self.soe_horizon)

    def _check_input(self, x):
        check_floating(x, "x", "SNNWrapper")
        if x.dim() < 2:
            raise ValueError(f"SNNWrapper expects x of shape [T, B, ...] (at least 2 dimensions), got shape "
                             f"{tuple(x.shape)}")
        if self.input_shape is not None:
            feat = tuple(x.shape[2:])
            ok = feat == self.input_shape or tuple(x.shape[1:]) == self.input_shape or feat == self.input_shape[1:]
            if not ok:
                raise ValueError(f"SNNWrapper: x has shape {tuple(x.shape)} = [T, B, ...], which does not match the "
                                 f"input_shape {self.input_shape} given to _set_neuron_shapes")

    @staticmethod
    def _time_step(x_time, T: int):
        """The spacing of ``x_time`` (``T`` or ``T+1`` uniform, increasing points), or ``None`` (no ``x_time`` or
        a single point)."""
        if x_time is None:
            return None
        if not isinstance(x_time, torch.Tensor):
            x_time = torch.as_tensor(x_time)
        if x_time.dim() != 1 or x_time.numel() not in (T, T + 1):
            raise ValueError(f"x_time must be 1-D with T = {T} or T+1 = {T + 1} points, got shape "
                             f"{tuple(x_time.shape)}")
        if x_time.numel() < 2:
            return None
        d = x_time.detach().diff().double()
        if not bool((d > 0).all()):
            raise ValueError("x_time must be strictly increasing")
        if not torch.allclose(d, d.mean().expand_as(d), rtol=1e-4, atol=0):
            raise ValueError("x_time must be a uniform grid: spikeDE neurons step with a fixed dt")
        return float(d.mean())

    def _step_from(self, x_time, T: int, opts: dict) -> float:
        """The step of this call: the spacing of ``x_time`` when given (as in spikeDE 0.1.0), else
        ``options['step_size']`` or ``dt``. An explicit step that differs from the spacing is warned about once."""
        explicit = opts.get("dt", self.dt if self._dt_given else None)
        h = self._time_step(x_time, T)
        if h is None:
            return self.dt if explicit is None else explicit
        if explicit is not None and abs(explicit - h) > 1e-6 * h and not self._warned_x_time:
            self._warned_x_time = True
            warnings.warn(f"SNNWrapper: x_time has spacing {h:.6g} but the step given is {explicit:.6g} (dt or "
                          f"options['step_size']); the step is taken from x_time (h = {h:.6g}, as in spikeDE "
                          f"0.1.0). Leave x_time out to step with {explicit:.6g}.", UserWarning, stacklevel=5)
        return h

    def forward(self, x: torch.Tensor, x_time: torch.Tensor | None = None, method: str | None = None,
                options: dict | None = None, output_time=None) -> torch.Tensor:
        """Run the network on ``x`` (``[T, B, ...]``) and return its output for every step (``[T, B, ...]``).

        ``x_time`` (optional, ``T`` or ``T+1`` uniform points) sets the step to its spacing, as in spikeDE 0.1.0
        (an explicit ``dt`` or ``options['step_size']`` that differs is warned about once); without it the step is
        ``options['step_size']`` or ``dt``. ``method`` and ``options['memory']`` override the constructor's
        settings for this call.
        """
        if output_time is not None:
            raise ValueError("output_time is not supported: the output is given at every input step")
        self._check_input(x)
        T, B = int(x.shape[0]), int(x.shape[1])
        opts = dict(self._defaults)
        if options:
            opts.update(self._parse_options(options))
        m = self.method if method is None else self._check_method(method)
        if m == "euler":
            if self.integrator == "fdeint":
                raise ValueError("method 'euler' is for integrator='odeint'; fractional methods: gl, l1, predictor, "
                                 "heun")
            m = "gl"
        memory = opts.get("memory", self.memory)
        dt = self._step_from(x_time, T, opts)
        reset_net(self.base)
        fold = self.step_mode == "multi" or T == 0  # T = 0: one call on the empty folded input
        mode = "fold" if fold else "single"
        contexts = [CallContext(self._dynamics(i, m, memory, dt), mode, T, B, -1, name)
                    for i, (name, _) in enumerate(self._neurons)]
        # each neuron layer receives its orders explicitly, as the keyword ``context`` of its forward
        handles = [neuron.register_forward_pre_hook(_context_hook(ctx), with_kwargs=True)
                   for (_, neuron), ctx in zip(self._neurons, contexts)]
        try:
            if fold:
                out = self.base(x.reshape(T * B, *x.shape[2:]))
                return self._unfold(out, T, B)
            outs = []
            for t in range(T):
                for ctx in contexts:
                    ctx.step_index = t
                outs.append(self.base(x[t]))
            return self._stack(outs)
        finally:
            for h in handles:
                h.remove()

    def _unfold(self, out, T, B):
        if isinstance(out, torch.Tensor):
            if out.dim() < 1 or out.shape[0] != T * B:
                raise RuntimeError(f"the base network returned shape {tuple(out.shape)}, whose first dimension is not "
                                   f"T*B = {T * B}: its forward mixes the batch dimension, so it cannot run on the "
                                   f"folded sequence; use SNNWrapper(..., step_mode='single')")
            return out.reshape(T, B, *out.shape[1:])
        if isinstance(out, (tuple, list)):
            return type(out)(self._unfold(o, T, B) for o in out)
        raise TypeError(f"the base network must return a tensor or a tuple/list of tensors, got {type(out).__name__}")

    def _stack(self, outs):
        first = outs[0]
        if isinstance(first, torch.Tensor):
            return torch.stack(outs)
        if isinstance(first, (tuple, list)):
            return type(first)(self._stack([o[k] for o in outs]) for k in range(len(first)))
        raise TypeError(f"the base network must return a tensor or a tuple/list of tensors, got {type(first).__name__}")

    def extra_repr(self) -> str:
        def fmt(a):
            return [fmt(v) for v in a] if isinstance(a, list) else float(f"{a:.4g}")

        return (f"integrator={self.integrator!r}, method={self.method!r}, memory={self.memory!r}, dt={self.dt:g}, "
                f"step_mode={self.step_mode!r}, alpha={fmt(self.get_per_layer_alpha())}")
