"""Export the trained network of one arm of a ``spikede`` run (``spikede export``).

The arm's model is rebuilt from the run's recorded configuration, its checkpoint is loaded, and the network is
written in the requested format (``nir``: :func:`spikeDE.nir.to_nir` then ``nir.write``). The file is then read
back (``nir.read`` -> :func:`spikeDE.nir.from_nir`) and both networks are run on test samples of the task, so
that the export reports its own spike agreement, layer by layer.
"""
from __future__ import annotations

import json
import os

import torch
from torch import nn

from ..neuron import BaseNeuron
from .config import ConfigError
from .run import build_task, load_arm_model, load_run, plan_run

__all__ = ["FORMATS", "export_run"]

FORMATS = ("nir",)


def _load_arm(run_dir: str, arm: str | None):
    cfg = load_run(run_dir)
    plan = plan_run(cfg)
    if arm is None:
        if len(plan.arms) != 1:
            raise ConfigError(f"run {run_dir!r} has arms {', '.join(plan.arms)}; choose one with --arm")
        arm = plan.arms[0]
    if arm not in plan.arms:
        raise ConfigError(f"run {run_dir!r} has no arm {arm!r}; its arms: {', '.join(plan.arms)}")
    data = build_task(plan)
    model, _ = load_arm_model(run_dir, plan, data, arm)
    dtype = torch.float64 if cfg.dtype == "float64" else torch.float32
    return arm, model.to(dtype=dtype).eval(), data, dtype


def _neuron_outputs(model: nn.Module, x: torch.Tensor, kinds) -> list[torch.Tensor]:
    """Spikes of every neuron layer of ``model`` on ``x`` (``[T, B, ...]``), each ``[T, B, -1]``."""
    outs, hooks = [], []
    T, B = x.shape[:2]
    for m in model.modules():
        if isinstance(m, kinds):
            hooks.append(m.register_forward_hook(lambda _m, _i, o: outs.append(o.detach().reshape(T, B, -1))))
    try:
        with torch.no_grad():
            y = model(x)
    finally:
        for h in hooks:
            h.remove()
    return outs, y


def export_run(run_dir: str, out: str, *, arm: str | None = None, fmt: str = "nir", dt: float = 1.0,
               tol: float | None = None, check_samples: int = 32) -> dict:
    """Write the network of ``arm`` of the run in ``run_dir`` to ``out`` and measure the round trip.

    Returns ``{'arm', 'out', 'nodes', 'neurons' (the export's per-layer metadata), 'spike_agreement' (per neuron
    layer: fraction of identical spikes on ``check_samples`` test samples), 'prediction_agreement'}``.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; available: {', '.join(FORMATS)}")
    try:
        from .. import nir as snir
        import nir
    except ImportError as e:
        raise ConfigError(f"{e}; install with: pip install 'spikede[nir]'") from e
    arm, model, data, dtype = _load_arm(run_dir, arm)
    kw = {} if tol is None else {"tol": float(tol)}
    try:
        graph = snir.to_nir(model, dt=dt, input_shape=tuple(data.info.input_shape), **kw)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"arm {arm!r} cannot be exported to NIR: {e}") from e
    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    nir.write(out, graph)
    back = snir.from_nir(nir.read(out), dt=dt, dtype=dtype)
    n = min(check_samples, len(data.test))
    x = torch.stack([data.test[i][0] for i in range(n)], 1).to(dtype)  # [T, n, ...]
    ref, y_ref = _neuron_outputs(model, x, BaseNeuron)
    got, y_got = _neuron_outputs(back, x, (BaseNeuron, snir.SOEBankNeuron))
    spikes = [float((a == b).double().mean()) for a, b in zip(ref, got)]
    pred = float((y_ref.mean(0).argmax(-1) == y_got.mean(0).argmax(-1)).double().mean())
    meta = json.loads(graph.metadata["spikeDE"])
    return {"arm": arm, "out": out, "nodes": len(graph.nodes), "neurons": meta["neurons"], "dt": dt,
            "spike_agreement": spikes, "prediction_agreement": pred, "samples": n,
            "max_output_difference": float((y_ref - y_got).abs().max())}
