r"""Training and evaluation of language models (tasks with ``TaskInfo.objective == "lm"``).

Items are ``(x [T], y [T])`` with ``y_t`` the token after ``x_t``; the model maps time-first ids ``[T, B]`` to
next-token logits ``[T, B, V]``. The loss is the mean cross-entropy over every predicted token of the global
batch, ``H = -(1 / (B T)) sum_{b,t} log p(y_{b,t} | x_{b,<=t})`` (nats per token), with the same process
weighting, batch order, checkpoints and exact resume as :class:`~spikeDE.train.trainer.Trainer` (only the loss
differs). Reported: ``loss`` (``H``), ``acc`` (next-token accuracy), ``bpc = H / ln 2`` (bits per character,
or per byte) and ``ppl = exp(H)`` (perplexity, the word-level figure).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from ..analysis.energy import E_AC_PJ, E_MAC_PJ
from .distributed import DistEnv, all_reduce_sum
from .trainer import Trainer, fetch_batch

__all__ = ["LMTrainer", "lm_batch", "lm_evaluate", "lm_evaluate_run", "lm_final_metrics", "LM_COLUMNS"]

LM_COLUMNS = [("arm", "arm"), ("test_bpc", "test bpc"), ("test_ppl", "test ppl"), ("test_acc", "next-token acc"),
              ("spike_rate", "spike rate"), ("energy_nj_token", "energy nJ/token"), ("alpha", "alpha"),
              ("epochs", "epochs"), ("train_time_s", "train s")]


def lm_batch(dataset: Dataset, idx: torch.Tensor, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows ``idx`` as time-first ids ``x [T, B]`` (in ``dtype``, as every trainer batch) and targets
    ``y [T, B]`` (int64)."""
    x, y = fetch_batch(dataset, idx, device, dtype)
    if y.dim() != 2:
        raise ValueError(f"a language-model dataset must give target windows [T] per item, got targets of shape "
                         f"{tuple(y.shape)} for a batch")
    return x, y.t()


def _token_loss(logits: torch.Tensor, y: torch.Tensor):
    if logits.dim() != 3 or logits.shape[:2] != y.shape:
        raise ValueError(f"a language model must return logits [T, B, V] for ids [T, B] = {tuple(y.shape)}, got "
                         f"{tuple(logits.shape)}")
    flat = logits.reshape(-1, logits.shape[-1])
    loss_sum = F.cross_entropy(flat.float() if flat.dtype == torch.bfloat16 else flat, y.reshape(-1),
                               reduction="sum")
    correct = (flat.detach().argmax(-1) == y.reshape(-1)).sum()
    return loss_sum, correct


def _summary(loss_sum: float, correct: float, n: float) -> dict:
    h = loss_sum / n if n else float("nan")
    return {"loss": h, "acc": correct / n if n else float("nan"), "n": int(n), "bpc": h / math.log(2.0),
            "ppl": math.exp(h) if h < 700 else float("inf")}


@torch.no_grad()
def lm_evaluate(model: nn.Module, dataset: Dataset, *, batch_size: int = 64, device="cpu", dtype=torch.float32,
                env: DistEnv = DistEnv()) -> dict:
    """Mean next-token cross-entropy (``loss``, nats), accuracy, ``bpc`` and ``ppl`` over every token of
    ``dataset`` (processes share the windows and reduce the sums)."""
    was = model.training
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    try:
        order = torch.arange(len(dataset))[env.rank::env.world_size]
        for idx in torch.split(order, batch_size):
            x, y = lm_batch(dataset, idx, device, dtype)
            loss_sum, correct = _token_loss(model(x), y)
            sums += torch.stack([loss_sum.double(), correct.double(), torch.tensor(float(y.numel()), device=device,
                                                                                  dtype=torch.float64)])
    finally:
        model.train(was)
    s = all_reduce_sum(sums, env)
    return _summary(float(s[0]), float(s[1]), float(s[2]))


