"""The Markov state of the batched market at step k (MODEL.md §2)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

__all__ = ["MarketState"]


@dataclass(frozen=True)
class MarketState:
    """State ``(t_k, W_k, S_k, φ_k)`` of B paths at step ``k`` (before trading at ``t_k``).

    Attributes:
        k: step index, ``0 ≤ k ≤ K``.
        t: time ``t_k = kΔt``.
        W: Brownian motion ``W_k``, shape ``(B,)``.
        S: price ``S_k``, shape ``(B,)``.
        phi: holdings ``φ_k``, shape ``(B, N)``.
    """

    k: int
    t: float
    W: Tensor
    S: Tensor
    phi: Tensor

    @property
    def batch_size(self) -> int:
        return self.phi.shape[0]
