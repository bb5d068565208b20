"""PettingZoo ``ParallelEnv`` view of the market: every trader (and optionally the market
maker) is an agent (MODEL.md §2, DESIGN.md).

    >>> import market_env
    >>> env = market_env.parallel_env(preset="power-2", seed=0)
    >>> obs, infos = env.reset(seed=0)
    >>> while env.agents:
    ...     actions = {a: env.action_space(a).sample() for a in env.agents}
    ...     obs, rewards, terminations, truncations, infos = env.step(actions)

Env spec:

=================  =============================================================================
Agents             ``trader_0 … trader_{N−1}``, plus ``market`` when ``price="market"``
Parallel API       yes (``metadata["name"] = "frictional_market_v0"``)
Episode            one path of :class:`~market_env.market.BatchedMarket`, ``K = n_steps``
                   steps; all agents terminate together, never truncated
Trader obs         ``Box((2N+5,), float32)``: ``[t, W, S, φ_1..φ_N, γ_n, ξ_n, one-hot(n)]``
Market obs         ``Box((N+3,), float32)``: ``[t, W, S, φ_1..φ_N]`` (``S_0^fl`` at ``k = 0``)
Global state       ``state()``: ``[t, W, S, φ_1..φ_N]``
Trader action      ``Box((1,), float32)`` on ``±max_rate``: the rate ``φ̇_n,k``
Market action      ``Box((3,), float32)``: ``(μ_k, log(σ_k/α), S_0)`` (``S_0`` read at k = 0)
Trader reward      ``r_n,k`` of MODEL.md §2 (the episode return is ``J_n`` on the path)
Market reward      ``−w_clear·imbalance²/K`` per step, ``−w_terminal·|S_K − 𝔖|²`` at the end
Infos              ``k, t, mu, sigma, S`` (after the step), ``imbalance``; traders ``order``,
                   ``fill``; market ``S0``
Render modes       ``"human"`` (a line per step), ``"rgb_array"`` (price and holdings)
Seeding            ``reset(seed=s)``: the path of ``solvers.evaluate(..., n_paths=1, seed=s)``
=================  =============================================================================

Options: :class:`~market_env.envs.options.EnvOptions` (interface ``"parallel"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from pettingzoo import ParallelEnv

from ..config import MarketConfig
from ..policy import resolve_config
from .common import (
    MARKET_AGENT,
    RENDER_MODES,
    action_to_array,
    check_can_step,
    render,
    step_info,
)
from .options import EnvOptions, resolve
from .spaces import (
    market_action_space,
    market_observation_space,
    rate_action_space,
    trader_observation_space,
)
from .view import ALL, MarketView

__all__ = ["MarketParallelEnv", "parallel_env"]


class MarketParallelEnv(ParallelEnv):
    """The N-trader market as a PettingZoo ``ParallelEnv`` (module docstring).

    Args:
        config: the market.
        options: an :class:`EnvOptions`; keyword arguments (``price``, ``clearing``,
            ``max_rate``, ``clip_actions``, ``dtype``, ``device``, ``seed``,
            ``market_maker``, ``render_mode``) override it.
    """

    metadata = {
        "name": "frictional_market_v0",
        "render_modes": list(RENDER_MODES),
        "is_parallelizable": True,
        "render_fps": 10,
    }

    def __init__(
        self, config: MarketConfig, options: EnvOptions | None = None, **kwargs: Any
    ) -> None:
        options = resolve("parallel", options, **kwargs)
        self.options = options
        self.config = config
        self.render_mode = options.render_mode
        self.view = MarketView(config, 1, options, learner=ALL, record=self.render_mode is not None)
        self.traders = list(self.view.learner_names)
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
            self.action_spaces[MARKET_AGENT] = market_action_space(self.view.maker.spec)
        #: Space of :meth:`state`: the Markov state ``[t, W, S, φ_1..φ_N]``.
        self.state_space = market_observation_space(config)

    # ----- spaces ------------------------------------------------------------------------------
    def _known(self, agent: str) -> str:
        if agent not in self.observation_spaces:
            raise ValueError(f"unknown agent {agent!r}; agents are {self.possible_agents}")
        return agent

    def observation_space(self, agent: str) -> spaces.Box:
        """Trader: ``Box(2N+5)``; market: ``Box(N+3)`` (module docstring)."""
        return self.observation_spaces[self._known(agent)]

    def action_space(self, agent: str) -> spaces.Box:
        """Trader: rate ``Box(1)`` on ``±max_rate``; market: ``Box(3)`` ``(μ, log(σ/α), S_0)``."""
        return self.action_spaces[self._known(agent)]

    # ----- episode -------------------------------------------------------------------------------
    def _observations(self) -> dict[str, np.ndarray]:
        obs = self.view.trader_obs()[0].to(torch.float32).cpu().numpy()
        out = {name: obs[n] for n, name in enumerate(self.traders)}
        if self.view.has_market_agent:
            out[MARKET_AGENT] = self.state()
        return out

    def state(self) -> np.ndarray:
        """The global Markov state ``[t, W, S, φ_1..φ_N]`` (float32)."""
        return self.view.market_obs()[0].to(torch.float32).cpu().numpy()

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
        """Advance one step; every live agent must act (module docstring)."""
        view = self.view
        check_can_step(view)
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
        rates = np.array([action_to_array(actions[n], n, 1)[0] for n in self.traders])
        market_action = None
        if view.has_market_agent:
            market_action = view.as_tensor(action_to_array(actions[MARKET_AGENT], MARKET_AGENT, 3))
            market_action = market_action.unsqueeze(0)
        vs = view.step(view.as_tensor(rates).unsqueeze(0), market_action)
        res = vs.result
        reward = res.reward[0].tolist()
        rewards = {name: reward[n] for n, name in enumerate(self.traders)}
        common = step_info(res)
        fills = res.fills[0].tolist()
        orders = vs.orders[0].tolist()
        infos = {
            name: {**common, "order": orders[n], "fill": fills[n]}
            for n, name in enumerate(self.traders)
        }
        if view.has_market_agent:
            rewards[MARKET_AGENT] = float(vs.market_reward[0])
            infos[MARKET_AGENT] = {**common, "S0": float(view.market.S0.reshape(-1)[0])}
        terminations = {name: vs.done for name in self.agents}
        truncations = {name: False for name in self.agents}
        obs = self._observations()
        if vs.done:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return obs, rewards, terminations, truncations, infos

    def render(self) -> np.ndarray | None:
        """``"rgb_array"``: image ``(H, W, 3)`` of the price and holdings so far;
        ``"human"``: prints one line per step."""
        return render(self.view, self.render_mode)

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
    options: EnvOptions | None = None,
    **kwargs: Any,
) -> MarketParallelEnv:
    """The market as a PettingZoo ``ParallelEnv`` (one path, K steps per episode).

    ``preset`` (a name of MODEL.md §6, default ``"quadratic-10"``) or ``config`` (a
    :class:`MarketConfig`, dict or JSON path) picks the market; the options (``price``,
    ``clearing``, ``max_rate``, ``clip_actions``, ``dtype``, ``device``, ``seed``,
    ``market_maker``, ``render_mode``) are documented once in :func:`market_env.make`
    (``make(..., interface="parallel")`` is the same env).
    """
    return MarketParallelEnv(resolve_config(preset, config), options, **kwargs)
