"""The exact equilibrium for quadratic costs by a Riccati system (MODEL.md §4)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.integrate import solve_ivp
from torch import Tensor

from market_env import ClearingDrift, MarketConfig, MarketState, PriceMechanism

from ..base import Solution, register_solution

__all__ = ["RiccatiCoefficients", "riccati_coefficients", "RiccatiSolution"]


@dataclass(frozen=True)
class RiccatiCoefficients:
    """The Riccati solution on the time grid ``t_k = kΔt``, ``k = 0..K−1`` (left points).

    Attributes:
        sigma: ``σ_k``, shape ``(K,)``.
        F: ``F(T − t_k)``, shape ``(K, N−1, N−1)``.
        H: ``H(T − t_k)``, shape ``(K, N−1)``.
        S0: ``βT − γ̄ s Σ_k σ_k² Δt`` (the exact discrete initial price).
    """

    sigma: np.ndarray
    F: np.ndarray
    H: np.ndarray
    S0: float


def _check_quadratic(config: MarketConfig) -> None:
    if config.cost_power != 2.0:
        raise ValueError(
            f"the Riccati equilibrium needs quadratic costs (cost_power = 2), got cost_power = "
            f"{config.cost_power}; use the leading-order benchmark (N = 2) or a neural solver"
        )
    scale = max(1.0, max(abs(x) for x in config.xi))
    if abs(config.xi_sum) > 1e-9 * scale:
        raise ValueError(
            f"the Riccati equilibrium needs sum(xi) = 0 (MODEL.md §1), got sum(xi) = "
            f"{config.xi_sum:.6g}"
        )


def riccati_coefficients(config: MarketConfig, rtol: float = 1e-12) -> RiccatiCoefficients:
    """Solve the Riccati system of MODEL.md §4 in reversed time ``τ = T − t``.

    ``dF/dτ = (σ²/N) A − F F/λ``, ``dH/dτ = (σ/N) b − F H/λ``, ``F(0) = 0``, ``H(0) = 0``,
    ``σ = α + v·H``, with ``A_nm = γ_m(N·1[n=m] − 1) + γ_N``, ``b = A ξ_{1..N−1}``,
    ``v_n = γ̄(1/γ_n − 1/γ_N)``. Integrated by DOP853 to ``rtol``, read at ``τ = T − t_k``.
    """
    _check_quadratic(config)
    N, lam, alpha = config.n_agents, config.lam, config.alpha
    gamma = np.asarray(config.gamma)
    xi = np.asarray(config.xi)
    m = N - 1
    A = gamma[None, :m] * (N * np.eye(m) - 1.0) + gamma[-1]
    b = A @ xi[:m]
    v = config.gamma_bar * (1.0 / gamma[:m] - 1.0 / gamma[-1])

    def rhs(_tau: float, y: np.ndarray) -> np.ndarray:
        F = y[: m * m].reshape(m, m)
        H = y[m * m :]
        sigma = alpha + v @ H
        dF = (sigma**2 / N) * A - F @ F / lam
        dH = (sigma / N) * b - F @ H / lam
        return np.concatenate([dF.ravel(), dH])

    K, T = config.n_steps, config.horizon
    t_grid = np.arange(K) * config.dt
    tau_grid = T - t_grid  # decreasing from T to Δt
    sol = solve_ivp(
        rhs,
        (0.0, T),
        np.zeros(m * m + m),
        method="DOP853",
        t_eval=tau_grid[::-1],
        rtol=rtol,
        atol=rtol * 1e-2,
    )
    if not sol.success:
        raise RuntimeError(f"Riccati integration failed: {sol.message}")
    Y = np.ascontiguousarray(sol.y[:, ::-1].T)  # rows follow t_k, k = 0..K-1
    F = Y[:, : m * m].reshape(K, m, m)
    H = Y[:, m * m :]
    sigma = alpha + H @ v
    S0 = config.beta * T - config.gamma_bar * config.supply * float(np.sum(sigma**2)) * config.dt
    return RiccatiCoefficients(sigma=sigma, F=F, H=H, S0=S0)


@register_solution
class RiccatiSolution(Solution):
    """The quadratic-cost equilibrium of MODEL.md §4 (any N ≥ 2 with Σξ = 0).

    Policy for ``n < N``: ``φ̇_n = −(1/λ)[Σ_m F_nm (φ_m − sγ̄/γ_m) + H_n W]``, and
    ``φ̇_N = −Σ_{n<N} φ̇_n``. Price: deterministic ``σ_k`` and the clearing drift ``μ``.
    """

    kind = "riccati"

    def __init__(self, config: MarketConfig) -> None:
        super().__init__(config)
        self.coefficients = riccati_coefficients(config)
        self._cache: dict[tuple[torch.device, torch.dtype], tuple[Tensor, ...]] = {}

    @property
    def S0(self) -> float:
        return self.coefficients.S0

    def _tables(self, like: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        key = (like.device, like.dtype)
        if key not in self._cache:
            c, co = self.config, self.coefficients
            m = c.n_agents - 1
            target = [c.supply * c.gamma_bar / g for g in c.gamma[:m]]
            self._cache[key] = tuple(
                torch.as_tensor(np.asarray(x), device=like.device, dtype=like.dtype)
                for x in (co.sigma, np.swapaxes(co.F, 1, 2) / c.lam, co.H / c.lam, target)
            )
        return self._cache[key]

    def price(self) -> PriceMechanism:
        return ClearingDrift(volatility=self._sigma_of, S0=self.S0)

    def _sigma_of(self, state: MarketState) -> Tensor:
        return self._tables(state.W)[0][state.k]

    def policy(self, state: MarketState) -> Tensor:
        _, F_T_over_lam, H_over_lam, target = self._tables(state.W)
        k = state.k
        deviation = state.phi[:, :-1] - target
        head = -(deviation @ F_T_over_lam[k] + state.W.unsqueeze(-1) * H_over_lam[k])
        return torch.cat([head, -head.sum(dim=-1, keepdim=True)], dim=-1)
