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

from typing import Any

import numpy as np
import torch
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .config import MarketConfig
from .gym_env import resolve_agent
from .observation import MarketView, rate_action_space, trader_observation_space
from .pettingzoo_env import _check_render_mode, trader_name
from .policy import resolve_config, resolve_others, resolve_price

__all__ = ["MarketVectorEnv", "SHARED"]

#: ``agent=SHARED``: every trader of every path is a sub-environment (parameter sharing).
SHARED = "shared"

_AUTORESET = {
    "next_step": AutoresetMode.NEXT_STEP,
    "same_step": AutoresetMode.SAME_STEP,
    AutoresetMode.NEXT_STEP: AutoresetMode.NEXT_STEP,
    AutoresetMode.SAME_STEP: AutoresetMode.SAME_STEP,
}


class MarketVectorEnv(VectorEnv):
    """B paths of the market as one gymnasium ``VectorEnv``.

    Two layouts:

    * ``agent=n`` (an index or ``"trader_n"``): ``num_envs = B`` paths; trader ``n`` learns,
      the others follow ``others`` (as :class:`~market_env.gym_env.FrictionalMarketEnv`).
    * ``agent="shared"``: ``num_envs = B·N`` sub-environments, sub-environment ``b·N + n``
      is trader ``n`` on path ``b``; every trader's action comes from the caller, so one
      parameter-shared policy trains all traders at once (the observation holds the agent's
      ``γ_n``, ``ξ_n`` and one-hot index). ``num_envs`` must be a multiple of N.

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
        preset, config, clearing, max_rate, clip_actions: as for
            :func:`market_env.parallel_env`.
        agent: the learning trader, or ``"shared"``.
        others: policy of the non-learning traders (``agent=n`` only), as for
            :class:`~market_env.gym_env.FrictionalMarketEnv`.
        price: default ``"equilibrium"`` with one learning agent, ``"clearing"`` with
            ``agent="shared"``; ``"market"`` is not supported here.
        dtype, device: of the simulation (float32 default; observations are float32).
        seed: initial seed of the market's generator; ``reset(seed=s)`` reseeds it, so path
            ``b`` equals path ``b`` of ``solvers.evaluate(..., n_paths=B, seed=s)``.
        autoreset_mode: ``"next_step"`` (default) or ``"same_step"``.
        render_mode: ``None`` or ``"rgb_array"`` (image of path 0).
    """

    def __init__(
        self,
        num_envs: int = 1,
        preset: str | None = None,
        config: MarketConfig | dict | str | None = None,
        *,
        agent: int | str = 0,
        others: Any = "equilibrium",
        price: Any = None,
        clearing: str = "project",
        max_rate: float | None = None,
        clip_actions: bool = True,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
        seed: int | None = None,
        autoreset_mode: str | AutoresetMode = "next_step",
        render_mode: str | None = None,
    ) -> None:
        _check_render_mode(render_mode)
        if render_mode == "human":
            raise ValueError("MarketVectorEnv supports render_mode None or 'rgb_array'")
        config = resolve_config(preset, config)
        if (
            isinstance(num_envs, bool)
            or not isinstance(num_envs, (int, np.integer))
            or num_envs < 1
        ):
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        if autoreset_mode not in _AUTORESET:
            raise ValueError(
                f"autoreset_mode must be 'next_step' or 'same_step', got {autoreset_mode!r}"
            )
        N = config.n_agents
        self.config = config
        self.shared = isinstance(agent, str) and agent == SHARED
        solution = None
        if self.shared:
            if num_envs % N:
                raise ValueError(
                    f"with agent='shared' num_envs must be a multiple of N = {N} "
                    f"(B paths × N traders), got {num_envs}"
                )
            n_paths = num_envs // N
            self.agent = None
            self.others = None
            self._names = [trader_name(n) for n in range(N)]
            price = "clearing" if price is None else price
        else:
            n_paths = int(num_envs)
            self.agent = resolve_agent(agent, N)
            self.others, solution = resolve_others(others, config)
            self._names = [trader_name(self.agent)]
            price = "equilibrium" if price is None else price
        if isinstance(price, str) and price == "market":
            raise ValueError("price='market' is supported by market_env.parallel_env only")
        #: the ``Solution`` the other traders follow (``None`` for a custom policy or shared)
        self.others_solution = solution
        self.view = MarketView(
            config,
            n_paths,
            price=resolve_price(price, config, solution=solution),
            clearing=clearing,
            max_rate=max_rate,
            clip_actions=clip_actions,
            dtype=dtype,
            device=device,
            seed=seed,
            record=render_mode is not None,
        )
        self.num_envs = int(num_envs)
        self.n_paths = n_paths
        self.render_mode = render_mode
        self.metadata = {
            "autoreset_mode": _AUTORESET[autoreset_mode],
            "render_modes": ["rgb_array"],
        }
        self.single_observation_space = trader_observation_space(config)
        self.single_action_space = rate_action_space(self.view.max_rate)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._dtype = dtype
        self._needs_reset = False
        self._mask = np.ones(self.num_envs, dtype=bool)
        self._mask.flags.writeable = False

    # ----- helpers ---------------------------------------------------------------------------
    def _obs(self) -> np.ndarray:
        obs = self.view.trader_obs(self.agent)
        if self.shared:
            obs = obs.reshape(self.num_envs, -1)
        return obs.to(torch.float32).cpu().numpy()

    def _per_env(self, x: torch.Tensor) -> np.ndarray:
        if self.shared:
            x = x.repeat_interleave(self.config.n_agents)
        return x.cpu().numpy()

    def _actions(self, actions: Any) -> torch.Tensor:
        """The caller's actions as checked rates ``(B, N)`` (shared) or ``(B, 1)``."""
        try:
            a = torch.as_tensor(
                np.asarray(actions), dtype=self._dtype, device=self.view.market.device
            )
        except (TypeError, ValueError):
            raise ValueError(
                f"actions must be a number array of shape ({self.num_envs}, 1), got {actions!r}"
            ) from None
        if tuple(a.shape) not in ((self.num_envs, 1), (self.num_envs,)):
            raise ValueError(
                f"actions must have shape ({self.num_envs}, 1) (one rate per sub-environment), "
                f"got shape {tuple(a.shape)}"
            )
        if self.shared:
            return self.view.check_rates(a.reshape(self.n_paths, -1), self._names)
        return self.view.check_rates(a.reshape(self.n_paths, 1), self._names)

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
        if view.market.state is None:
            raise RuntimeError("call reset() before step()")
        if self._needs_reset:  # next-step autoreset: this call only resets
            view.reset()
            self._needs_reset = False
            zeros = np.zeros(self.num_envs, dtype=bool)
            return self._obs(), np.zeros(self.num_envs), zeros, zeros.copy(), {}
        if view.done:
            raise RuntimeError("the episode is over; call reset() to start a new one")
        rates = self._actions(actions)
        if not self.shared:
            with torch.no_grad():
                others = self.others(view.state).to(self._dtype)
            rates = torch.cat([others[:, : self.agent], rates, others[:, self.agent + 1 :]], 1)
            if not bool(torch.isfinite(others).all()):
                raise ValueError("the others' policy returned non-finite rates")
        res = view.step(rates).result
        if self.shared:
            reward = res.reward.reshape(-1)
        else:
            reward = res.reward[:, self.agent]
        reward = reward.detach().cpu().numpy()
        done = res.done
        terminated = np.full(self.num_envs, done)
        truncated = np.zeros(self.num_envs, dtype=bool)
        mask = self._mask
        infos: dict[str, Any] = {
            "mu": self._per_env(res.mu),
            "_mu": mask,
            "sigma": self._per_env(res.sigma),
            "_sigma": mask,
            "S": self._per_env(res.state.S),
            "_S": mask,
            "imbalance": self._per_env(res.imbalance),
            "_imbalance": mask,
        }
        obs = self._obs()
        if done:
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
        if self.render_mode is None:
            return None
        return self.view.render_rgb()

    def close_extras(self, **kwargs: Any) -> None:
        pass

    def __repr__(self) -> str:
        layout = "shared" if self.shared else f"agent={self.agent}"
        return f"MarketVectorEnv(num_envs={self.num_envs}, N={self.config.n_agents}, {layout})"
