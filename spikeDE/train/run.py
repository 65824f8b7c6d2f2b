"""A run of the ``spikede`` command: one task, one model, one or more arms (neurons) trained side by side.

Run folder::

    RUN/config.toml              the full configuration (``spikede train --config RUN/config.toml`` repeats it)
    RUN/summary.json, .csv       one row per arm: accuracy, spike rate, synaptic operations, energy, alphas, time
    RUN/<arm>/checkpoint.pt      the arm's last checkpoint (atomic), used by --resume and ``spikede evaluate``
    RUN/<arm>/metrics.json, .csv per-epoch history and final test metrics
    RUN/plots/*.png              training curves, an input raster; with spiking arms also membrane traces of one
                                 neuron per arm on the same current and the free relaxation (exp vs Mittag-Leffler)
    RUN/robustness_<attack>.*    written by ``spikede evaluate RUN --attack <attack>``

Every arm starts from the same seed, so arms see the same batches in the same order.
"""
from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..analysis.attacks import ATTACKS, DEFAULT_LEVELS, apply_attack
from ..analysis.energy import SynapticOpCounter
from ..analysis.monitors import SpikeMonitor
from ..analysis.orders import mean_orders, multiterm_weights
from . import models as _builtin_models  # noqa: F401  (registers the built-in models)
from . import neurons as _builtin_neurons  # noqa: F401  (registers the built-in neurons)
from . import tasks as _builtin_tasks  # noqa: F401  (registers the built-in tasks)
from .checkpoint import CheckpointError, check_training_state, clean_stale_temp_files, load_checkpoint
from .config import ConfigError, TrainConfig, config_from_dict, load_config, save_config
from .distributed import DistEnv, all_gather_objects, barrier, init_distributed, resolve_device, shutdown_distributed
from .registry import ModelSpec, TaskData, TaskSpec, arm_names, get_model, get_task, resolve_options
from .report import format_table, write_rows
from .seeding import seed_everything
from .trainer import Trainer, evaluate_model, fetch_batch, write_metrics
from .lm import LM_COLUMNS, LMTrainer, lm_evaluate_run, lm_final_metrics
from .param_groups import ssm_rules

__all__ = ["RunInterrupted", "RunPlan", "plan_run", "train_run", "evaluate_run", "build_arm_model", "load_arm_model",
           "SUMMARY_COLUMNS",
           "RESUMABLE", "check_run_config"]

#: configuration fields that ``spikede train --resume`` may change (everything else is fixed by config.toml)
RESUMABLE = ("epochs", "device", "eval_batch_size", "checkpoint_every", "threads")

_DTYPES = {"float32": torch.float32, "float64": torch.float64}

SUMMARY_COLUMNS = [("arm", "arm"), ("test_acc", "test acc"), ("spike_rate", "spike rate"),
                   ("synops", "SynOps/sample"), ("energy_nj", "energy nJ/sample"), ("alpha", "alpha"),
                   ("epochs", "epochs"), ("train_time_s", "train s")]


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; ``out_dir`` holds the last complete checkpoints."""

    def __init__(self, out_dir: str):
        super().__init__(out_dir)
        self.out_dir = out_dir


@dataclass
class RunPlan:
    cfg: TrainConfig
    task: TaskSpec
    task_opts: dict
    model: ModelSpec
    model_opts: dict
    arms: list[str]
    readout: str
    readout_window: int | None


def plan_run(cfg: TrainConfig) -> RunPlan:
    """Check names and options against the registries before anything runs (fast, clear errors)."""
    task = get_task(cfg.task)
    task_opts = resolve_options(task.options, cfg.task_args, f"task {task.name!r}")
    model = get_model(cfg.model)
    model_opts = resolve_options(model.options, cfg.model_args, f"model {model.name!r}")
    arms = arm_names(model, cfg.neurons)
    if cfg.readout is not None and cfg.readout not in task.readouts:
        raise ConfigError(f"task {task.name!r} is scored with readout {' or '.join(task.readouts)}; "
                          f"got {cfg.readout!r}")
    return RunPlan(cfg, task, task_opts, model, model_opts, arms, cfg.readout, cfg.readout_window)


def _readout(plan: RunPlan, data: TaskData) -> tuple[str, int | None]:
    mode = plan.readout or data.info.readout
    window = plan.readout_window if plan.readout_window is not None else data.info.readout_window
    if mode == "window" and window is None:
        raise ConfigError("readout 'window' needs --readout-window")
    if mode == "window" and window > data.info.steps:
        raise ConfigError(f"readout_window {window} exceeds the task's {data.info.steps} steps")
    return mode, window


def build_task(plan: RunPlan) -> TaskData:
    return plan.task.build(plan.task_opts, _DTYPES[plan.cfg.dtype])


def build_arm_model(plan: RunPlan, data: TaskData, arm: str) -> nn.Module:
    """The network of one arm, initialised from the run's seed."""
    seed_everything(plan.cfg.seed)
    neuron = arm if plan.model.neurons else None
    model = plan.model.build(data.info, plan.cfg, neuron, plan.model_opts)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model builder {plan.model.name!r} returned {type(model).__name__}, not an nn.Module")
    return model


