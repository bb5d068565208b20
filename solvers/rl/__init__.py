"""Independent learners trained with Stable-Baselines3 on the batched market
(MODEL.md §2, §9):
parameter-shared and iterated-best-response traders, at the clearing drift or against a
market agent learned by SB3 as well. See :mod:`solvers.rl.learners`."""

from .envs import (
    MarketActor,
    MarketAgentPrice,
    MarketAgentVecEnv,
    RLScaling,
    ScaledTraderVecEnv,
    TraderActor,
)
from .learners import (
    ALGOS,
    FLAVOURS,
    METHODS,
    PRICES,
    LearnerMethod,
    LearnerSolution,
    default_algo_kwargs,
    default_n_paths,
    default_policy_kwargs,
    train_learners,
)

__all__ = [
    "ALGOS",
    "FLAVOURS",
    "METHODS",
    "PRICES",
    "LearnerMethod",
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
    "train_learners",
]
