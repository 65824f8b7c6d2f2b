"""The ``fdeint`` solvers, one scheme per file, and their registry (canonical name -> solve function); names and
aliases come from the scheme table :mod:`spikeDE.fractional.schemes`."""
from .corrector import solve_corrector
from .gl import solve_gl
from .glmulti import solve_glmulti
from .l1 import solve_l1
from .predictor import solve_predictor
from ..schemes import SCHEMES

SOLVERS = {
    "gl": solve_gl,
    "l1": solve_l1,
    "predictor": solve_predictor,
    "corrector": solve_corrector,
    "glmulti": solve_glmulti,
}
ALIASES = {a: s.name for s in SCHEMES.values() if s.fdeint for a in s.aliases}

__all__ = ["SOLVERS", "ALIASES"]
