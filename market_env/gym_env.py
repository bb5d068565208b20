"""Gymnasium single-agent view of the market: one learning trader, the others follow a given
policy (MODEL.md §2, DESIGN.md). Registered as ``market_env/FrictionalMarket-v0``::

    import gymnasium, market_env
    env = gymnasium.make("market_env/FrictionalMarket-v0", preset="quadratic-10", agent=0)

With the defaults (``others="equilibrium"``, ``price="equilibrium"``) the learning agent
faces the best known equilibrium (Riccati truth for q = 2), so its best response is the
equilibrium policy itself.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import torch

from .config import MarketConfig
from .observation import MarketView, rate_action_space, step_info, trader_observation_space
from .pettingzoo_env import RENDER_MODES, _check_render_mode, action_to_array, trader_name
from .policy import resolve_config, resolve_others, resolve_price

__all__ = ["FrictionalMarketEnv", "resolve_agent"]


def resolve_agent(agent: Any, n_agents: int) -> int:
    """An agent index from an int ``0..N−1`` or a name ``"trader_n"``."""
    if isinstance(agent, str) and agent.startswith("trader_") and agent[7:].isdigit():
        index = int(agent[7:])
    elif isinstance(agent, (int, np.integer)) and not isinstance(agent, bool):
        index = int(agent)
    else:
        raise ValueError(
            f"agent must be an index 0..{n_agents - 1} or a name 'trader_n', got {agent!r}"
        )
    if not 0 <= index < n_agents:
        raise ValueError(
            f"unknown agent {agent!r}: this market has N = {n_agents} traders "
            f"(trader_0..trader_{n_agents - 1})"
        )
    return index


class FrictionalMarketEnv(gymnasium.Env):
    """One learning trader in the N-agent market; one path per episode, K steps.

    Args:
        preset, config: the market (see :func:`market_env.parallel_env`); default
            ``"quadratic-10"``.
        agent: the learning trader, an index or ``"trader_n"`` (default 0).
        others: policy of the other traders: ``"equilibrium"`` (default: Riccati truth for
            q = 2 with Σξ = 0, leading order for N = 2, q < 2 when available, else
            frictionless), ``"frictionless"``, ``"zero"``, a solver ``Solution``, a trained
            SB3 model, or an agent policy (:data:`market_env.policy.AgentPolicy`). Their
            rates are used as they come (not clipped).
        price: ``"equilibrium"`` (default: the price of the ``others`` solution when it is
            one, else of the best known equilibrium), ``"clearing"``, ``"frictionless"``,
            a ``PriceMechanism`` or a ``Solution``. (The market-maker mechanism needs the
            PettingZoo env.)
        clearing, render_mode, max_rate, clip_actions, dtype, seed: as for
            :func:`market_env.parallel_env`.

    Observation ``Box(2N+5)`` and action ``Box(1)`` (the trading rate): see
    :mod:`market_env.observation`. Reward: ``r_n,k`` of MODEL.md §2 for the learning agent.
    ``terminated`` is ``True`` after ``K`` steps (time is part of the observation);
    ``truncated`` is always ``False``. Stepping after the end raises ``RuntimeError``.
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 10}

    def __init__(
        self,
        preset: str | None = None,
        config: MarketConfig | dict | str | None = None,
        *,
        agent: int | str = 0,
        others: Any = "equilibrium",
        price: Any = "equilibrium",
        clearing: str = "project",
        render_mode: str | None = None,
        max_rate: float | None = None,
        clip_actions: bool = True,
        dtype: torch.dtype = torch.float64,
        seed: int | None = None,
    ) -> None:
        _check_render_mode(render_mode)
        config = resolve_config(preset, config)
        self.config = config
        self.agent = resolve_agent(agent, config.n_agents)
        self.agent_name = trader_name(self.agent)
        self.others, solution = resolve_others(others, config)
        #: the ``Solution`` the other traders follow (``None`` for a custom policy)
        self.others_solution = solution
        if isinstance(price, str) and price == "market":
            raise ValueError(
                "price='market' needs a policy for the market agent: use "
                "market_env.parallel_env(price='market') for the market-maker game"
            )
        self.view = MarketView(
            config,
            1,
            price=resolve_price(price, config, solution=solution),
            clearing=clearing,
            max_rate=max_rate,
            clip_actions=clip_actions,
            dtype=dtype,
            seed=seed,
            record=render_mode is not None,
        )
        self.render_mode = render_mode
        self.observation_space = trader_observation_space(config)
        self.action_space = rate_action_space(self.view.max_rate)
        self._dtype = dtype

    def _obs(self) -> np.ndarray:
        return self.view.trader_obs(self.agent)[0].to(torch.float32).numpy()

    def reset(
        self, *, seed: int | None = None, options: dict | None = None
    ) -> tuple[np.ndarray, dict]:
        """Start a new path; ``seed`` reseeds the market (same seed as ``solvers.evaluate``
        with ``n_paths=1`` gives the same path), ``None`` draws the next one."""
        super().reset(seed=seed)
        self.view.reset(seed=seed)
        if self.render_mode == "human":
            self.render()
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        view = self.view
        if view.market.state is None:
            raise RuntimeError("call reset() before step()")
        if view.done:
            raise RuntimeError(
                f"the episode is over (all K = {self.config.n_steps} steps played); "
                "call reset() to start a new one"
            )
        a = action_to_array(action, self.agent_name, 1)
        own = view.check_rates(torch.from_numpy(a).to(self._dtype).reshape(1, 1), [self.agent_name])
        with torch.no_grad():
            rates = self.others(view.state).to(self._dtype).clone()
        rates[:, self.agent] = own[:, 0]
        if not bool(torch.isfinite(rates).all()):
            raise ValueError(f"the others' policy returned non-finite rates {rates.tolist()}")
        res = view.step(rates).result
        n = self.agent
        info = {**step_info(res), "order": float(own[0, 0]), "fill": float(res.fills[0, n])}
        if self.render_mode == "human":
            self.render()
        return self._obs(), float(res.reward[0, n]), res.done, False, info

    def render(self) -> np.ndarray | None:
        """``"rgb_array"``: image of price and holdings so far; ``"human"``: prints a line."""
        if self.render_mode is None:
            return None
        if self.render_mode == "rgb_array":
            return self.view.render_rgb()
        print(self.view.render_text())
        return None
