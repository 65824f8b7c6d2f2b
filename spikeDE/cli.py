"""The ``spikede`` command: ``train``, ``evaluate`` and ``list``.

    spikede train [options]                 train every arm of a run, print the results table
    spikede train --config run.toml         the same from a TOML/YAML file (options on the line override it)
    spikede train --resume RUN              continue an interrupted run exactly where its checkpoints stopped
    spikede evaluate RUN [--attack noise]   re-evaluate the checkpoints, optionally under an input perturbation
    spikede generate RUN --prompt TEXT      text from a language-model run (--tokens N --temperature T)
    spikede list                            tasks, models, neurons and attacks available
    spikede export RUN --arm flif --format nir --out model.nir   write a trained arm as a NIR graph

Several processes: ``torchrun --nproc_per_node=N -m spikeDE.cli train ...`` (DistributedDataParallel; gloo on
CPU, nccl on GPU). A user mistake (unknown name, bad value, missing or corrupt checkpoint) prints one line
starting ``spikede: error:`` and exits with status 2; Ctrl-C exits with status 130 and keeps the last
checkpoints.
"""
from __future__ import annotations

import argparse
import sys

from .train.checkpoint import CheckpointError
from .train.config import ConfigError, TrainConfig, config_from_dict, load_config, max_threads, parse_value

__all__ = ["main", "build_parser"]

# command-line option -> configuration field (options not listed here are not configuration)
_CONFIG_OPTIONS = ("task", "model", "hidden", "neurons", "alpha", "learn_alpha", "method", "memory", "epochs",
                   "batch_size", "eval_batch_size", "lr", "optimizer", "weight_decay", "schedule", "grad_clip",
                   "readout", "readout_window", "seed", "device", "dtype", "out", "checkpoint_every", "threads",
                   "ssm_lr", "ssm_weight_decay", "eval_every", "keep_best", "accumulate", "bf16")
_RESUMABLE = ("epochs", "device", "eval_batch_size", "checkpoint_every", "threads")  # = train.run.RESUMABLE


def _key_value(text: str):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    if not k.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return k.strip().replace("-", "_"), parse_value(v.strip())


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"spikede: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="spikede", description="Train and evaluate fractional-order spiking networks.")
    sub = p.add_subparsers(dest="command", metavar="{train,evaluate,generate,list,export}", parser_class=_Parser)
    S = argparse.SUPPRESS

    t = sub.add_parser("train", help="train a model (all its arms) on a task", argument_default=S,
                       description="Train every arm of a run. Defaults < --config file < options given here.")
    t.add_argument("--config", metavar="FILE", help="TOML or YAML configuration (a run folder's config.toml)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its checkpoints")
    t.add_argument("--preset", metavar="NAME", help="a named configuration (spikede list presets); --config and the "
                                                    "options given here override it")
    g = t.add_argument_group("task")
    g.add_argument("--task", help="task name (spikede list)")
    g.add_argument("--task-arg", dest="task_arg", action="append", type=_key_value, metavar="KEY=VALUE",
                   help="a task option, e.g. --task-arg n_train=256 (repeatable)")
    g.add_argument("--delay", type=int, help="delay D of the delay task (same as --task-arg delay=D)")
    g = t.add_argument_group("model")
    g.add_argument("--model", help="model name (spikede list)")
    g.add_argument("--model-arg", dest="model_arg", action="append", type=_key_value, metavar="KEY=VALUE",
                   help="a model option (repeatable)")
    g.add_argument("--hidden", type=int, help="hidden width")
    g.add_argument("--neuron", dest="neurons", nargs="+", metavar="NAME",
                   help="neuron(s); one arm per neuron, trained side by side (e.g. --neuron flif lif)")
    g.add_argument("--alpha", type=float, help="initial fractional order, 0 < alpha <= 1")
    g.add_argument("--learn-alpha", action=argparse.BooleanOptionalAction, help="learn alpha (default: yes)")
    g.add_argument("--method", help="fractional solver of the neurons")
    g.add_argument("--memory", help="memory mode of the fractional neurons")
    g = t.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int, help="global batch size (split across processes)")
    g.add_argument("--eval-batch-size", type=int)
    g.add_argument("--lr", type=float, help="learning rate")
    g.add_argument("--optimizer", help="adam, adamw or sgd")
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--schedule", help="constant or cosine")
    g.add_argument("--grad-clip", type=float, help="max gradient norm (0 = off)")
    g.add_argument("--readout", help="mean, last or window (default: the task's)")
    g.add_argument("--readout-window", type=int)
    g = t.add_argument_group("run")
    g.add_argument("--seed", type=int)
    g.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    g.add_argument("--dtype", help="float32 (default) or float64")
    g.add_argument("--threads", type=int, help="PyTorch CPU threads per process (default 1, fastest for small models)")
    g.add_argument("--out", metavar="DIR", help="run folder (default runs/<task>-<model>-<time>)")
    g.add_argument("--checkpoint-every", type=int, metavar="STEPS",
                   help="also checkpoint every STEPS steps inside an epoch (default: at epoch ends)")
    g.add_argument("--overwrite", action="store_true", help="allow a non-empty --out folder")
    g = t.add_argument_group("long runs")
    g.add_argument("--ssm-lr", type=float, help="learning rate of the SSM parameters (own optimiser group)")
    g.add_argument("--ssm-weight-decay", type=float, help="weight decay of the SSM parameters (default 0)")
    g.add_argument("--eval-every", type=int, metavar="STEPS", help="also validate every STEPS steps")
    g.add_argument("--keep-best", action=argparse.BooleanOptionalAction,
                   help="keep best.pt, the checkpoint of the best validation loss")
    g.add_argument("--accumulate", type=int, metavar="K", help="split each batch into K micro-batches (same "
                                                               "gradient, less memory)")
    g.add_argument("--bf16", action=argparse.BooleanOptionalAction, help="bfloat16 autocast on CUDA")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    g.add_argument("--no-plots", action="store_true", help="no figures")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("evaluate", help="re-evaluate a run's checkpoints, optionally under an attack")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("--attack", help="noise, jitter, dropout or occlusion")
    e.add_argument("--levels", nargs="+", type=float, metavar="L", help="attack levels (default: a standard set)")
    e.add_argument("--split", default="test", help="test (default) or val")
    e.add_argument("--seed", type=int, default=None, help="seed of the attack (default: the run's)")
    e.add_argument("--device", default="auto")
    e.add_argument("--batch-size", type=int, default=None)
    e.add_argument("--threads", type=int, default=None, help="PyTorch CPU threads")
    e.add_argument("--no-plots", action="store_true")
    e.set_defaults(func=_cmd_evaluate)

    gen = sub.add_parser("generate", help="generate text from the language models of a run")
    gen.add_argument("run_dir", metavar="RUN_DIR")
    gen.add_argument("--prompt", required=True, help="text to continue")
    gen.add_argument("--tokens", type=int, default=200, help="tokens to generate (default 200)")
    gen.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (0: greedy; default 1)")
    gen.add_argument("--seed", type=int, default=0, help="seed of the sampling")
    gen.add_argument("--arm", dest="arms", nargs="+", metavar="NAME", help="arm(s) to use (default: all)")
    gen.add_argument("--device", default="cpu")
    gen.set_defaults(func=_cmd_generate)

    ls = sub.add_parser("list", help="list tasks, models, neurons, attacks and presets")
    ls.add_argument("what", nargs="?", default="all", choices=["all", "presets"],
                    help="'presets' lists only the named configurations (default: everything)")
    ls.set_defaults(func=_cmd_list)
    _add_export_parser(sub)
    return p