def _dry_run(plan: RunPlan, data: TaskData) -> None:
    """Build every arm's model and run it on one training sample (CPU, no gradient, global RNG untouched), so that
    a bad model option, neuron method or memory is reported before the run folder is created."""
    dtype = _DTYPES[plan.cfg.dtype]
    for arm in plan.arms:
        what = f"model {plan.model.name!r}" + (f" with neuron {arm!r}" if plan.model.neurons else "")
        try:
            with torch.random.fork_rng(devices=[]):
                model = build_arm_model(plan, data, arm).to(dtype=dtype)
                if len(data.train):
                    x, _ = fetch_batch(data.train, torch.arange(1), "cpu", dtype)
                    model.eval()
                    with torch.no_grad():
                        model(x)
        except ConfigError as e:
            raise ConfigError(f"{what}: {e}") from e
        except (ValueError, TypeError, RuntimeError, IndexError, KeyError, NotImplementedError) as e:
            detail = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ConfigError(f"{what} cannot run with this configuration: {detail}") from e


def check_run_config(state: dict, cfg: TrainConfig, path: str) -> None:
    """Refuse a checkpoint whose stored configuration differs from ``cfg`` (the run folder's config.toml) in any
    field except :data:`RESUMABLE` and ``out``; the error names every differing key."""
    stored = state.get("extra", {}).get("config") if isinstance(state.get("extra"), dict) else None
    if not isinstance(stored, dict):
        raise CheckpointError(f"checkpoint {path} is corrupt (it holds no run configuration to compare with "
                              f"config.toml)")
    try:
        stored = config_from_dict(stored).to_dict()
    except ConfigError as e:
        raise CheckpointError(f"checkpoint {path} is corrupt (its stored configuration is invalid: {e})") from e
    now = cfg.to_dict()
    diff = [k for k in now if k not in RESUMABLE and k != "out" and stored.get(k) != now.get(k)]
    if diff:
        what = "; ".join(f"{k} = {stored.get(k)!r} there, {now.get(k)!r} in config.toml" for k in diff)
        raise CheckpointError(f"checkpoint {path} was made by another configuration than "
                              f"{os.path.join(cfg.out or '.', 'config.toml')} ({what}); a resume continues the same "
                              f"run only: start a new one with another --out, or --overwrite")


_RUN_FILES = re.compile(r"^(config\.toml|summary\.(json|csv)|robustness_.+\.(json|csv)|.+\.tmp-\d+)$")
_ARM_FILES = re.compile(r"^(checkpoint\.pt|metrics\.(json|csv)|.+\.tmp-\d+)$")


def _clear_run(out: str) -> None:
    """Remove what an earlier run wrote in ``out`` (config, summary, plots, robustness tables, the arm folders'
    checkpoints and metrics); files spikeDE did not write are kept."""
    for name in os.listdir(out):
        p = os.path.join(out, name)
        if os.path.isdir(p) and not os.path.islink(p):
            if name == "plots":
                shutil.rmtree(p)
                continue
            inner = os.listdir(p)
            if any(_ARM_FILES.match(n) for n in inner):
                for n in inner:
                    if _ARM_FILES.match(n):
                        os.remove(os.path.join(p, n))
                if not os.listdir(p):
                    os.rmdir(p)
        elif _RUN_FILES.match(name):
            os.remove(p)


