r"""A generic trainer for sequence classifiers: any ``nn.Module`` mapping time-first input ``[T, B, ...]`` to
per-step logits ``[T, B, K]``.

The logits are read out (``mean`` over time, ``last`` step, or ``window``: mean over the last ``w`` steps) and
trained with cross-entropy. Each step minimises the mean loss over the *global* batch; with ``W`` processes
under ``torchrun`` (DistributedDataParallel, which averages gradients over processes) each process uses
``loss_r = W * sum_{i in local batch} l_i / |global batch|``, whose average is exactly the global mean, so a
multi-process run follows the one-process run on the same global batches (to floating-point rounding).

State kept for an exact resume: model, optimiser, learning-rate schedule, the RNG states of every process,
the epoch and step counters and the running sums of the current epoch; the batch order depends only on
``(seed, epoch)`` (:class:`GlobalBatchSampler`). A run interrupted after a checkpoint and resumed from it
ends bit-identical (CPU) to an uninterrupted one.
"""
from __future__ import annotations

import math
import os
import sys
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset, TensorDataset, default_collate

from ..data.batching import time_first
from .checkpoint import (CheckpointError, check_optimizer_state, check_training_state, load_checkpoint,
                         save_checkpoint)
from .config import ConfigError
from .distributed import DistEnv, all_gather_objects, all_reduce_sum, barrier
from .long_runs import LongRunMixin
from .param_groups import parameter_groups
from .progress import ProgressBar
from .report import write_rows
from .sampler import GlobalBatchSampler
from .seeding import derive_seed, get_rng_state, set_rng_state

__all__ = ["Trainer", "readout", "evaluate_model", "fetch_batch", "write_metrics", "READOUTS"]

READOUTS = ("mean", "last", "window")
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def readout(logits: torch.Tensor, mode: str = "mean", window: int | None = None) -> torch.Tensor:
    """Class scores ``[B, K]`` from per-step logits ``[T, B, K]``: ``mean_t z_t``, ``z_{T-1}`` or
    ``mean_{t >= T - window} z_t``."""
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"the model must return per-step logits [T, B, K], got {shape}")
    if mode == "mean":
        return logits.mean(0)
    if mode == "last":
        return logits[-1]
    if mode == "window":
        if window is None or not 1 <= window <= logits.shape[0]:
            raise ValueError(f"readout 'window' needs 1 <= window <= T={logits.shape[0]}, got {window}")
        return logits[-window:].mean(0)
    raise ValueError(f"readout must be one of {READOUTS}, got {mode!r}")


