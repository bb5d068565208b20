"""The frictionless equilibrium (MODEL.md §3), rolled out in the frictional market."""

from __future__ import annotations

from torch import Tensor

from ..config import MarketConfig
from ..price import PriceMechanism, frictionless_price
from ..solution import Solution, register_solution
from ..state import MarketState

__all__ = ["FrictionlessSolution"]


@register_solution
class FrictionlessSolution(Solution):
    """``σ = α``, ``μ̄ = γ̄α²s``, targets ``φ̄_n,t = μ̄/(γ_n α²) − (ξ_n/α) W_t`` (any N, any q).

    In discrete time the policy trades each step straight to the current target,
    ``φ̇_n,k = (φ̄_n(W_k) − φ_n,k)/Δt``, so ``φ_{k+1} = φ̄(W_k)``: holdings track the target
    one step behind. Targets sum to ``s``, so the market clears exactly. The trading cost of
    the config is still charged by the simulator (this is the λ → 0 answer, not optimal
    for λ > 0).
    """

    kind = "frictionless"

    def __init__(self, config: MarketConfig) -> None:
        super().__init__(config)
        self._price = frictionless_price(config)
        self.mu_bar = config.mu_bar

    @property
    def S0(self) -> float:
        """``(β − γ̄α²s)T``."""
        return float(self._price.S0)

    def price(self) -> PriceMechanism:
        return self._price

    def target(self, W: Tensor) -> Tensor:
        """``φ̄_n`` at Brownian value ``W`` (shape ``(B,)``), shape ``(B, N)``."""
        c = self.config
        gamma = W.new_tensor(c.gamma)
        xi = W.new_tensor(c.xi)
        return self.mu_bar / (gamma * c.alpha**2) - (xi / c.alpha) * W.unsqueeze(-1)

    def policy(self, state: MarketState) -> Tensor:
        return (self.target(state.W) - state.phi) / self.config.dt
