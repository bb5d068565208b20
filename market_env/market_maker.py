"""The market-maker agent as a component of the simulator (MODEL.md §1–§2; DESIGN.md "Price
mechanisms"): its action decoding, bounds, reward and initial price, written once for the
environments (``price="market"``) and the learners alike.

Action, shape ``(B, 3)``: ``(μ_k, u_k, S_0)`` with ``σ_k = α·exp(u_k)`` (so σ stays positive;
``u = 0`` gives ``σ = α``). The third entry is read only at ``k = 0``, where it sets ``S_0``:
the market restarts on the same noise with that price (:meth:`MarketMaker.set_S0`).

Observation, length ``N + 3``: ``[t_k, W_k, S_k, φ_1,k, …, φ_N,k]``, the Markov state of
MODEL.md §2, except that at ``k = 0`` ``S`` is the placeholder ``S_0^fl = (β − γ̄α²s)T`` (the
frictionless price of MODEL.md §3): ``S_0`` is decided by that very action
(:meth:`MarketMaker.observe`).

Reward per step: ``−w_clear·|Σ_n rate_n,k/N|²/K``, and additionally ``−w_terminal·|S_K − 𝔖|²``
at the last step, so an episode's return is ``−w_clear·(path clearing error) −
w_terminal·(path terminal error)`` (the metrics of MODEL.md §2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .config import MarketConfig
from .observation import market_observation
from .state import MarketState

if TYPE_CHECKING:
    from .market import BatchedMarket, StepResult

__all__ = ["ACTION_SIZE", "MarketMaker", "MarketMakerPrice", "MarketMakerSpec"]

#: Length of the market maker's action ``(μ, u, S_0)``.
ACTION_SIZE = 3


@dataclass(frozen=True)
class MarketMakerSpec:
    """Bounds and reward weights of the market-maker agent.

    Attributes:
        mu_max: ``|μ_k| ≤ mu_max``.
        log_sigma_max: ``|u_k| ≤ log_sigma_max`` where ``σ_k = α·exp(u_k)``.
        S0_low, S0_high: range of ``S_0``.
        clearing_weight: ``w_clear`` of the per-step reward ``−w_clear·imbalance²/K``.
        terminal_weight: ``w_terminal`` of the final reward ``−w_terminal·|S_K − 𝔖|²``.
    """

    mu_max: float
    log_sigma_max: float
    S0_low: float
    S0_high: float
    clearing_weight: float = 1.0
    terminal_weight: float = 1.0

    @classmethod
    def default(cls, config: MarketConfig, **changes: float) -> MarketMakerSpec:
        """Defaults from the config: ``mu_max = 10α²·max γ·(s + max|ξ|·√T)``,
        ``log_sigma_max = 3``, ``S_0 ∈ βT ± 10(α√T + α²·max γ·s·T)``; weights 1."""
        c = config
        g_max = max(c.gamma)
        xi_max = max(abs(x) for x in c.xi)
        mu_max = 10.0 * c.alpha**2 * g_max * (c.supply + xi_max * math.sqrt(c.horizon))
        half = 10.0 * (c.alpha * math.sqrt(c.horizon) + c.alpha**2 * g_max * c.supply * c.horizon)
        values = dict(
            mu_max=mu_max,
            log_sigma_max=3.0,
            S0_low=c.beta * c.horizon - half,
            S0_high=c.beta * c.horizon + half,
        )
        values.update(changes)
        return cls(**values)

    @property
    def low(self) -> tuple[float, float, float]:
        """Lower bounds of ``(μ, u, S_0)``."""
        return (-self.mu_max, -self.log_sigma_max, self.S0_low)

    @property
    def high(self) -> tuple[float, float, float]:
        """Upper bounds of ``(μ, u, S_0)``."""
        return (self.mu_max, self.log_sigma_max, self.S0_high)

    def bounds_like(self, action: Tensor) -> tuple[Tensor, Tensor]:
        """:attr:`low` and :attr:`high` as tensors of ``action``'s dtype and device."""
        kw = dict(dtype=action.dtype, device=action.device)
        return torch.tensor(self.low, **kw), torch.tensor(self.high, **kw)

    def clip(self, action: Tensor) -> Tensor:
        """``action (..., 3)`` clipped to the bounds."""
        low, high = self.bounds_like(action)
        return torch.maximum(torch.minimum(action, high), low)

    def check(
        self, action: Tensor, batch_size: int, *, clip: bool = True, name: str = "market"
    ) -> Tensor:
        """Validate a ``(B, 3)`` action: shape and finiteness always (``ValueError``); values
        beyond the bounds are clipped (``clip=True``) or raise ``ValueError``."""
        if tuple(action.shape) != (batch_size, ACTION_SIZE):
            shape = tuple(action.shape[1:]) if action.dim() > 1 else tuple(action.shape)
            raise ValueError(
                f"action of {name} must have shape (3,) = (mu, log(sigma/alpha), S0) per path, "
                f"got {shape}"
            )
        if not bool(torch.isfinite(action).all()):
            raise ValueError(f"action of {name} must be finite, got {action.tolist()}")
        if clip:
            return self.clip(action)
        low, high = self.bounds_like(action)
        if bool(((action < low) | (action > high)).any()):
            raise ValueError(
                f"action of {name} must lie in [{list(self.low)}, {list(self.high)}], got "
                f"{action.tolist()} (pass clip_actions=True to clip)"
            )
        return action


