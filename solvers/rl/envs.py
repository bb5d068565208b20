"""What the Stable-Baselines3 learners of :mod:`solvers.rl.learners` see: fixed scalings of
the market's observations, actions and rewards, the market agent's ``VecEnv`` and its price.

Nothing here simulates. Trader environments are :class:`market_env.MarketSB3VecEnv` (the
one batched market) under :class:`ScaledTraderVecEnv`, a thin wrapper that only rescales;
the market agent's environment, :class:`MarketAgentVecEnv`, drives the existing
:class:`market_env.MarketView` (``price=None``: the market-maker agent of DESIGN.md), whose
``step`` calls :meth:`market_env.BatchedMarket.step`. Rewards are the market's own
(``r_n,k`` of MODEL.md §2 for traders; ``−w_clear·imbalance²/K − w_terminal·|S_K − 𝔖|²`` for
the market agent, :class:`market_env.MarketMakerSpec`), multiplied by a positive constant.

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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn
from torch import Tensor

from market_env import MarketConfig, MarketMakerSpec, MarketState, MarketView
from market_env.observation import market_observation, observation_size

__all__ = [
    "RLScaling",
    "ScaledTraderVecEnv",
    "MarketAgentVecEnv",
    "TraderActor",
    "MarketActor",
    "MarketAgentPrice",
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


def _box(n: int, bound: float) -> spaces.Box:
    return spaces.Box(-bound, bound, shape=(n,), dtype=np.float32)


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
    raw actions ``(B, 3) = (μ, u, S_0)``, clipped to the bounds of ``spec`` as
    :meth:`market_env.MarketView.check_market_action` does. Without a policy (``None``) it
    plays the reference action ``(μ̄, 0, S_0^fl)``: the frictionless price."""

    def __init__(self, scaling: RLScaling, spec: MarketMakerSpec, policy: Any = None) -> None:
        self.scaling = scaling
        self.policy = policy
        s = scaling
        self._shift = torch.tensor(s.market_obs_shift, dtype=torch.float32)
        self._scale = torch.tensor(s.market_obs_scale, dtype=torch.float32)
        self._ref = torch.tensor([s.mu_ref, 0.0, s.S0_ref], dtype=torch.float64)
        self._mult = torch.tensor([s.mu_scale, s.log_sigma_scale, s.S0_scale], dtype=torch.float64)
        self._low = torch.tensor(
            [-spec.mu_max, -spec.log_sigma_max, spec.S0_low], dtype=torch.float64
        )
        self._high = torch.tensor(
            [spec.mu_max, spec.log_sigma_max, spec.S0_high], dtype=torch.float64
        )

    def to_raw(self, a: Tensor) -> Tensor:
        """Map unit actions ``(B, 3)`` in ``[−1, 1]`` to ``(μ, u, S_0)``, clipped."""
        a = a.to(self._ref.dtype).clamp(-1.0, 1.0)
        dev = a.device
        raw = self._ref.to(dev) + self._mult.to(dev) * a
        return torch.maximum(torch.minimum(raw, self._high.to(dev)), self._low.to(dev))

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


class MarketAgentPrice:
    """A trained market agent as a price mechanism of :class:`market_env.BatchedMarket`:
    ``μ_k``, ``σ_k = α·exp(u_k)`` from its action at the state, ``S_0`` its action at the
    initial state (MODEL.md §2; DESIGN.md "market-maker agent").

    As in :class:`market_env.MarketView` with ``price=None``, the agent sees at ``k = 0`` the
    placeholder price ``S_0^fl`` (its ``S_0`` is decided by that very action).
    """

    def __init__(self, actor: MarketActor, config: MarketConfig) -> None:
        self.actor = actor
        self.config = config
        self._placeholder = config.frictionless_S0

    def _initial_obs(self, dtype: torch.dtype = torch.float64) -> Tensor:
        c = self.config
        return torch.tensor([[0.0, 0.0, self._placeholder, *c.phi0]], dtype=dtype)

    @property
    def S0(self) -> float:
        """The agent's initial price (its deterministic action at ``t = 0``)."""
        return float(self.actor(self._initial_obs())[0, 2])

    def __call__(self, state: MarketState, market: Any) -> tuple[Tensor, Tensor]:
        obs = market_observation(state)
        if state.k == 0:
            obs = obs.clone()
            obs[:, 2] = self._placeholder
        a = self.actor(obs)
        return a[:, 0], self.config.alpha * torch.exp(a[:, 1])


# ----- environments ---------------------------------------------------------------------------
class ScaledTraderVecEnv(VecEnvWrapper):
    """A trader ``VecEnv`` (:class:`market_env.MarketSB3VecEnv`) in the learners' units:
    observations ``(obs − shift)/scale``, actions in ``[−1, 1]`` (times ``rate_scale``),
    rewards times ``reward_scale`` (:class:`RLScaling`). Dynamics untouched."""

    def __init__(self, venv: VecEnv, scaling: RLScaling) -> None:
        D = len(scaling.obs_shift)
        if venv.observation_space.shape != (D,):
            raise ValueError(
                f"the scaling is for observations of length {D}, the env has "
                f"{venv.observation_space.shape}"
            )
        super().__init__(venv, spaces.Box(-np.inf, np.inf, (D,), np.float32), _box(1, 1.0))
        self.scaling = scaling
        self._shift = np.asarray(scaling.obs_shift, dtype=np.float32)
        self._scale = np.asarray(scaling.obs_scale, dtype=np.float32)

    def _obs(self, obs: np.ndarray) -> np.ndarray:
        return ((obs - self._shift) / self._scale).astype(np.float32, copy=False)

    def reset(self) -> np.ndarray:
        return self._obs(self.venv.reset())

    def step_async(self, actions: np.ndarray) -> None:
        a = np.clip(np.asarray(actions, dtype=np.float64), -1.0, 1.0)
        self.venv.step_async(a * self.scaling.rate_scale)

    def step_wait(self) -> VecEnvStepReturn:
        obs, reward, dones, infos = self.venv.step_wait()
        if dones.any():
            for info in infos:
                if "terminal_observation" in info:
                    info["terminal_observation"] = self._obs(info["terminal_observation"])
        reward = (reward * self.scaling.reward_scale).astype(np.float32, copy=False)
        return self._obs(obs), reward, dones, infos