def _given_config(args) -> dict:
    given = {k: getattr(args, k) for k in _CONFIG_OPTIONS if hasattr(args, k)}
    if "neurons" in given:
        given["neurons"] = [n.strip() for v in given["neurons"] for n in v.split(",") if n.strip()]
    return given


def _extra_args(base: dict, pairs) -> dict:
    out = dict(base)
    for k, v in pairs or []:
        out[k] = v
    return out


def _cmd_train(args) -> int:
    from .train.run import load_run, train_run

    given = _given_config(args)
    structural = [o for o in ("task_arg", "model_arg", "delay") if hasattr(args, o)]
    if hasattr(args, "resume"):
        if hasattr(args, "config") or hasattr(args, "preset"):
            raise ConfigError("--resume continues a run with its recorded configuration; do not pass --config or "
                              "--preset")
        fixed = [k for k in given if k not in _RESUMABLE] + structural
        if fixed:
            names = ", ".join("--" + k.replace("_", "-").replace("neurons", "neuron") for k in fixed)
            raise ConfigError(f"{names} cannot be changed when resuming (the run folder's config.toml fixes "
                              f"them); only {', '.join('--' + k.replace('_', '-') for k in _RESUMABLE)} may be given")
        cfg = load_run(args.resume)
        cfg = cfg.replace(out=args.resume, **given)
        resume = True
    else:
        base = _preset_base(args)
        base = load_config(args.config, base) if hasattr(args, "config") else base
        given = _task_defaults(given, base)
        task_args = _extra_args(base.task_args if given.get("task", base.task) == base.task else {},
                                getattr(args, "task_arg", None))
        if hasattr(args, "delay"):
            task_args["delay"] = args.delay
        model_args = _extra_args(base.model_args if given.get("model", base.model) == base.model else {},
                                 getattr(args, "model_arg", None))
        cfg = config_from_dict({**given, "task_args": task_args, "model_args": model_args}, base)
        resume = False
    train_run(cfg, resume=resume, overwrite=hasattr(args, "overwrite"), progress=not hasattr(args, "no_progress"),
              make_plots=not hasattr(args, "no_plots"))
    return 0


def _preset_base(args) -> TrainConfig:
    """The preset named by ``--preset`` (the defaults without one)."""
    if not hasattr(args, "preset"):
        return TrainConfig()
    from .train.presets import load_preset

    return load_preset(args.preset)


