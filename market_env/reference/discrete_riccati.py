"""The exact equilibrium of the K-step market for quadratic costs (MODEL.md §2 and §4).

MODEL.md §4 solves the continuous-time market; the simulator steps the discrete one of
MODEL.md §2 (every coefficient at the left point, ``φ_{k+1} = φ_k + φ̇_k Δt``,
``S_{k+1} = S_k + μ_k Δt + σ_k ΔW_k``). The two equilibria differ by ``O(Δt)``, and where
``S_0`` is a small difference of large terms (``βT`` against ``Σ E[μ_k] Δt``) the gap is
large in relative terms: on a two-agent market with ``γ = (1, 3)``, ``α = 1.5``, ``β = 1``,
``s = 0.5`` the continuous ``S_0`` is −0.0133 and the 100-step market's is −0.0273. The
neural solvers train in the discrete market and converge to its equilibrium, which this
module computes exactly, in one backward pass, within the class of linear strategies and
deterministic ``σ``:

State ``x_k = (φ_1..φ_{N−1}, W_k, 1)`` (clearing keeps ``φ_N = s − Σ_{n<N} φ_n``). The drift
is the clearing drift ``μ_k = (σ_k/N) Σ_n γ_n(σ_k φ_n + ξ_n W_k) = c_k·x_k``, so that the
agents' marginal
values ``m_n,k = μ_k − γ_n σ_k(σ_k φ_n,k + ξ_n W_k) = ℓ_n,k·x_k`` sum to zero at every step
(clearing). Agent n's first-order condition in the discrete market (a rate at step k moves
the holdings of steps ``k+1 … K−1``) is ``λ φ̇_n,k = Δt E_k[Σ_{j>k} m_n,j]``. With
``E_{k+1}[Σ_{j>k} m_n,j] = P_n,k+1·x_{k+1}`` and ``E_k[x_{k+1}] = x_k + Δt E φ̇_k``, the
rates are ``φ̇_k = G_k x_k`` with ``G_k = Δt (λI − Δt² P_{k+1} E)⁻¹ P_{k+1}`` (``E`` puts
rates into the holdings slots), and ``P_k = ℓ_k + P_{k+1} A_k`` with
``A_k = I + Δt E G_k``, ``P_K = 0`` (so ``φ̇_K−1 = 0``: the last rate of the discrete market
is zero). The terminal condition ``S_K = βT + αW_K`` holds path by path when every shock
``ΔW_k`` enters ``S_K`` with weight α: ``σ_k = α − Δt R_k+1[W]`` where
``R_k = c_k + A_kᵀ R_{k+1}``, ``R_K = 0``, collects how ``ΔW_k`` moves the later drifts.
Every quantity at step k needs only steps after k, so one backward pass gives ``σ_k``,
``c_k``, ``G_k``; ``S_0 = βT − Σ_k c_k·E[x_k] Δt`` from the mean path.

The discrete market's equilibrium is not unique: clearing pins only the conditional mean
of each next step's drift, and the rest can be traded against ``σ``. This module takes the
selection the simulator's clearing-drift price and the neural solvers' reinforcement link
make, ``μ_k`` equal to the clearing drift on every path. At coarse ``Δt`` with small ``λ``
(agents closing their whole gap each step) that equilibrium can be far from the continuous
one: on ``γ = (0.01, 100)``, ``ξ = ±0.1``, ``λ = 1e-4``, ``T = 5`` its ``σ_0`` is 6352 at
``K = 10``, 342 at ``K = 20``, 2.0 at ``K = 50`` and 1.03 at ``K = 1000``; such a market does
not stand for continuous trading at that ``K``.

Range: the same markets as the continuous Riccati benchmark (``cost_power = 2``,
``Σξ = 0``), ``N ≤`` :data:`MAX_AGENTS` (the pass is dense in N). Refused in one line naming
``n_steps`` where it is not finite, where ``σ`` exceeds :data:`SIGMA_LIMIT`·α (the backward
pass amplifies ``σ_k = α − Δt R_{k+1}[W]`` geometrically when ``Δt`` is coarse against the
fastest agent and ``|Σ γ_n ξ_n|`` is large), or where its own paths miss ``S_K = 𝔖`` beyond
rounding; ``tests/test_benchmark_range.py`` records where on the documented range that
happens (coarse grids and the largest ``γ|ξ|``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..config import MarketConfig
from ..solution import evaluate, register_solution
from ..state import MarketState
from .riccati import check_quadratic
from .tabulated import TabulatedSolution

__all__ = [
    "MAX_AGENTS",
    "DiscreteRiccatiCoefficients",
    "discrete_riccati_coefficients",
    "DiscreteRiccatiSolution",
]

#: Largest N the discrete equilibrium is computed for (each step solves an N×N system and
#: multiplies N×(N+2) matrices; N = 200, K = 2000 takes a few seconds and 0.6 GB).
MAX_AGENTS = 200


#: Refuse the benchmark when its σ exceeds this multiple of α anywhere: on the documented
#: range the well-resolved markets stay within 2·α, and beyond this the backward pass has
#: amplified the drift's dependence on W geometrically (σ of 1e20 has been seen).
SIGMA_LIMIT = 10.0


@dataclass(frozen=True, eq=False)
class DiscreteRiccatiCoefficients:
    """The K-step equilibrium: ``sigma`` ``(K,)``, the rate gains of agents ``1..N−1``
    ``gains`` ``(K, N−1, N+1)`` on the state ``(φ_1..φ_{N−1}, W, 1)`` (agent N takes the
    other side), drift coefficients ``drift`` ``(K, N+1)``, and ``S0``."""

    sigma: np.ndarray
    gains: np.ndarray
    drift: np.ndarray
    S0: float


def discrete_riccati_coefficients(config: MarketConfig) -> DiscreteRiccatiCoefficients:
    """The exact equilibrium of ``config``'s K-step market (module docstring)."""
    check_quadratic(config)
    if config.n_agents > MAX_AGENTS:
        raise ValueError(
            f"n_agents = {config.n_agents} is outside the range of the discrete Riccati "
            f"benchmark (N <= {MAX_AGENTS}: its backward pass is dense in N)"
        )
    g = np.asarray(config.gamma, dtype=np.float64)
    xi = np.asarray(config.xi, dtype=np.float64)
    N, K, dt, lam, alpha = config.n_agents, config.n_steps, config.dt, config.lam, config.alpha
    # Clearing keeps Σφ_n, so the state is x = (φ_1..φ_{N−1}, W, 1), φ_N = Σφ_n,0 − Σ_{n<N} φ_n
    # (a redundant Σφ coordinate would be a neutral direction the backward pass amplifies).
    m = N - 1
    D = N + 1
    w, one = m, m + 1  # indices of W and of the constant
    gamma_xi = float(g @ xi)
    total = float(sum(config.phi0))  # Σφ_n, kept by clearing (s for the default holdings)
    sigma = np.empty(K)
    gains = np.empty((K, m, D))
    drift = np.zeros((K, D))
    transitions = np.empty((K, D, D))
    P = np.zeros((m, D))  # P_{k+1}: E_{k+1}[Σ_{j>k} m_n,j] = P_n·x_{k+1}, agents n < N
    R = np.zeros(D)  # R_{k+1}: Σ_{j>k} E_{k+1}[μ_j] = R·x_{k+1}
    eye_m = np.eye(m)
    rows = np.arange(m)
    for k in range(K - 1, -1, -1):
        s = alpha - dt * R[w]
        c = np.zeros(D)
        c[:m] = s * s * (g[:m] - g[m]) / N
        c[w] = s * gamma_xi / N
        c[one] = s * s * g[m] * total / N
        ell = np.tile(c, (m, 1))
        ell[rows, rows] -= g[:m] * s * s
        ell[:, w] -= g[:m] * xi[:m] * s
        try:
            G = dt * np.linalg.solve(lam * eye_m - dt * dt * P[:, :m], P)
        except np.linalg.LinAlgError:
            raise ValueError(
                f"the discrete Riccati equilibrium has no unique rate at step {k} with "
                f"n_steps = {K} (Δt = {dt:.3g}, lam = {lam:g}: the agents' first-order "
                "conditions are singular); use more n_steps"
            ) from None
        A = np.eye(D)
        A[:m] += dt * G  # holdings move by Δt·rates; W and the constant do not
        P = ell + P @ A
        R = c + A.T @ R
        sigma[k], gains[k], drift[k], transitions[k] = s, G, c, A
    mean = np.zeros(D)
    mean[:m] = config.phi0[:m]
    mean[one] = 1.0
    drift_sum = 0.0
    for k in range(K):
        drift_sum += float(drift[k] @ mean) * dt
        mean = transitions[k] @ mean
    S0 = config.beta * config.horizon - drift_sum
    if np.all(np.isfinite(sigma)) and np.abs(sigma).max() > SIGMA_LIMIT * alpha:
        k = int(np.abs(sigma).argmax())
        raise ValueError(
            f"the discrete Riccati equilibrium is unstable at n_steps = {K} (lam = {lam:g}): "
            f"its σ reaches {sigma[k]:.3g} at step {k}, beyond {SIGMA_LIMIT:g}·alpha (the "
            "backward pass amplifies the drift's dependence on W); use more n_steps"
        )
    if not (np.all(np.isfinite(sigma)) and np.all(np.isfinite(gains)) and np.isfinite(S0)):
        raise ValueError(
            f"the discrete Riccati benchmark is not finite for this market (lam = {lam:g}, "
            f"n_steps = {K}); it cannot serve as a benchmark (more n_steps may help)"
        )
    return DiscreteRiccatiCoefficients(sigma=sigma, gains=gains, drift=drift, S0=S0)


