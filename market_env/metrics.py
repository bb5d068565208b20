"""The metrics every solver and every rollout reports (MODEL.md §2), computed once here."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .rollout import Trajectory

__all__ = [
    "utility_per_path",
    "clearing_error",
    "terminal_error",
    "S0_control_variate",
    "relative_l2_error",
    "compute_metrics",
    "path_errors",
]


def utility_per_path(traj: Trajectory) -> Tensor:
    """``Σ_k r_n,k`` per path and agent, shape ``(B, N)``; its mean estimates ``J_n``."""
    return traj.reward.sum(dim=1)


def clearing_error(traj: Trajectory) -> Tensor:
    """``mean_{k,paths} |Σ_n φ̇_n,k / N|²`` of the submitted rates (0-d tensor)."""
    return (traj.imbalance**2).mean()


def terminal_error(traj: Trajectory) -> Tensor:
    """``mean_paths |S_K − 𝔖|²`` (0-d tensor); never corrected by shifting S."""
    return ((traj.S[:, -1] - traj.terminal_payoff) ** 2).mean()


def S0_control_variate(traj: Trajectory) -> Tensor:
    """Estimate of ``S_0`` from the paths, ``mean(𝔖 − Σ μ_k Δt − Σ σ_k ΔW_k)`` (MODEL.md §2).

    The martingale term removes the ``αW_K`` noise; the scatter left is the time
    discretisation error. Used only where a solution has no ``S_0`` of its own.
    """
    # Σ_k (μ_k Δt + σ_k ΔW_k) = S_K − S_0, so the estimator is S_0 + mean(𝔖 − S_K).
    return (traj.terminal_payoff - traj.S[:, -1] + traj.S[:, 0]).mean()


def relative_l2_error(x: Tensor, reference: Tensor) -> float:
    """``‖x − ref‖₂ / ‖ref‖₂`` over all entries."""
    num = torch.linalg.vector_norm((x - reference).double())
    den = torch.linalg.vector_norm(reference.double())
    return float(num / den) if float(den) > 0 else float(num)


def _mean_se(x: Tensor) -> tuple[Tensor, Tensor]:
    """Mean over paths (dim 0) and its Monte Carlo standard error."""
    n = x.shape[0]
    mean = x.mean(0)
    se = x.std(0, unbiased=True) / math.sqrt(n) if n > 1 else torch.zeros_like(mean)
    return mean, se


def compute_metrics(traj: Trajectory) -> dict[str, Any]:
    """The standard metrics of MODEL.md §2 as plain Python numbers.

    Keys: ``S0``, ``mu0``, ``sigma0``, ``utility_sum`` (and ``utility_sum_se``),
    ``utility_per_agent`` (and ``utility_se_per_agent``), ``clearing_error``,
    ``terminal_error``, ``n_paths``. ``S0`` is the solution's own initial price.
    """
    traj = traj.detach()
    u = utility_per_path(traj).double()
    u_mean, u_se = _mean_se(u)
    u_sum_mean, u_sum_se = _mean_se(u.sum(1))
    S0 = traj.S0.double()
    return {
        "S0": float(S0.mean()),
        "mu0": float(traj.mu[:, 0].double().mean()),
        "sigma0": float(traj.sigma[:, 0].double().mean()),
        "utility_sum": float(u_sum_mean),
        "utility_sum_se": float(u_sum_se),
        "utility_per_agent": [float(v) for v in u_mean],
        "utility_se_per_agent": [float(v) for v in u_se],
        "clearing_error": float(clearing_error(traj).double()),
        "terminal_error": float(terminal_error(traj).double()),
        "n_paths": traj.n_paths,
    }


def path_errors(traj: Trajectory, reference: Trajectory) -> dict[str, float]:
    """Relative L2 errors of the ``σ``, ``μ`` and ``φ̇`` paths against a reference rolled
    out on the same noise (MODEL.md §2)."""
    a, b = traj.noise.detach().cpu().double(), reference.noise.detach().cpu().double()
    if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-6, atol=1e-7):
        raise ValueError("path errors need both trajectories rolled out on the same noise")
    return {
        "sigma_path_rel_err": relative_l2_error(traj.sigma.detach(), reference.sigma.detach()),
        "mu_path_rel_err": relative_l2_error(traj.mu.detach(), reference.mu.detach()),
        "rate_path_rel_err": relative_l2_error(traj.fills.detach(), reference.fills.detach()),
    }
