"""What the Stable-Baselines3 learners of :mod:`solvers.rl` see: fixed scalings of the
market's observations, actions and rewards, and the trader and market-maker environments.

Nothing here simulates and no SB3 ``VecEnv`` boilerplate is repeated: both environments are
:class:`market_env.MarketSB3VecEnv` (over the one batched ``MarketVectorEnv`` and its
``MarketView``) with the scalings as its observation/action/reward maps.
:class:`ScaledTraderVecEnv` is the traders' (``agent=n`` or ``"shared"``),
:class:`MarketAgentVecEnv` the market maker's (``agent="market"``: its decoding, ``S_0`` at
``k = 0`` and reward are :class:`market_env.MarketMaker`'s, as in every environment). Rewards
are the market's own (``r_n,k`` of MODEL.md §2 for traders; ``−w_clear·imbalance²/K −
w_terminal·|S_K − 𝔖|²`` for the market maker, :mod:`market_env.market_maker`), multiplied by a
positive constant.

Scalings (:class:`RLScaling`, all fixed functions of the config, so a saved learner needs no
running statistics):

* trader observation, layout ``[t, W, S, φ_1..φ_N, γ_n, ξ_n, one-hot(n)]`` of
  :mod:`market_env.observation`, becomes ``(obs − shift)/scale`` with ``t/T``, ``W/√T``,
  ``(S − S_0^fl)/(α√T)``, ``(φ_m − φ_m,0)/max(|ξ_m|√T/α, s)``, ``γ_n/max γ``,
  ``ξ_n/max|ξ|`` (``S_0^fl = (β − γ̄α²s)T``, the frictionless price of MODEL.md §3);
* trader action ``a ∈ [−1, 1]`` is the rate ``φ̇ = rate_scale·a`` with
  ``rate_scale = 3·√(max γ·α²/λ)·max|ξ|·√T/α`` (three times the quadratic-cost feedback rate
  ``α√(γ/λ)`` of MODEL.md §5 at a deviation of one frictionless re-hedge over the horizon);
* market action ``a ∈ [−1, 1]³`` is ``(μ, u, S_0) = (μ̄ + μ_scale·a_0, u_scale·a_1,
  S_0^fl + α√T·a_2)`` with ``μ̄ = γ̄α²s``, ``μ_scale = α²·max γ·s``, ``σ = α·exp(u)``;
* trader rewards are multiplied by ``K/R`` with ``R = mean_n γ_n ξ_n² T²/4`` (the mean
  unhedged endowment risk ``E∫(γ_n/2)ξ_n²W_t² dt``), so a step's reward is O(1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from market_env import (
    EnvOptions,
    MarketConfig,
    MarketMakerPrice,
    MarketMakerSpec,
    MarketSB3VecEnv,
    MarketVectorEnv,
)
from market_env.observation import market_observation_size, observation_size

__all__ = [
    "RLScaling",
    "ScaledTraderVecEnv",
    "MarketAgentVecEnv",
    "TraderActor",
    "MarketActor",
    "MarketAgentPrice",
    "check_observation_length",
]


@dataclass(frozen=True)
class RLScaling:
    """Fixed affine maps between the market's units and the learners' (module docstring).

    Attributes:
        obs_shift, obs_scale: trader observation ``(obs − shift)/scale``, length ``2N + 5``.
        market_obs_shift, market_obs_scale: the same for the market observation
            ``[t, W, S, φ]`` (length ``N + 3``).
        rate_scale: trader rate per unit action.
        reward_scale: factor on trader rewards.
        mu_ref, mu_scale, log_sigma_scale, S0_ref, S0_scale: market action map.
        market_reward_scale: factor on the market agent's reward.
        clearing_weight, terminal_weight: ``w_clear``, ``w_terminal`` of the market agent's
            reward (:class:`market_env.MarketMakerSpec`).
    """

    obs_shift: tuple[float, ...]
    obs_scale: tuple[float, ...]
    market_obs_shift: tuple[float, ...]
    market_obs_scale: tuple[float, ...]
    rate_scale: float
    reward_scale: float
    mu_ref: float
    mu_scale: float
    log_sigma_scale: float
    S0_ref: float
    S0_scale: float
    market_reward_scale: float
    clearing_weight: float
    terminal_weight: float

    @classmethod
    def from_config(cls, config: MarketConfig, **changes: Any) -> RLScaling:
        """The default scalings of ``config`` (module docstring); ``changes`` override."""
        c = config
        N = c.n_agents
        sqrt_T = math.sqrt(c.horizon)
        xi_max = max(abs(x) for x in c.xi)
        g_max = max(c.gamma)
        S0_fl = c.frictionless_S0
        phi_scale = [max(abs(x) * sqrt_T / c.alpha, c.supply) for x in c.xi]
        m_shift = (0.0, 0.0, S0_fl, *c.phi0)
        m_scale = (c.horizon, sqrt_T, c.alpha * sqrt_T, *phi_scale)
        shift = (*m_shift, 0.0, 0.0) + (0.0,) * N
        scale = (*m_scale, g_max, max(xi_max, 1e-12)) + (1.0,) * N
        rate_scale = 3.0 * math.sqrt(g_max * c.alpha**2 / c.lam) * xi_max * sqrt_T / c.alpha
        rate_scale = max(rate_scale, c.supply / c.horizon)
        risk = sum(g * x * x for g, x in zip(c.gamma, c.xi)) / N * c.horizon**2 / 4.0
        risk = max(risk, c.gamma_bar * c.alpha**2 * c.supply**2 * c.horizon**2 / 4.0)
        values: dict[str, Any] = dict(
            obs_shift=shift,
            obs_scale=scale,
            market_obs_shift=m_shift,
            market_obs_scale=m_scale,
            rate_scale=rate_scale,
            reward_scale=c.n_steps / risk,
            mu_ref=c.mu_bar,
            mu_scale=c.alpha**2 * g_max * c.supply,
            log_sigma_scale=0.5,
            S0_ref=S0_fl,
            S0_scale=c.alpha * sqrt_T,
            market_reward_scale=1.0,
            clearing_weight=1.0 / rate_scale**2,
            terminal_weight=1.0 / (c.alpha**2 * c.horizon),
        )
        values.update(changes)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RLScaling:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def market_maker(self, config: MarketConfig) -> MarketMakerSpec:
        """The market agent's bounds (defaults of the config) with this scaling's weights."""
        return MarketMakerSpec.default(
            config, clearing_weight=self.clearing_weight, terminal_weight=self.terminal_weight
        )


# ----- actors: SB3 policy networks as torch callables in the market's units -------------------
class TraderActor:
    """A trader's deterministic SB3 policy as an agent policy (:data:`market_env.AgentPolicy`):
    raw observations ``(..., 2N+5)`` to rates ``(...)``, ``rate_scale·clip(π(obs'), −1, 1)``
    with ``obs'`` the scaled observation, exactly what the learner did in training.

    ``policy`` (an SB3 ``BasePolicy``) may be set after construction.
    """

    def __init__(self, scaling: RLScaling, policy: Any = None) -> None:
        self.scaling = scaling
        self.policy = policy
        self._shift = torch.tensor(scaling.obs_shift, dtype=torch.float32)
        self._scale = torch.tensor(scaling.obs_scale, dtype=torch.float32)

    def __call__(self, obs: Tensor) -> Tensor:
        policy = self.policy
        device = policy.device
        flat = obs.reshape(-1, obs.shape[-1]).to(device=device, dtype=torch.float32)
        x = (flat - self._shift.to(device)) / self._scale.to(device)
        with torch.no_grad():
            a = policy._predict(x, deterministic=True).reshape(flat.shape[0], -1)[:, 0]
        rates = a.clamp(-1.0, 1.0) * self.scaling.rate_scale
        return rates.to(device=obs.device, dtype=obs.dtype).reshape(obs.shape[:-1])


class MarketActor:
    """The market agent's deterministic SB3 policy: raw market observations ``(B, N+3)`` to
    raw actions ``(B, 3) = (μ, u, S_0)``, clipped to the bounds of ``spec``
    (:meth:`market_env.MarketMakerSpec.clip`). Without a policy (``None``) it plays the
    reference action ``(μ̄, 0, S_0^fl)``: the frictionless price."""

    def __init__(self, scaling: RLScaling, spec: MarketMakerSpec, policy: Any = None) -> None:
        self.scaling = scaling
        self.spec = spec
        self.policy = policy
        s = scaling
        self._shift = torch.tensor(s.market_obs_shift, dtype=torch.float32)
        self._scale = torch.tensor(s.market_obs_scale, dtype=torch.float32)
        self._ref = torch.tensor([s.mu_ref, 0.0, s.S0_ref], dtype=torch.float64)
        self._mult = torch.tensor([s.mu_scale, s.log_sigma_scale, s.S0_scale], dtype=torch.float64)

    def to_raw(self, a: Tensor) -> Tensor:
        """Map unit actions ``(B, 3)`` in ``[−1, 1]`` to ``(μ, u, S_0)``, clipped."""
        a = a.to(self._ref.dtype).clamp(-1.0, 1.0)
        dev = a.device
        return self.spec.clip(self._ref.to(dev) + self._mult.to(dev) * a)

    def __call__(self, obs: Tensor) -> Tensor:
        policy = self.policy
        if policy is None:  # not built yet: the reference (frictionless) price
            return self.to_raw(torch.zeros(obs.shape[0], 3)).to(obs)
        device = policy.device
        x = obs.to(device=device, dtype=torch.float32)
        x = (x - self._shift.to(device)) / self._scale.to(device)
        with torch.no_grad():
            a = policy._predict(x, deterministic=True).reshape(x.shape[0], 3)
        return self.to_raw(a).to(device=obs.device, dtype=obs.dtype)


class MarketAgentPrice(MarketMakerPrice):
    """A trained market agent as a price mechanism of :class:`market_env.BatchedMarket`
    (:class:`market_env.MarketMakerPrice` over a :class:`MarketActor`): ``μ_k``,
    ``σ_k = α·exp(u_k)`` from its action at the state, ``S_0`` its action at the initial
    state, where it sees the placeholder ``S_0^fl`` (MODEL.md §2; DESIGN.md
    "market-maker agent")."""

    def __init__(self, actor: MarketActor, config: MarketConfig) -> None:
        super().__init__(actor, config, actor.spec)
        self.actor = actor


# ----- environments ---------------------------------------------------------------------------
def _box(n: int, bound: float) -> spaces.Box:
    return spaces.Box(-bound, bound, shape=(n,), dtype=np.float32)


def _affine(obs: np.ndarray, shift: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return ((obs - shift) / scale).astype(np.float32, copy=False)


class ScaledTraderVecEnv(MarketSB3VecEnv):
    """A trader environment (:class:`market_env.MarketSB3VecEnv`, ``agent=n`` or
    ``"shared"``) in the learners' units: observations ``(obs − shift)/scale``, actions in
    ``[−1, 1]`` (times ``rate_scale``), rewards times ``reward_scale`` (:class:`RLScaling`).
    Dynamics untouched: it steps ``venv``'s vector env directly.

    Args:
        venv: a :class:`market_env.MarketSB3VecEnv` (or its ``MarketVectorEnv``).
        scaling: the learners' :class:`RLScaling`.
    """

    def __init__(self, venv: MarketSB3VecEnv | MarketVectorEnv, scaling: RLScaling) -> None:
        vector = venv.venv if isinstance(venv, MarketSB3VecEnv) else venv
        D = len(scaling.obs_shift)
        if vector.single_observation_space.shape != (D,):
            raise ValueError(
                f"the scaling is for observations of length {D}, the env has "
                f"{vector.single_observation_space.shape}"
            )
        obs_space = spaces.Box(-np.inf, np.inf, (D,), np.float32)
        super().__init__(vector, observation_space=obs_space, action_space=_box(1, 1.0))
        self.scaling = scaling
        self._shift = np.asarray(scaling.obs_shift, dtype=np.float32)
        self._scale = np.asarray(scaling.obs_scale, dtype=np.float32)

    def transform_obs(self, obs: np.ndarray) -> np.ndarray:
        return _affine(obs, self._shift, self._scale)

    def transform_actions(self, actions: np.ndarray) -> np.ndarray:
        a = np.clip(np.asarray(actions, dtype=np.float64), -1.0, 1.0)
        return a * self.scaling.rate_scale

    def transform_reward(self, reward: np.ndarray) -> np.ndarray:
        return (reward * self.scaling.reward_scale).astype(np.float32, copy=False)


class MarketAgentVecEnv(MarketSB3VecEnv):
    """The market agent of DESIGN.md as an SB3 ``VecEnv``: B paths of
    :class:`market_env.MarketVectorEnv` with ``agent="market"``; the traders follow a frozen
    agent policy (``others``). No Python loop over paths.

    Observation: the scaled market state ``[t, W, S, φ]`` (``N + 3``); action: ``[−1, 1]³``
    mapped to ``(μ_k, u_k, S_0)`` by :class:`MarketActor` (``S_0`` is read at ``k = 0`` and
    set before the traders observe, so they see the price the market agent chose, as in a
    rollout of :class:`MarketAgentPrice`); reward: the market maker's (module docstring)
    times ``market_reward_scale``. All paths end after K steps (SB3 auto-reset,
    ``terminal_observation`` in infos).

    Args:
        config: the market.
        n_paths: B (= ``num_envs``).
        traders: an agent policy ``obs (B, N, 2N+5) -> rates (B, N)`` (e.g. a
            :class:`TraderActor`), called without gradients.
        scaling: the learners' :class:`RLScaling`.
        options: the environment options (:class:`market_env.EnvOptions`: ``clearing``,
            ``dtype``, ``device``, ``seed``, …; the keywords override it), with the
            interfaces' one set of defaults.
    """

    def __init__(
        self,
        config: MarketConfig,
        n_paths: int,
        traders: Callable[[Tensor], Tensor],
        scaling: RLScaling,
        *,
        options: EnvOptions | None = None,
        **kwargs: Any,
    ) -> None:
        spec = scaling.market_maker(config)
        vector = MarketVectorEnv(
            n_paths,
            config=config,
            options=options,
            agent="market",
            others=traders,
            market_maker=spec,
            autoreset_mode="same_step",
            **kwargs,
        )
        obs_space = spaces.Box(-np.inf, np.inf, (config.n_agents + 3,), np.float32)
        super().__init__(vector, observation_space=obs_space, action_space=_box(3, 1.0))
        self.config = config
        self.scaling = scaling
        self.traders = traders
        self.actor = MarketActor(scaling, spec)
        self._shift = np.asarray(scaling.market_obs_shift, dtype=np.float32)
        self._scale = np.asarray(scaling.market_obs_scale, dtype=np.float32)

    def transform_obs(self, obs: np.ndarray) -> np.ndarray:
        return _affine(obs, self._shift, self._scale)

    def transform_actions(self, actions: np.ndarray) -> np.ndarray:
        a = self.view.as_tensor(actions).reshape(-1, 3)
        return self.actor.to_raw(a).cpu().numpy()

    def transform_reward(self, reward: np.ndarray) -> np.ndarray:
        return reward * self.scaling.market_reward_scale


def check_observation_length(config: MarketConfig, scaling: RLScaling) -> None:
    """Raise ``ValueError`` when ``scaling`` does not fit ``config``'s observations."""
    D = observation_size(config.n_agents)
    M = market_observation_size(config.n_agents)
    if len(scaling.obs_shift) != D or len(scaling.market_obs_shift) != M:
        raise ValueError(
            f"scaling is for N = {len(scaling.market_obs_shift) - 3} agents, the market has "
            f"N = {config.n_agents}"
        )
