"""The exact equilibrium for quadratic costs by a Riccati system (MODEL.md §4).

Range. The coefficients are computed for any market ``MarketConfig`` accepts with
``cost_power = 2`` and ``Σξ = 0``; the solve is stiff-stable (the decoupled modal form of
:func:`riccati_coefficients`, integrated by LSODA, which switches to BDF where the system is
stiff), so tiny ``λ``, large ``γ`` and long horizons cost little (milliseconds; about 0.1 s
at N = 100). Tested on
``λ ∈ [1e-4, 1]``, ``γ_n ∈ [0.01, 100]``, ``|ξ_n| ∈ [0.1, 50]``, ``T ∈ [0.05, 5]``,
``K ∈ [10, 2000]``, ``N ∈ [2, 100]`` (``tests/test_benchmark_range.py``). A config is refused
with a one-line ``ValueError`` naming the parameter when

- ``n_steps`` is too small for the discrete strategy: at the left-point coefficients of
  MODEL.md §2 the feedback ``φ̇ = −(F/λ)(φ − target)`` moves each eigen-mode of the gap by
  ``Δt·r`` of itself per step (``r`` an eigenvalue of ``F/λ``), so ``Δt·r > 1`` overshoots the
  target in one step (and ``Δt·r > 2`` diverges: the utility of −1.3e218 at ``T = 100``,
  ``K = 100``). The benchmark needs ``Δt·max r ≤ 1``; the message gives the ``n_steps``
  that satisfies it;
- ``n_agents`` exceeds :data:`MAX_AGENTS` (the modal solve is dense in ``N``);
- its own coefficients or ``S_0`` are not finite (a benchmark must be finite).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.integrate import solve_ivp
from torch import Tensor

from ..config import MarketConfig
from ..solution import register_solution
from ..state import MarketState
from .tabulated import TabulatedSolution, s0_from_sigma_squared, start_targets

__all__ = ["MAX_AGENTS", "RiccatiCoefficients", "riccati_coefficients", "RiccatiSolution"]

#: Largest N the Riccati benchmark is computed for (MarketConfig's own limit; the modal solve
#: has 2(N−1) unknowns and a dense Jacobian: N = 1000 takes about 8 s on a stiff config).
MAX_AGENTS = 1000


@dataclass(frozen=True, eq=False)
class RiccatiCoefficients:
    """The Riccati solution on the time grid ``t_k = kΔt``, ``k = 0..K−1`` (left points).

    ``F(τ)`` commutes with ``A`` for every ``τ`` (MODEL.md §4), so it is held in the eigenbasis
    of ``A``: ``F(T − t_k)/λ = V diag(rates_k) V⁻¹`` and ``H(T − t_k)/λ = V h_modes_k``.

    Attributes:
        sigma: ``σ_k``, shape ``(K,)``.
        rates: eigenvalues ``r_k,i ≥ 0`` of ``F(T − t_k)/λ`` (rates of the gap's modes),
            shape ``(K, N−1)``.
        modes: ``V``, eigenvectors of ``A`` (columns), shape ``(N−1, N−1)``.
        modes_inv: ``V⁻¹``, shape ``(N−1, N−1)``.
        h_modes: ``V⁻¹ H(T − t_k)/λ``, shape ``(K, N−1)``.
        lam: ``λ``.
        dt: ``Δt``.
        S0: ``βT − γ̄ s Σ_k σ_k² Δt`` (the exact discrete initial price).
        F: ``F(T − t_k)``, shape ``(K, N−1, N−1)`` (built on first access).
        H: ``H(T − t_k)``, shape ``(K, N−1)`` (built on first access).
        step_rate: ``Δt·max_k,i r_k,i``, at most 1 (the discrete strategy never overshoots).
    """

    sigma: np.ndarray
    rates: np.ndarray
    modes: np.ndarray
    modes_inv: np.ndarray
    h_modes: np.ndarray
    lam: float
    dt: float
    S0: float

    @functools.cached_property
    def F(self) -> np.ndarray:
        return self.lam * np.einsum("ij,kj,jl->kil", self.modes, self.rates, self.modes_inv)

    @functools.cached_property
    def H(self) -> np.ndarray:
        return self.lam * (self.h_modes @ self.modes.T)

    @property
    def step_rate(self) -> float:
        return float(self.dt * np.max(self.rates))


def check_quadratic(config: MarketConfig) -> None:
    """Refuse, in one line naming the parameter, a market outside the Riccati benchmarks'
    domain: ``cost_power ≠ 2``, ``Σξ ≠ 0`` or ``n_agents >`` :data:`MAX_AGENTS`."""
    if config.cost_power != 2.0:
        raise ValueError(
            f"the Riccati equilibrium needs quadratic costs (cost_power = 2), got cost_power = "
            f"{config.cost_power}; use the leading-order benchmark (N = 2) or a neural solver"
        )
    if not config.xi_balanced:
        raise ValueError(
            f"the Riccati equilibrium needs sum(xi) = 0 (MODEL.md §1), got sum(xi) = "
            f"{config.xi_sum:.6g}"
        )
    if config.n_agents > MAX_AGENTS:
        raise ValueError(
            f"n_agents = {config.n_agents} is outside the range of the Riccati benchmark "
            f"(N <= {MAX_AGENTS}: its solve is dense in N)"
        )


def _modal_basis(config: MarketConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(d, V, V⁻¹)`` with ``A = V diag(d) V⁻¹``, ``d > 0`` (MODEL.md §4's ``A``).

    ``A = M S`` with ``M = N I − 11ᵀ`` and ``S = diag(γ_1..γ_{N−1}) + γ_N 11ᵀ``, both symmetric
    positive definite, so ``A`` is similar to the symmetric ``M^½ S M^½ = Q diag(d) Qᵀ``:
    ``V = M^½ Q``, ``V⁻¹ = Qᵀ M^−½`` (condition number ``√N``). ``M`` has eigenvalue 1 on
    the ones vector and ``N`` on its complement, which gives ``M^±½`` in closed form.
    """
    N = config.n_agents
    m = N - 1
    gamma = np.asarray(config.gamma)
    ones = np.full((m, m), 1.0 / m)
    eye = np.eye(m)
    m_half = math.sqrt(N) * (eye - ones) + ones
    m_half_inv = (eye - ones) / math.sqrt(N) + ones
    sym = m_half @ (np.diag(gamma[:m]) + gamma[-1]) @ m_half
    d, Q = np.linalg.eigh(0.5 * (sym + sym.T))
    return d, m_half @ Q, Q.T @ m_half_inv


def riccati_coefficients(config: MarketConfig, rtol: float = 1e-12) -> RiccatiCoefficients:
    """Solve the Riccati system of MODEL.md §4 in reversed time ``τ = T − t``.

    ``dF/dτ = (σ²/N) A − F F/λ``, ``dH/dτ = (σ/N) b − F H/λ``, ``F(0) = 0``, ``H(0) = 0``,
    ``σ = α + v·H``, with ``A_nm = γ_m(N·1[n=m] − 1) + γ_N``, ``b = A ξ_{1..N−1}``,
    ``v_n = γ̄(1/γ_n − 1/γ_N)``.

    Solved in the eigenbasis of ``A`` (:func:`_modal_basis`, ``A = V diag(d) V⁻¹``), where the
    system decouples except through the scalar ``σ``: with ``ρ_i = √(d_i/(Nλ))``,
    ``F/λ = V diag(ρ u) V⁻¹``, ``V⁻¹H = √(λd/N)·z`` (elementwise) and ``ξ̃ = V⁻¹ξ_{1..N−1}``,

    ``du_i/dτ = ρ_i (σ² − u_i²)``, ``dz_i/dτ = ρ_i (σ ξ̃_i − u_i z_i)``, ``σ = α + Σ_i ω_i z_i``,

    ``ω = λ ρ (Vᵀv)``, ``u(0) = z(0) = 0``. The variables are O(σ) and O(ξ̃) whatever λ and γ
    (stationary ``u = |σ|``, ``z = ±ξ̃``); the stiffness is ``ρ T`` (up to ~10⁴ on the tested
    range), so the system is integrated by LSODA (Adams, switching to BDF where stiff) with
    its exact Jacobian, to ``rtol`` (absolute tolerance ``rtol/100`` of the variables' scale),
    and read at ``τ = T − t_k``. Measured: against the direct DOP853 integration of
    ``(F, H)`` (rtol 1e-13) the coefficients agree to ~2e-12 (relative) on ``quadratic-10``;
    against Radau on the same modal form to ~1e-12 at N = 100 with λ = 1e-4 (where the direct
    integration itself moves by 7e-9 between rtol 1e-12 and 1e-13).

    Raises:
        ValueError: outside the Riccati case, when ``n_steps`` is too small (see the module
            docstring), or if the solve fails or is not finite.
    """
    check_quadratic(config)
    N, lam, alpha = config.n_agents, config.lam, config.alpha
    gamma = np.asarray(config.gamma)
    xi = np.asarray(config.xi)
    m = N - 1
    d, V, V_inv = _modal_basis(config)
    xi_t = V_inv @ xi[:m]
    v = config.gamma_bar * (1.0 / gamma[:m] - 1.0 / gamma[-1])
    rho = np.sqrt(d / (N * lam))
    omega = lam * rho * (V.T @ v)

    def rhs(_tau: float, y: np.ndarray) -> np.ndarray:
        u, z = y[:m], y[m:]
        sigma = alpha + omega @ z
        return np.concatenate([rho * (sigma * sigma - u * u), rho * (sigma * xi_t - u * z)])

    def jac(_tau: float, y: np.ndarray) -> np.ndarray:
        u, z = y[:m], y[m:]
        sigma = alpha + omega @ z
        J = np.empty((2 * m, 2 * m))
        J[:m, :m] = np.diag(-2.0 * rho * u)
        J[:m, m:] = 2.0 * sigma * np.outer(rho, omega)
        J[m:, :m] = np.diag(-rho * z)
        J[m:, m:] = np.outer(rho * xi_t, omega) - np.diag(rho * u)
        return J

    K, T, dt = config.n_steps, config.horizon, config.dt
    tau_grid = T - np.arange(K) * dt  # decreasing from T to Δt
    z_scale = max(float(np.max(np.abs(xi_t))), 1e-12 * float(np.max(np.abs(xi))), 1e-300)
    atol = 1e-2 * rtol * np.concatenate([np.full(m, alpha), np.full(m, z_scale)])
    where = f"lam = {lam:g}, horizon = {T:g}, gamma in [{gamma.min():g}, {gamma.max():g}]"

    def integrate(t_eval: np.ndarray | None) -> object:
        with np.errstate(over="ignore", invalid="ignore"):
            return solve_ivp(
                rhs,
                (0.0, T),
                np.zeros(2 * m),
                method="LSODA",
                t_eval=t_eval,
                dense_output=t_eval is None,
                rtol=rtol,
                atol=atol,
                jac=jac,
            )

    sol = integrate(tau_grid[::-1])
    if not sol.success or sol.y.shape[1] != K:
        raise ValueError(
            f"the Riccati system of MODEL.md §4 could not be integrated at {where}: {sol.message}"
        )
    Y = np.ascontiguousarray(sol.y[:, ::-1].T)  # rows follow t_k, k = 0..K-1
    u, z = Y[:, :m], Y[:, m:]
    sigma = alpha + z @ omega
    rates = rho * u
    h_modes = rho * z  # V⁻¹H/λ = √(λd/N) z / λ = ρ z
    S0 = s0_from_sigma_squared(config, float(np.sum(sigma**2)))
    if not (np.isfinite(Y).all() and np.isfinite(sigma).all() and math.isfinite(S0)):
        raise ValueError(
            f"the Riccati benchmark is not finite at {where} (its coefficients or "
            f"S0 = {S0!r} overflow); it is no benchmark for this config"
        )
    r_max = float(np.max(rates))
    if dt * r_max > 1.0:
        need = math.ceil(T * _sup_rate(integrate(None), rho, m, T, r_max) * (1.0 + 1e-9))
        raise ValueError(
            f"n_steps = {K} is too small for the Riccati benchmark at horizon = {T:g}: "
            f"Δt = {dt:.3g} times its fastest feedback rate {r_max:.4g} (an eigenvalue of F/λ, "
            f"MODEL.md §4) is {dt * r_max:.3g} > 1, so the discrete strategy overshoots its "
            f"target in one step; use n_steps >= {need}"
        )
    return RiccatiCoefficients(
        sigma=sigma,
        rates=rates,
        modes=V,
        modes_inv=V_inv,
        h_modes=h_modes,
        lam=lam,
        dt=dt,
        S0=S0,
    )


def _sup_rate(sol: object, rho: np.ndarray, m: int, T: float, r_grid: float) -> float:
    """``sup_τ max_i ρ_i u_i(τ)`` over ``(0, T]`` from a dense solution: the fastest feedback
    rate on any time grid, so ``K ≥ T·sup`` steps satisfy the step criterion on every grid.

    Sampled at the solver's own steps, their midpoints and 4001 uniform points (in chunks, so
    large N stays small in memory)."""
    if not getattr(sol, "success", False):
        return r_grid
    steps = np.asarray(sol.t)
    taus = np.concatenate([steps, 0.5 * (steps[1:] + steps[:-1]), np.linspace(0.0, T, 4001)])
    best = r_grid
    for chunk in np.array_split(taus, max(1, (taus.size * m) // 1_000_000 + 1)):
        u = sol.sol(chunk)[:m]
        best = max(best, float(np.max(rho[:, None] * u)))
    return best


@register_solution
class RiccatiSolution(TabulatedSolution):
    """The quadratic-cost equilibrium of MODEL.md §4 (any N ≥ 2 with Σξ = 0).

    Policy for ``n < N``: ``φ̇_n = −(1/λ)[Σ_m F_nm (φ_m − sγ̄/γ_m) + H_n W]``, and
    ``φ̇_N = −Σ_{n<N} φ̇_n``, with ``F``, ``H`` at the left points ``t_k`` (MODEL.md §2).
    Price: deterministic ``σ_k`` and the clearing drift ``μ``. Refuses (``ValueError``)
    configs where the discrete strategy would overshoot its target in one step (see
    :func:`riccati_coefficients`).
    """

    kind = "riccati"
    coefficients: RiccatiCoefficients

    def __init__(self, config: MarketConfig) -> None:
        super().__init__(config, riccati_coefficients(config))

    def table_arrays(self) -> tuple[Any, ...]:
        """``σ_k``, ``V⁻ᵀ``, ``rates_k``, ``Vᵀ``, ``H_k/λ`` and the targets ``sγ̄/γ_m``."""
        co = self.coefficients
        m = self.config.n_agents - 1
        target = list(start_targets(self.config)[:m])
        return (co.sigma, co.modes_inv.T, co.rates, co.modes.T, co.h_modes @ co.modes.T, target)

    def policy(self, state: MarketState) -> Tensor:
        _, V_inv_T, rates, V_T, H_over_lam, target = self.tables(state.W)
        k = state.k
        deviation = state.phi[:, :-1] - target
        # (F/λ)·deviation = V diag(r) V⁻¹ deviation, row-wise
        head = -(((deviation @ V_inv_T) * rates[k]) @ V_T + state.W.unsqueeze(-1) * H_over_lam[k])
        return torch.cat([head, -head.sum(dim=-1, keepdim=True)], dim=-1)
