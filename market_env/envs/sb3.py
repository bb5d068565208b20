"""Stable-Baselines3 ``VecEnv`` adapter over :class:`~market_env.envs.vector.MarketVectorEnv`
(DESIGN.md): B paths for one learning trader, B×N parameter-shared sub-environments, or B
paths of the learning market maker.

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

Subclasses may map observations, actions and rewards (the learners' fixed scalings,
:mod:`solvers.rl.envs`) by overriding :meth:`MarketSB3VecEnv.transform_obs`,
:meth:`~MarketSB3VecEnv.transform_actions` and :meth:`~MarketSB3VecEnv.transform_reward`,
so there is one SB3 ``VecEnv`` in the project.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn

from .options import EnvOptions, resolve
from .vector import MarketVectorEnv

__all__ = ["MarketSB3VecEnv"]


class MarketSB3VecEnv(VecEnv):
    """SB3 ``VecEnv`` view of a :class:`MarketVectorEnv` in ``"same_step"`` autoreset mode.

    Args:
        venv: an existing ``MarketVectorEnv`` (built with ``autoreset_mode="same_step"``);
            or omit it and pass ``num_envs``, ``preset``/``config`` and the options
            (an :class:`EnvOptions` and/or keywords: ``agent``, ``others``, ``price``,
            ``clearing``, ``max_rate``, ``clip_actions``, ``dtype``, ``device``, ``seed``,
            ``market_maker``, ``render_mode``), documented in :func:`market_env.make`
            (``interface="sb3"``).
        observation_space, action_space: the spaces the learner sees (default the vector
            env's single spaces; a subclass mapping them passes its own).

    Seeding: ``venv.seed(s)`` then ``reset()`` reseeds the market with ``s`` (SB3 gives
    sub-environment ``i`` the seed ``s + i``; the batched market uses the first).
    """

    def __init__(
        self,
        venv: MarketVectorEnv | None = None,
        *,
        num_envs: int = 1,
        preset: str | None = None,
        config: Any = None,
        options: EnvOptions | None = None,
        observation_space: gymnasium.spaces.Space | None = None,
        action_space: gymnasium.spaces.Space | None = None,
        **kwargs: Any,
    ) -> None:
        if venv is None:
            options = resolve("sb3", options, **kwargs)
            venv = MarketVectorEnv(num_envs, preset, config, options, autoreset_mode="same_step")
        elif kwargs or options is not None or preset is not None or config is not None:
            raise ValueError(
                f"pass either venv or the MarketVectorEnv's arguments, not both "
                f"({sorted(kwargs) or 'options/preset/config'})"
            )
        if venv.metadata["autoreset_mode"] != AutoresetMode.SAME_STEP:
            raise ValueError(
                "MarketSB3VecEnv needs a MarketVectorEnv with autoreset_mode='same_step'"
            )
        self.venv = venv
        self._actions: np.ndarray | None = None
        super().__init__(
            venv.num_envs,
            venv.single_observation_space if observation_space is None else observation_space,
            venv.single_action_space if action_space is None else action_space,
        )

    # ----- mappings (identity here) -------------------------------------------------------------
    def transform_obs(self, obs: np.ndarray) -> np.ndarray:
        """Observations as the learner sees them (a batch or one row)."""
        return obs

    def transform_actions(self, actions: np.ndarray) -> np.ndarray:
        """The learner's actions in the vector env's units."""
        return actions

    def transform_reward(self, reward: np.ndarray) -> np.ndarray:
        """Rewards as the learner sees them."""
        return reward

    # ----- VecEnv API --------------------------------------------------------------------------
    def reset(self) -> np.ndarray:
        seed = self._seeds[0]
        obs, _ = self.venv.reset(seed=seed)
        self._reset_seeds()
        self._reset_options()
        return self.transform_obs(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_async(actions) must be called before step_wait()")
        actions, self._actions = self.transform_actions(self._actions), None
        obs, reward, terminated, truncated, info = self.venv.step(actions)
        dones = terminated | truncated
        if "final_obs" in info:  # the episode ended everywhere at once
            final = self.transform_obs(info["final_obs"])
            infos = [{"terminal_observation": o, "TimeLimit.truncated": False} for o in final]
        else:
            infos = [{} for _ in range(self.num_envs)]  # SB3's per-env info container
        reward = self.transform_reward(reward.astype(np.float32, copy=False))
        return self.transform_obs(obs), reward, dones, infos

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
    def view(self):
        """The shared :class:`~market_env.envs.view.MarketView`."""
        return self.venv.view

    @property
    def market(self):
        """The underlying :class:`~market_env.market.BatchedMarket`."""
        return self.venv.view.market

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.venv!r})"
