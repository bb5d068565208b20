"""The exogenous state, its features and their one-step conditional expectations (MODEL.md §9).

For agent n deviating as a price taker, the exogenous state at step k is what the solution
generates when every agent follows it: ``X_k = (W_k, S_k, φ^sol_k, μ_k, σ_k)`` (all agents'
holdings under the solution; their rates and the price are functions of it). ``X_{k+1}`` is a
function of ``X_k`` and the one increment ``ΔW_k``: ``W + ΔW``, ``S + μΔt + σΔW``,
``φ^sol + φ̇^sol Δt`` (known at ``t_k``), and ``(μ, σ)`` of that next state from the solution's
own price mechanism. The approximate value functions ``h_{k+1}`` are linear in features of
``X_{k+1}`` (:func:`state_features`: ``1``, the state variables and their pairwise products),
so ``E[h_{k+1} | F_k]`` needs ``E[f(X_{k+1}) | F_k]``: Gauss–Hermite quadrature (probabilists'
nodes ``z_j``, ``ΔW_k = √Δt z_j``) with the solution's price evaluated at the nodes
(:class:`NodeExpectation`). The rule with ``J`` nodes is exact for polynomials of degree
``≤ 2J − 1`` in ``ΔW_k``, so for the Riccati truth (features quadratic in ``ΔW_k``) any
``J ≥ 2`` is exact; for state-dependent prices :func:`quadrature_check` measures the error.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from market_env import BatchedMarket, MarketState
from market_env.rollout import Trajectory
from market_env.solution import Solution

#: Paths per batch of node evaluations (``CHUNK × J`` states per call of the price).
CHUNK = 4096

__all__ = ["NodeExpectation", "hermite_nodes", "n_features", "quadrature_check", "state_features"]


def hermite_nodes(n_nodes: int, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """Probabilists' Gauss–Hermite nodes and weights normalised to sum to 1 (``E f(Z)``,
    ``Z ~ N(0, 1)``)."""
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, int) or not 2 <= n_nodes <= 100:
        raise ValueError(f"nodes must be an integer in [2, 100], got {n_nodes!r}")
    z, w = np.polynomial.hermite_e.hermegauss(n_nodes)
    w = w / math.sqrt(2 * math.pi)
    return torch.tensor(z, dtype=dtype), torch.tensor(w / w.sum(), dtype=dtype)


def n_features(n_agents: int, quadratic: bool = True) -> int:
    """Number of columns of :func:`state_features`."""
    m = n_agents + 3
    return 1 + m + (m * (m + 1) // 2 if quadratic else 0)


def state_features(
    W: Tensor, phi: Tensor, mu: Tensor, sigma: Tensor, quadratic: bool = True
) -> Tensor:
    """Features of the exogenous state: ``1``, ``z = (W, φ^sol_1..N, μ, σ)`` and, with
    ``quadratic``, every product ``z_i z_j`` (``i ≤ j``); shape ``(..., F)``."""
    z = torch.cat([W.unsqueeze(-1), phi, mu.unsqueeze(-1), sigma.unsqueeze(-1)], dim=-1)
    cols = [torch.ones_like(W).unsqueeze(-1), z]
    if quadratic:
        i, j = torch.triu_indices(z.shape[-1], z.shape[-1])
        cols.append(z[..., i] * z[..., j])
    return torch.cat(cols, dim=-1)


class NodeExpectation:
    """``E[f(X_{k+1}) | F_k]`` on the paths of a solution's trajectory, by quadrature.

    Args:
        solution: the solution whose price generates ``(μ, σ)`` at the nodes.
        traj: its trajectory (float64 views are taken).
        n_nodes: Gauss–Hermite nodes ``J``.
        quadratic: the feature set of :func:`state_features`.
    """

    def __init__(
        self, solution: Solution, traj: Trajectory, n_nodes: int, quadratic: bool = True
    ) -> None:
        self.solution = solution
        self.traj = traj
        self.quadratic = quadratic
        self.z, self.w = hermite_nodes(n_nodes)
        self.price = solution.price()
        self.chunk = min(traj.n_paths, CHUNK)
        self.market = BatchedMarket(
            solution.config,
            self.chunk * n_nodes,
            price=self.price,
            dtype=solution.dtype,
            validate=False,
            seed=None,
        )
        self.dt = solution.config.dt

    def realised(self, k: int) -> Tensor:
        """``f(X_k)`` on every path, ``(B, F)`` float64."""
        t = self.traj
        return state_features(
            t.W[:, k].double(),
            t.phi[:, k].double(),
            t.mu[:, k].double(),
            t.sigma[:, k].double(),
            self.quadratic,
        )

    def expected(self, k: int) -> Tensor:
        """``E[f(X_{k+1}) | F_k]`` on every path, ``(B, F)`` float64 (``k + 1 < K``)."""
        B = self.traj.n_paths
        parts = [
            self._expected(k, slice(i, min(i + self.chunk, B))) for i in range(0, B, self.chunk)
        ]
        return torch.cat(parts) if len(parts) > 1 else parts[0]

    def _expected(self, k: int, paths: slice) -> Tensor:
        t = self.traj
        J = self.z.numel()
        dtype = self.solution.dtype
        dW = math.sqrt(self.dt) * self.z  # (J,)
        W = (t.W[paths, k].double().unsqueeze(1) + dW).reshape(-1)
        mu, sigma = t.mu[paths, k].double(), t.sigma[paths, k].double()
        S = (t.S[paths, k].double() + mu * self.dt).unsqueeze(1) + sigma.unsqueeze(1) * dW
        phi = t.phi[paths, k + 1].double().repeat_interleave(J, dim=0)
        state = MarketState(
            k=k + 1,
            t=(k + 1) * self.dt,
            W=W.to(dtype),
            S=S.reshape(-1).to(dtype),
            phi=phi.to(dtype),
        )
        with torch.no_grad():
            mu_n, sigma_n = self.price(state, self.market)
        feats = state_features(W, phi, mu_n.double(), sigma_n.double(), self.quadratic)
        feats = feats.reshape(-1, J, feats.shape[-1])
        return torch.einsum("bjf,j->bf", feats, self.w)


def quadrature_check(n_nodes: int, c: float = 2.0) -> float:
    """Relative error of the rule on ``E[exp(cZ)] = exp(c²/2)`` (``Z ~ N(0, 1)``; the test
    function of the README and the tests; ``c = 2`` is a two-standard-deviation swing)."""
    z, w = hermite_nodes(n_nodes)
    exact = math.exp(c * c / 2)
    return abs(float((w * torch.exp(c * z)).sum()) - exact) / exact