def _writable(folder: str, why: str) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"run folder {folder} is not writable ({why})")


def _prepare_out(out: str, cfg: TrainConfig, plan: RunPlan, resume: bool, overwrite: bool) -> None:
    """Check, clear (``overwrite``) and create the run folder, then write config.toml (rank 0)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"--out {out!r} is not a folder (a file of that name exists)")
    if resume:
        _writable(out, "a resume writes checkpoints there")
        for arm in plan.arms:
            d = _arm_dir(out, arm)
            if os.path.isdir(d):
                _writable(d, "a resume writes checkpoints there")
                path = os.path.join(d, "checkpoint.pt")
                if os.path.exists(path):
                    check_run_config(load_checkpoint(path), cfg, path)
    elif os.path.isdir(out) and os.listdir(out):
        if not overwrite:
            raise ConfigError(f"output folder {out!r} already holds files; continue it with "
                              f"'spikede train --resume {out}', or choose another --out (or --overwrite)")
        _writable(out, "--overwrite replaces the run in it")
        _clear_run(out)
    parent = os.path.dirname(os.path.abspath(out))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(out):
        if not os.path.isdir(parent):
            raise ConfigError(f"--out {out!r}: cannot create the run folder ({parent} is not a folder)")
        _writable(parent, f"--out {out!r} would be created in it")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--out {out!r}: cannot create the run folder ({e.strerror})") from e
    _writable(out, "the run writes its configuration, checkpoints and results there")
    for folder in [out] + [_arm_dir(out, arm) for arm in plan.arms]:
        clean_stale_temp_files(folder)
    save_config(cfg, os.path.join(out, "config.toml"))


def _default_out(cfg: TrainConfig) -> str:
    return os.path.join("runs", f"{cfg.task}-{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}")


def _arm_dir(out: str, arm: str) -> str:
    return os.path.join(out, arm)


def load_arm_model(run_dir: str, plan: RunPlan, data, arm: str) -> tuple[nn.Module, dict]:
    """The model of ``arm`` with the weights of its checkpoint (checksum and fields verified), and the
    checkpoint's state; a checkpoint that does not fit the run's model is a :class:`CheckpointError`."""
    path = os.path.join(_arm_dir(run_dir, arm), "checkpoint.pt")
    state = load_checkpoint(path, map_location="cpu")
    check_training_state(state, path)
    model = build_arm_model(plan, data, arm)
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(f"checkpoint {path!r} does not fit the model of this run: "
                              f"{str(e).splitlines()[0]}") from e
    return model, state


def _analyse(model: nn.Module, data: TaskData, dataset, mode, window, device, dtype, batch_size,
             max_samples: int = 512) -> dict:
    """Spike rate, synaptic operations and energy per sample on (up to ``max_samples`` of) ``dataset``."""
    n = min(len(dataset), max_samples)
    try:
        monitor = SpikeMonitor(model)
    except ValueError:
        monitor = None
    counter = SynapticOpCounter(model)
    model.eval()
    with torch.no_grad():
        for idx in torch.split(torch.arange(n), batch_size):
            x, _ = fetch_batch(dataset, idx, device, dtype)
            model(x)
    counter.remove()
    ops = counter.result(n_samples=n)
    rate = None
    if monitor is not None:
        monitor.remove()
        rate = monitor.total_rate()
    per = ops.per_sample()
    complete = not ops.uncounted
    return {"spike_rate": rate, "synops": per["synops"] if complete else None,
            "energy_nj": per["energy_pj"] / 1000.0 if complete else None,
            "acs": per["acs"], "macs": per["macs"], "uncounted_layers": ops.uncounted,
            "layer_rates": monitor.rates() if monitor is not None else {}}


def _order_metrics(model: nn.Module) -> dict:
    """The per-epoch record of the orders: ``alpha/<layer>`` and, for multi-term layers, ``coef/<layer>/<i>``."""
    out = {f"alpha/{k}": v for k, v in mean_orders(model).items()}
    for layer, weights in multiterm_weights(model).items():
        out.update({f"coef/{layer}/{i}": float(c) for i, c in enumerate(weights)})
    return out


def _alpha_cell(model: nn.Module) -> tuple[str | None, dict]:
    orders = mean_orders(model)
    if not orders:
        return None, {}
    return "/".join(f"{v:.3f}" for v in orders.values()), orders


def _plots(out: str, histories: dict, data: TaskData, log, models: dict | None = None) -> None:
    try:
        from ..analysis import plots
        plots.require_matplotlib()
    except ImportError as e:
        log(f"plots skipped: {e}")
        return
    folder = os.path.join(out, "plots")
    plots.plot_training_curves(histories, os.path.join(folder, "training_curves.png"),
                               title=f"{data.info.name}: training")
    x, y = data.test[0]
    spikes = x.reshape(x.shape[0], -1)
    if data.info.input_kind == "spike":
        plots.plot_raster({"input": spikes}, os.path.join(folder, "input_raster.png"),
                          title=f"{data.info.name}: one test input (label {int(y)})")
    if models:
        from .figures import neuron_figures
        neuron_figures(folder, models, x.unsqueeze(1))


def train_run(cfg: TrainConfig, *, resume: bool = False, overwrite: bool = False, progress: bool = True,
              make_plots: bool = True, log: Callable[[str], None] | None = None,
              print_table: Callable[[str], None] | None = None) -> dict:
    """Train every arm of ``cfg`` (continuing from the checkpoints in ``cfg.out`` with ``resume``); returns
    ``{"out": folder, "rows": [...]}``. Under ``torchrun`` every process calls this; rank 0 writes."""
    plan = plan_run(cfg)
    device = resolve_device(cfg.device)
    with _threads(cfg.threads):
        return _train_run(plan, cfg, device, resume, overwrite, progress, make_plots, log, print_table)


@contextlib.contextmanager
def _threads(n: int | None):
    """Run with ``n`` PyTorch CPU threads (``None``: unchanged), restoring the previous count afterwards."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n:
            torch.set_num_threads(before)


