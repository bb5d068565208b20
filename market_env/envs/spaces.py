"""The gymnasium ``Box`` spaces of the RL interfaces (float32), one function per space; the
layouts are those of :mod:`market_env.observation` and :mod:`market_env.market_maker`."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from ..config import MarketConfig
from ..market_maker import MarketMakerSpec

__all__ = [
    "market_action_space",
    "market_observation_space",
    "rate_action_space",
    "trader_observation_space",
]


def _state_bounds(config: MarketConfig) -> tuple[list[float], list[float]]:
    # t ∈ [0, T] (with float slack); W, S and φ are unbounded.
    n = config.n_agents
    low = [0.0] + [-np.inf] * (2 + n)
    high = [config.horizon * (1 + 1e-6)] + [np.inf] * (2 + n)
    return low, high


def _box(low: list[float], high: list[float]) -> spaces.Box:
    return spaces.Box(np.array(low, np.float32), np.array(high, np.float32), dtype=np.float32)


def trader_observation_space(config: MarketConfig) -> spaces.Box:
    """``Box((2N + 5,), float32)``: ``t ∈ [0, T]``; ``W``, ``S``, ``φ`` unbounded (±inf);
    ``γ_n``, ``ξ_n`` within the config's range; the one-hot index in ``[0, 1]``."""
    low, high = _state_bounds(config)
    low += [min(config.gamma), min(config.xi)] + [0.0] * config.n_agents
    high += [max(config.gamma), max(config.xi)] + [1.0] * config.n_agents
    return _box(low, high)


def market_observation_space(config: MarketConfig) -> spaces.Box:
    """``Box((N + 3,), float32)``: ``t ∈ [0, T]``; ``W``, ``S``, ``φ`` unbounded."""
    return _box(*_state_bounds(config))


def rate_action_space(max_rate: float) -> spaces.Box:
    """``Box(−max_rate, max_rate, (1,), float32)``: one trader's trading rate."""
    return spaces.Box(-max_rate, max_rate, shape=(1,), dtype=np.float32)


def market_action_space(spec: MarketMakerSpec) -> spaces.Box:
    """``Box([−mu_max, −log_sigma_max, S0_low], [mu_max, log_sigma_max, S0_high])``: the
    market maker's ``(μ, u, S_0)``."""
    return _box(list(spec.low), list(spec.high))
