"""Devices and multi-process training (PyTorch DistributedDataParallel under ``torchrun``).

``torchrun --nproc_per_node=N`` (or several nodes) starts N processes and sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous address; :func:`init_distributed` then joins the process group with the
``gloo`` backend on CPU and ``nccl`` on CUDA. Without those variables everything runs in one process.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .config import ConfigError

__all__ = ["DistEnv", "resolve_device", "init_distributed", "shutdown_distributed", "all_reduce_sum",
           "all_gather_objects", "barrier"]


@dataclass(frozen=True)
class DistEnv:
    """The process's place in a (possibly one-process) job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    owns_group: bool = False

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    v = os.environ.get(name)
    try:
        return default if v is None or v == "" else int(v)
    except ValueError as e:
        raise ConfigError(f"environment variable {name}={v!r} is not an integer") from e


def resolve_device(spec: str = "auto", local_rank: int | None = None) -> torch.device:
    """``auto``: CUDA when available (the process's ``LOCAL_RANK`` GPU), else CPU; ``cpu``; ``cuda``; ``cuda:N``."""
    lr = _env_int("LOCAL_RANK", 0) if local_rank is None else local_rank
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", lr % torch.cuda.device_count())
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {spec!r} was requested but CUDA is not available; use --device cpu or auto")
        index = lr % torch.cuda.device_count() if spec == "cuda" else int(spec[5:])
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s) present")
        return torch.device("cuda", index)
    raise ConfigError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {spec!r}")


def init_distributed(device: torch.device) -> DistEnv:
    """Join the process group when launched by ``torchrun`` with ``WORLD_SIZE > 1``; otherwise a one-process env."""
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return DistEnv()
    local_rank = _env_int("LOCAL_RANK", 0)
    backend = "nccl" if device.type == "cuda" else "gloo"
    owns = False
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
        owns = True
    return DistEnv(dist.get_rank(), dist.get_world_size(), local_rank, dist.get_backend(), owns)


def shutdown_distributed(env: DistEnv) -> None:
    if env.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Sum of ``t`` over all processes (``t`` itself in one process)."""
    if env.active:
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_gather_objects(obj, env: DistEnv) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` (``[obj]`` in one process)."""
    if not env.active:
        return [obj]
    out = [None] * env.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(env: DistEnv) -> None:
    if env.active:
        dist.barrier()
