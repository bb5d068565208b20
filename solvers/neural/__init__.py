"""Neural equilibrium solvers (MODEL.md §8): the Reinforced-GAN and the Combo and Deep FBSDE
baselines, all training by differentiable rollouts of :class:`market_env.BatchedMarket`.

::

    from market_env import get_preset
    from solvers.neural import NetOptions, ReinforcedGAN, solve

    result = solve(get_preset("quadratic-10"), "reinforced-gan", out="runs/q10")
    result = solve(get_preset("quadratic-10"), "combo", net_options=NetOptions(width=32))

Modules: :mod:`~solvers.neural.schedule` (the training schedule), :mod:`~solvers.neural.
net_options` (the networks' options), :mod:`~solvers.neural.trainer` (the trainer base:
loop, budget, persistence), :mod:`~solvers.neural.reinforced_gan`, :mod:`~solvers.neural.
joint` (Combo) and :mod:`~solvers.neural.fbsde` (the trainers), :mod:`~solvers.neural.api`
(solve, compare, make_trainer).
"""

from .api import SOLVERS, benchmark_for, compare, make_trainer, solve
from .fbsde import DeepFBSDE, FBSDESolution
from .joint import Combo, JointTrainer
from .model import EquilibriumNets, NeuralSolution, implied_rate
from .net_options import (
    GENERATORS,
    LAST_RATES,
    MAX_DEPTH,
    MAX_WIDTH,
    MU_MODES,
    NET_SHAPES,
    PRICE_NETS,
    NetOptions,
)
from .networks import ACTIVATIONS, StackedMLP
from .reinforced_gan import ReinforcedGAN
from .schedule import SCHEDULES, GANSchedule, default_schedule
from .trainer import NeuralTrainer
from .training import TrainingDivergedError, link_loss

__all__ = [
    "ACTIVATIONS",
    "GENERATORS",
    "LAST_RATES",
    "MAX_DEPTH",
    "MAX_WIDTH",
    "MU_MODES",
    "NET_SHAPES",
    "PRICE_NETS",
    "SCHEDULES",
    "SOLVERS",
    "Combo",
    "DeepFBSDE",
    "EquilibriumNets",
    "FBSDESolution",
    "GANSchedule",
    "JointTrainer",
    "NetOptions",
    "NeuralSolution",
    "NeuralTrainer",
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
