"""The two-sided equilibrium certificate ``L_n ≤ G_n ≤ U_n`` (MODEL.md §9).

:func:`certify` brackets each agent's best-response gain ``G_n = V_n − J_n(solution)``:

- **upper** ``U_n``: the information-relaxation bound of Brown, Smith and Sun (Operations
  Research 2010): the mean over paths of the best anticipative deviation's value against the
  penalty ``π_k = h_{k+1}(φ_{k+1}, X_{k+1}) − E_k[h_{k+1}(φ_{k+1}, X_{k+1})]``, minus the
  solution's own utility (:mod:`.qp` solves the per-path problem, :mod:`.penalty` gives the
  conditional expectations, :mod:`.value` fits ``h``). With ``h = 0`` it is the
  perfect-foresight bound, reported beside it.
  The penalty of each agent (fitted ``h`` or ``h = 0``) is the one with the smaller bound on
  the validation paths.
- **lower** ``L_n``: the gain of an adapted policy: the greedy policy of ``h`` (one Bellman
  step per state) or a trained best response (:func:`solvers.exploitability.train_best_response`),
  whichever is better on validation paths, reported on the evaluation paths and never below
  0 (0: no improvement found; the raw value is kept).

Both bounds subtract the solution's own utility *penalised by the same* ``π``: the penalty
has zero conditional mean for every adapted holding path, so the means are unchanged, and
with a good ``h`` the per-path differences have small variance (zero for the exact ``h``).
Fitting, validation and evaluation use three independent sets of paths.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from market_env.rollout import Trajectory
from market_env.solution import Solution, simulate

from ..threads import with_threads
from .penalty import NodeExpectation, n_features, quadrature_check
from .qp import cost_derivatives, greedy_step, maximise_power, maximise_quadratic
from .value import QuadraticValue, fit_value

__all__ = ["Certificate", "PathTerms", "certify", "path_terms", "penalised_value"]

PENALTIES = ("value", "zero")


@dataclass
class PathTerms:
    """Per-path, per-agent terms of agent n's problem on one set of paths (all float64):
    ``quad``, ``lin``, ``const`` ``(B, K, N)`` (reward ``−½quad φ² + lin φ + const``),
    the penalty slopes ``dB`` and offsets ``dC`` ``(B, K−1, N)`` (``π_k = dB_k φ_{k+1} + dC_k``),
    the expected next slopes ``b_next`` ``(B, K−1, N)`` and curvatures ``a_next``
    ``(K−1, N)`` (for the greedy policy), and the solution's own holdings and rates."""

    quad: Tensor
    lin: Tensor
    const: Tensor
    dB: Tensor
    dC: Tensor
    b_next: Tensor
    a_next: Tensor
    phi: Tensor
    fills: Tensor


def path_terms(
    solution: Solution, traj: Trajectory, value: QuadraticValue, nodes: int
) -> PathTerms:
    """Reward and penalty coefficients on the paths of ``traj`` (quadrature with ``nodes``)."""
    config = solution.config
    K, N, dt = config.n_steps, config.n_agents, config.dt
    gamma = torch.tensor(config.gamma, dtype=torch.float64)
    xi = torch.tensor(config.xi, dtype=torch.float64)
    W = traj.W[:, :K].double().unsqueeze(-1)
    mu, sigma = traj.mu.double().unsqueeze(-1), traj.sigma.double().unsqueeze(-1)
    quad = gamma * sigma**2 * dt
    lin = (mu - gamma * sigma * xi * W) * dt
    const = -0.5 * gamma * (xi * W) ** 2 * dt
    B = traj.n_paths
    dB = torch.zeros(B, K - 1, N, dtype=torch.float64)
    dC = torch.zeros_like(dB)
    b_next = torch.zeros_like(dB)
    if not value.zero:
        expect = NodeExpectation(solution, traj, nodes, value.quadratic)
        realised = expect.realised(1)
        for k in range(K - 1):
            b_bar, c_bar = value.coefficients(k + 1, expect.expected(k))
            b_real, c_real = value.coefficients(k + 1, realised)
            dB[:, k], dC[:, k], b_next[:, k] = b_real - b_bar, c_real - c_bar, b_bar
            if k + 2 <= K - 1:
                realised = expect.realised(k + 2)
    return PathTerms(
        quad,
        lin,
        const,
        dB,
        dC,
        b_next,
        value.A[1:K].clone(),
        traj.phi.double(),
        traj.fills.double(),
    )