def _train_run(plan, cfg, device, resume, overwrite, progress, make_plots, log, print_table) -> dict:
    env = init_distributed(device)
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    print_table = print_table or print
    quiet = (lambda s: None) if not env.is_main else log
    try:
        data = build_task(plan)
        mode, window = _readout(plan, data)
        _dry_run(plan, data)  # the whole configuration is checked before anything is written
        out = cfg.out or _default_out(cfg)
        out = all_gather_objects(out, env)[0]
        cfg = cfg.replace(out=out)
        problem = None
        if env.is_main:
            try:
                _prepare_out(out, cfg, plan, resume, overwrite)
            except (ConfigError, CheckpointError) as e:
                problem = (type(e).__name__, str(e))
        problem = all_gather_objects(problem, env)[0]
        if problem:
            raise (CheckpointError if problem[0] == "CheckpointError" else ConfigError)(problem[1])
        dtype = _DTYPES[cfg.dtype]
        quiet(f"run folder: {out}  |  task {data.info.name} (T={data.info.steps}, {data.info.n_classes} classes, "
              f"{len(data.train)} train)  |  model {plan.model.name}  |  arms: {', '.join(plan.arms)}  |  "
              f"device {device}{f' x {env.world_size} processes' if env.active else ''}")
        rows, histories, models = [], {}, {}
        for arm in plan.arms:
            model = build_arm_model(plan, data, arm)
            trainer_cls = _trainer_class(data)
            trainer = trainer_cls(model, data.train, data.val, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                              optimizer=cfg.optimizer, weight_decay=cfg.weight_decay, schedule=cfg.schedule,
                              grad_clip=cfg.grad_clip, readout=mode, readout_window=window, seed=cfg.seed,
                              device=device, dtype=dtype, eval_batch_size=cfg.eval_batch_size,
                              out_dir=_arm_dir(out, arm), checkpoint_every=cfg.checkpoint_every, env=env,
                              metrics_fn=_order_metrics,
                              extra_state={"config": cfg.to_dict(), "arm": arm}, progress=progress,
                              log=quiet, name=arm, **_long_run_options(cfg))
            if resume and os.path.exists(trainer.checkpoint_path):
                state = load_checkpoint(trainer.checkpoint_path, map_location="cpu")
                check_run_config(state, cfg, trainer.checkpoint_path)
                trainer.load_state_dict(state, trainer.checkpoint_path)
                quiet(f"{arm}: resumed at epoch {trainer.epoch} step {trainer.step_in_epoch} "
                      f"(global step {trainer.global_step})")
            try:
                trainer.fit()
            except KeyboardInterrupt as e:
                raise RunInterrupted(out) from e
            histories[arm] = trainer.history
            models[arm] = trainer.model
            if env.is_main:
                row = (lm_final_metrics(trainer, data, arm, _analyse, _alpha_cell) if data.info.objective == "lm"
                       else _final_metrics(trainer, data, mode, window, arm))
                rows.append(row)
                write_metrics(trainer.out_dir, trainer.history, {"final": row})
        if env.is_main:
            write_rows(rows, os.path.join(out, "summary.json"), os.path.join(out, "summary.csv"),
                       {"task": data.info.name, "model": plan.model.name, "chance": data.info.chance})
            if make_plots:
                _plots(out, histories, data, log, models)
            print_table(f"\n{data.info.name} / {plan.model.name}  (chance {data.info.chance:.3f}; run folder {out})\n"
                        + format_table(rows, LM_COLUMNS if data.info.objective == "lm" else SUMMARY_COLUMNS))
        barrier(env)
        return {"out": out, "rows": rows}
    finally:
        shutdown_distributed(env)


