"""Neural equilibrium solvers (MODEL.md §8): the Reinforced-GAN and the Combo and Deep FBSDE
baselines, all training by differentiable rollouts of :class:`market_env.BatchedMarket`.

::

    from market_env import get_preset
    from solvers.neural import ReinforcedGAN, solve

    result = solve(get_preset("quadratic-10"), "reinforced-gan", out="runs/q10")
"""

from .api import benchmark_for, compare, make_trainer, solve
from .fbsde import DeepFBSDE, FBSDESolution
from .model import EquilibriumNets, NeuralSolution, implied_rate
from .networks import StackedMLP
from .reinforced_gan import SCHEDULES, Combo, GANSchedule, ReinforcedGAN, default_schedule
from .training import TrainingDivergedError, link_loss

__all__ = [
    "SCHEDULES",
    "Combo",
    "DeepFBSDE",
    "EquilibriumNets",
    "FBSDESolution",
    "GANSchedule",
    "NeuralSolution",
    "ReinforcedGAN",
    "StackedMLP",
    "TrainingDivergedError",
    "benchmark_for",
    "compare",
    "default_schedule",
    "implied_rate",
    "link_loss",
    "make_trainer",
    "solve",
]
