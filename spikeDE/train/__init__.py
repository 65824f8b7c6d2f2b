"""Training: configuration files, seeding, atomic checkpoints, a generic time-first trainer with exact resume
and DistributedDataParallel, the task / model / neuron registries and the runs of the ``spikede`` command."""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import ConfigError, TrainConfig, load_config, save_config
from .distributed import DistEnv, init_distributed, resolve_device
from .registry import (MODELS, NEURONS, TASKS, RegistryError, TaskData, TaskInfo, get_model, get_neuron, get_task,
                       register_model, register_neuron, register_task)
from .sampler import GlobalBatchSampler
from .seeding import derive_seed, get_rng_state, seed_everything, set_rng_state
from .trainer import Trainer, evaluate_model, readout
from . import models as _models, tasks as _tasks  # noqa: E402,F401  (built-in registrations)
from . import tasks_sequences as _tasks_sequences  # noqa: E402,F401  (long sequences, language models)
from . import tasks_vision as _tasks_vision  # noqa: E402,F401  (event-vision tasks and models)
from . import tasks_graph as _tasks_graph  # noqa: E402,F401  (graph tasks and models)

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint", "ConfigError", "TrainConfig", "load_config",
           "save_config", "DistEnv", "init_distributed", "resolve_device", "MODELS", "NEURONS", "TASKS",
           "RegistryError", "TaskData", "TaskInfo", "get_model", "get_neuron", "get_task", "register_model",
           "register_neuron", "register_task", "GlobalBatchSampler", "derive_seed", "get_rng_state",
           "seed_everything", "set_rng_state", "Trainer", "evaluate_model", "readout"]
