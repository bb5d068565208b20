"""solvers: equilibrium solutions of the market of MODEL.md, all judged by one `evaluate`."""

from .analytic import FrictionlessSolution, LeadingOrderSolution, RiccatiSolution
from .base import Solution, evaluate, load_solution, register_solution, simulate
from .custom import PolicySolution
from .neural import DeepFBSDE, FBSDESolution, NeuralSolution, ReinforcedGAN  # registers kinds

__all__ = [
    "DeepFBSDE",
    "FBSDESolution",
    "FrictionlessSolution",
    "LeadingOrderSolution",
    "NeuralSolution",
    "PolicySolution",
    "ReinforcedGAN",
    "RiccatiSolution",
    "Solution",
    "evaluate",
    "load_solution",
    "register_solution",
    "simulate",
]