def _long_run_options(cfg: TrainConfig) -> dict:
    """The trainer keywords of the long-run configuration keys (parameter groups, accumulation, bf16, step
    evaluations, best checkpoint)."""
    return {"param_groups": ssm_rules(cfg.ssm_lr, cfg.ssm_weight_decay), "accumulate": cfg.accumulate,
            "bf16": cfg.bf16, "eval_every": cfg.eval_every, "keep_best": cfg.keep_best}


def _trainer_class(data: TaskData):
    """:class:`Trainer` for classification tasks, :class:`~spikeDE.train.lm.LMTrainer` for language models."""
    return LMTrainer if data.info.objective == "lm" else Trainer


def _final_metrics(trainer: Trainer, data: TaskData, mode, window, arm) -> dict:
    single = DistEnv()
    test = evaluate_model(trainer.model, data.test, batch_size=trainer.eval_batch_size, readout_mode=mode,
                          readout_window=window, device=trainer.device, dtype=trainer.dtype, env=single)
    analysis = _analyse(trainer.model, data, data.test, mode, window, trainer.device, trainer.dtype,
                        trainer.eval_batch_size)
    alpha, orders = _alpha_cell(trainer.model)
    return {"arm": arm, "test_acc": test["acc"], "test_loss": test["loss"], "spike_rate": analysis["spike_rate"],
            "synops": analysis["synops"], "energy_nj": analysis["energy_nj"], "acs": analysis["acs"],
            "macs": analysis["macs"], "alpha": alpha, "alphas": orders, "epochs": trainer.epoch,
            "train_time_s": sum(h.get("time_s", 0.0) for h in trainer.history),
            "uncounted_layers": analysis["uncounted_layers"], "layer_rates": analysis["layer_rates"]}


def load_run(run_dir: str) -> TrainConfig:
    """The configuration recorded in a run folder."""
    if not os.path.isdir(run_dir):
        raise ConfigError(f"run folder {run_dir!r} does not exist")
    path = os.path.join(run_dir, "config.toml")
    if not os.path.isfile(path):
        raise ConfigError(f"{run_dir!r} is not a spikeDE run folder (no config.toml)")
    return load_config(path)


def evaluate_run(run_dir: str, *, attack: str | None = None, levels=None, split: str = "test",
                 seed: int | None = None, device: str = "auto", batch_size: int | None = None,
                 make_plots: bool = True, threads: int | None = None, log: Callable[[str], None] | None = None,
                 print_table: Callable[[str], None] | None = None) -> dict:
    """Re-evaluate the checkpoints of a run folder (one process), optionally under ``attack`` at ``levels``.

    Every arm sees the same perturbed inputs: the attack's generator is seeded with ``(seed, level)``.
    """
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    print_table = print_table or print
    cfg = load_run(run_dir)
    cfg = cfg.replace(out=run_dir)
    if split not in ("val", "test"):
        raise ConfigError(f"split must be 'val' or 'test', got {split!r}")
    if attack is not None and attack not in ATTACKS:
        raise ConfigError(f"unknown attack {attack!r}; choose one of {', '.join(sorted(ATTACKS))}")
    if attack is not None:
        levels = list(DEFAULT_LEVELS[attack]) if not levels else [float(v) for v in levels]
        for v in levels:
            if not (math.isfinite(v) and v >= 0) or (attack != "jitter" and attack != "noise" and v > 1):
                allowed = "a number >= 0" if attack in ("jitter", "noise") else "a probability in [0, 1]"
                raise ConfigError(f"attack {attack!r}: every level must be {allowed}, got {v}")
    elif levels:
        raise ConfigError("--levels needs --attack")
    seed = cfg.seed if seed is None else seed
    if attack is not None:
        _writable(run_dir, f"evaluate --attack writes robustness_{attack}.json there")
    with _threads(threads or cfg.threads):
        return _evaluate_run(cfg, run_dir, attack, levels, split, seed, device, batch_size, make_plots, log,
                             print_table)


