"""solvers: equilibrium solutions of the market of MODEL.md, all judged by one `evaluate`."""

from .analytic import FrictionlessSolution, LeadingOrderSolution, RiccatiSolution
from .base import Solution, evaluate, load_solution, register_solution, simulate
from .custom import PolicySolution

__all__ = [
    "FrictionlessSolution",
    "LeadingOrderSolution",
    "PolicySolution",
    "RiccatiSolution",
    "Solution",
    "evaluate",
    "load_solution",
    "register_solution",
    "simulate",
]
