r"""Synaptic operations and an energy estimate for Linear / Conv layers.

For every ``nn.Linear`` and ``nn.Conv1d/2d/3d`` call, the input ``x`` is classified:

* **spikes** (every entry is 0 or 1): only nonzero inputs trigger work, one *accumulate* (AC) per synapse they
  reach: ``ACs = sum over nonzero x_i of fanout(i)``. For a Linear layer ``fanout = out_features``; for a
  convolution it is the number of (output channel, output position) pairs that input element feeds,
  counted exactly, borders, stride, dilation and groups included (zero padding triggers nothing).
* **real values** (anything else): a dense layer does one *multiply-accumulate* (MAC) per weight use:
  ``MACs = rows * in_features * out_features`` for Linear, ``output entries * (in_channels / groups) *
  prod(kernel_size)`` for a convolution (the usual count, padding positions included).

``input_kind="spike"`` or ``"real"`` forces one rule for every layer. Biases and neuron state updates are not
counted. Energy uses the 45 nm CMOS figures of Horowitz (ISSCC 2014) for 32-bit floating point: an add costs
``E_AC = 0.9 pJ``, a multiply 3.7 pJ, so a MAC costs ``E_MAC = 4.6 pJ``:

    E = E_AC * ACs + E_MAC * MACs.

Layers with weight matrices of other types (``nn.GRU``, ``nn.Embedding`` ...) are not counted; their names are
listed in :attr:`SynapticOps.uncounted` so that a table can say the figure is incomplete.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ._hooks import HookedModel

__all__ = ["E_AC_PJ", "E_MAC_PJ", "SynapticOps", "SynapticOpCounter", "count_synaptic_ops"]

E_AC_PJ = 0.9
E_MAC_PJ = 4.6
_COUNTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_KINDS = ("auto", "spike", "real")


@dataclass
class SynapticOps:
    """Counts over everything run since the counter's last reset.

    ``layers`` maps a layer name to ``{"acs": ..., "macs": ...}``; ``n_samples`` (if given) turns totals into
    per-sample figures.
    """

    layers: dict[str, dict[str, float]]
    n_samples: int | None = None
    e_ac_pj: float = E_AC_PJ
    e_mac_pj: float = E_MAC_PJ
    uncounted: list[str] = field(default_factory=list)

    @property
    def acs(self) -> float:
        return sum(v["acs"] for v in self.layers.values())

    @property
    def macs(self) -> float:
        return sum(v["macs"] for v in self.layers.values())

    @property
    def synops(self) -> float:
        """All synaptic operations, ``ACs + MACs``."""
        return self.acs + self.macs

    @property
    def energy_pj(self) -> float:
        """``E_AC * ACs + E_MAC * MACs`` in picojoules (all samples together)."""
        return self.e_ac_pj * self.acs + self.e_mac_pj * self.macs

    def per_sample(self) -> dict[str, float]:
        """ACs, MACs, synops and energy (pJ) per sample (needs ``n_samples``)."""
        if not self.n_samples:
            raise ValueError("SynapticOps.per_sample: n_samples is unknown; pass it to result(n_samples=...)")
        n = float(self.n_samples)
        return {"acs": self.acs / n, "macs": self.macs / n, "synops": self.synops / n,
                "energy_pj": self.energy_pj / n}


class SynapticOpCounter(HookedModel):
    """Counts ACs and MACs of the Linear/Conv layers of ``model`` while it runs (a context manager).

    Args:
        model: the network.
        input_kind: ``"auto"`` (spikes if every input entry is 0 or 1, per call), ``"spike"`` or ``"real"``.
        e_ac_pj, e_mac_pj: energy per accumulate / multiply-accumulate in picojoules.
    """

    def __init__(self, model: nn.Module, input_kind: str = "auto", e_ac_pj: float = E_AC_PJ,
                 e_mac_pj: float = E_MAC_PJ):
        if input_kind not in _KINDS:
            raise ValueError(f"SynapticOpCounter: input_kind must be one of {_KINDS}, got {input_kind!r}")
        self.input_kind = input_kind
        self.e_ac_pj, self.e_mac_pj = float(e_ac_pj), float(e_mac_pj)
        self._acs: dict[str, torch.Tensor] = {}
        self._macs: dict[str, torch.Tensor] = {}
        self.names: list[str] = []
        self.uncounted: list[str] = []
        for name, m in model.named_modules():
            name = name or type(m).__name__
            if isinstance(m, _COUNTED):
                self.names.append(name)
                self._attach(m, self._hook(name))
            elif any(p.dim() >= 2 for p in m.parameters(recurse=False)):
                self.uncounted.append(name)

    def _hook(self, name):
        def hook(module, inputs, output):
            x = inputs[0].detach()
            if isinstance(module, nn.Linear):
                dense = float(x.numel() * module.out_features)
                sparse = torch.count_nonzero(x).to(torch.float64) * module.out_features
            else:
                k = math.prod(module.kernel_size) * (module.in_channels // module.groups)
                dense = float(output.numel() * k)
                cdt = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
                mask = (x != 0).to(cdt)
                ones = torch.ones(module.weight.shape, dtype=cdt, device=x.device)
                sparse = module._conv_forward(mask, ones, None).sum(dtype=torch.float64)
            if self.input_kind == "spike":
                acs, macs = sparse, torch.zeros((), dtype=torch.float64, device=x.device)
            elif self.input_kind == "real":
                acs, macs = torch.zeros((), dtype=torch.float64, device=x.device), torch.full(
                    (), dense, dtype=torch.float64, device=x.device)
            else:
                binary = ((x == 0) | (x == 1)).all()
                acs = torch.where(binary, sparse, torch.zeros_like(sparse))
                macs = torch.where(binary, torch.zeros_like(sparse), torch.full_like(sparse, dense))
            self._acs[name] = acs if name not in self._acs else self._acs[name] + acs
            self._macs[name] = macs if name not in self._macs else self._macs[name] + macs
        return hook

    def reset(self) -> None:
        self._acs.clear()
        self._macs.clear()

    def result(self, n_samples: int | None = None) -> SynapticOps:
        """The counts so far (``n_samples``: how many input sequences they cover)."""
        layers = {n: {"acs": float(self._acs[n]) if n in self._acs else 0.0,
                      "macs": float(self._macs[n]) if n in self._macs else 0.0} for n in self.names}
        return SynapticOps(layers, n_samples, self.e_ac_pj, self.e_mac_pj, list(self.uncounted))


@torch.no_grad()
def count_synaptic_ops(model: nn.Module, x: torch.Tensor, input_kind: str = "auto", batch_dim: int = 1,
                       e_ac_pj: float = E_AC_PJ, e_mac_pj: float = E_MAC_PJ) -> SynapticOps:
    """Run ``model(x)`` once and count its synaptic operations; ``x.shape[batch_dim]`` samples (time-first:
    ``batch_dim=1``)."""
    with SynapticOpCounter(model, input_kind, e_ac_pj, e_mac_pj) as counter:
        model(x)
    return counter.result(n_samples=x.shape[batch_dim])