def fetch_batch(dataset: Dataset, idx: torch.Tensor, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples ``idx`` of ``dataset`` as time-first ``x [T, B, ...]`` (on ``device``, in ``dtype``) and labels."""
    if isinstance(dataset, TensorDataset):
        x, y = dataset.tensors[0][idx], dataset.tensors[1][idx]
    else:
        x, y = default_collate([dataset[int(i)] for i in idx])
    x = time_first(x).to(device=device, dtype=dtype)
    return x, y.to(device=device, dtype=torch.long)


def _accumulate(acc: dict, loss_sum: torch.Tensor, scores: torch.Tensor, y: torch.Tensor) -> None:
    acc["loss"] = acc["loss"] + loss_sum.detach().to(torch.float64)
    acc["correct"] = acc["correct"] + (scores.detach().argmax(-1) == y).sum()
    acc["n"] = acc["n"] + y.numel()


def _zero_acc(device) -> dict:
    return {"loss": torch.zeros((), dtype=torch.float64, device=device),
            "correct": torch.zeros((), dtype=torch.long, device=device), "n": 0}


@torch.no_grad()
def evaluate_model(model: nn.Module, dataset: Dataset, *, batch_size: int = 256, readout_mode: str = "mean",
                   readout_window: int | None = None, device="cpu", dtype=torch.float32,
                   transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                   env: DistEnv = DistEnv()) -> dict:
    """Mean cross-entropy and accuracy of ``model`` on ``dataset`` (in order; ``transform`` perturbs each
    time-first input batch, e.g. an attack). Under several processes each takes every ``W``-th sample and the
    sums are reduced, so every process gets the full-set figures."""
    was_training = model.training
    model.eval()
    acc = _zero_acc(device)
    try:
        order = torch.arange(len(dataset))[env.rank::env.world_size]
        for idx in torch.split(order, batch_size):
            x, y = fetch_batch(dataset, idx, device, dtype)
            if transform is not None:
                x = transform(x)
            scores = readout(model(x), readout_mode, readout_window)
            _accumulate(acc, F.cross_entropy(scores, y, reduction="sum"), scores, y)
    finally:
        model.train(was_training)
    stats = all_reduce_sum(torch.stack([acc["loss"], acc["correct"].to(torch.float64),
                                        torch.tensor(float(acc["n"]), dtype=torch.float64, device=device)]), env)
    loss, correct, n = (float(v) for v in stats)
    return {"loss": loss / n if n else float("nan"), "acc": correct / n if n else float("nan"), "n": int(n)}


def write_metrics(folder: str, history: list[dict], extra: dict | None = None) -> None:
    """``metrics.json`` (``{"history": [...], **extra}``) and ``metrics.csv`` (one row per epoch) in ``folder``."""
    os.makedirs(folder, exist_ok=True)
    write_rows(history, os.path.join(folder, "metrics.json"), os.path.join(folder, "metrics.csv"), extra,
               key="history")


class Trainer(LongRunMixin):
    """Train ``model`` on ``train_set`` (items ``(x [T, ...], label)``), validating on ``val_set`` every epoch.

    Args:
        model: maps ``[T, B, ...]`` to logits ``[T, B, K]``; it is moved to ``device`` and ``dtype``.
        train_set, val_set: datasets (``TensorDataset`` is indexed directly; others item by item).
        epochs, batch_size (global), lr, optimizer (``adam``/``adamw``/``sgd``), weight_decay,
        schedule (``constant`` or ``cosine``, per step), grad_clip (max norm; 0 = off).
        readout, readout_window: see :func:`readout`.
        seed: batch order and the model's random streams (the model's initial weights are the caller's).
        device, dtype: ``torch.device`` (or string) and ``torch.float32``/``float64`` (or their names).
        out_dir: where ``checkpoint.pt`` and ``metrics.json``/``.csv`` go (rank 0 only); ``None``: nowhere.
        checkpoint_every: also checkpoint every this many steps inside an epoch (0: at epoch ends only).
        env: the process group (:func:`init_distributed`); one process by default.
        metrics_fn: ``metrics_fn(model) -> dict`` added to each epoch's record (e.g. learned alphas).
        extra_state: plain values stored in every checkpoint (e.g. the run configuration).
        progress: draw a progress bar (on a terminal); log: where epoch lines go (``None``: stderr, rank 0).
        name: shown in the progress bar and log lines.

    Long runs (see :mod:`spikeDE.train.long_runs`):
        param_groups: rules ``[(regex, {"lr": ..., "weight_decay": ...}), ...]`` giving parameters chosen by name
            their own optimiser group (:func:`spikeDE.train.param_groups.parameter_groups`).
        accumulate: micro-batches per optimiser step (the gradient is that of the whole global batch).
        bf16: bfloat16 autocast of the forward pass on CUDA (ignored on CPU).
        eval_every: also validate every this many steps (0: at epoch ends only); the results go to
            ``step_evals`` and ``RUN/<arm>/step_evals.csv``.
        keep_best: keep ``best.pt``, the checkpoint with the lowest validation loss seen so far.
    """

    def __init__(self, model: nn.Module, train_set: Dataset, val_set: Dataset | None = None, *, epochs: int = 1,
                 batch_size: int = 64, lr: float = 1e-3, optimizer: str = "adam", weight_decay: float = 0.0,
                 schedule: str = "constant", grad_clip: float = 0.0, readout: str = "mean",
                 readout_window: int | None = None, seed: int = 0, device="cpu", dtype=torch.float32,
                 eval_batch_size: int = 256, out_dir: str | None = None, checkpoint_every: int = 0,
                 env: DistEnv = DistEnv(), metrics_fn: Callable[[nn.Module], dict] | None = None,
                 extra_state: dict | None = None, progress: bool = True, log: Callable[[str], None] | None = None,
                 name: str = "", param_groups=None, accumulate: int = 1, bf16: bool = False, eval_every: int = 0,
                 keep_best: bool = False):
        if readout not in READOUTS:
            raise ConfigError(f"readout must be one of {READOUTS}, got {readout!r}")
        if readout == "window" and not readout_window:
            raise ConfigError("readout 'window' needs readout_window >= 1")
        self.dtype = _DTYPES[dtype] if isinstance(dtype, str) else dtype
        self.device = torch.device(device)
        self.env = env
        self.epochs, self.batch_size, self.eval_batch_size = int(epochs), int(batch_size), int(eval_batch_size)
        self.readout, self.readout_window = readout, readout_window
        self.grad_clip, self.seed = float(grad_clip), int(seed)
        self.train_set, self.val_set = train_set, val_set
        self.out_dir, self.checkpoint_every = out_dir, int(checkpoint_every)
        self.metrics_fn, self.extra_state = metrics_fn, dict(extra_state or {})
        self.name = name
        self.progress = progress and env.is_main
        self._log = log if log is not None else (lambda s: print(s, file=sys.stderr, flush=True))
        self.model = model.to(device=self.device, dtype=self.dtype)
        if env.active:
            from torch.nn.parallel import DistributedDataParallel as DDP
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = DDP(self.model, device_ids=ids)
        else:
            self.ddp = self.model
        self._init_long_runs(accumulate, bf16, eval_every, keep_best)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if param_groups:
            params = parameter_groups(self.model, param_groups)
        if optimizer == "adam":
            self.optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
        elif optimizer == "adamw":
            self.optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        elif optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
        else:
            raise ConfigError(f"optimizer must be adam, adamw or sgd, got {optimizer!r}")
        self.sampler = GlobalBatchSampler(len(train_set), self.batch_size, seed=self.seed, rank=env.rank,
                                          world_size=env.world_size)
        total = max(self.epochs * len(self.sampler), 1)
        if schedule == "cosine":
            lam = lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total) / total))  # noqa: E731
        elif schedule == "constant":
            lam = lambda s: 1.0  # noqa: E731
        else:
            raise ConfigError(f"schedule must be constant or cosine, got {schedule!r}")
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lam)
        self.epoch = 0            # epochs completed
        self.step_in_epoch = 0    # batches done in the current epoch
        self.global_step = 0
        self.history: list[dict] = []
        self._acc = _zero_acc(self.device)
        self._epoch_time = 0.0

    # ------------------------------------------------------------------------------------- checkpoints
    @property
    def checkpoint_path(self) -> str | None:
        return os.path.join(self.out_dir, "checkpoint.pt") if self.out_dir else None

    def state_dict(self) -> dict:
        """Everything needed to continue (the RNG states of all processes included; a collective call)."""
        rng = all_gather_objects(get_rng_state(), self.env)
        # the running sums of the current epoch, over all processes (restored on rank 0 alone)
        sums = all_reduce_sum(torch.stack([self._acc["loss"], self._acc["correct"].to(torch.float64)]), self.env)
        n = int(all_reduce_sum(torch.tensor(float(self._acc["n"]), dtype=torch.float64, device=self.device),
                               self.env))
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "global_step": self.global_step,
            "epochs": self.epochs, "batch_size": self.batch_size, "seed": self.seed,
            "world_size": self.env.world_size, "rng": rng, "history": self.history,
            "accum": {"loss": sums[0].cpu(), "correct": sums[1].round().long().cpu(), "n": n, "time": self._epoch_time},
            "extra": self.extra_state,
            "long_runs": self._long_run_state(),
        }

    def save(self) -> None:
        state = self.state_dict()
        if self.env.is_main and self.checkpoint_path:
            save_checkpoint(state, self.checkpoint_path)

    def load_state_dict(self, state: dict, path: str | None = None) -> None:
        """Continue from ``state`` (from :meth:`state_dict`; ``path`` names it in errors). Every field is checked
        first (:func:`~spikeDE.train.checkpoint.check_training_state`): a crafted or damaged state is a
        :class:`CheckpointError`, never a traceback halfway through loading."""
        where = path or "(state)"
        for key in ("batch_size", "seed"):
            if state.get(key) != getattr(self, key):
                raise CheckpointError(f"the checkpoint was made with {key}={state.get(key)!r}, this run has "
                                      f"{getattr(self, key)!r}; a resumed run must keep it")
        check_training_state(state, where, len(self.sampler))
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"checkpoint {where} does not fit this model: {str(e).splitlines()[0]}") from e
        check_optimizer_state(self.optimizer, where)
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.step_in_epoch = int(state["epoch"]), int(state["step_in_epoch"])
        self.global_step = int(state["global_step"])
        self.history = list(state["history"])
        a = state["accum"]
        self._acc = _zero_acc(self.device)
        if self.env.is_main:
            self._acc = {"loss": a["loss"].to(self.device), "correct": a["correct"].to(self.device), "n": int(a["n"])}
        self._epoch_time = float(a["time"])
        self._load_long_run_state(state.get("long_runs"))
        rng = state["rng"]
        if len(rng) == self.env.world_size:
            set_rng_state(rng[self.env.rank])
        else:
            torch.manual_seed(derive_seed(self.seed, 0xC0DE, self.env.rank, self.global_step))
            if self.env.is_main:
                self._log(f"{self.name}: checkpoint from {len(rng)} process(es), resuming on "
                          f"{self.env.world_size}; random streams re-seeded (the batch order is unchanged)")

    def resume(self, path: str | None = None) -> None:
        """Load the checkpoint at ``path`` (default: ``out_dir/checkpoint.pt``)."""
        path = path or self.checkpoint_path
        if path is None:
            raise CheckpointError("nothing to resume from: no out_dir and no checkpoint path")
        self.load_state_dict(load_checkpoint(path, map_location="cpu"), path)

    # ------------------------------------------------------------------------------------------ training
    def _after_step(self) -> None:
        """Called after every optimiser step (a no-op; subclasses may add per-step work)."""

    def _train_step(self, idx: torch.Tensor, global_size: int) -> None:
        # A process whose share of a short last batch is empty still runs one sample with weight 0, so that
        # it joins the gradient reduction of the other processes.
        weight = self.env.world_size / global_size if len(idx) else 0.0
        self.ddp.train()
        self.optimizer.zero_grad(set_to_none=True)
        parts = self._micro_batches(idx)
        for k, part in enumerate(parts):
            x, y = fetch_batch(self.train_set, part if len(part) else self._spare_index(), self.device, self.dtype)
            with self._sync_context(k == len(parts) - 1), self._autocast():
                scores = readout(self.ddp(x), self.readout, self.readout_window)
            loss_sum = F.cross_entropy(scores.float() if scores.dtype == torch.bfloat16 else scores, y,
                                       reduction="sum")
            with self._sync_context(k == len(parts) - 1):
                (loss_sum * (weight if len(part) else 0.0)).backward()
            if len(part):
                _accumulate(self._acc, loss_sum, scores, y)
        if self.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.scheduler.step()

    def _spare_index(self) -> torch.Tensor:
        return torch.zeros(1, dtype=torch.long)

    def fit(self) -> list[dict]:
        """Train until ``epochs`` epochs are complete (continuing a resumed state); returns the history."""
        if self.global_step == 0 and self.epoch == 0 and self.step_in_epoch == 0:
            torch.manual_seed(derive_seed(self.seed, 0x7A1, self.env.rank))
        n_batches = len(self.sampler)
        while self.epoch < self.epochs:
            e = self.epoch
            bar = ProgressBar(n_batches, f"{self.name} epoch {e + 1}/{self.epochs}".strip(), enabled=self.progress,
                              items_per_step=self.batch_size, unit="samples")
            bar.update(self.step_in_epoch)
            t0 = time.perf_counter()
            for idx, global_size in self.sampler.local_batches(e, self.step_in_epoch):
                self._train_step(idx, global_size)
                self.step_in_epoch += 1
                self.global_step += 1
                if bar.due():
                    n = max(self._acc["n"], 1)
                    bar.update(self.step_in_epoch, loss=float(self._acc["loss"]) / n,
                               acc=float(self._acc["correct"]) / n)
                self._step_eval(n_batches)  # before a checkpoint of this step, so that the checkpoint holds it
                if (self.checkpoint_every and self.global_step % self.checkpoint_every == 0
                        and self.step_in_epoch < n_batches):
                    self._epoch_time += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    self.save()
                self._after_step()
            self._epoch_time += time.perf_counter() - t0
            record = self._end_epoch()
            bar.close(loss=record["train_loss"], acc=record["train_acc"])
            if self.env.is_main:
                self._log(self._format(record))
        barrier(self.env)
        return self.history

    def _end_epoch(self) -> dict:
        stats = all_reduce_sum(torch.stack([self._acc["loss"], self._acc["correct"].to(torch.float64),
                                            torch.tensor(float(self._acc["n"]), dtype=torch.float64,
                                                         device=self.device)]), self.env)
        loss, correct, n = (float(v) for v in stats)
        record = {"epoch": self.epoch + 1, "step": self.global_step, "train_loss": loss / n, "train_acc": correct / n,
                  "lr": self.optimizer.param_groups[0]["lr"]}
        if self.val_set is not None:
            v = self.evaluate(self.val_set)
            record.update(val_loss=v["loss"], val_acc=v["acc"])
        if self.metrics_fn is not None:
            record.update(self.metrics_fn(self.model))
        record["time_s"] = self._epoch_time
        self.history.append(record)
        self.epoch += 1
        self.step_in_epoch = 0
        self._acc = _zero_acc(self.device)
        self._epoch_time = 0.0
        if "val_loss" in record:
            self._consider_best(record["val_loss"], record["step"])
        self.save()
        if self.env.is_main and self.out_dir:
            write_metrics(self.out_dir, self.history)
        return record

    def _format(self, r: dict) -> str:
        s = f"{self.name + ' ' if self.name else ''}epoch {r['epoch']}/{self.epochs}  train loss {r['train_loss']:.4f} " \
            f"acc {r['train_acc']:.3f}"
        if "val_acc" in r:
            s += f" | val loss {r['val_loss']:.4f} acc {r['val_acc']:.3f}"
        return s + f" | {r['time_s']:.1f} s"

    def evaluate(self, dataset: Dataset, transform=None) -> dict:
        """:func:`evaluate_model` with this trainer's readout, device, dtype and processes."""
        return evaluate_model(self.model, dataset, batch_size=self.eval_batch_size, readout_mode=self.readout,
                              readout_window=self.readout_window, device=self.device, dtype=self.dtype,
                              transform=transform, env=self.env)
