"""market_env: one batched PyTorch market simulator with endogenous prices (MODEL.md, DESIGN.md).

Import what you need from here::

    from market_env import MarketConfig, get_preset, BatchedMarket, rollout, compute_metrics
"""

from .clearing import CLEARING_RULES, get_clearing_rule, imbalance
from .config import PRESETS, MarketConfig, get_preset, load_config
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
from .price import ClearingDrift, ExogenousPrice, PriceMechanism, clearing_drift, frictionless_price
from .rollout import Policy, Trajectory, rollout
from .state import MarketState

__version__ = "0.1.0"

__all__ = [
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
    "path_errors",
    "relative_l2_error",
    "rollout",
    "terminal_error",
    "utility_per_path",
]
