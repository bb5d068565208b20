"""The independent learners' result as a :class:`~market_env.solution.Solution` (kind
``"sb3-learners"``): the trained SB3 policy networks, played deterministically on the
market's own observations (MODEL.md §2), batched over paths.

``policy(state)`` builds the environment's observations from the state (same layout and
scaling as training, :mod:`solvers.rl.envs`) and runs the trader networks; the price is the
clearing drift with the learners' own ``S_0`` (MODEL.md §4, §2) or the learned market agent.
A run saves the networks' ``state_dict``s (``weights.pt``, loaded with ``weights_only=True``)
and JSON parameters; :func:`solvers.load_solution` restores it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from market_env import (
    ClearingDrift,
    MarketConfig,
    MarketState,
    PriceMechanism,
    S0_control_variate,
    get_clearing_rule,
)
from market_env.device import resolve_device
from market_env.observation import agent_features, observation_size, trader_observations
from market_env.solution import Solution, register_solution, simulate

from .envs import (
    MarketActor,
    MarketAgentPrice,
    RLScaling,
    TraderActor,
    check_observation_length,
)
from .methods import LearnerMethod, algo_class, default_policy_kwargs, sb3_policy_kwargs

__all__ = [
    "LearnerSolution",
    "TraderLearnerSolution",
    "build_policy",
    "market_spaces",
    "trader_spaces",
]


def build_policy(
    algo: str,
    observation_space: spaces.Box,
    action_space: spaces.Box,
    policy_kwargs: dict[str, Any],
    device: torch.device,
) -> Any:
    """A fresh SB3 policy of ``algo``'s ``MlpPolicy`` class (weights to be loaded)."""
    cls = algo_class(algo).policy_aliases["MlpPolicy"]
    policy = cls(
        observation_space, action_space, lambda _: 1e-4, **sb3_policy_kwargs(policy_kwargs)
    )
    policy.set_training_mode(False)
    return policy.to(device)


def trader_spaces(config: MarketConfig) -> tuple[spaces.Box, spaces.Box]:
    """A trader's observation (length ``2N + 5``) and action (one rate in ``[−1, 1]``)."""
    D = observation_size(config.n_agents)
    return (
        spaces.Box(-np.inf, np.inf, (D,), np.float32),
        spaces.Box(-1.0, 1.0, (1,), np.float32),
    )


def market_spaces(config: MarketConfig) -> tuple[spaces.Box, spaces.Box]:
    """The market agent's observation ``[t, W, S, φ]`` and action ``(μ, u, S_0)``."""
    return (
        spaces.Box(-np.inf, np.inf, (config.n_agents + 3,), np.float32),
        spaces.Box(-1.0, 1.0, (3,), np.float32),
    )