@register_solution
class DiscreteRiccatiSolution(TabulatedSolution):
    """The exact equilibrium of the K-step quadratic-cost market (module docstring).

    Policy: ``φ̇_n,k = G_k (φ_1..φ_{N−1}, W_k, 1)`` for ``n < N`` and ``φ̇_N = −Σ_{n<N} φ̇_n``;
    price: deterministic ``σ_k`` and the clearing drift. Paths of this solution satisfy
    ``S_K = 𝔖`` exactly and no agent gains by deviating in the simulated market, so it is the
    truth the neural solvers are judged against for q = 2; :class:`RiccatiSolution` is the
    continuous-time equilibrium it tends to as ``Δt → 0``.
    """

    kind = "riccati-discrete"
    coefficients: DiscreteRiccatiCoefficients

    def __init__(self, config: MarketConfig) -> None:
        super().__init__(config, discrete_riccati_coefficients(config))
        self._check_exact()

    def _check_exact(self, n_paths: int = 32) -> None:
        """Refuse the benchmark when rounding has broken it: its paths must meet ``S_K = 𝔖``
        to rounding in the size of the price moves (the backward pass is unstable where
        ``Δt`` is coarse, ``λ`` tiny and ``γ|ξ|`` large)."""
        c = self.config
        metrics = evaluate(self, n_paths=n_paths, seed=0, dtype=torch.float64)
        scale = float(self.coefficients.sigma.max()) ** 2 * c.horizon + c.alpha**2 * c.horizon
        error = metrics["terminal_error"]
        if not (math.isfinite(error) and error <= 1e-10 * scale):
            raise ValueError(
                f"the discrete Riccati benchmark is numerically unstable at n_steps = "
                f"{c.n_steps} (lam = {c.lam:g}; its paths miss S_K = 𝔖 by {error:.2g}); "
                "use more n_steps"
            )

    def table_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``σ_k`` and the gains ``G_k``."""
        return self.coefficients.sigma, self.coefficients.gains

    def policy(self, state: MarketState) -> Tensor:
        gains = self.tables(state.W)[1][state.k]  # (N−1, N+1)
        m = self.config.n_agents - 1
        head = state.phi[:, :m] @ gains[:, :m].T + state.W.unsqueeze(-1) * gains[:, m]
        head = head + gains[:, m + 1]
        return torch.cat([head, -head.sum(dim=-1, keepdim=True)], dim=-1)
