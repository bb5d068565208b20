"""Neural equilibrium solvers (MODEL.md §8): the Reinforced-GAN and the Combo and Deep FBSDE
baselines, all training by differentiable rollouts of :class:`market_env.BatchedMarket`.

::

    from market_env import get_preset
    from solvers.neural import NetOptions, ReinforcedGAN, solve

    result = solve(get_preset("quadratic-10"), "reinforced-gan", out="runs/q10")
    result = solve(get_preset("quadratic-10"), "combo", net_options=NetOptions(width=32))

Modules: :mod:`~solvers.neural.schedule` (the training schedule) and
:mod:`~solvers.neural.net_options` (the networks' options), both without torch;
:mod:`~solvers.neural.trainer` (the trainer base: loop, budget, verdict) with
:mod:`~solvers.neural.run_state` (save, resume); the trainers
:mod:`~solvers.neural.reinforced_gan`, :mod:`~solvers.neural.joint` (Combo) and
:mod:`~solvers.neural.fbsde`; :mod:`~solvers.neural.api` (solve, compare, make_trainer).
Names load on first use, so importing a torch-free module of the package loads no torch.
"""

from __future__ import annotations

from market_env.lazy import lazy_exports

_EXPORTS = {
    "SOLVERS": "api",
    "benchmark_for": "api",
    "compare": "api",
    "make_trainer": "api",
    "solve": "api",
    "DeepFBSDE": "fbsde",
    "FBSDESolution": "fbsde",
    "Combo": "joint",
    "JointTrainer": "joint",
    "EquilibriumNets": "model",
    "NeuralSolution": "model",
    "implied_rate": "model",
    "ACTIVATION_NAMES": "net_options",
    "GENERATORS": "net_options",
    "LAST_RATES": "net_options",
    "MAX_DEPTH": "net_options",
    "MAX_WIDTH": "net_options",
    "MU_MODES": "net_options",
    "NET_SHAPES": "net_options",
    "PRICE_NETS": "net_options",
    "NetOptions": "net_options",
    "ACTIVATIONS": "networks",
    "StackedMLP": "networks",
    "ReinforcedGAN": "reinforced_gan",
    "LINK_FORMS": "schedule",
    "SCHEDULES": "schedule",
    "GANSchedule": "schedule",
    "default_schedule": "schedule",
    "NeuralTrainer": "trainer",
    "TrainingDivergedError": "training",
    "link_loss": "training",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
