"""What the Riccati answers share (MODEL.md §2, §4): a volatility ``σ_k`` that is a table on
the time grid ``t_k = kΔt`` (left points), the clearing drift as the price, and an exact
``S_0 = βT − γ̄ s Σ_k σ_k² Δt`` (the same formula with ``E[σ_k²]`` serves the leading order of
MODEL.md §5).

A :class:`TabulatedSolution` holds its coefficients as numpy arrays and moves them to the
state's device and dtype once per pair (cached), so the known answers roll out in
:class:`~market_env.BatchedMarket` on any device.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from ..config import MarketConfig
from ..price import ClearingDrift, PriceMechanism
from ..solution import Solution
from ..state import MarketState

__all__ = [
    "TableCache",
    "TabulatedCoefficients",
    "TabulatedSolution",
    "s0_from_sigma_squared",
    "start_targets",
    "tensor_tables",
]


def s0_from_sigma_squared(config: MarketConfig, sigma2_sum: float) -> float:
    """``S_0 = βT − γ̄ s Σ_k σ_k² Δt`` given ``Σ_k σ_k²`` (MODEL.md §4; with ``E[σ_k²]``,
    MODEL.md §5): holdings start at ``sγ̄/γ_n`` and ``W_0 = 0``, so ``E[μ_k] = γ̄ s E[σ_k²]``."""
    return config.beta * config.horizon - config.gamma_bar * config.supply * sigma2_sum * config.dt


def start_targets(config: MarketConfig) -> tuple[float, ...]:
    """``sγ̄/γ_n``, the frictionless holdings at ``W = 0`` that the feedback strategies of
    MODEL.md §4–§5 track (their deviation is measured from these, not from ``config.phi0``)."""
    return tuple(config.supply * config.gamma_bar / g for g in config.gamma)


TableCache = dict[tuple[torch.device, torch.dtype], tuple[Tensor, ...]]


def tensor_tables(
    cache: TableCache, like: Tensor, arrays: Callable[[], Iterable[Any]]
) -> tuple[Tensor, ...]:
    """``arrays()`` as tensors on ``like``'s device and in its dtype, built on the first call
    for that pair and kept in ``cache``."""
    key = (like.device, like.dtype)
    if key not in cache:
        cache[key] = tuple(
            torch.as_tensor(np.ascontiguousarray(a), device=like.device, dtype=like.dtype)
            for a in arrays()
        )
    return cache[key]


class TabulatedCoefficients(Protocol):
    """Coefficients with a volatility table ``sigma`` (shape ``(K,)``) and an exact ``S0``."""

    @property
    def sigma(self) -> np.ndarray: ...

    @property
    def S0(self) -> float: ...


class TabulatedSolution(Solution):
    """A known answer with deterministic ``σ_k`` and the clearing drift (MODEL.md §2, §4).

    Subclasses give :meth:`table_arrays` (``σ_k`` first, then whatever :meth:`policy` reads)
    and :meth:`policy`; :meth:`tables` returns those arrays as tensors on the device and in
    the dtype of a given tensor.
    """

    def __init__(self, config: MarketConfig, coefficients: TabulatedCoefficients) -> None:
        super().__init__(config)
        self.coefficients = coefficients
        self._cache: TableCache = {}

    @property
    def S0(self) -> float:
        return self.coefficients.S0

    @abstractmethod
    def table_arrays(self) -> tuple[Any, ...]:
        """The arrays :meth:`tables` converts: ``σ_k`` (shape ``(K,)``) first."""

    def tables(self, like: Tensor) -> tuple[Tensor, ...]:
        """:meth:`table_arrays` as tensors on ``like``'s device and dtype (built once)."""
        return tensor_tables(self._cache, like, self.table_arrays)

    def sigma_at(self, state: MarketState) -> Tensor:
        """``σ_k`` at the state's step, shape ``()`` (deterministic)."""
        return self.tables(state.W)[0][state.k]

    def price(self) -> PriceMechanism:
        return ClearingDrift(volatility=self.sigma_at, S0=self.S0)
