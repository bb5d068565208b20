"""Gymnasium ``VectorEnv`` over :class:`~market_env.market.BatchedMarket`: the batched RL face
of the market (DESIGN.md). No Python loop over sub-environments: one market step per call.

Registered as the ``vector_entry_point`` of ``market_env/FrictionalMarket-v0``::

    envs = gymnasium.make_vec("market_env/FrictionalMarket-v0", num_envs=4096,
                              preset="quadratic-10", agent=0)            # B paths, one agent
    envs = gymnasium.make_vec("market_env/FrictionalMarket-v0", num_envs=4096 * 10,
                              preset="quadratic-10", agent="shared")     # B×N, all traders

Works with gymnasium 1.2 and 1.4 (only APIs present in both are used).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ..config import MarketConfig
from ..policy import resolve_config
from .common import MARKET_AGENT, SHARED, check_can_step, render
from .options import EnvOptions, resolve
from .spaces import (
    market_action_space,
    market_observation_space,
    rate_action_space,
    trader_observation_space,
)
from .view import MarketView

__all__ = ["MarketVectorEnv"]

_AUTORESET = {"next_step": AutoresetMode.NEXT_STEP, "same_step": AutoresetMode.SAME_STEP}


class MarketVectorEnv(VectorEnv):
    """B paths of the market as one gymnasium ``VectorEnv``.

    Three layouts (``agent=``):

    * a trader index or ``"trader_n"``: ``num_envs = B`` paths; trader ``n`` learns, the
      others follow ``others`` (as :class:`~market_env.envs.gym.FrictionalMarketEnv`);
    * ``"shared"``: ``num_envs = B·N`` sub-environments, sub-environment ``b·N + n`` is
      trader ``n`` on path ``b``; every trader's action comes from the caller, so one
      parameter-shared policy trains all traders at once (the observation holds the agent's
      ``γ_n``, ``ξ_n`` and one-hot index). ``num_envs`` must be a multiple of N;
    * ``"market"``: ``num_envs = B`` paths; the market maker learns (observation ``Box(N+3)``,
      action ``Box(3)`` = ``(μ, log(σ/α), S_0)``, its reward as in the PettingZoo env), the
      traders follow ``others``.

    All paths end together after K steps (``terminated`` everywhere, never ``truncated``).
    Autoreset (``metadata["autoreset_mode"]``): ``"next_step"`` (gymnasium's default: the
    call after the last step resets, ignoring its actions, and returns reward 0) or
    ``"same_step"`` (the last step returns the reset observations, with the final ones in
    ``infos["final_obs"]``, a float array of the observation batch's shape, and
    ``infos["_final_obs"]``). New episodes draw fresh paths from the market's generator.

    Infos (per step): ``mu``, ``sigma``, ``S`` (after the step), ``imbalance`` per
    sub-environment, each with its ``_key`` mask.

    Args:
        num_envs: number of sub-environments (B, or B·N with ``agent="shared"``).
        preset, config: the market (default ``"quadratic-10"``).
        options: an :class:`EnvOptions`; keyword arguments (``agent``, ``others``,
            ``price``, ``clearing``, ``max_rate``, ``clip_actions``, ``dtype``, ``device``,
            ``seed``, ``market_maker``, ``autoreset_mode``, ``render_mode``) override it, all
            documented in :func:`market_env.make` (``interface="vector"``). ``seed=s`` or
            ``reset(seed=s)`` makes path ``b`` equal path ``b`` of
            ``solvers.evaluate(..., n_paths=B, seed=s)``.
    """

    def __init__(
        self,
        num_envs: int = 1,
        preset: str | None = None,
        config: MarketConfig | dict | str | None = None,
        options: EnvOptions | None = None,
        **kwargs: Any,
    ) -> None:
        options = resolve("vector", options, **kwargs)
        config = resolve_config(preset, config)
        if isinstance(num_envs, bool) or not isinstance(num_envs, numbers.Integral) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        N = config.n_agents
        agent = options.agent
        self.shared = isinstance(agent, str) and agent == SHARED
        self.market_learns = isinstance(agent, str) and agent == MARKET_AGENT
        if self.shared and num_envs % N:
            raise ValueError(
                f"with agent='shared' num_envs must be a multiple of N = {N} "
                f"(B paths × N traders), got {num_envs}"
            )
        n_paths = int(num_envs) // N if self.shared else int(num_envs)
        self.options = options
        self.config = config
        self.view = MarketView(
            config, n_paths, options, learner=agent, record=options.render_mode is not None
        )
        #: the learning trader's index (``None`` with ``"shared"`` or ``"market"``)
        self.agent = self.view.agent
        #: the ``Solution`` the other traders follow (``None`` for a custom policy or shared)
        self.others_solution = self.view.others_solution
        self.num_envs = int(num_envs)
        self.n_paths = n_paths
        self.render_mode = options.render_mode
        self.metadata = {
            "autoreset_mode": _AUTORESET[options.autoreset_mode],
            "render_modes": ["rgb_array"],
        }
        if self.market_learns:
            self.single_observation_space = market_observation_space(config)
            self.single_action_space = market_action_space(self.view.maker.spec)
        else:
            self.single_observation_space = trader_observation_space(config)
            self.single_action_space = rate_action_space(self.view.max_rate)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._action_size = self.single_action_space.shape[0]
        self._needs_reset = False
        self._mask = np.ones(self.num_envs, dtype=bool)
        self._mask.flags.writeable = False

    # ----- helpers ---------------------------------------------------------------------------
    def _obs(self) -> np.ndarray:
        if self.market_learns:
            obs = self.view.market_obs()
        else:
            obs = self.view.trader_obs(self.agent)
            if self.shared:
                obs = obs.reshape(self.num_envs, -1)
        return obs.to(torch.float32).cpu().numpy()

    def _per_env(self, x: torch.Tensor) -> np.ndarray:
        if self.shared:
            x = x.repeat_interleave(self.config.n_agents)
        return x.cpu().numpy()

    def _actions(self, actions: Any) -> torch.Tensor:
        """The caller's actions as a ``(B, ·)`` tensor: rates ``(B, N)`` (shared) or
        ``(B, 1)``, or the market maker's ``(B, 3)``."""
        size, num = self._action_size, self.num_envs
        try:
            a = self.view.as_tensor(actions)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(
                f"actions must be a number array of shape ({num}, {size}), got {actions!r}"
            ) from None
        shapes = ((num, size), (num,)) if size == 1 else ((num, size),)
        if tuple(a.shape) not in shapes:
            raise ValueError(
                f"actions must have shape ({num}, {size}) (one action per sub-environment), "
                f"got shape {tuple(a.shape)}"
            )
        return a.reshape(self.n_paths, -1)

    # ----- API -------------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every path; ``seed`` reseeds the market's generator."""
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seed)
        self.view.reset(seed=seed)
        self._needs_reset = False
        return self._obs(), {}

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        view = self.view
        if self._needs_reset:  # next-step autoreset: this call only resets
            view.reset()
            self._needs_reset = False
            zeros = np.zeros(self.num_envs, dtype=bool)
            return self._obs(), np.zeros(self.num_envs), zeros, zeros.copy(), {}
        check_can_step(view)
        a = self._actions(actions)
        if self.market_learns:
            vs = view.step(a[:, :0], a)
            reward = vs.market_reward
        else:
            vs = view.step(a)
            res = vs.result
            reward = res.reward.reshape(-1) if self.shared else res.reward[:, self.agent]
        res = vs.result
        reward = reward.detach().cpu().numpy()
        terminated = np.full(self.num_envs, vs.done)
        truncated = np.zeros(self.num_envs, dtype=bool)
        mask = self._mask
        infos: dict[str, Any] = {}
        for key, value in (
            ("mu", res.mu),
            ("sigma", res.sigma),
            ("S", res.state.S),
            ("imbalance", res.imbalance),
        ):
            infos[key] = self._per_env(value)
            infos["_" + key] = mask
        obs = self._obs()
        if vs.done:
            if self.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP:
                infos["final_obs"] = obs
                infos["_final_obs"] = mask
                view.reset()
                obs = self._obs()
            else:
                self._needs_reset = True
        return obs, reward, terminated, truncated, infos

    def render(self) -> np.ndarray | None:
        """``"rgb_array"``: image of path 0's price and holdings so far."""
        return render(self.view, self.render_mode)

    def close_extras(self, **kwargs: Any) -> None:
        pass

    def __repr__(self) -> str:
        layout = f"agent={self.view.learner!r}"
        return f"MarketVectorEnv(num_envs={self.num_envs}, N={self.config.n_agents}, {layout})"
