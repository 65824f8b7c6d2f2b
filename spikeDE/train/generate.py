"""``spikede generate RUN``: text from the language models of a run folder, one continuation per arm.

The run's task is rebuilt (for its vocabulary), every arm's checkpoint is loaded and the prompt is encoded,
streamed through the model token by token (:func:`spikeDE.models.ssm_lm.stream_generate`) and continued by
``tokens`` tokens drawn at ``temperature`` (0: greedy) from a generator seeded with ``seed``.
"""
from __future__ import annotations

import sys
from typing import Callable

import torch

from .config import ConfigError
from .distributed import resolve_device

__all__ = ["generate_run"]


def generate_run(run_dir: str, prompt: str, tokens: int = 200, temperature: float = 1.0, *, seed: int = 0,
                 arms=None, device: str = "cpu", print_text: Callable[[str], None] | None = None) -> dict:
    """``{arm: generated text}`` (the continuation, without the prompt) for the arms of ``run_dir``."""
    from .run import _DTYPES, build_task, load_arm_model, load_run, plan_run

    print_text = print_text or print
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise ConfigError(f"--tokens must be an integer >= 0, got {tokens!r}")
    if not temperature >= 0:
        raise ConfigError(f"--temperature must be a number >= 0, got {temperature!r}")
    if not prompt:
        raise ConfigError("--prompt must not be empty (the model needs at least one token to start from)")
    cfg = load_run(run_dir)
    plan = plan_run(cfg)
    data = build_task(plan)
    if data.info.objective != "lm" or data.codec is None:
        raise ConfigError(f"run {run_dir!r} trained task {data.info.name!r}, not a language model; spikede generate "
                          "needs a run of a language-model task (e.g. --task shakespeare)")
    try:
        ids = torch.tensor(data.codec.encode(prompt), dtype=torch.long)
    except ValueError as e:
        raise ConfigError(f"--prompt: {e}") from e
    if ids.numel() == 0:
        raise ConfigError(f"--prompt {prompt!r} encodes to no tokens")
    chosen = list(arms) if arms else plan.arms
    for a in chosen:
        if a not in plan.arms:
            raise ConfigError(f"run {run_dir!r} has no arm {a!r}; its arms: {', '.join(plan.arms)}")
    dev = resolve_device(device)
    out = {}
    for arm in chosen:
        model, _ = load_arm_model(run_dir, plan, data, arm)
        lm = getattr(model, "lm", model)
        if not hasattr(lm, "generate"):
            raise ConfigError(f"model {plan.model.name!r} cannot generate (it has no streaming step)")
        lm = lm.to(device=dev, dtype=_DTYPES[cfg.dtype])
        g = torch.Generator().manual_seed(int(seed))
        new = lm.generate(ids, tokens, float(temperature), generator=g)
        text = data.codec.decode(new.tolist())
        out[arm] = text
        print_text(f"--- {arm} (temperature {temperature:g}, {tokens} tokens)\n{prompt}{text}")
    sys.stdout.flush()
    return out
