r"""ANN -> SNN: rate-coded conversion of a trained ReLU network (data-based threshold normalisation).

A ReLU unit ``a = max(0, W x + b)`` becomes an integrate-and-fire neuron driven by the constant current
``I = W x + b``: with threshold ``theta`` and subtractive reset (``V <- V - theta S``), after ``t`` steps from rest
it has fired ``N_t = floor(t I / theta)`` times (for ``0 <= I <= theta``), so its rate ``N_t / t`` approaches
``I / theta`` with an error below ``1/t``; inputs above ``theta`` saturate at one spike per step. The conversion:

1. folds every BatchNorm into the Linear/Conv layer before it (``W <- gamma W / sigma``,
   ``b <- gamma (b - mu) / sigma + beta``);
2. runs the (folded) ANN on ``calibration_data`` and sets each ReLU layer's scale ``lambda_l`` to the
   ``percentile``-th percentile of its positive activations (robust data-based normalisation: the rare larger
   activations are clipped instead of slowing every other neuron down);
3. rescales the weights so that every neuron has threshold 1 and spike rate ``~ a_l / lambda_l``:
   ``W_l <- W_l lambda_{l-1} / lambda_l``, ``b_l <- b_l / lambda_l`` (``lambda_0 = 1``: the analog input is fed as
   a constant current at every step, the first layer acting as the encoder);
4. the output layer (the last Linear/Conv, no ReLU) does not spike: it accumulates its input current into the
   membrane ``U_t = sum_{s <= t} (W_L lambda_{L-1} r_s + b_L)``, and ``U_t / t`` approaches the ANN's logits.

Layer by layer the rate error is ``O(1/t)``, so the accuracy of the converted network approaches the ANN's as
``T`` grows (errors compound with depth; a small ``T`` loses the activations below ``lambda / T``).

Neurons: ``'if'`` (``IFNeuron``, ``H = V + I``), ``'lif'`` (``LIFNeuron(tau)`` driven by ``tau I``, i.e.
``H = (1 - 1/tau) V + I``: the IF neuron with a leak of ``V/tau`` per step). ``alpha < 1`` makes them fractional
(``tau D^alpha v = -v + tau I``, or ``tau D^alpha v = I`` for IF) through :class:`spikeDE.SNNWrapper`, with
optionally learnable orders for fine-tuning.

Supported layers (an ``nn.Sequential``, nested ones flattened): ``Linear``, ``Conv1d/2d/3d``,
``BatchNorm1d/2d/3d`` (right after a Linear/Conv), ``ReLU``, ``AvgPool1d/2d/3d``, ``AdaptiveAvgPool1d/2d/3d``,
``Flatten``, ``Dropout`` (dropped), ``Identity``. Max pooling is refused: over spike trains it passes the union of
the spikes of its window, whose rate exceeds the largest rate (it is not ``max`` of the rates); replace it by
average pooling and retrain.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

from ..neuron import IFNeuron, LIFNeuron
from ..wrapper import SNNWrapper
from ._common import TauInput, UnsupportedModuleError

__all__ = ["ann_to_snn", "RateCodedSNN", "fold_batchnorm"]

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_LINEAR_KEEP = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
                nn.AdaptiveAvgPool3d, nn.Flatten, nn.Identity)
_DROP = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.Identity)
_MAXPOOL = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
            nn.AdaptiveMaxPool3d)
_NEURONS = ("if", "lif")
SUPPORTED = ("Linear, Conv1d/2d/3d, BatchNorm1d/2d/3d (after a Linear/Conv), ReLU, AvgPool1d/2d/3d, "
             "AdaptiveAvgPool1d/2d/3d, Flatten, Dropout, Identity, nested nn.Sequential")


def _flatten(model: nn.Module, prefix: str = ""):
    if isinstance(model, nn.Sequential):
        for name, child in model.named_children():
            yield from _flatten(child, f"{prefix}{name}.")
    else:
        yield prefix.rstrip("."), model


def fold_batchnorm(layer: nn.Module, bn: nn.Module) -> nn.Module:
    r"""A copy of ``layer`` (Linear / Conv) with the eval-mode BatchNorm ``bn`` folded in:
    ``W' = W gamma / sqrt(var + eps)`` (per output channel), ``b' = (b - mean) gamma / sqrt(var + eps) + beta``."""
    if not isinstance(layer, _WEIGHTED) or not isinstance(bn, _BN):
        raise TypeError("fold_batchnorm: expects a Linear/Conv layer and a BatchNorm layer")
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("fold_batchnorm: the BatchNorm has no running statistics (track_running_stats=False)")
    out = copy.deepcopy(layer)
    n = out.weight.shape[0]
    if bn.num_features != n:
        raise ValueError(f"fold_batchnorm: BatchNorm has {bn.num_features} features, the layer {n} outputs")
    with torch.no_grad():
        std = torch.sqrt(bn.running_var + bn.eps)
        gamma = bn.weight if bn.affine else torch.ones_like(std)
        beta = bn.bias if bn.affine else torch.zeros_like(std)
        scale = (gamma / std).to(out.weight.dtype)
        out.weight.mul_(scale.reshape(-1, *([1] * (out.weight.dim() - 1))))
        bias = out.bias if out.bias is not None else torch.zeros(n, dtype=out.weight.dtype,
                                                                 device=out.weight.device)
        new_bias = (bias - bn.running_mean.to(bias.dtype)) * scale + beta.to(bias.dtype)
        if out.bias is None:
            out.bias = nn.Parameter(new_bias)
        else:
            out.bias.copy_(new_bias)
    return out


def _plan(model: nn.Module):
    """The flattened layer list with BatchNorm folded, dropout removed, and the problems found."""
    layers, problems = [], []
    items = list(_flatten(model))
    for name, m in items:
        if isinstance(m, _BN):
            if not layers or not isinstance(layers[-1][1], _WEIGHTED) or layers[-1][2]:
                problems.append(f"  {name} ({type(m).__name__}): a BatchNorm must follow a Linear/Conv layer "
                                f"directly to be folded into it")
                continue
            prev_name, prev, _ = layers[-1]
            layers[-1] = (prev_name, fold_batchnorm(prev, m), True)
        elif isinstance(m, _WEIGHTED):
            layers.append((name, copy.deepcopy(m), False))
        elif isinstance(m, nn.ReLU):
            layers.append((name, m, False))
        elif isinstance(m, _MAXPOOL):
            problems.append(f"  {name} ({type(m).__name__}): max pooling over spike trains passes the union of "
                            f"the window's spikes, whose rate exceeds the largest rate; replace it by average "
                            f"pooling (nn.AvgPool) and retrain")
        elif isinstance(m, _DROP) and not isinstance(m, nn.Identity):
            continue
        elif isinstance(m, _LINEAR_KEEP):
            layers.append((name, copy.deepcopy(m), False))
        else:
            problems.append(f"  {name or '<root>'} ({type(m).__module__}.{type(m).__name__}): not a layer of a "
                            f"rate-convertible ReLU network")
    if not problems:
        weighted = [i for i, (_, m, _) in enumerate(layers) if isinstance(m, _WEIGHTED)]
        relus = [i for i, (_, m, _) in enumerate(layers) if isinstance(m, nn.ReLU)]
        if not weighted:
            problems.append("  the network has no Linear/Conv layer")
        elif relus and relus[-1] > weighted[-1]:
            problems.append(f"  {layers[relus[-1]][0]} (ReLU): the output layer (the last Linear/Conv) must not be "
                            f"followed by a ReLU; its accumulated membrane is the output")
        for i in relus:
            if i == 0 or not any(isinstance(layers[j][1], _WEIGHTED) for j in range(i)):
                problems.append(f"  {layers[i][0]} (ReLU): a ReLU before any Linear/Conv layer")
    if problems:
        raise UnsupportedModuleError(f"cannot convert {len(problems)} part(s) of this ANN:\n" + "\n".join(problems)
                                     + f"\nsupported: {SUPPORTED}")
    return [(n, m) for n, m, _ in layers]


def _batches(calibration_data):
    if isinstance(calibration_data, torch.Tensor):
        yield calibration_data
        return
    for item in calibration_data:
        yield item[0] if isinstance(item, (tuple, list)) else item


@torch.no_grad()
def _relu_scales(layers, calibration_data, percentile: float):
    """``percentile``-th percentile of the positive activations of every ReLU (exact, over all calibration
    samples)."""
    acts: dict[int, list[torch.Tensor]] = {i: [] for i, (_, m) in enumerate(layers) if isinstance(m, nn.ReLU)}
    n = 0
    for x in _batches(calibration_data):
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError("calibration_data must be a floating-point tensor [N, ...] or an iterable of such "
                            "tensors (or of (x, y) batches)")
        n += x.shape[0]
        h = x
        for i, (_, m) in enumerate(layers):
            h = m(h)
            if i in acts:
                acts[i].append(h[h > 0].reshape(-1))
    if n == 0:
        raise ValueError("calibration_data is empty")
    scales = {}
    for i, chunks in acts.items():
        v = torch.cat(chunks)
        if v.numel() == 0:
            raise ValueError(f"ReLU {layers[i][0]} is never active on the calibration data: its threshold cannot "
                             f"be set from it")
        k = max(1, min(v.numel(), int(math.ceil(percentile / 100.0 * v.numel()))))
        scales[i] = float(torch.kthvalue(v.double().cpu(), k).values)
    return scales


class RateCodedSNN(nn.Module):
    r"""The converted network: analog input ``x`` ``[B, ...]`` fed as a constant current for ``T`` steps, output
    ``U_T / T`` (``[B, C]``), the accumulated membrane of the non-spiking output layer divided by ``T``.

    Attributes:
        snn: the :class:`spikeDE.SNNWrapper` around the spiking network (``[T, B, ...] -> [T, B, C]``: the output
            layer's input current at every step).
        T: number of time steps.
        scales: the ReLU scales ``lambda_l`` (one per neuron layer, in order).
    """

    def __init__(self, snn: SNNWrapper, T: int, scales: list[float]):
        super().__init__()
        self.snn = snn
        self.T = int(T)
        self.scales = list(scales)

    def forward(self, x: torch.Tensor, T: int | None = None, all_steps: bool = False) -> torch.Tensor:
        """``U_T / T`` (``[B, C]``); with ``all_steps=True`` the running ``U_t / t`` for ``t = 1..T``
        (``[T, B, C]``: the output at every shorter horizon from one run, the network being causal)."""
        steps = self.T if T is None else int(T)
        if steps < 1:
            raise ValueError(f"T must be an int >= 1, got {T!r}")
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError("x must be a floating-point tensor [B, ...]")
        current = self.snn(x.unsqueeze(0).expand(steps, *x.shape))
        u = current.cumsum(0)
        if all_steps:
            t = torch.arange(1, steps + 1, dtype=u.dtype, device=u.device).reshape(-1, *([1] * (u.dim() - 1)))
            return u / t
        return u[-1] / steps


def ann_to_snn(model: nn.Module, calibration_data, neuron: str = "if", T: int = 64, *, percentile: float = 99.9,
               tau: float = 20.0, alpha=1.0, learn_alpha: bool = False, method: str = "gl", memory=None,
               surrogate: str = "atan", surrogate_grad_scale: float = 5.0) -> RateCodedSNN:
    r"""Convert a trained ReLU network into a rate-coded spiking network (see the module docstring).

    Args:
        model: an ``nn.Sequential`` of supported layers (in eval mode for BatchNorm statistics; it is not
            modified).
        calibration_data: inputs ``[N, ...]`` (a tensor, or an iterable of tensors or ``(x, y)`` batches) on
            which the activation percentiles are measured; a few hundred training samples suffice.
        neuron: ``'if'`` or ``'lif'`` (leak ``V/tau`` per step).
        T: default number of time steps of :meth:`RateCodedSNN.forward`.
        percentile: percentile of the positive activations used as each layer's scale (``0 < p <= 100``).
        tau: LIF time constant in steps (``neuron='lif'``).
        alpha, learn_alpha, method, memory: fractional orders of the neurons through :class:`spikeDE.SNNWrapper`
            (``alpha = 1``: integer order).
        surrogate, surrogate_grad_scale: surrogate gradient of the neurons (for fine-tuning).

    Returns:
        :class:`RateCodedSNN`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"ann_to_snn: model must be an nn.Module, got {type(model).__name__}")
    if neuron not in _NEURONS:
        raise ValueError(f"ann_to_snn: neuron must be one of {_NEURONS}, got {neuron!r}")
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"ann_to_snn: T must be an int >= 1, got {T!r}")
    if not (isinstance(percentile, (int, float)) and 0 < percentile <= 100):
        raise ValueError(f"ann_to_snn: percentile must be in (0, 100], got {percentile!r}")
    if not (isinstance(tau, (int, float)) and math.isfinite(tau) and tau >= 1):
        raise ValueError(f"ann_to_snn: tau must be a finite number >= 1 (steps), got {tau!r}")
    was_training = model.training
    model.eval()
    try:
        layers = _plan(model)
        scales = _relu_scales(layers, calibration_data, percentile)
    finally:
        model.train(was_training)
    modules: list[nn.Module] = []
    prev_scale = 1.0
    for i, (name, m) in enumerate(layers):
        if isinstance(m, _WEIGHTED):
            nxt = next((j for j in range(i + 1, len(layers)) if isinstance(layers[j][1], (nn.ReLU, *_WEIGHTED))),
                       None)
            out_scale = scales[nxt] if nxt is not None and isinstance(layers[nxt][1], nn.ReLU) else 1.0
            with torch.no_grad():
                m.weight.mul_(prev_scale / out_scale)
                if m.bias is not None:
                    m.bias.div_(out_scale)
            modules.append(m)
            prev_scale = 1.0  # the output is in units of out_scale; a following ReLU sets its own scale
        elif isinstance(m, nn.ReLU):
            kw = dict(threshold=1.0, surrogate_grad_scale=surrogate_grad_scale, surrogate_opt=surrogate,
                      reset="subtract")
            if neuron == "if":
                modules.append(IFNeuron(tau=1.0, **kw))
            else:
                modules.append(TauInput(LIFNeuron(tau=float(tau), **kw)))
            prev_scale = scales[i]
        else:
            modules.append(m)
    net = nn.Sequential(*modules)
    if not any(True for _ in net.modules() if isinstance(_, (IFNeuron, LIFNeuron))):
        raise UnsupportedModuleError("the ANN has no ReLU: there is nothing to turn into spiking neurons")
    snn = SNNWrapper(net, integrator="fdeint", alpha=alpha, learn_alpha=learn_alpha, method=method, memory=memory)
    return RateCodedSNN(snn, T, [scales[i] for i in sorted(scales)])
