"""Independent learners trained with Stable-Baselines3 on the batched market
(MODEL.md §2, §9): parameter-shared and iterated-best-response traders, at the clearing
drift or against a market agent learned by SB3 as well.

Modules: :mod:`~solvers.rl.learners` (the entry :func:`train_learners`),
:mod:`~solvers.rl.methods` (named methods, defaults, the one check of a request),
:mod:`~solvers.rl.training` (one function per flavour), :mod:`~solvers.rl.solution`
(:class:`LearnerSolution`, kind ``"sb3-learners"``) and :mod:`~solvers.rl.envs` (what the
learners see)."""

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
    FLAVOURS,
    METHODS,
    PRICES,
    LearnerMethod,
    LearnerPlan,
    default_algo_kwargs,
    default_n_paths,
    default_policy_kwargs,
    resolve_plan,
)
from .solution import LearnerSolution

__all__ = [
    "ALGOS",
    "FLAVOURS",
    "METHODS",
    "PRICES",
    "LearnerMethod",
    "LearnerPlan",
    "LearnerSolution",
    "MarketActor",
    "MarketAgentPrice",
    "MarketAgentVecEnv",
    "RLScaling",
    "ScaledTraderVecEnv",
    "TraderActor",
    "default_algo_kwargs",
    "default_n_paths",
    "default_policy_kwargs",
    "resolve_plan",
    "train_learners",
]