def penalised_value(terms: PathTerms, phi: Tensor, u: Tensor, config: Any) -> Tensor:
    """``Σ_k r_k(φ_k, u_k) − Σ_k π_k(φ_{k+1})`` per path and agent, ``(B, N)``, for holdings
    ``phi`` ``(B, K+1, N)`` and rates ``u`` ``(B, K, N)``."""
    K = config.n_steps
    cost, _, _ = cost_derivatives(u, config.lam, config.cost_power, config.dt)
    x = phi[:, :K]
    reward = (-0.5 * terms.quad * x * x + terms.lin * x + terms.const - cost).sum(1)
    penalty = (terms.dB * phi[:, 1:K] + terms.dC).sum(1)
    return reward - penalty


def greedy_path(terms: PathTerms, config: Any) -> tuple[Tensor, Tensor]:
    """Holdings and rates of the greedy policy of ``h``: at each step the rate maximising
    ``−c(u) + E_k[h_{k+1}(φ + uΔt, X_{k+1})]`` (adapted: it uses ``F_k`` only)."""
    K, dt = config.n_steps, config.dt
    phi = [terms.phi[:, 0]]
    rates = []
    for k in range(K - 1):
        u = greedy_step(
            phi[-1], terms.a_next[k], terms.b_next[:, k], config.lam, config.cost_power, dt
        )
        rates.append(u)
        phi.append(phi[-1] + u * dt)
    rates.append(torch.zeros_like(phi[-1]))
    phi.append(phi[-1])
    return torch.stack(phi, 1), torch.stack(rates, 1)


def inner_maximum(terms: PathTerms, config: Any) -> tuple[Tensor, dict[str, Any]]:
    """The per-path anticipative maximum of the penalised problem, ``(B, N)``, and the inner
    solver's diagnostics (:mod:`.qp`)."""
    K, dt, q, lam = config.n_steps, config.dt, config.cost_power, config.lam
    d = terms.quad[:, 1:K].permute(0, 2, 1)
    g = (terms.lin[:, 1:K] - terms.dB).permute(0, 2, 1)
    x0 = terms.phi[:, 0]
    if q == 2.0:
        res = maximise_quadratic(d, g, x0, lam, dt)
    else:
        start = greedy_path(terms, config)[0][:, 1:K].permute(0, 2, 1)
        res = maximise_power(d, g, x0, lam, q, dt, start)
    x = torch.cat([x0.unsqueeze(1), res.x.permute(0, 2, 1)], 1)
    phi = torch.cat([x, x[:, -1:]], 1)
    u = torch.diff(phi, dim=1) / dt
    value = penalised_value(terms, phi, u, config) + res.slack
    value = torch.where(res.concave, value, torch.full_like(value, torch.inf))
    diag = {
        "solver": "tridiagonal (Thomas) solve" if q == 2.0 else "Newton with ε-continuation",
        "max_residual": float(res.residual.max()),
        "max_slack": float(res.slack.max()),
        "mean_slack": float(res.slack.mean()),
        "fraction_residual_above_1e-6": float((res.residual > 1e-6).double().mean()),
        "concave_fraction": float(res.concave.double().mean()),
        "newton_iterations": res.iterations,
    }
    return value, diag


def _mean_se(x: Tensor) -> tuple[list[float], list[float], list[float]]:
    n = x.shape[0]
    std = x.std(0) if n > 1 else torch.zeros(x.shape[1], dtype=x.dtype)
    return x.mean(0).tolist(), (std / math.sqrt(n)).tolist(), std.tolist()


