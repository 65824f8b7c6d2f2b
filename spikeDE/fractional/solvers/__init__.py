"""The ``fdeint`` solvers, one scheme per file, and their registry (canonical name -> solve function)."""
from .corrector import solve_corrector
from .gl import solve_gl
from .glmulti import solve_glmulti
from .l1 import solve_l1
from .predictor import solve_predictor

SOLVERS = {
    "gl": solve_gl,
    "l1": solve_l1,
    "predictor": solve_predictor,
    "corrector": solve_corrector,
    "glmulti": solve_glmulti,
}
ALIASES = {"pred": "predictor", "trap": "corrector"}

__all__ = ["SOLVERS", "ALIASES"]