class LMTrainer(Trainer):
    """:class:`Trainer` with the next-token loss (``readout`` is not used). Same arguments."""

    def _train_step(self, idx: torch.Tensor, global_size: int) -> None:
        self.ddp.train()
        self.optimizer.zero_grad(set_to_none=True)
        parts = self._micro_batches(idx)
        for k, part in enumerate(parts):
            x, y = lm_batch(self.train_set, part if len(part) else self._spare_index(), self.device, self.dtype)
            weight = self.env.world_size / (global_size * y.shape[0]) if len(part) else 0.0
            with self._sync_context(k == len(parts) - 1), self._autocast():
                logits = self.ddp(x)
            loss_sum, correct = _token_loss(logits, y)
            with self._sync_context(k == len(parts) - 1):
                (loss_sum * weight).backward()
            if len(part):
                self._acc["loss"] = self._acc["loss"] + loss_sum.detach().to(torch.float64)
                self._acc["correct"] = self._acc["correct"] + correct
                self._acc["n"] = self._acc["n"] + y.numel()
        if self.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.scheduler.step()

    def evaluate(self, dataset: Dataset, transform=None) -> dict:
        if transform is not None:
            raise ValueError("LMTrainer.evaluate: input transforms (attacks) are not defined for token ids")
        return lm_evaluate(self.model, dataset, batch_size=self.eval_batch_size, device=self.device,
                           dtype=self.dtype, env=self.env)

    def _format(self, r: dict) -> str:
        name = f"{self.name} " if self.name else ""
        s = f"{name}epoch {r['epoch']}/{self.epochs}  train loss {r['train_loss']:.4f} " \
            f"({r['train_loss'] / math.log(2.0):.3f} bits/token)"
        if "val_loss" in r:
            s += f" | val loss {r['val_loss']:.4f} ({r['val_loss'] / math.log(2.0):.3f} bits/token, " \
                 f"ppl {math.exp(min(r['val_loss'], 700)):.2f})"
        return s + f" | {r['time_s']:.1f} s"


def lm_final_metrics(trainer: Trainer, data, arm: str, analyse, alpha_cell) -> dict:
    """The summary row of a language-model arm: test ``loss``/``bpc``/``ppl``/accuracy, spike rate and the
    energy per token (``analyse(model, data, dataset, mode, window, device, dtype, batch_size)`` counts per
    window; divided by the window length). The energy counts the ``Linear`` layers (accumulates on spikes,
    multiply-accumulates otherwise, :mod:`spikeDE.analysis.energy`); embedding look-ups cost no arithmetic and
    the SSM convolutions, the same in every SSM arm, are not counted."""
    test = lm_evaluate(trainer.model, data.test, batch_size=trainer.eval_batch_size, device=trainer.device,
                       dtype=trainer.dtype)
    a = analyse(trainer.model, data, data.test, "last", None, trainer.device, trainer.dtype,
                trainer.eval_batch_size, max_samples=64)
    T = data.info.steps
    alpha, orders = alpha_cell(trainer.model)
    return {"arm": arm, "test_loss": test["loss"], "test_bpc": test["bpc"], "test_ppl": test["ppl"],
            "test_acc": test["acc"], "spike_rate": a["spike_rate"],
            "synops_token": (a["acs"] + a["macs"]) / T,
            "energy_nj_token": (E_AC_PJ * a["acs"] + E_MAC_PJ * a["macs"]) / T / 1000.0,
            "acs_token": a["acs"] / T, "macs_token": a["macs"] / T, "alpha": alpha, "alphas": orders,
            "epochs": trainer.epoch, "train_time_s": sum(h.get("time_s", 0.0) for h in trainer.history),
            "uncounted_layers": a["uncounted_layers"], "layer_rates": a["layer_rates"]}


def lm_evaluate_run(models: dict, data, dataset, split: str, device, dtype, batch_size, attack, print_table) -> dict:
    """``spikede evaluate`` of a language-model run: bits per token, perplexity and accuracy of every arm on
    ``split`` (input attacks are not defined for token ids)."""
    from .config import ConfigError
    from .report import format_table

    if attack is not None:
        raise ConfigError(f"--attack perturbs real-valued inputs; task {data.info.name!r} feeds token ids")
    rows = []
    for arm, model in models.items():
        r = lm_evaluate(model, dataset, batch_size=batch_size, device=device, dtype=dtype)
        rows.append({"arm": arm, f"{split}_loss": r["loss"], f"{split}_bpc": r["bpc"], f"{split}_ppl": r["ppl"],
                     f"{split}_acc": r["acc"]})
    cols = [("arm", "arm"), (f"{split}_bpc", f"{split} bpc"), (f"{split}_ppl", f"{split} ppl"),
            (f"{split}_acc", "next-token acc"), (f"{split}_loss", f"{split} loss")]
    print_table(f"\n{data.info.name}: {split} set ({len(dataset)} windows of {data.info.steps} tokens)\n"
                + format_table(rows, cols))
    return {"rows": rows}