def _evaluate_run(cfg, run_dir, attack, levels, split, seed, device, batch_size, make_plots, log, print_table):
    plan = plan_run(cfg)
    dev = resolve_device(device)
    dtype = _DTYPES[cfg.dtype]
    data = build_task(plan)
    mode, window = _readout(plan, data)
    dataset = data.test if split == "test" else data.val
    bs = batch_size or cfg.eval_batch_size
    models = {}
    for arm in plan.arms:
        model, state = load_arm_model(run_dir, plan, data, arm)
        if int(state.get("epoch", 0)) < cfg.epochs:
            log(f"{arm}: the run stopped at epoch {state.get('epoch')} of {cfg.epochs} "
                f"(step {state.get('step_in_epoch')} of the next); evaluating that checkpoint")
        models[arm] = model.to(device=dev, dtype=dtype)
    if data.info.objective == "lm":
        return lm_evaluate_run(models, data, dataset, split, dev, dtype, bs, attack, print_table)
    if attack is None:
        rows = []
        for arm, model in models.items():
            r = evaluate_model(model, dataset, batch_size=bs, readout_mode=mode, readout_window=window, device=dev,
                               dtype=dtype)
            a = _analyse(model, data, dataset, mode, window, dev, dtype, bs)
            alpha, orders = _alpha_cell(model)
            rows.append({"arm": arm, f"{split}_acc": r["acc"], f"{split}_loss": r["loss"],
                         "spike_rate": a["spike_rate"], "synops": a["synops"], "energy_nj": a["energy_nj"],
                         "alpha": alpha, "alphas": orders})
        cols = [("arm", "arm"), (f"{split}_acc", f"{split} acc"), (f"{split}_loss", f"{split} loss"),
                ("spike_rate", "spike rate"), ("synops", "SynOps/sample"), ("energy_nj", "energy nJ/sample"),
                ("alpha", "alpha")]
        print_table(f"\n{data.info.name} / {plan.model.name}: {split} set ({len(dataset)} samples)\n"
                    + format_table(rows, cols))
        return {"rows": rows}
    rows = []
    curves = {arm: [] for arm in models}
    for level in levels:
        row = {"level": level}
        for arm, model in models.items():
            g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(round(level * 1000)))
            r = evaluate_model(model, dataset, batch_size=bs, readout_mode=mode, readout_window=window, device=dev,
                               dtype=dtype, transform=lambda x: apply_attack(attack, x, level, generator=g))
            row[arm] = r["acc"]
            curves[arm].append(r["acc"])
        rows.append(row)
    base = os.path.join(run_dir, f"robustness_{attack}")
    write_rows(rows, base + ".json", base + ".csv", {"attack": attack, "split": split, "seed": seed,
                                                    "chance": data.info.chance})
    cols = [("level", f"{attack} level")] + [(arm, f"{arm} acc") for arm in models]
    print_table(f"\n{data.info.name} / {plan.model.name}: {split} accuracy under {attack}\n" + format_table(rows, cols))
    if make_plots:
        try:
            from ..analysis import plots
            plots.plot_robustness(levels, curves, os.path.join(run_dir, "plots", f"robustness_{attack}.png"),
                                  attack=attack, chance=data.info.chance,
                                  title=f"{data.info.name}: robustness to {attack}")
        except ImportError as e:
            log(f"plot skipped: {e}")
    return {"rows": rows, "curves": curves}
