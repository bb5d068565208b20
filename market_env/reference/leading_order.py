"""The leading-order equilibrium for power costs and two agents (MODEL.md §5), as a Solution.

The numerics (the BVP for ``g``, the constants, the law of the deviation chain) live in
:mod:`market_env.reference.leading_order_numerics`; this module evaluates them in torch on the
market's state, so the benchmark runs in :class:`BatchedMarket` on any device.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ..config import MarketConfig
from ..price import ClearingDrift, PriceMechanism
from ..solution import Solution, register_solution
from ..state import MarketState
from .leading_order_numerics import (
    Q_MIN,
    GProfile,
    LeadingOrderCoefficients,
    boundary_constants,
    expected_sigma_squared_path,
    leading_order_coefficients,
    solve_g,
)
from .tabulated import TableCache, s0_from_sigma_squared, start_targets, tensor_tables

__all__ = ["LeadingOrderSolution", "TorchGProfile"]


class TorchGProfile:
    """``g`` and ``g'`` of a :class:`GProfile` evaluated in torch (any device and dtype).

    Both are cubic Hermite interpolants on a uniform grid of ``[0, x_max]`` built from the
    profile's own ``(g, g', g'')`` (error ~h⁴, below 1e-10 at the default 20001 nodes), with
    the odd extension and the far-field formula beyond ``x_max`` of MODEL.md §5.
    """

    def __init__(self, profile: GProfile, n_nodes: int = 20001) -> None:
        self.profile = profile
        self.q = profile.q
        self.x_max = profile.x_max
        x = np.linspace(0.0, profile.x_max, n_nodes)
        self.h = float(x[1] - x[0])
        self._np = (profile.g(x), profile.dg(x), profile.d2g(x))
        self._cache: TableCache = {}
        self._far_scale, self._far_power = boundary_constants(profile.q)

    def _tables(self, like: Tensor) -> tuple[Tensor, ...]:
        return tensor_tables(self._cache, like, lambda: self._np)

    def _hermite(self, x: Tensor, f: Tensor, df: Tensor) -> Tensor:
        """Cubic Hermite interpolation of ``(f, f')`` tables at ``0 ≤ x ≤ x_max``."""
        u = x / self.h
        i = u.floor().clamp(max=f.shape[0] - 2).long()
        t = u - i
        t2, t3 = t * t, t * t * t
        h00 = 2 * t3 - 3 * t2 + 1
        h10 = t3 - 2 * t2 + t
        h01 = -2 * t3 + 3 * t2
        h11 = t3 - t2
        return h00 * f[i] + h10 * self.h * df[i] + h01 * f[i + 1] + h11 * self.h * df[i + 1]

    def g_and_dg(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``g(x)`` (odd) and ``g'(x)`` (even) for any real tensor ``x``."""
        g_tab, dg_tab, d2g_tab = self._tables(x)
        a = x.abs()
        inside = a <= self.x_max
        a_in = a.clamp(max=self.x_max)
        g_in = self._hermite(a_in, g_tab, dg_tab)
        dg_in = self._hermite(a_in, dg_tab, d2g_tab)
        a_out = a.clamp(min=self.x_max)
        g_out = -self._far_scale * a_out.pow(self._far_power)
        dg_out = -self._far_scale * self._far_power * a_out.pow(self._far_power - 1.0)
        g_abs = torch.where(inside, g_in, g_out)
        return torch.sign(x) * g_abs, torch.where(inside, dg_in, dg_out)


def _check_two_agent(config: MarketConfig) -> None:
    if config.n_agents != 2:
        raise ValueError(
            f"the leading-order benchmark is for N = 2 agents, got N = {config.n_agents} "
            "(use a neural solver, or the frictionless benchmark)"
        )
    if not config.xi_balanced or config.xi[0] == 0.0:
        raise ValueError(
            f"the leading-order benchmark needs xi = (ξ, −ξ) with ξ != 0, got xi = {config.xi}"
        )


def _check_finite(what: str, values: tuple[float, ...], config: MarketConfig) -> None:
    if not all(math.isfinite(v) for v in values):
        raise ValueError(
            f"the leading-order benchmark is not finite at lam = {config.lam:g}, "
            f"cost_power = {config.cost_power:g}, gamma = {config.gamma}, xi = {config.xi} "
            f"({what}: {values}); it is no benchmark for this config"
        )


@register_solution
class LeadingOrderSolution(Solution):
    """Leading-order equilibrium for N = 2, ``q ∈ [Q_MIN, 2]`` (exact stationary answer at q = 2).

    With ``Δφ_1 = φ_1 − φ̄_1`` and ``φ̄_1 = γ̄s/γ_1 − (ξ/α)W``: agent 1 trades at the
    discrete benchmark's rate ``φ̇_1 = −sign(Δφ_1)·min(|φ̇_1,LO(Δφ_1)|, |Δφ_1|/Δt)``, agent 2 at
    ``−φ̇_1``; ``σ = σ_LO(Δφ_1)`` (state dependent) and ``μ`` is the clearing drift, which for
    two agents equals ``μ_LO`` of MODEL.md §5 identically. ``S_0 = βT − γ̄ s Σ_k E[σ_k²] Δt``
    with the expectation computed by propagating the law of ``Δφ_1`` under that same rate on
    a grid (deterministic), so ``S_0`` is exact for the simulated strategy.

    This is the discrete-time benchmark. MODEL.md §5 gives the continuous rate
    ``φ̇_1,LO``; it grows like ``|Δφ_1|^(2/q)`` far out, and at small λ and coarse Δt one Euler
    step of it overshoots the target and the chain diverges (``rates must be finite``). The
    cap ``|φ̇_1|Δt ≤ |Δφ_1|`` makes each step land between 0 and ``Δφ_1``; where the continuous
    rate is resolved (``|φ̇_1,LO|Δt ≤ |Δφ_1|``) it has no effect (on ``power-2`` it never binds
    on the evaluation paths).

    Refused with a one-line ``ValueError`` naming the parameter: N ≠ 2, ``ξ_2 ≠ −ξ_1``,
    ``cost_power < Q_MIN`` (:data:`~market_env.reference.leading_order_numerics.Q_MIN`), or a
    benchmark whose own constants, ``σ_0`` or ``S_0`` are not finite.

    Args:
        config: a two-agent market with ``ξ_2 = −ξ_1``.
        paper_variant: reproduce the paper's benchmark (MODEL.md §5: rate without ``/q``,
            ``λ → 2λ/q`` in the constants, ``σ`` held at its ``t = 0`` value). Labelled
            ``leading-order-paper``; kept for side-by-side tables only. The cap at the gap
            applies to it too (its ``σ_0``, ``μ_0`` and ``S_0`` do not depend on the rate).
    """

    kind = "leading-order"

    def __init__(self, config: MarketConfig, paper_variant: bool = False) -> None:
        super().__init__(config)
        _check_two_agent(config)
        self.paper_variant = bool(paper_variant)
        c = config
        if c.cost_power < Q_MIN:
            raise ValueError(
                f"cost_power = {c.cost_power:g} is outside the range of the leading-order "
                f"benchmark (cost_power >= {Q_MIN}): the boundary value problem for g "
                "(MODEL.md §5) is too stiff to solve reliably nearer 1"
            )
        self.coefficients: LeadingOrderCoefficients = leading_order_coefficients(
            c.gamma[0], c.gamma[1], c.xi[0], c.lam, c.cost_power, c.alpha,
            paper_variant=self.paper_variant,
        )  # fmt: skip
        co = self.coefficients
        _check_finite(
            "its constants (c, rate and σ prefactors)",
            (co.c, co.rate_prefactor, co.sigma_prefactor),
            c,
        )
        self.profile = solve_g(c.cost_power)
        self._g = TorchGProfile(self.profile)
        self.sigma0 = c.alpha + co.sigma_prefactor * float(self.profile.dg(0.0))
        if self.paper_variant:
            sigma2_sum = self.sigma0**2 * c.n_steps
        else:
            sigma2 = expected_sigma_squared_path(
                co, self.profile, c.alpha, c.xi[0], c.n_steps, c.dt
            )
            sigma2_sum = float(np.sum(sigma2))
        self._S0 = s0_from_sigma_squared(c, sigma2_sum)
        _check_finite("sigma0 and S0", (self.sigma0, self._S0), c)
        self._target0 = start_targets(c)[0]
        self._rate_power = 1.0 / (c.cost_power - 1.0)
        self._g_divisor = 1.0 if self.paper_variant else c.cost_power

    @property
    def label(self) -> str:
        return "leading-order-paper" if self.paper_variant else "leading-order"

    @property
    def S0(self) -> float:
        return self._S0

    def params(self) -> dict:
        return {"paper_variant": self.paper_variant}

    def deviation(self, state: MarketState) -> Tensor:
        """``Δφ_1 = φ_1 − (γ̄s/γ_1 − (ξ/α) W)``, shape ``(B,)``."""
        c = self.config
        return state.phi[:, 0] - (self._target0 - (c.xi[0] / c.alpha) * state.W)

    def sigma(self, state: MarketState) -> Tensor:
        """``σ_LO(Δφ_1)`` (or the constant ``σ_0`` in the paper's variant), shape ``(B,)``."""
        if self.paper_variant:
            return torch.full_like(state.W, self.sigma0)
        _, dg = self._g.g_and_dg(self.coefficients.c * self.deviation(state))
        return self.config.alpha + self.coefficients.sigma_prefactor * dg

    def price(self) -> PriceMechanism:
        return ClearingDrift(volatility=self.sigma, S0=self.S0)

    def policy(self, state: MarketState) -> Tensor:
        delta = self.deviation(state)
        g, _ = self._g.g_and_dg(self.coefficients.c * delta)
        magnitude = self.coefficients.rate_prefactor * (g.abs() / self._g_divisor).pow(
            self._rate_power
        )
        # the discrete benchmark: never overshoot the target in one step (|φ̇|Δt ≤ |Δφ_1|)
        magnitude = torch.minimum(magnitude, delta.abs() / self.config.dt)
        rate1 = -torch.sign(delta) * magnitude
        return torch.stack([rate1, -rate1], dim=-1)

    def __repr__(self) -> str:
        return (
            f"LeadingOrderSolution(q={self.config.cost_power}, paper_variant={self.paper_variant})"
        )
