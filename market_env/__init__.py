"""market_env: one batched PyTorch market simulator with endogenous prices (MODEL.md, DESIGN.md).

Import what you need from here::

    from market_env import MarketConfig, get_preset, BatchedMarket, rollout, compute_metrics

RL interfaces (siblings over one view, :mod:`market_env.envs`): :func:`make` (every
interface and option, documented once), ``parallel_env`` (PettingZoo),
``market_env/FrictionalMarket-v0`` (Gymnasium, registered on import; ``make_vec`` gives
``MarketVectorEnv``), ``MarketSB3VecEnv`` (Stable-Baselines3), and the custom-agent protocol
of :mod:`market_env.policy`.

The package is lazy (PEP 562): ``import market_env`` loads only the config and the gymnasium
registration; torch, PettingZoo and Stable-Baselines3 load when a name that needs them is
first used.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .config import PRESETS, MarketConfig, get_preset, load_config
from .lazy import lazy_exports
from .registration import ENV_ID, register_envs

__version__ = "0.1.0"

#: Where each public name lives (module under ``market_env``).
_LAZY: dict[str, str] = {
    # simulator core
    "CLEARING_RULES": "clearing",
    "get_clearing_rule": "clearing",
    "imbalance": "clearing",
    "TradingCost": "cost",
    "read_json_file": "jsonio",
    "BatchedMarket": "market",
    "StepResult": "market",
    "MarketMaker": "market_maker",
    "MarketMakerPrice": "market_maker",
    "MarketMakerSpec": "market_maker",
    "S0_control_variate": "metrics",
    "clearing_error": "metrics",
    "compute_metrics": "metrics",
    "path_errors": "metrics",
    "relative_l2_error": "metrics",
    "terminal_error": "metrics",
    "utility_per_path": "metrics",
    "default_max_rate": "observation",
    "trader_observations": "observation",
    "ClearingDrift": "price",
    "ExogenousPrice": "price",
    "PriceMechanism": "price",
    "clearing_drift": "price",
    "frictionless_price": "price",
    "Policy": "rollout",
    "Trajectory": "rollout",
    "rollout": "rollout",
    "MarketState": "state",
    # custom agents
    "AgentPolicy": "policy",
    "as_state_policy": "policy",
    "equilibrium_solution": "policy",
    "sb3_agent_policy": "policy",
    "solution_agent_policy": "policy",
    # RL interfaces
    "EnvOptions": "envs.options",
    "make": "envs.factory",
    "MarketView": "envs.view",
    "MarketParallelEnv": "envs.pettingzoo",
    "parallel_env": "envs.pettingzoo",
    "FrictionalMarketEnv": "envs.gym",
    "MarketVectorEnv": "envs.vector",
    "MarketSB3VecEnv": "envs.sb3",
}

__all__ = ["ENV_ID", "PRESETS", "MarketConfig", "get_preset", "load_config", "register_envs"]
__all__ += sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


class _Package(types.ModuleType):
    """``market_env`` itself. The import system binds each loaded submodule on its package;
    where a public name is also a module's name (``rollout``), the name keeps meaning the
    function, as it did before the package was lazy (the module stays in ``sys.modules``)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if (
            isinstance(value, types.ModuleType)
            and value.__name__ == f"{__name__}.{name}"
            and _LAZY.get(name) == name
        ):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

register_envs()
