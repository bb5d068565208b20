"""Price mechanisms: how ``(μ_k, σ_k)`` are made at each step (DESIGN.md, MODEL.md §3–§4).

A price mechanism is any object with an ``S0`` attribute (the initial price, a float or a
0-d tensor) and a ``__call__(state, market) -> (mu, sigma)`` returning two ``(B,)`` tensors.
The market-maker mechanism of the RL interfaces needs none: it passes ``mu``/``sigma``
straight to :meth:`BatchedMarket.step`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch
from torch import Tensor

from .state import MarketState

if TYPE_CHECKING:
    from .market import BatchedMarket

__all__ = [
    "PriceMechanism",
    "ExogenousPrice",
    "ClearingDrift",
    "clearing_drift",
    "frictionless_price",
]

Volatility = Callable[[MarketState], Tensor] | float | Tensor


@runtime_checkable
class PriceMechanism(Protocol):
    """What :class:`BatchedMarket` asks of a price mechanism."""

    S0: float | Tensor

    def __call__(self, state: MarketState, market: BatchedMarket) -> tuple[Tensor, Tensor]: ...


def _as_path_tensor(value: Tensor | float, state: MarketState) -> Tensor:
    """Broadcast a scalar or ``(B,)`` value to a ``(B,)`` tensor on the state's device."""
    if isinstance(value, Tensor) and value.dim() == 1:
        return value
    return torch.as_tensor(value, dtype=state.W.dtype, device=state.W.device).expand_as(state.W)


def _sigma_at(volatility: Volatility, state: MarketState) -> Tensor:
    """Evaluate a volatility model: a constant, a per-step table ``(K,)`` or a callable."""
    if callable(volatility):
        return _as_path_tensor(volatility(state), state)
    if isinstance(volatility, Tensor) and volatility.dim() == 1:
        return volatility[state.k].to(state.W).expand_as(state.W)
    return _as_path_tensor(volatility, state)


class ExogenousPrice:
    """``μ, σ`` from a function of the state; agents are price takers.

    Args:
        fn: ``fn(state) -> (mu, sigma)``, each a float, a 0-d or a ``(B,)`` tensor.
        S0: initial price ``S_0``.
    """

    def __init__(self, fn: Callable[[MarketState], tuple[Tensor, Tensor]], S0: float | Tensor):
        self.fn = fn
        self.S0 = S0

    def __call__(self, state: MarketState, market: BatchedMarket) -> tuple[Tensor, Tensor]:
        mu, sigma = self.fn(state)
        return _as_path_tensor(mu, state), _as_path_tensor(sigma, state)


def clearing_drift(sigma: Tensor, state: MarketState, market: BatchedMarket) -> Tensor:
    """The drift at which current holdings clear, ``μ = (1/N) Σ_n γ_n σ (σ φ_n + ξ_n W)``.

    Exact for equal quadratic costs (MODEL.md §4); ``sigma`` has shape ``(B,)``.
    """
    # Σ_n γ_n (σ φ_n + ξ_n W) = σ (φ·γ) + (γ·ξ) W: one matrix-vector product.
    weighted = torch.addcmul(state.W * market.gamma_xi, sigma, state.phi @ market.gamma)
    return sigma * weighted / market.n_agents


class ClearingDrift:
    """Endogenous drift: ``σ`` from a volatility model, ``μ`` from :func:`clearing_drift`.

    Args:
        volatility: a constant, a per-step table of shape ``(K,)``, or ``fn(state) -> σ``.
            Default: ``α`` from the market's config.
        S0: initial price; default the frictionless ``(β − γ̄α²s)T`` (MODEL.md §3).
    """

    def __init__(self, volatility: Volatility | None = None, S0: float | Tensor | None = None):
        self.volatility = volatility
        self.S0 = S0

    def __call__(self, state: MarketState, market: BatchedMarket) -> tuple[Tensor, Tensor]:
        volatility = market.config.alpha if self.volatility is None else self.volatility
        sigma = _sigma_at(volatility, state)
        return clearing_drift(sigma, state, market), sigma


def frictionless_price(config) -> ExogenousPrice:
    """The frictionless price of MODEL.md §3: ``σ = α``, ``μ = γ̄α²s``, ``S_0 = (β − γ̄α²s)T``."""
    return ExogenousPrice(lambda state: (config.mu_bar, config.alpha), S0=config.frictionless_S0)
