r"""Trainer features for long runs: gradient accumulation, bf16 autocast on CUDA, validation every ``N`` steps and
a kept best checkpoint. Mixed into :class:`spikeDE.train.trainer.Trainer`.

* **Accumulation** (``accumulate = k``): the local part of each global batch is split into ``k`` micro-batches
  (``torch.tensor_split``, sizes differing by at most one); each micro-batch's summed loss is weighted as in the
  one-shot step (``W / |global batch|``) and back-propagated, so the accumulated gradient is the gradient of the
  mean loss over the whole global batch, exactly as without accumulation (to floating-point rounding); under
  DistributedDataParallel the gradients are reduced once, on the last micro-batch (``no_sync`` before).
* **bf16** (CUDA only): the forward pass runs under ``torch.autocast("cuda", dtype=torch.bfloat16)``; the loss is
  computed in float32 from the logits and the parameters and optimiser stay in the run's dtype. On a CPU the
  option is ignored (a note is logged).
* **Evaluation every N steps**: ``eval_every = N`` validates after every ``N``-th optimiser step (besides the end
  of every epoch); each result ``{"epoch", "step", "val_loss", "val_acc"}`` is appended to ``step_evals`` (kept in
  the checkpoint, written to ``step_evals.csv``).
* **Keep best**: with ``keep_best`` every validation (step or epoch) whose loss is below the best so far writes
  ``best.pt`` next to ``checkpoint.pt`` (same format; ``spikede`` keeps using ``checkpoint.pt`` to resume).

The bookkeeping (``step_evals``, the best loss and its step) is part of the checkpoint, so an interrupted and
resumed run ends with the same ``best.pt`` and ``step_evals`` as an uninterrupted one.
"""
from __future__ import annotations

import contextlib
import math
import os
import sys

import torch

from .checkpoint import save_checkpoint
from .config import ConfigError
from .report import write_rows

__all__ = ["LongRunMixin"]


class LongRunMixin:
    """Accumulation, autocast, step evaluations and the best checkpoint (see the module docstring)."""

    def _init_long_runs(self, accumulate: int, bf16: bool, eval_every: int, keep_best: bool) -> None:
        if isinstance(accumulate, bool) or not isinstance(accumulate, int) or accumulate < 1:
            raise ConfigError(f"accumulate must be an int >= 1, got {accumulate!r}")
        if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 0:
            raise ConfigError(f"eval_every must be an int >= 0 (0 = at epoch ends only), got {eval_every!r}")
        self.accumulate = accumulate
        self.bf16 = bool(bf16) and self.device.type == "cuda"
        if bf16 and not self.bf16 and self.env.is_main:
            self._log(f"{self.name + ': ' if self.name else ''}bf16 autocast is for CUDA devices; running on "
                      f"{self.device} in {str(self.dtype).replace('torch.', '')}")
        self.eval_every, self.keep_best = eval_every, bool(keep_best)
        self.step_evals: list[dict] = []
        self.best_val = math.inf
        self.best_step = -1

    @property
    def best_path(self) -> str | None:
        return os.path.join(self.out_dir, "best.pt") if self.out_dir else None

    def _long_run_state(self) -> dict:
        return {"step_evals": list(self.step_evals), "best_val": self.best_val, "best_step": self.best_step}

    def _load_long_run_state(self, state) -> None:
        if not state:
            return
        self.step_evals = list(state.get("step_evals", []))
        self.best_val = float(state.get("best_val", math.inf))
        self.best_step = int(state.get("best_step", -1))

    def _micro_batches(self, idx: torch.Tensor) -> list:
        if self.accumulate == 1 or len(idx) <= 1:
            return [idx]
        return [p for p in torch.tensor_split(idx, min(self.accumulate, len(idx)))]

    def _sync_context(self, last: bool):
        if last or self.ddp is self.model:
            return contextlib.nullcontext()
        return self.ddp.no_sync()

    def _autocast(self):
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)

    def _step_eval(self, n_batches: int) -> None:
        """Validate after every ``eval_every``-th step (not on an epoch's last step: the epoch end does it)."""
        if not self.eval_every or self.val_set is None or self.global_step % self.eval_every:
            return
        if self.step_in_epoch >= n_batches:
            return
        v = self.evaluate(self.val_set)
        rec = {"epoch": self.epoch + 1, "step": self.global_step, "val_loss": v["loss"], "val_acc": v["acc"]}
        self.step_evals.append(rec)
        if self.env.is_main:
            bar_on_screen = self.progress and getattr(sys.stderr, "isatty", lambda: False)()
            self._log(f"{chr(10) if bar_on_screen else ''}{self.name + ' ' if self.name else ''}step "
                      f"{self.global_step} (epoch {self.epoch + 1}, batch {self.step_in_epoch}/{n_batches})  "
                      f"val loss {v['loss']:.4f} acc {v['acc']:.3f}")
            if self.out_dir:
                os.makedirs(self.out_dir, exist_ok=True)
                write_rows(self.step_evals, os.path.join(self.out_dir, "step_evals.json"),
                           os.path.join(self.out_dir, "step_evals.csv"), key="step_evals")
        self._consider_best(v["loss"], self.global_step)

    def _consider_best(self, loss: float, step: int) -> None:
        if not self.keep_best or not loss < self.best_val:
            return
        self.best_val, self.best_step = float(loss), int(step)
        state = self.state_dict()  # collective: every process takes part
        if self.env.is_main and self.best_path:
            save_checkpoint(state, self.best_path)