class TraderLearnerSolution(Solution):
    """What every learner's solution shares (SB3's :class:`LearnerSolution`, RLlib's
    :class:`~solvers.rl.rllib_solution.RLlibLearnerSolution`): the clearing rule, the fixed
    scalings of :class:`~solvers.rl.envs.RLScaling`, the clearing drift with the learners'
    own ``S_0`` (MODEL.md §4, §2), a JSON training record, the device, and the traders'
    observations of a market state.

    Args:
        config: the market.
        scaling: :class:`~solvers.rl.envs.RLScaling` as a dict (default from the config).
        S0: initial price of the clearing drift (default the frictionless ``(β − γ̄α²s)T``).
        clearing: quantity-clearing rule of training and rollouts.
        training: a JSON record of how it was trained.
        device: where the networks live (``"auto"``: CUDA when available).
    """

    def __init__(
        self,
        config: MarketConfig,
        *,
        scaling: dict[str, Any] | None = None,
        S0: float | None = None,
        clearing: str = "project",
        training: dict[str, Any] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(config)
        get_clearing_rule(clearing)
        self.clearing = clearing
        self.scaling = (
            RLScaling.from_config(config) if scaling is None else RLScaling.from_dict(scaling)
        )
        check_observation_length(config, self.scaling)
        self._S0 = None if S0 is None else float(S0)
        self.training = dict(training or {})
        self.device = resolve_device(device)
        self._features: dict[tuple[Any, Any], Tensor] = {}

    @property
    def S0(self) -> float:
        return self.config.frictionless_S0 if self._S0 is None else self._S0

    def price(self) -> PriceMechanism:
        """Clearing drift with ``σ = α`` and the learners' ``S_0``."""
        return ClearingDrift(S0=self.S0)

    def calibrate_S0(self, n_paths: int, seed: int) -> float:
        """Set the clearing price's ``S_0`` to the martingale control-variate estimate of
        MODEL.md §2 on ``n_paths`` paths of seed ``seed`` (so ``S_K ≈ 𝔖`` on average), and
        record them in ``training["S0_calibration"]``. Returns the new ``S_0``."""
        traj = simulate(self, n_paths, seed=seed)
        self._S0 = float(S0_control_variate(traj))
        self.training["S0_calibration"] = {"paths": n_paths, "seed": seed}
        return self._S0

    def observations(self, state: MarketState) -> Tensor:
        """Every trader's observation ``[t, W, S, φ, γ_n, ξ_n, e_n]``, shape ``(B, N, 2N+5)``."""
        key = (state.W.device, state.W.dtype)
        if key not in self._features:
            self._features[key] = agent_features(self.config, state.W.dtype, state.W.device)
        return trader_observations(state, self._features[key])

    def common_params(self) -> dict[str, Any]:
        """The JSON parameters of this base (``scaling``, ``S0``, ``clearing``, ``training``)."""
        return {
            "scaling": self.scaling.to_dict(),
            "S0": self._S0,
            "clearing": self.clearing,
            "training": self.training,
        }


@register_solution
class LearnerSolution(TraderLearnerSolution):
    """Traders (and possibly a market agent) trained by Stable-Baselines3, as a
    :class:`~market_env.solution.Solution` (module docstring; MODEL.md §1–§2).

    Build it with :func:`solvers.rl.train_learners`; :func:`solvers.load_solution`
    restores it.

    Args:
        config: the market.
        method: display name (e.g. ``"ppo-shared"``).
        algo: SB3 algorithm (:data:`~solvers.rl.methods.ALGOS`).
        flavour: ``"shared"`` (one trader model) or ``"ibr"`` (one per trader).
        price: ``"clearing"`` (clearing drift, ``σ = α``) or ``"market"`` (the market agent).
        policy_kwargs: the SB3 ``MlpPolicy`` options (JSON form: activation by name).
        scaling: :class:`~solvers.rl.envs.RLScaling` as a dict (default from the config).
        S0: initial price for ``price="clearing"`` (default the frictionless ``(β − γ̄α²s)T``).
        clearing: quantity-clearing rule of training and rollouts (default ``"project"``, the
            environments' default: fills clear and the supply is conserved; the clearing
            error then measures the submitted orders' common imbalance, which costs the
            traders nothing). With ``"none"`` fills are orders and the supply drifts.
        training: a JSON record of how it was trained (budgets, seed, wall time).
        device: where the networks live (``"auto"``: CUDA when available).
    """

    kind = "sb3-learners"

    def __init__(
        self,
        config: MarketConfig,
        *,
        method: str,
        algo: str,
        flavour: str,
        price: str,
        policy_kwargs: dict[str, Any] | None = None,
        scaling: dict[str, Any] | None = None,
        S0: float | None = None,
        clearing: str = "project",
        training: dict[str, Any] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(
            config, scaling=scaling, S0=S0, clearing=clearing, training=training, device=device
        )
        LearnerMethod(algo, flavour, price)
        self.method = method
        self.algo = algo
        self.flavour = flavour
        self.price_mode = price
        self.policy_kwargs = dict(
            default_policy_kwargs(algo) if policy_kwargs is None else policy_kwargs
        )
        obs_space, act_space = trader_spaces(config)
        n_models = 1 if flavour == "shared" else config.n_agents
        self.trader_policies = [
            build_policy(algo, obs_space, act_space, self.policy_kwargs, self.device)
            for _ in range(n_models)
        ]
        self._traders = [TraderActor(self.scaling, p) for p in self.trader_policies]
        self.market_policy = None
        self._market_price: MarketAgentPrice | None = None
        if price == "market":
            m_obs, m_act = market_spaces(config)
            self.market_policy = build_policy(algo, m_obs, m_act, self.policy_kwargs, self.device)
            actor = MarketActor(self.scaling, self.scaling.market_maker(config), self.market_policy)
            self._market_price = MarketAgentPrice(actor, config)

    @property
    def label(self) -> str:
        return self.method

    # ----- price and policy ----------------------------------------------------------------
    @property
    def S0(self) -> float:
        if self._market_price is not None:
            return self._market_price.S0
        return super().S0

    def price(self) -> PriceMechanism:
        """Clearing drift with ``σ = α`` and the learners' ``S_0``, or the market agent."""
        if self._market_price is not None:
            return self._market_price
        return super().price()

    def calibrate_S0(self, n_paths: int, seed: int) -> float:
        """The base's :meth:`TraderLearnerSolution.calibrate_S0`, for ``price="clearing"``
        only (the market agent sets its own ``S_0``)."""
        if self._market_price is not None:
            raise ValueError("calibrate_S0 is for price='clearing'; the market agent sets S_0")
        return super().calibrate_S0(n_paths, seed)

    def policy(self, state: MarketState) -> Tensor:
        """Rates ``(B, N)``: each trader's deterministic SB3 action on its observation
        ``[t, W, S, φ, γ_n, ξ_n, e_n]`` (batched over paths; one call per model)."""
        obs = self.observations(state)
        if self.flavour == "shared":
            return self._traders[0](obs)
        return torch.stack([actor(obs[:, n]) for n, actor in enumerate(self._traders)], -1)

    def agent_policies(self) -> list[TraderActor]:
        """The trader actors (one, or one per trader) as agent policies."""
        return list(self._traders)

    # ----- persistence ---------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "algo": self.algo,
            "flavour": self.flavour,
            "price": self.price_mode,
            "policy_kwargs": self.policy_kwargs,
            **self.common_params(),
        }

    def state_dict(self) -> dict[str, Tensor]:
        """``trader{n}.<SB3 policy key>`` (``n = 0`` only when shared) and ``market.<key>``."""
        out: dict[str, Tensor] = {}
        for n, p in enumerate(self.trader_policies):
            for k, v in p.state_dict().items():
                out[f"trader{n}.{k}"] = v.detach().cpu().clone()
        if self.market_policy is not None:
            for k, v in self.market_policy.state_dict().items():
                out[f"market.{k}"] = v.detach().cpu().clone()
        return out

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        groups: dict[str, dict[str, Tensor]] = {}
        for key, value in state.items():
            head, _, rest = key.partition(".")
            groups.setdefault(head, {})[rest] = value
        expected = {f"trader{n}" for n in range(len(self.trader_policies))}
        if self.market_policy is not None:
            expected.add("market")
        if set(groups) != expected:
            raise ValueError(
                f"{self.kind} weights hold {sorted(groups)}, expected {sorted(expected)}"
            )
        for n, p in enumerate(self.trader_policies):
            p.load_state_dict(groups[f"trader{n}"])
        if self.market_policy is not None:
            self.market_policy.load_state_dict(groups["market"])

    def load_from_models(self, traders: Sequence[Any], market: Any = None) -> None:
        """Copy the weights of trained SB3 models (their ``.policy``)."""
        if len(traders) != len(self.trader_policies):
            raise ValueError(
                f"expected {len(self.trader_policies)} trader models, got {len(traders)}"
            )
        for p, m in zip(self.trader_policies, traders):
            p.load_state_dict(m.policy.state_dict())
        if self.market_policy is not None:
            if market is None:
                raise ValueError("a market-agent solution needs the market model")
            self.market_policy.load_state_dict(market.policy.state_dict())

    def to(self, device: str | torch.device) -> LearnerSolution:
        """Move the networks (``"auto"``: CUDA when available)."""
        self.device = resolve_device(device)
        for p in self.trader_policies:
            p.to(self.device)
        if self.market_policy is not None:
            self.market_policy.to(self.device)
        return self

    def __repr__(self) -> str:
        return (
            f"LearnerSolution({self.method}: algo={self.algo}, flavour={self.flavour}, "
            f"price={self.price_mode}, N={self.config.n_agents})"
        )