@dataclass
class Certificate:
    """Per-agent bracket ``lower ≤ gain ≤ upper`` (natural units, and relative to ``|J_n|``),
    with standard errors over the ``n_paths`` evaluation paths (MODEL.md §9)."""

    utility_per_agent: list[float]
    lower_gain_per_agent: list[float]
    lower_gain_se_per_agent: list[float]
    lower_raw_gain_per_agent: list[float]
    lower_source_per_agent: list[str]
    upper_gain_per_agent: list[float]
    upper_gain_se_per_agent: list[float]
    upper_std_per_path_per_agent: list[float]
    perfect_foresight_gain_per_agent: list[float]
    perfect_foresight_gain_se_per_agent: list[float]
    width_se_per_agent: list[float]
    penalty: str
    penalty_per_agent: list[str]
    nodes: int
    n_paths: int
    seed: int
    inner: dict[str, Any] = field(default_factory=dict)
    value_fit: dict[str, Any] = field(default_factory=dict)
    best_response: dict[str, Any] | None = None
    seconds: float = 0.0

    @staticmethod
    def _relative(values: list[float], utility: list[float]) -> list[float]:
        return [v / abs(u) if u else math.inf for v, u in zip(values, utility)]

    @property
    def epsilon(self) -> float:
        """The largest upper bound: the solution is an ε-equilibrium with this ε."""
        return max(self.upper_gain_per_agent)

    @property
    def epsilon_relative(self) -> float:
        """The largest upper bound relative to the agent's ``|J_n|``."""
        return max(self._relative(self.upper_gain_per_agent, self.utility_per_agent))

    @property
    def verdict(self) -> str:
        return (
            f"ε-equilibrium with ε = {self.epsilon:.3e} "
            f"(relative {self.epsilon_relative:.2e} of |J_n|)"
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        u = self.utility_per_agent
        out["relative_lower_gain_per_agent"] = self._relative(self.lower_gain_per_agent, u)
        out["relative_upper_gain_per_agent"] = self._relative(self.upper_gain_per_agent, u)
        out["width_per_agent"] = [
            b - a for a, b in zip(self.lower_gain_per_agent, self.upper_gain_per_agent)
        ]
        out["relative_width_per_agent"] = self._relative(out["width_per_agent"], u)
        out["epsilon"] = self.epsilon
        out["epsilon_relative"] = self.epsilon_relative
        out["verdict"] = self.verdict
        return out


def _candidates(
    solution: Solution, traj: Trajectory, terms: PathTerms, best_response: Any
) -> dict[str, Tensor]:
    """Penalised per-path gains ``(B, N)`` of each adapted candidate over the solution."""
    config = solution.config
    own = penalised_value(terms, terms.phi, terms.fills, config)
    phi, u = greedy_path(terms, config)
    out = {"greedy-h": penalised_value(terms, phi, u, config) - own}
    if best_response is not None:
        phi, u = best_response.paths(traj)
        out["trained"] = penalised_value(terms, phi.double(), u.double(), config) - own
    return out


@with_threads
def certify(
    solution: Solution,
    n_paths: int = 3000,
    seed: int = 0,
    *,
    penalty: str = "value",
    nodes: int = 10,
    fit_paths: int = 4000,
    fit_seed: int = 54321,
    validation_paths: int = 1000,
    validation_seed: int = 98765,
    quadratic: bool = True,
    spread: float = 0.05,
    best_response: Any = None,
) -> Certificate:
    """Bracket every agent's best-response gain against ``solution`` (module docstring).

    Args:
        solution: any :class:`Solution`.
        n_paths, seed: the evaluation paths (the same as :func:`solvers.evaluate`).
        penalty: ``"value"`` (``h`` fitted by :func:`~solvers.certificate.value.fit_value`)
            or ``"zero"`` (perfect foresight only).
        nodes: Gauss–Hermite nodes per step for ``E_k``.
        fit_paths, fit_seed: the paths ``h`` is fitted on.
        validation_paths, validation_seed: the paths the lower bound's policy is chosen on.
        quadratic: quadratic (else linear) features of the exogenous state in ``h``.
        spread: holding offsets of the ``q < 2`` Bellman fit.
        best_response: a trained best response (``solvers.exploitability.BestResponse``)
            offered as a lower-bound candidate beside the greedy policy of ``h``.
        threads: torch CPU threads (``None``: one, ``0``: all cores; ``solvers/threads.py``).
    """
    if penalty not in PENALTIES:
        raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")
    for name, v in (("n_paths", n_paths), ("fit_paths", fit_paths)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 2:
            raise ValueError(f"{name} must be an integer >= 2, got {v!r}")
    config = solution.config
    if config.n_steps < 2:
        raise ValueError(f"n_steps must be >= 2 for the certificate, got {config.n_steps}")
    start = time.perf_counter()
    K, N = config.n_steps, config.n_agents
    zero = QuadraticValue.zeros(K, N, n_features(N, quadratic))
    if penalty == "zero":
        value, fit = zero, {"penalty": "h = 0"}
    else:
        t0 = time.perf_counter()
        value = fit_value(
            solution, fit_paths, fit_seed, nodes=nodes, quadratic=quadratic, spread=spread
        )
        fit = {
            "fit_paths": fit_paths,
            "features": "quadratic" if quadratic else "linear",
            "max_relative_fit_residual": max(value.fit_residual or [0.0]),
            "seconds": time.perf_counter() - t0,
        }
    fit["quadrature_error_exp_test"] = quadrature_check(nodes)

    with torch.no_grad():
        val_traj = simulate(solution, validation_paths, seed=validation_seed)
        val_terms = path_terms(solution, val_traj, value, nodes)
        val = _candidates(solution, val_traj, val_terms, best_response)
        if not value.zero:
            # the quadrature's error on this solution: the penalty with 2J + 1 nodes
            fine = path_terms(solution, val_traj, value, 2 * nodes + 1)
            scale = val_terms.b_next.abs().max().clamp_min(1e-300)
            fit["quadrature_error_vs_2J+1_nodes"] = float(
                (fine.b_next - val_terms.b_next).abs().max() / scale
            )
        traj = simulate(solution, n_paths, seed=seed)
        terms = path_terms(solution, traj, value, nodes)
        cand = _candidates(solution, traj, terms, best_response)
        names = list(cand)
        # which penalty bounds each agent best, chosen on the validation paths (a fitted h
        # can lose to h = 0 where its fit is poor; choosing on the evaluation paths would
        # bias the bound down)
        use_value = torch.zeros(N, dtype=torch.bool)
        if not value.zero:
            val_zero = path_terms(solution, val_traj, zero, nodes)
            v_val = inner_maximum(val_terms, config)[0] - penalised_value(
                val_terms, val_terms.phi, val_terms.fills, config
            )
            v_zero = inner_maximum(val_zero, config)[0] - penalised_value(
                val_zero, val_zero.phi, val_zero.fills, config
            )
            use_value = v_val.mean(0) <= v_zero.mean(0)
        best = torch.stack([val[c].mean(0) for c in names]).argmax(0).tolist()
        lower_raw = torch.stack([cand[names[b]][:, n] for n, b in enumerate(best)], 1)
        own = penalised_value(terms, terms.phi, terms.fills, config)
        inner, diag = inner_maximum(terms, config)
        upper = inner - own
        zero_terms = path_terms(solution, traj, zero, nodes)
        pf = inner_maximum(zero_terms, config)[0] - penalised_value(
            zero_terms, zero_terms.phi, zero_terms.fills, config
        )
    utility = penalised_value(zero_terms, terms.phi, terms.fills, config)
    upper = torch.where(use_value, upper, pf)
    lo, lo_se, _ = _mean_se(lower_raw)
    up, up_se, up_std = _mean_se(upper)
    pf_m, pf_se, _ = _mean_se(pf)
    # the width on common paths (with one penalty for both, >= 0 path by path)
    _, width_se, _ = _mean_se(upper - lower_raw)
    return Certificate(
        utility_per_agent=utility.mean(0).tolist(),
        lower_gain_per_agent=[max(0.0, x) for x in lo],
        lower_gain_se_per_agent=lo_se,
        lower_raw_gain_per_agent=lo,
        lower_source_per_agent=[names[b] for b in best],
        upper_gain_per_agent=up,
        upper_gain_se_per_agent=up_se,
        upper_std_per_path_per_agent=up_std,
        perfect_foresight_gain_per_agent=pf_m,
        perfect_foresight_gain_se_per_agent=pf_se,
        width_se_per_agent=width_se,
        penalty=penalty,
        penalty_per_agent=["value" if v else "zero" for v in use_value.tolist()],
        nodes=nodes,
        n_paths=n_paths,
        seed=seed,
        inner=diag,
        value_fit=fit,
        best_response=None if best_response is None else best_response.summary(),
        seconds=time.perf_counter() - start,
    )