class MarketMaker:
    """The market maker of ``config`` with bounds and weights ``spec`` (module docstring).

    Args:
        config: the market.
        spec: bounds and reward weights (default :meth:`MarketMakerSpec.default`).
    """

    def __init__(self, config: MarketConfig, spec: MarketMakerSpec | None = None) -> None:
        self.config = config
        self.spec = MarketMakerSpec.default(config) if spec is None else spec
        #: the ``S`` shown at ``k = 0``: the frictionless ``S_0^fl = (β − γ̄α²s)T``
        self.placeholder_S0 = config.frictionless_S0

    def decode(self, action: Tensor) -> tuple[Tensor, Tensor]:
        """``(μ_k, σ_k = α·exp(u_k))`` from actions ``(B, 3)``."""
        return action[:, 0], self.config.alpha * torch.exp(action[:, 1])

    def observe(self, state: MarketState) -> Tensor:
        """The market maker's observation ``(B, N + 3)``: the Markov state, with the
        placeholder ``S_0^fl`` for ``S`` at ``k = 0``."""
        obs = market_observation(state)
        if state.k == 0:
            obs[:, 2] = self.placeholder_S0  # a fresh tensor (torch.cat)
        return obs

    def initial_observation(self, dtype: torch.dtype = torch.float64) -> Tensor:
        """The observation at ``t = 0``, ``(1, N + 3)``: ``[0, 0, S_0^fl, φ_0]``."""
        c = self.config
        return torch.tensor([[0.0, 0.0, self.placeholder_S0, *c.phi0]], dtype=dtype)

    def set_S0(self, market: BatchedMarket, action: Tensor) -> None:
        """At ``k = 0``: restart ``market`` on the same noise with ``S_0 = action[:, 2]``."""
        if market.state is None or market.state.k != 0:
            raise RuntimeError("S_0 is set at k = 0 only, right after reset()")
        market.reset(noise=market.noise, S0=action[:, 2])

    def reward(self, result: StepResult, market: BatchedMarket) -> Tensor:
        """The market maker's reward ``(B,)`` for one step (module docstring)."""
        spec = self.spec
        reward = (-spec.clearing_weight / self.config.n_steps) * result.imbalance.square()
        if result.done:
            gap = result.state.S - market.terminal_payoff(result.state.W)
            reward = reward - spec.terminal_weight * gap.square()
        return reward

    def __repr__(self) -> str:
        return f"MarketMaker(N={self.config.n_agents}, {self.spec})"


class MarketMakerPrice:
    """A market-maker policy as a price mechanism of :class:`~market_env.market.BatchedMarket`:
    ``μ_k``, ``σ_k = α·exp(u_k)`` from its action at the state (seen as
    :meth:`MarketMaker.observe` shows it), ``S_0`` its action at the initial state.

    Args:
        policy: ``policy(obs (B, N + 3)) -> actions (B, 3)`` in raw units ``(μ, u, S_0)``;
            actions are clipped to the bounds of ``spec``.
        config: the market.
        spec: the bounds (default :meth:`MarketMakerSpec.default`).
    """

    def __init__(
        self,
        policy: Callable[[Tensor], Tensor],
        config: MarketConfig,
        spec: MarketMakerSpec | None = None,
    ) -> None:
        self.policy = policy
        self.config = config
        self.maker = MarketMaker(config, spec)

    def act(self, obs: Tensor) -> Tensor:
        """The policy's action at ``obs``, clipped to the bounds."""
        return self.maker.spec.clip(self.policy(obs))

    @property
    def S0(self) -> float:
        """The initial price: the policy's ``S_0`` at ``t = 0``."""
        return float(self.act(self.maker.initial_observation())[0, 2])

    def __call__(self, state: MarketState, market: BatchedMarket) -> tuple[Tensor, Tensor]:
        return self.maker.decode(self.act(self.maker.observe(state)))
