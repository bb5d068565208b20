"""Gymnasium single-agent view of the market: one learning trader, the others follow
``others`` (MODEL.md §2, DESIGN.md). Registered as ``market_env/FrictionalMarket-v0``::

    import gymnasium, market_env
    env = gymnasium.make("market_env/FrictionalMarket-v0", preset="quadratic-10", agent=0)

With the defaults (``others="equilibrium"``, ``price`` then ``"equilibrium"``) the learning
agent faces the best known equilibrium (the exact K-step Riccati truth for q = 2), so its
best response is the equilibrium policy itself.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import torch

from ..config import MarketConfig
from ..policy import resolve_config
from .common import (
    RENDER_MODES,
    action_to_array,
    check_can_step,
    render,
    resolve_agent,
    step_info,
)
from .options import EnvOptions, resolve
from .spaces import rate_action_space, trader_observation_space
from .view import MarketView

__all__ = ["FrictionalMarketEnv"]


class FrictionalMarketEnv(gymnasium.Env):
    """One learning trader in the N-agent market; one path per episode, K steps.

    Args:
        preset, config: the market (default ``"quadratic-10"``).
        options: an :class:`EnvOptions`; keyword arguments (``agent``, ``others``,
            ``price``, ``clearing``, ``max_rate``, ``clip_actions``, ``dtype``, ``device``,
            ``seed``, ``render_mode``) override it; all documented in
            :func:`market_env.make` (``interface="gym"``).

    Observation ``Box(2N+5)`` and action ``Box(1)`` (the trading rate) as in
    :mod:`market_env.envs.pettingzoo`. Reward: ``r_n,k`` of MODEL.md §2 for the learning
    agent. ``terminated`` is ``True`` after ``K`` steps (time is part of the observation);
    ``truncated`` is always ``False``. Stepping after the end raises ``RuntimeError``.
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 10}

    def __init__(
        self,
        preset: str | None = None,
        config: MarketConfig | dict | str | None = None,
        options: EnvOptions | None = None,
        **kwargs: Any,
    ) -> None:
        options = resolve("gym", options, **kwargs)
        config = resolve_config(preset, config)
        self.options = options
        self.config = config
        self.render_mode = options.render_mode
        #: the learning trader's index (a trader only: ``"shared"``/``"market"`` are batched)
        self.agent = resolve_agent(options.agent, config.n_agents)
        self.view = MarketView(
            config, 1, options, learner=self.agent, record=self.render_mode is not None
        )
        self.agent_name = self.view.learner_names[0]
        #: the ``Solution`` the other traders follow (``None`` for a custom policy)
        self.others_solution = self.view.others_solution
        self.observation_space = trader_observation_space(config)
        self.action_space = rate_action_space(self.view.max_rate)

    def _obs(self) -> np.ndarray:
        return self.view.trader_obs(self.agent)[0].to(torch.float32).cpu().numpy()

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
        check_can_step(view)
        own = view.as_tensor(action_to_array(action, self.agent_name, 1)).reshape(1, 1)
        vs = view.step(own)
        res, n = vs.result, self.agent
        info = {**step_info(res), "order": float(vs.orders[0, 0]), "fill": float(res.fills[0, n])}
        if self.render_mode == "human":
            self.render()
        return self._obs(), float(res.reward[0, n]), vs.done, False, info

    def render(self) -> np.ndarray | None:
        """``"rgb_array"``: image of price and holdings so far; ``"human"``: prints a line."""
        return render(self.view, self.render_mode)
