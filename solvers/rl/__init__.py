"""Independent learners trained with Stable-Baselines3 (or Ray RLlib) on the batched market
(MODEL.md §2, §9): parameter-shared and iterated-best-response traders, at the clearing
drift or against a market agent learned by SB3 as well.

Modules: :mod:`~solvers.rl.learners` (the entry :func:`train_learners`),
:mod:`~solvers.rl.methods` (named methods, defaults, the one check of a request),
:mod:`~solvers.rl.training` (one function per flavour), :mod:`~solvers.rl.solution`
(:class:`LearnerSolution`, kind ``"sb3-learners"``), :mod:`~solvers.rl.envs` (what the
learners see), :mod:`~solvers.rl.rllib` (``backend="rllib"``: Ray RLlib PPO over env runners
holding the batched ``VectorEnv``; imported only then, this package never imports Ray) and
:mod:`~solvers.rl.rllib_solution` (:class:`RLlibLearnerSolution`, kind ``"rllib-learners"``)."""

from .envs import (
    MarketActor,
    MarketAgentPrice,
    MarketAgentVecEnv,
    RLScaling,
    ScaledTraderVecEnv,
    TraderActor,
)
from .learners import train_learners
from .methods import (
    ALGOS,
    BACKENDS,
    FLAVOURS,
    METHODS,
    PRICES,
    RLLIB_METHOD,
    LearnerMethod,
    LearnerPlan,
    default_algo_kwargs,
    default_n_paths,
    default_policy_kwargs,
    resolve_plan,
)
from .rllib_solution import RLlibLearnerSolution
from .solution import LearnerSolution

__all__ = [
    "ALGOS",
    "BACKENDS",
    "FLAVOURS",
    "METHODS",
    "PRICES",
    "RLLIB_METHOD",
    "LearnerMethod",
    "LearnerPlan",
    "LearnerSolution",
    "MarketActor",
    "MarketAgentPrice",
    "MarketAgentVecEnv",
    "RLScaling",
    "RLlibLearnerSolution",
    "ScaledTraderVecEnv",
    "TraderActor",
    "default_algo_kwargs",
    "default_n_paths",
    "default_policy_kwargs",
    "resolve_plan",
    "train_learners",
]
