"""The trading cost of MODEL.md §1–§2: ``(λ/2)|φ̇|^q`` per unit time, a component of the market.

:class:`~market_env.market.BatchedMarket` subtracts it from each step's reward (``r_n,k`` of
MODEL.md §2), the one place where the cost enters the simulation.
"""

from __future__ import annotations

from torch import Tensor

from .config import MarketConfig

__all__ = ["TradingCost"]


class TradingCost:
    """The per-step trading cost ``(λΔt/2)|φ̇_n,k|^q`` (MODEL.md §2).

    Args:
        lam: the cost level ``λ > 0``.
        cost_power: the cost power ``q ∈ (1, 2]``.
        dt: the step ``Δt``.
    """

    def __init__(self, lam: float, cost_power: float, dt: float) -> None:
        self.lam = float(lam)
        self.cost_power = float(cost_power)
        self.dt = float(dt)
        self.half_lam_dt = 0.5 * self.lam * self.dt
        self.quadratic = self.cost_power == 2.0

    @classmethod
    def from_config(cls, config: MarketConfig) -> TradingCost:
        """The cost of ``config`` (``lam``, ``cost_power``, ``dt``)."""
        return cls(config.lam, config.cost_power, config.dt)

    def __call__(self, fills: Tensor) -> Tensor:
        """``(λΔt/2)|φ̇|^q`` elementwise, for executed rates ``fills`` of any shape."""
        if self.quadratic:
            return self.half_lam_dt * fills.square()
        return self.half_lam_dt * fills.abs().pow(self.cost_power)

    def subtract_from(self, reward: Tensor, fills: Tensor) -> Tensor:
        """``reward − cost(fills)``, out of place (one fused kernel for ``q = 2``)."""
        if self.quadratic:
            return reward.addcmul(fills, fills, value=-self.half_lam_dt)
        return reward - self(fills)

    def __repr__(self) -> str:
        return f"TradingCost(lam={self.lam:g}, cost_power={self.cost_power:g}, dt={self.dt:g})"
