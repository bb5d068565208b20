"""Stable-Baselines3 ``VecEnv`` adapter over :class:`~market_env.vector_env.MarketVectorEnv`
(DESIGN.md): B paths for one learning trader, or B×N parameter-shared sub-environments.

    from stable_baselines3 import PPO
    from market_env import MarketSB3VecEnv

    venv = MarketSB3VecEnv(num_envs=64, preset="power-2", agent=0)          # B paths
    venv = MarketSB3VecEnv(num_envs=64 * 2, preset="power-2", agent="shared")  # B×N
    PPO("MlpPolicy", venv, n_steps=100).learn(10_000)

SB3 auto-reset semantics: when the episode ends (for all sub-environments at once, after K
steps) ``step_wait`` returns the first observations of the next episode and each info dict
holds ``"terminal_observation"`` (and ``"TimeLimit.truncated": False``). ``step_wait`` makes
one batched market step; the only per-sub-environment work is building the list of info dicts
SB3's API asks for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn

from .vector_env import MarketVectorEnv

__all__ = ["MarketSB3VecEnv"]


class MarketSB3VecEnv(VecEnv):
    """SB3 ``VecEnv`` view of a :class:`MarketVectorEnv` in ``"same_step"`` autoreset mode.

    Args:
        venv: an existing ``MarketVectorEnv`` (built with ``autoreset_mode="same_step"``);
            or omit it and pass the keyword arguments of :class:`MarketVectorEnv`
            (``num_envs``, ``preset``/``config``, ``agent`` (index or ``"shared"``),
            ``others``, ``price``, ``clearing``, ``max_rate``, ``clip_actions``, ``dtype``,
            ``device``, ``seed``, ``render_mode``).

    Seeding: ``venv.seed(s)`` then ``reset()`` reseeds the market with ``s`` (SB3 gives
    sub-environment ``i`` the seed ``s + i``; the batched market uses the first).
    """

    def __init__(self, venv: MarketVectorEnv | None = None, **kwargs: Any) -> None:
        if venv is None:
            kwargs.setdefault("autoreset_mode", "same_step")
            venv = MarketVectorEnv(**kwargs)
        elif kwargs:
            raise ValueError(
                f"pass either venv or MarketVectorEnv arguments, not both ({sorted(kwargs)})"
            )
        if venv.metadata["autoreset_mode"] != AutoresetMode.SAME_STEP:
            raise ValueError(
                "MarketSB3VecEnv needs a MarketVectorEnv with autoreset_mode='same_step'"
            )
        self.venv = venv
        self._actions: np.ndarray | None = None
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)

    # ----- VecEnv API --------------------------------------------------------------------------
    def reset(self) -> np.ndarray:
        seed = self._seeds[0]
        obs, _ = self.venv.reset(seed=seed)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_async(actions) must be called before step_wait()")
        obs, reward, terminated, truncated, info = self.venv.step(self._actions)
        self._actions = None
        dones = terminated | truncated
        if "final_obs" in info:  # the episode ended everywhere at once
            infos = [
                {"terminal_observation": o, "TimeLimit.truncated": False} for o in info["final_obs"]
            ]
        else:
            infos = [{} for _ in range(self.num_envs)]  # SB3's per-env info container
        return obs, reward.astype(np.float32, copy=False), dones, infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        value = getattr(self.venv, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result for _ in self._get_indices(indices)]

    def env_is_wrapped(
        self, wrapper_class: type[gymnasium.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [self.venv.render()]

    @property
    def market(self):
        """The underlying :class:`~market_env.market.BatchedMarket`."""
        return self.venv.view.market

    def __repr__(self) -> str:
        return f"MarketSB3VecEnv({self.venv!r})"