def _task_defaults(given: dict, base: TrainConfig) -> dict:
    """``given`` with the task's run defaults (e.g. model ``ssm-seq`` for ``listops-gen``, a vision model and
    fewer epochs for event tasks) for every setting that neither the command line nor a preset or config file
    sets (left at the :class:`TrainConfig` default)."""
    from .train import TASKS

    task = given.get("task", base.task)
    if task not in TASKS:
        return given
    plain = TrainConfig()
    extra = {k: v for k, v in TASKS.get(task).defaults.items()
             if k not in given and getattr(base, k) == getattr(plain, k)}
    return {**given, **extra}


def _cmd_evaluate(args) -> int:
    from .train.run import evaluate_run

    if args.batch_size is not None and args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.threads is not None and not 1 <= args.threads <= max_threads():
        raise ConfigError(f"--threads must be between 1 and {max_threads()}, got {args.threads}")
    evaluate_run(args.run_dir, attack=args.attack, levels=args.levels, split=args.split, seed=args.seed,
                 device=args.device, batch_size=args.batch_size, make_plots=not args.no_plots, threads=args.threads)
    return 0


def _cmd_generate(args) -> int:
    from .train.generate import generate_run

    generate_run(args.run_dir, args.prompt, args.tokens, args.temperature, seed=args.seed, arms=args.arms,
                 device=args.device)
    return 0


def _cmd_list(args) -> int:
    from .analysis.attacks import ATTACKS, DEFAULT_LEVELS
    from .train import MODELS, NEURONS, TASKS

    what = getattr(args, "what", "all")
    if what == "presets":
        return _list_presets()

    print("tasks:")
    for t in TASKS:
        opts = ", ".join(f"{k}={v}" for k, v in t.options.items())
        dm = f"; default model {t.defaults['model']}" if "model" in t.defaults else ""
        print(f"  {t.name:18s} {t.description}\n  {'':18s} options: {opts or '-'}; "
              f"readouts: {', '.join(t.readouts)}{dm}")
    print("models:")
    for m in MODELS:
        extra = f"; neurons (default {', '.join(m.default_neurons) or '-'})" if m.neurons else ""
        opts = ", ".join(f"{k}={v}" for k, v in m.options.items())
        print(f"  {m.name:18s} {m.description}{extra}" + (f"; options: {opts}" if opts else ""))
    print("neurons:")
    if not NEURONS.names():
        print("  (none registered)")
    for n in NEURONS:
        print(f"  {n.name:18s} {n.description}{' (fractional)' if n.fractional else ''}")
    print("attacks:")
    for a in sorted(ATTACKS):
        print(f"  {a:18s} default levels {', '.join(f'{v:g}' for v in DEFAULT_LEVELS[a])}")
    return _list_presets()


def _list_presets() -> int:
    from .train.presets import list_presets, preset_description

    print("presets (spikede train --preset NAME; options given on the line override them):")
    for name in list_presets():
        print(f"  {name:28s} {preset_description(name)}")
    return 0


def _add_export_parser(sub) -> None:
    x = sub.add_parser("export", help="write the trained network of one arm of a run to a file (NIR)")
    x.add_argument("run_dir", metavar="RUN_DIR")
    x.add_argument("--arm", default=None, help="the arm to export (default: the run's only arm)")
    x.add_argument("--format", default="nir", help="nir (the Neuromorphic Intermediate Representation)")
    x.add_argument("--out", required=True, help="output file, e.g. model.nir")
    x.add_argument("--dt", type=float, default=1.0, help="duration of one step in NIR time units (default 1)")
    x.add_argument("--tol", type=float, default=None, help="SOE kernel tolerance of fractional neurons")
    x.set_defaults(func=_cmd_export)


def _cmd_export(args) -> int:
    from .train.export import export_run

    r = export_run(args.run_dir, args.out, arm=args.arm, fmt=args.format, dt=args.dt, tol=args.tol)
    print(f"{r['arm']}: {r['nodes']} NIR nodes written to {r['out']} (one step = {r['dt']:g} time units)")
    for name, info in r["neurons"].items():
        if "modes" in info:
            print(f"  {name}: alpha {info['alpha']}, {info['modes']} SOE modes, kernel error max rel "
                  f"{info['kernel_max_rel_error']:.1e}, l1 {info['kernel_l1_error']:.1e}")
    spikes = ", ".join(f"{a:.4f}" for a in r["spike_agreement"])
    print(f"  re-imported on {r['samples']} test samples: identical spikes per layer {spikes}; identical "
          f"predictions {r['prediction_agreement']:.4f}; max output difference {r['max_output_difference']:.2e}")
    return 0


def main(argv=None) -> int:
    """Run the ``spikede`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    from .train.run import RunInterrupted

    try:
        return args.func(args)
    except (ConfigError, CheckpointError) as e:
        print(f"spikede: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a folder or file the run cannot use (permissions, full disk, ...)
        where = f": {e.filename}" if e.filename else ""
        print(f"spikede: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except RunInterrupted as e:
        print(f"\nspikede: interrupted; the last checkpoints are kept in {e.out_dir}\n"
              f"continue with: spikede train --resume {e.out_dir}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\nspikede: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
