"""Approximate value functions ``h`` for the information-relaxation penalty (MODEL.md §9).

``h_k(φ, X) = −½ A_k φ² + B_k(X) φ + C_k(X)``: quadratic in the deviating agent's holding
``φ``, with a deterministic curvature ``A_k`` and coefficients ``B_k``, ``C_k`` linear in the
features ``f(X)`` of the exogenous state (:func:`~solvers.certificate.penalty.state_features`).
A deterministic ``A_k`` makes the penalty ``π_k = h_{k+1}(φ_{k+1}, X_{k+1}) − E_k[…]`` linear
in ``φ_{k+1}``, so the penalised inner problem keeps the concavity of the reward, for every
fit.

:func:`fit_value` runs regression-based dynamic programming backwards on its own fitting
paths (independent of the paths the bounds are evaluated on): at step ``k``, on each path,
the Bellman step ``V_k(φ, X_k) = r_k(φ, u) + max_u E_k[h_{k+1}(φ + uΔt, X_{k+1})]`` is solved
exactly in ``u`` (:func:`~solvers.certificate.qp.greedy_step`; the conditional expectation by
quadrature), then ``A_k``, ``B_k``, ``C_k`` are regressed on ``f(X_k)`` (least squares).
For ``q = 2`` the Bellman step is quadratic in ``φ`` in closed form; for ``q < 2`` it is
evaluated at five holdings around the solution's own and fitted by a quadratic.

For the Riccati truth (price linear in a linear-Gaussian state, σ deterministic) the
agent's discrete value function lies in this class exactly (``A_k`` deterministic, ``B_k``
linear and ``C_k`` quadratic in ``(W, φ^sol)``), so the fit is the exact ``h`` up to
rounding, and the bound's per-path value has (near) zero variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from market_env.solution import Solution, simulate

from .penalty import NodeExpectation
from .qp import cost_derivatives, greedy_step

__all__ = ["QuadraticValue", "fit_value", "least_squares"]

#: Offsets (in units of ``spread``) of the holdings at which the q < 2 Bellman step is solved.
OFFSETS = (-2.0, -1.0, 0.0, 1.0, 2.0)


@dataclass
class QuadraticValue:
    """``h_k`` for ``k = 0..K`` (``h_K = 0``): ``A`` ``(K+1, N)``, ``theta_B``, ``theta_C``
    ``(K+1, F, N)``; ``quadratic`` says which feature set they use. ``zero`` marks the
    perfect-foresight penalty ``h = 0``."""

    A: Tensor
    theta_B: Tensor
    theta_C: Tensor
    quadratic: bool = True
    zero: bool = False
    fit_residual: list[float] | None = None

    @classmethod
    def zeros(cls, n_steps: int, n_agents: int, n_features: int) -> QuadraticValue:
        z = torch.zeros(n_steps + 1, n_features, n_agents, dtype=torch.float64)
        return cls(z[:, 0].clone(), z.clone(), z.clone(), zero=True)

    def coefficients(self, k: int, feats: Tensor) -> tuple[Tensor, Tensor]:
        """``(B_k, C_k)`` at features ``feats`` ``(B, F)``: two ``(B, N)`` tensors."""
        return feats @ self.theta_B[k], feats @ self.theta_C[k]


def least_squares(feats: Tensor, targets: Tensor, rcond: float = 1e-12) -> Tensor:
    """Minimum-norm least squares ``feats θ ≈ targets`` with columns scaled to unit RMS
    (rank-deficient feature sets, e.g. a deterministic σ or the clearing identity
    ``Σφ^sol = s``, are expected)."""
    scale = feats.pow(2).mean(0).sqrt().clamp_min(1e-300)
    sol = torch.linalg.lstsq(feats / scale, targets, rcond=rcond, driver="gelsd").solution
    return sol / scale.unsqueeze(-1)


def fit_value(
    solution: Solution,
    n_paths: int = 4000,
    seed: int = 54321,
    *,
    nodes: int = 10,
    quadratic: bool = True,
    spread: float = 0.05,
) -> QuadraticValue:
    """Fit ``h`` for every agent at once by backward regression on ``n_paths`` fitting
    paths drawn with ``seed`` (module docstring)."""
    config = solution.config
    K, N, dt = config.n_steps, config.n_agents, config.dt
    lam, q = config.lam, config.cost_power
    gamma = torch.tensor(config.gamma, dtype=torch.float64)
    xi = torch.tensor(config.xi, dtype=torch.float64)
    traj = simulate(solution, n_paths, seed=seed)
    expect = NodeExpectation(solution, traj, nodes, quadratic)
    F = expect.realised(0).shape[-1]
    value = QuadraticValue.zeros(K, N, F)
    value.quadratic = quadratic
    value.zero = False
    residuals = []
    L = lam / dt
    for k in range(K - 1, -1, -1):
        feats = expect.realised(k)
        W = traj.W[:, k].double().unsqueeze(-1)
        mu = traj.mu[:, k].double().unsqueeze(-1)
        sigma = traj.sigma[:, k].double().unsqueeze(-1)
        a_next = value.A[k + 1].expand(n_paths, N)
        if k + 1 < K:
            b_next, c_next = value.coefficients(k + 1, expect.expected(k))
        else:
            b_next = c_next = torch.zeros(n_paths, N, dtype=torch.float64)
        lin = (mu - gamma * sigma * xi * W) * dt
        quad = gamma * sigma**2 * dt
        const = -0.5 * gamma * (xi * W) ** 2 * dt
        if q == 2.0:
            A = quad + L * a_next / (L + a_next)
            Bk = lin + L * b_next / (L + a_next)
            Ck = const + c_next + b_next**2 / (2 * (L + a_next))
            A_k = A.mean(0)
        else:
            centre = traj.phi[:, k].double()
            offs = torch.tensor(OFFSETS, dtype=torch.float64) * spread
            phi = centre.unsqueeze(-1) + offs  # (B, N, P)
            a3, b3 = a_next.unsqueeze(-1), b_next.unsqueeze(-1)
            u = greedy_step(phi, a3, b3, lam, q, dt)
            nxt = phi + u * dt
            cost, _, _ = cost_derivatives(u, lam, q, dt)
            v = (
                -0.5 * quad.unsqueeze(-1) * phi**2
                + lin.unsqueeze(-1) * phi
                - cost
                - 0.5 * a3 * nxt**2
                + b3 * nxt
            )
            # local quadratic fit in the offset, then the curvature averaged over paths
            basis = torch.stack([torch.ones_like(offs), offs, offs**2], -1)
            coef = v @ torch.linalg.pinv(basis).T  # (B, N, 3)
            A_k = (-2 * coef[..., 2]).mean(0)
            # B, C given the common curvature: v + ½A φ² = Bφ + C (least squares per path)
            y = v + 0.5 * A_k.unsqueeze(-1) * phi**2
            pm = phi.mean(-1, keepdim=True)
            Bk = ((phi - pm) * (y - y.mean(-1, keepdim=True))).sum(-1) / ((phi - pm) ** 2).sum(-1)
            Ck = y.mean(-1) - Bk * pm.squeeze(-1) + const + c_next
        targets = torch.cat([Bk, Ck], dim=-1)
        theta = least_squares(feats, targets)
        value.A[k] = A_k
        value.theta_B[k] = theta[:, :N]
        value.theta_C[k] = theta[:, N:]
        fitted = feats @ theta
        rms = (fitted - targets).pow(2).mean().sqrt() / targets.pow(2).mean().sqrt().clamp_min(
            1e-300
        )
        residuals.append(float(rms))
    value.fit_residual = residuals[::-1]
    return value
