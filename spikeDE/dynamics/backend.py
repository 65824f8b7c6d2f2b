r"""Which implementation runs a multi-step neuron kernel: the PyTorch path or the fused Triton kernels.

``SPIKEDE_BACKEND`` (environment variable) chooses:

* ``auto`` (default): the Triton kernels for CUDA tensors when ``triton`` is installed (``pip install
  'spikede[gpu]'``), the PyTorch path otherwise;
* ``torch``: always the PyTorch path;
* ``triton``: always the Triton kernels. On CPU tensors they need Triton's interpreter (``TRITON_INTERPRET=1``
  set before Python starts), which is how the kernels are tested without a GPU.

Features the kernels do not cover (threshold noise, half precision ``float16``) run on the PyTorch path
whatever the choice.
"""
from __future__ import annotations

import importlib.util
import os

import torch

__all__ = ["BACKENDS", "SURROGATE_CODES", "backend_choice", "triton_available", "use_triton"]

BACKENDS = ("auto", "torch", "triton")
SURROGATE_CODES = {"atan": 0, "sigmoid": 1, "fast_sigmoid": 2, "triangle": 3, "rectangular": 4, "gaussian": 5}
"""Surrogates the kernels evaluate (:mod:`spikeDE.surrogate`), by the code the kernels switch on."""
_TRITON_DTYPES = (torch.float32, torch.float64, torch.bfloat16)


def backend_choice() -> str:
    """The value of ``SPIKEDE_BACKEND`` (``auto`` when unset), validated."""
    raw = os.environ.get("SPIKEDE_BACKEND", "auto")
    choice = raw.strip().lower() or "auto"
    if choice not in BACKENDS:
        raise ValueError(f"SPIKEDE_BACKEND must be one of {', '.join(BACKENDS)}, got {raw!r}")
    return choice


def triton_available() -> bool:
    """Whether the ``triton`` package can be imported."""
    return importlib.util.find_spec("triton") is not None


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0").strip() not in ("", "0", "false", "False")


def use_triton(x: torch.Tensor, supported: bool = True) -> bool:
    """Whether the kernel for ``x`` runs on Triton (``supported``: the call's options are covered by the kernel).

    Raises ``ImportError`` / ``RuntimeError`` when ``SPIKEDE_BACKEND=triton`` is forced but cannot run.
    """
    choice = backend_choice()
    if choice == "torch" or not supported or x.dtype not in _TRITON_DTYPES:
        return False
    if choice == "auto":
        return x.is_cuda and triton_available()
    if not triton_available():
        raise ImportError("SPIKEDE_BACKEND=triton needs the triton package: pip install 'spikede[gpu]'")
    if not x.is_cuda and not _interpreting():
        raise RuntimeError("SPIKEDE_BACKEND=triton on CPU tensors runs Triton's interpreter: set "
                           "TRITON_INTERPRET=1 before starting Python (or use CUDA tensors)")
    return True
