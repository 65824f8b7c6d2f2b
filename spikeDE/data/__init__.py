"""Datasets: embedded tasks (no download) and loaders for standard files in a data folder."""
from .batching import time_first, time_first_collate
from .delay import cue_oracle, delay_task, make_delay_sequences
from .digits import sequential_digits

__all__ = ["time_first", "time_first_collate", "delay_task", "make_delay_sequences", "cue_oracle",
           "sequential_digits"]
