"""What an agent observes of the market, and the default bound on its trading rate
(MODEL.md §2). Torch only: the environments (:mod:`market_env.envs`), the custom-agent
protocol (:mod:`market_env.policy`) and the learners all build observations here.

Trader observation (one row per agent ``n``), length ``2N + 5``::

    [ t_k, W_k, S_k, φ_1,k, …, φ_N,k, γ_n, ξ_n, e_n ]        e_n = one-hot of n (length N)

i.e. the Markov state ``(t, W, S, φ)`` of MODEL.md §2 followed by the agent's own
parameters and index, so one network can be shared by all traders.

Market observation, length ``N + 3``: ``[t_k, W_k, S_k, φ_1,k, …, φ_N,k]`` (the market
maker's, :mod:`market_env.market_maker`, and the PettingZoo global state).

Trader action: the submitted trading rate ``φ̇_n,k``, by default bounded by
:func:`default_max_rate`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .config import MarketConfig
from .state import MarketState

__all__ = [
    "agent_features",
    "default_max_rate",
    "market_observation",
    "market_observation_size",
    "observation_size",
    "trader_observations",
]


def observation_size(n_agents: int) -> int:
    """Length of a trader observation, ``2N + 5``."""
    return 2 * n_agents + 5


def market_observation_size(n_agents: int) -> int:
    """Length of the market observation, ``N + 3``."""
    return n_agents + 3


def agent_features(config: MarketConfig, dtype=torch.float32, device="cpu") -> Tensor:
    """Per-agent features ``[γ_n, ξ_n, e_n]``, shape ``(N, N + 2)``."""
    n = config.n_agents
    feats = torch.zeros(n, n + 2, dtype=dtype, device=device)
    feats[:, 0] = torch.tensor(config.gamma, dtype=dtype, device=device)
    feats[:, 1] = torch.tensor(config.xi, dtype=dtype, device=device)
    feats[:, 2:] = torch.eye(n, dtype=dtype, device=device)
    return feats


def market_observation(state: MarketState) -> Tensor:
    """``[t, W, S, φ_1..φ_N]`` per path, shape ``(B, N + 3)`` (the Markov state)."""
    W = state.W
    t = torch.full_like(W, state.t)
    return torch.cat([torch.stack([t, W, state.S], -1), state.phi], -1)


def trader_observations(state: MarketState, features: Tensor, agent: int | None = None) -> Tensor:
    """Trader observations from a :class:`MarketState`.

    Args:
        state: the market state (``B`` paths).
        features: :func:`agent_features`, shape ``(N, N + 2)``.
        agent: one agent's index, or ``None`` for all agents.

    Returns:
        ``(B, N, 2N + 5)`` for all agents, ``(B, 2N + 5)`` for one.
    """
    common = market_observation(state)
    B = common.shape[0]
    features = features.to(common)
    if agent is not None:
        return torch.cat([common, features[agent].expand(B, -1)], -1)
    N = features.shape[0]
    return torch.cat(
        [common.unsqueeze(1).expand(B, N, -1), features.unsqueeze(0).expand(B, N, -1)], -1
    )


def default_max_rate(config: MarketConfig) -> float:
    """``10·(max_n |ξ_n|/α + s)/√Δt``: the default bound on submitted trading rates, ten
    standard deviations of the frictionless one-step re-hedge (MODEL.md §3), so equilibrium
    and frictionless rates are never near it."""
    xi_max = max(abs(x) for x in config.xi)
    return 10.0 * (xi_max / config.alpha + config.supply) / math.sqrt(config.dt)
