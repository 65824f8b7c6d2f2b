"""What every ``fdeint`` solver receives: the validated problem, and the output stacking.

Solvers work on tuples of state components (a single tensor ``y0`` is a 1-tuple); ``func`` is wrapped
so that it always takes and returns such a tuple.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..memory import DEFAULT_BLOCK_SIZE, HistorySum, MemorySpec
from ..weights import scheme_factor

__all__ = ["Problem", "scheme_factors", "history", "stack_solution", "march", "add_scaled", "fused", "Trajectory"]


@dataclass
class Problem:
    """A validated Caputo problem ``D^alpha y = func(t, y)``, ``y(t_0) = y0`` on a uniform grid.

    ``alpha`` holds one order per component (a float, or a 0-d float64 tensor with its graph); for
    ``glmulti`` it holds the orders of the terms (shared by all components) and ``coefficients`` their
    coefficients. ``ts`` is the grid (``ts[n]``, a 0-d tensor, is passed to ``func``), ``h`` the step.
    """

    func: object
    y0: tuple
    ts: tuple
    h: float
    alpha: tuple
    memory: MemorySpec = field(default_factory=MemorySpec)
    block_size: int = DEFAULT_BLOCK_SIZE
    coefficients: tuple | None = None

    @property
    def steps(self) -> int:
        """Number of steps ``len(t) - 1``."""
        return len(self.ts) - 1


def scheme_factors(kind: str, pb: Problem) -> list:
    """``scheme_factor(kind, alpha_c, h)`` per component: a float for a float ``alpha``, else a 0-d tensor
    in the component's dtype (so that ``alpha`` receives the gradient of the Gamma factors)."""
    out = []
    for a, y0 in zip(pb.alpha, pb.y0):
        f = scheme_factor(kind, a, pb.h)
        out.append(f.to(y0.dtype) if isinstance(a, torch.Tensor) else float(f))
    return out


def history(pb: Problem, kernels, n_steps: int, like: torch.Tensor) -> HistorySum:
    """A :class:`HistorySum` with the problem's memory option and block size."""
    return HistorySum(kernels, n_steps, like, memory=pb.memory, block_size=pb.block_size)


def stack_solution(traj: list) -> tuple:
    """``traj[c]`` (list of ``len(t)`` tensors per component) -> tuple of ``[len(t), *shape]`` tensors."""
    return tuple(torch.stack(ys) for ys in traj)


class Trajectory:
    """The solution ``y_0 .. y_N`` as it is computed (tuples of components). With autograd on, the steps are kept
    as a list and stacked at the end (the stack carries the gradient); without it each step is copied straight
    into a preallocated ``[N + 1, *shape]`` output, so no per-step tensor stays alive (memory ``O(output)``)."""

    def __init__(self, pb: Problem):
        self.n = 0
        if torch.is_grad_enabled():
            self.steps, self.out = [[y0] for y0 in pb.y0], None
        else:
            self.steps, self.out = None, [y0.new_empty((pb.steps + 1, *y0.shape)) for y0 in pb.y0]
            for o, y0 in zip(self.out, pb.y0):
                o[0].copy_(y0)

    def append(self, y: tuple) -> None:
        self.n += 1
        if self.out is None:
            for tr, yc in zip(self.steps, y):
                tr.append(yc)
        else:
            for o, yc in zip(self.out, y):
                o[self.n].copy_(yc)

    def result(self) -> tuple:
        return stack_solution(self.steps) if self.out is None else tuple(self.out)


def fused(*coefs) -> bool:
    """Whether the step coefficients are numbers (then the step is one fused history node)."""
    return not any(isinstance(c, torch.Tensor) for c in coefs)


def march(pb: Problem, hists: list, step) -> tuple:
    """Explicit one-step march: ``y_{n+1} = step(n, y_n, y_{n-1}, f(t_n, y_n))`` (tuples of components;
    ``y_{-1} = y_0``) over the grid; closes the histories and returns the stacked trajectory."""
    y_prev = y = pb.y0
    traj = Trajectory(pb)
    for n in range(pb.steps):
        f = pb.func(pb.ts[n], y)
        y_prev, y = y, step(n, y, y_prev, f)
        del f  # free f_n before f_{n+1} is computed
        traj.append(y)
    for hs in hists:
        if hs is not None:
            hs.close()
    return traj.result()


def add_scaled(a: torch.Tensor, b: torch.Tensor, c) -> torch.Tensor:
    """``a + c * b`` with one operation when ``c`` is a number."""
    if isinstance(c, torch.Tensor):
        return a + c * b
    return torch.add(a, b, alpha=c)
