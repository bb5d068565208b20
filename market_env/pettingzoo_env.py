"""PettingZoo ``ParallelEnv`` view of the market: every trader (and optionally the market
maker) is an agent (MODEL.md §2, DESIGN.md).

    >>> import market_env
    >>> env = market_env.parallel_env(preset="power-2", seed=0)
    >>> obs, infos = env.reset(seed=0)
    >>> while env.agents:
    ...     actions = {a: env.action_space(a).sample() for a in env.agents}
    ...     obs, rewards, terminations, truncations, infos = env.step(actions)

One episode is one path of :class:`~market_env.market.BatchedMarket` (B = 1), ``K`` steps.
``reset(seed=s)`` seeds the market's generator exactly as ``solvers.evaluate(..., n_paths=1,
seed=s)`` does, so both see the same Brownian path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from pettingzoo import ParallelEnv

from .config import MarketConfig
from .observation import (
    MarketMakerSpec,
    MarketView,
    market_observation_space,
    rate_action_space,
    step_info,
    trader_observation_space,
)
from .policy import resolve_config, resolve_price

__all__ = ["MarketParallelEnv", "parallel_env", "MARKET_AGENT", "trader_name"]

#: Name of the market-maker agent (``price="market"``).
MARKET_AGENT = "market"
RENDER_MODES = ("human", "rgb_array")


def trader_name(n: int) -> str:
    """``"trader_n"``."""
    return f"trader_{n}"


def _check_render_mode(render_mode: str | None) -> None:
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(
            f"render_mode must be None or one of {list(RENDER_MODES)}, got {render_mode!r}"
        )


def action_to_array(action: Any, name: str, size: int) -> np.ndarray:
    """One agent's action as a float64 vector of length ``size`` (shape ``(size,)``; a scalar
    is accepted when ``size == 1``); anything else raises ``ValueError`` naming the agent."""
    try:
        a = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"action of {name} must be a number array of shape ({size},), got {action!r}"
        ) from None
    if a.shape != (size,) and not (size == 1 and a.shape == ()):
        raise ValueError(f"action of {name} must have shape ({size},), got shape {a.shape}")
    return a.reshape(size)


class MarketParallelEnv(ParallelEnv):
    """The N-trader market as a PettingZoo ``ParallelEnv`` (see :func:`parallel_env`)."""

    metadata = {
        "name": "frictional_market_v0",
        "render_modes": list(RENDER_MODES),
        "is_parallelizable": True,
        "render_fps": 10,
    }

    def __init__(
        self,
        config: MarketConfig,
        *,
        price: Any = "clearing",
        clearing: str = "project",
        render_mode: str | None = None,
        max_rate: float | None = None,
        clip_actions: bool = True,
        market_maker: MarketMakerSpec | None = None,
        dtype: torch.dtype = torch.float64,
        seed: int | None = None,
    ) -> None:
        _check_render_mode(render_mode)
        self.config = config
        self.render_mode = render_mode
        self.view = MarketView(
            config,
            1,
            price=resolve_price(price, config),
            clearing=clearing,
            max_rate=max_rate,
            clip_actions=clip_actions,
            market_maker=market_maker,
            dtype=dtype,
            seed=seed,
            record=render_mode is not None,
        )
        N = config.n_agents
        self.traders = [trader_name(n) for n in range(N)]
        self.possible_agents = list(self.traders)
        if self.view.has_market_agent:
            self.possible_agents.append(MARKET_AGENT)
        self.agents: list[str] = []
        obs_space = trader_observation_space(config)
        act_space = rate_action_space(self.view.max_rate)
        self.observation_spaces: dict[str, spaces.Box] = {}
        self.action_spaces: dict[str, spaces.Box] = {}
        for name in self.traders:
            # one space object per agent, so that seeding one does not seed the others
            self.observation_spaces[name] = spaces.Box(
                obs_space.low, obs_space.high, dtype=np.float32
            )
            self.action_spaces[name] = spaces.Box(act_space.low, act_space.high, dtype=np.float32)
        if self.view.has_market_agent:
            self.observation_spaces[MARKET_AGENT] = market_observation_space(config)
            self.action_spaces[MARKET_AGENT] = self.view.market_maker.action_space()
        #: Space of :meth:`state`: the Markov state ``[t, W, S, φ_1..φ_N]``.
        self.state_space = market_observation_space(config)
        self._dtype = dtype

    # ----- spaces ------------------------------------------------------------------------------
    def _known(self, agent: str) -> str:
        if agent not in self.observation_spaces:
            raise ValueError(f"unknown agent {agent!r}; agents are {self.possible_agents}")
        return agent

    def observation_space(self, agent: str) -> spaces.Box:
        """Trader: ``Box(2N+5)`` (:mod:`market_env.observation`); market: ``Box(N+3)``."""
        return self.observation_spaces[self._known(agent)]

    def action_space(self, agent: str) -> spaces.Box:
        """Trader: rate ``Box(1)`` on ``±max_rate``; market: ``Box(3)`` ``(μ, log(σ/α), S_0)``."""
        return self.action_spaces[self._known(agent)]

    # ----- episode -------------------------------------------------------------------------------
    def _observations(self) -> dict[str, np.ndarray]:
        obs = self.view.trader_obs()[0].to(torch.float32).numpy()
        out = {name: obs[n] for n, name in enumerate(self.traders)}
        if self.view.has_market_agent:
            out[MARKET_AGENT] = self.view.market_obs()[0].to(torch.float32).numpy()
        return out

    def state(self) -> np.ndarray:
        """The global Markov state ``[t, W, S, φ_1..φ_N]`` (float32)."""
        return self.view.market_obs()[0].to(torch.float32).numpy()

    def reset(
        self, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        """Start a new path. ``seed`` reseeds the market's generator (same seed, same path);
        ``None`` draws the next path from it. ``options`` is accepted and ignored."""
        self.view.reset(seed=seed)
        self.agents = list(self.possible_agents)
        if self.render_mode == "human":
            self.render()
        return self._observations(), {name: {} for name in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """Advance one step; every live agent must act (see module docstring of
        :mod:`market_env.observation` for actions and rewards)."""
        if self.view.market.state is None:
            raise RuntimeError("call reset() before step()")
        if not self.agents:
            raise RuntimeError(
                f"the episode is over (all K = {self.config.n_steps} steps played); "
                "call reset() to start a new one"
            )
        if not isinstance(actions, dict):
            raise ValueError(
                f"actions must be a dict agent name -> action, got {type(actions).__name__}"
            )
        unknown = [a for a in actions if a not in self.observation_spaces]
        if unknown:
            raise ValueError(f"unknown agent name(s) {unknown}; agents are {self.possible_agents}")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"missing actions for agent(s) {missing}")
        rates = np.empty(len(self.traders))
        for n, name in enumerate(self.traders):
            rates[n] = action_to_array(actions[name], name, 1)[0]
        view = self.view
        checked = view.check_rates(
            torch.from_numpy(rates).to(self._dtype).unsqueeze(0), self.traders
        )
        market_action = None
        if view.has_market_agent:
            ma = action_to_array(actions[MARKET_AGENT], MARKET_AGENT, 3)
            market_action = view.check_market_action(
                torch.from_numpy(ma).to(self._dtype).unsqueeze(0), MARKET_AGENT
            )
        vs = view.step(checked, market_action)
        res = vs.result
        reward = res.reward[0].tolist()
        rewards = {name: reward[n] for n, name in enumerate(self.traders)}
        common = step_info(res)
        fills = res.fills[0].tolist()
        orders = checked[0].tolist()
        infos = {
            name: {**common, "order": orders[n], "fill": fills[n]}
            for n, name in enumerate(self.traders)
        }
        if view.has_market_agent:
            rewards[MARKET_AGENT] = float(vs.market_reward[0])
            infos[MARKET_AGENT] = {**common, "S0": float(view.market.S0.reshape(-1)[0])}
        done = vs.done
        terminations = {name: done for name in self.agents}
        truncations = {name: False for name in self.agents}
        obs = self._observations()
        if done:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return obs, rewards, terminations, truncations, infos

    def render(self) -> np.ndarray | None:
        """``"rgb_array"``: image ``(H, W, 3)`` of the price and holdings so far;
        ``"human"``: prints one line per step."""
        if self.render_mode is None:
            return None
        if self.render_mode == "rgb_array":
            return self.view.render_rgb()
        print(self.view.render_text())
        return None

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return (
            f"MarketParallelEnv(N={self.config.n_agents}, K={self.config.n_steps}, "
            f"market_agent={self.view.has_market_agent})"
        )


def parallel_env(
    preset: str | None = None,
    config: MarketConfig | dict | str | None = None,
    *,
    price: Any = "clearing",
    clearing: str = "project",
    render_mode: str | None = None,
    max_rate: float | None = None,
    clip_actions: bool = True,
    market_maker: MarketMakerSpec | None = None,
    dtype: torch.dtype = torch.float64,
    seed: int | None = None,
) -> MarketParallelEnv:
    """The market as a PettingZoo ``ParallelEnv`` (one path, K steps per episode).

    Agents: ``trader_0 … trader_{N−1}``, plus ``market`` when ``price="market"``.

    Args:
        preset: a preset of MODEL.md §6 (``"quadratic-10"``, ``"power-2"``, ``"power-10"``);
            default ``"quadratic-10"`` when neither ``preset`` nor ``config`` is given.
        config: a :class:`MarketConfig` (or dict, or JSON file path) instead of a preset.
        price: how ``(μ_k, σ_k)`` are made (DESIGN.md): ``"clearing"`` (default; clearing
            drift ``μ = (1/N)Σγ_nσ(σφ_n+ξ_nW)`` with ``σ = α``), ``"frictionless"``
            (MODEL.md §3), ``"equilibrium"`` (price of the best known equilibrium: Riccati
            for q = 2, leading order for N = 2, else frictionless), ``"market"`` (the
            ``market`` agent sets ``μ_k``, ``σ_k = α·exp(u_k)`` and ``S_0``), or any
            ``PriceMechanism`` or solver ``Solution`` (its price).
        clearing: quantity clearing of submitted rates, ``"project"`` (default: each fill is
            the order minus the mean imbalance), ``"residual"`` or ``"none"``.
        render_mode: ``None``, ``"rgb_array"`` (image of price and holdings) or ``"human"``
            (prints a line per step).
        max_rate: bound of the trading-rate action (default
            :func:`~market_env.observation.default_max_rate`).
        clip_actions: clip out-of-range actions to their bounds (default) or raise
            ``ValueError``. NaN/inf actions always raise.
        market_maker: bounds and reward weights of the market agent
            (:class:`~market_env.observation.MarketMakerSpec`).
        dtype: dtype of the simulation (float64 default; observations are float32).
        seed: initial seed of the market's generator (``reset(seed=...)`` overrides).

    Observations, actions and rewards: see :mod:`market_env.observation`. Each trader's
    reward is ``r_n,k`` of MODEL.md §2; infos hold ``k``, ``t``, ``mu``, ``sigma``, ``S``
    (after the step), ``imbalance`` (submitted, ``Σ rate/N``), the agent's ``order`` and
    ``fill``. All agents terminate together after ``K = n_steps`` steps.
    """
    return MarketParallelEnv(
        resolve_config(preset, config),
        price=price,
        clearing=clearing,
        render_mode=render_mode,
        max_rate=max_rate,
        clip_actions=clip_actions,
        market_maker=market_maker,
        dtype=dtype,
        seed=seed,
    )