class MarketAgentVecEnv(VecEnv):
    """The market agent of DESIGN.md as an SB3 ``VecEnv``: B paths of one
    :class:`market_env.MarketView` with ``price=None``; the traders follow a frozen agent
    policy. No Python loop over paths.

    Observation: the scaled market state ``[t, W, S, φ]`` (``N + 3``); action: ``[−1, 1]³``
    mapped to ``(μ_k, u_k, S_0)`` by :class:`MarketActor` (``S_0`` is read at ``k = 0``);
    reward: the view's market reward ``−w_clear·imbalance²/K`` (and ``−w_terminal·|S_K − 𝔖|²``
    at the end) times ``market_reward_scale``. All paths end after K steps (SB3 auto-reset,
    ``terminal_observation`` in infos).

    At ``k = 0`` the market's ``S_0`` is set before the traders observe the state, so the
    traders see the price the market agent chose (as in a rollout of
    :class:`MarketAgentPrice`).

    Args:
        config: the market.
        n_paths: B (= ``num_envs``).
        traders: an agent policy ``obs (B, N, 2N+5) -> rates (B, N)`` (e.g. a
            :class:`TraderActor`), called without gradients.
        scaling: the learners' :class:`RLScaling`.
        clearing: quantity-clearing rule.
        dtype, device, seed: of the market.
    """

    def __init__(
        self,
        config: MarketConfig,
        n_paths: int,
        traders: Callable[[Tensor], Tensor],
        scaling: RLScaling,
        *,
        clearing: str = "project",
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
        seed: int | None = None,
    ) -> None:
        self.config = config
        self.scaling = scaling
        self.traders = traders
        spec = scaling.market_maker(config)
        self.view = MarketView(
            config,
            n_paths,
            price=None,
            clearing=clearing,
            max_rate=None,
            market_maker=spec,
            dtype=dtype,
            device=device,
            seed=seed,
        )
        self.actor = MarketActor(scaling, spec)
        self._shift = torch.tensor(scaling.market_obs_shift, dtype=dtype, device=device)
        self._scale = torch.tensor(scaling.market_obs_scale, dtype=dtype, device=device)
        self._dtype = dtype
        self._actions: np.ndarray | None = None
        self.render_mode = None
        obs_space = spaces.Box(-np.inf, np.inf, (config.n_agents + 3,), np.float32)
        super().__init__(n_paths, obs_space, _box(3, 1.0))

    def _obs(self) -> np.ndarray:
        x = (self.view.market_obs() - self._shift) / self._scale
        return x.to(torch.float32).cpu().numpy()

    def reset(self) -> np.ndarray:
        self.view.reset(seed=self._seeds[0])
        self._reset_seeds()
        self._reset_options()
        return self._obs()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_async(actions) must be called before step_wait()")
        view = self.view
        market = view.market
        a = torch.as_tensor(np.asarray(self._actions), dtype=self._dtype, device=market.device)
        self._actions = None
        action = view.check_market_action(self.actor.to_raw(a.reshape(-1, 3)).to(self._dtype))
        if market.state.k == 0:  # S_0 first, so the traders observe the chosen price
            market.reset(noise=market.noise, S0=action[:, 2])
        with torch.no_grad():
            rates = self.traders(view.trader_obs()).to(self._dtype)
        vs = view.step(view.check_rates(rates), action)
        reward = (vs.market_reward * self.scaling.market_reward_scale).to(torch.float32)
        reward = reward.cpu().numpy()
        obs = self._obs()
        if vs.done:
            infos = [{"terminal_observation": o, "TimeLimit.truncated": False} for o in obs]
            view.reset()
            obs = self._obs()
            dones = np.ones(self.num_envs, dtype=bool)
        else:
            infos = [{} for _ in range(self.num_envs)]
            dones = np.zeros(self.num_envs, dtype=bool)
        return obs, reward, dones, infos

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        value = getattr(self, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **kwargs: Any
    ) -> list[Any]:
        result = getattr(self, method_name)(*method_args, **kwargs)
        return [result for _ in self._get_indices(indices)]

    def env_is_wrapped(
        self, wrapper_class: type[gymnasium.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None]

    def __repr__(self) -> str:
        return f"MarketAgentVecEnv(B={self.num_envs}, N={self.config.n_agents})"


def check_observation_length(config: MarketConfig, scaling: RLScaling) -> None:
    """Raise ``ValueError`` when ``scaling`` does not fit ``config``'s observations."""
    D = observation_size(config.n_agents)
    if len(scaling.obs_shift) != D or len(scaling.market_obs_shift) != config.n_agents + 3:
        raise ValueError(
            f"scaling is for N = {len(scaling.market_obs_shift) - 3} agents, the market has "
            f"N = {config.n_agents}"
        )
