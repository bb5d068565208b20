"""market_env: one batched PyTorch market simulator with endogenous prices (MODEL.md, DESIGN.md).

Import what you need from here::

    from market_env import MarketConfig, get_preset, BatchedMarket, rollout, compute_metrics

RL interfaces (thin views of ``BatchedMarket``): ``parallel_env`` (PettingZoo),
``market_env/FrictionalMarket-v0`` (Gymnasium, registered on import; ``make_vec`` gives
``MarketVectorEnv``), ``MarketSB3VecEnv`` (Stable-Baselines3), and the custom-agent protocol
of :mod:`market_env.policy`.
"""

from .clearing import CLEARING_RULES, get_clearing_rule, imbalance
from .config import PRESETS, MarketConfig, get_preset, load_config
from .gym_env import FrictionalMarketEnv
from .jsonio import read_json_file
from .market import BatchedMarket, StepResult
from .metrics import (
    S0_control_variate,
    clearing_error,
    compute_metrics,
    path_errors,
    relative_l2_error,
    terminal_error,
    utility_per_path,
)
from .observation import MarketMakerSpec, MarketView, default_max_rate, trader_observations
from .pettingzoo_env import MarketParallelEnv, parallel_env
from .policy import (
    AgentPolicy,
    as_state_policy,
    equilibrium_solution,
    sb3_agent_policy,
    solution_agent_policy,
)
from .price import ClearingDrift, ExogenousPrice, PriceMechanism, clearing_drift, frictionless_price
from .registration import ENV_ID, register_envs
from .rollout import Policy, Trajectory, rollout
from .state import MarketState
from .vector_env import MarketVectorEnv

register_envs()


def __getattr__(name: str):
    # The SB3 adapter imports stable_baselines3 (slow), so it loads on first use.
    if name == "MarketSB3VecEnv":
        from .sb3_vec_env import MarketSB3VecEnv

        return MarketSB3VecEnv
    raise AttributeError(f"module 'market_env' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "AgentPolicy",
    "ENV_ID",
    "FrictionalMarketEnv",
    "MarketMakerSpec",
    "MarketParallelEnv",
    "MarketSB3VecEnv",
    "MarketVectorEnv",
    "MarketView",
    "as_state_policy",
    "default_max_rate",
    "equilibrium_solution",
    "parallel_env",
    "register_envs",
    "sb3_agent_policy",
    "solution_agent_policy",
    "trader_observations",
    "CLEARING_RULES",
    "PRESETS",
    "BatchedMarket",
    "ClearingDrift",
    "ExogenousPrice",
    "MarketConfig",
    "MarketState",
    "Policy",
    "PriceMechanism",
    "StepResult",
    "Trajectory",
    "S0_control_variate",
    "clearing_drift",
    "clearing_error",
    "compute_metrics",
    "frictionless_price",
    "get_clearing_rule",
    "get_preset",
    "imbalance",
    "load_config",
    "read_json_file",
    "path_errors",
    "relative_l2_error",
    "rollout",
    "terminal_error",
    "utility_per_path",
]
