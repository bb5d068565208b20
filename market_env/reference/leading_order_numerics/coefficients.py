"""The constants, the trading rate and the volatility of the power-cost leading order for two
agents (MODEL.md §5), as functions of agent 1's deviation ``Δφ_1 = φ_1 − φ̄_1``:

- :func:`leading_order_coefficients` gives ``c``, the rate prefactor and the σ prefactor
  (with ``γ = (γ_1+γ_2)/2`` and ``|ξ|`` in every power);
- :func:`lo_rate` is agent 1's leading-order rate ``φ̇_1`` and :func:`lo_sigma` the
  leading-order volatility ``σ_LO``;
- :func:`lo_rate_discrete` is the rate of the discrete-time benchmark: the MODEL.md §5 rate
  capped at the gap, ``|φ̇_1|Δt ≤ |Δφ_1|``, so a step never overshoots the target (the cap
  has no effect where the continuous rate is resolved by Δt).

The paper's benchmark has two errors (MODEL.md §5); ``paper_variant=True`` reproduces them
for the side-by-side table only: the rate without the ``/q`` inside ``|g|``, and ``λ``
replaced by ``2λ/q`` in ``c``, the rate prefactor and σ_LO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .checks import FloatArray, check_cost_power, finite_float, positive_float, same_value
from .profile import GProfile

__all__ = [
    "LeadingOrderCoefficients",
    "check_profile",
    "leading_order_coefficients",
    "lo_rate",
    "lo_rate_discrete",
    "lo_sigma",
    "resolve_variant",
]


@dataclass(frozen=True)
class LeadingOrderCoefficients:
    """Constants of the leading-order benchmark for N = 2 (MODEL.md §5).

    With ``γ = (γ_1+γ_2)/2``, ``ξ = ξ_1 = −ξ_2`` and ``λ_eff = λ`` (or ``2λ/q`` in the
    paper's variant):

    - ``c = (2^q γ α²/λ_eff)^(1/(q+2)) (α/|ξ|)^(2q/(q+2))``;
    - ``rate_prefactor = (γ ξ⁴/(4 λ_eff α²))^(1/(q+2))``, so that
      ``φ̇_1 = −sign(Δφ_1)·rate_prefactor·|g(cΔφ_1)/q|^(1/(q−1))``;
    - ``sigma_prefactor = ((γ_1−γ_2)/(γ_1+γ_2)) (λ_eff/2^q)^(2/(q+2)) (γα²)^(q/(q+2))
      (α/|ξ|)^((4−2q)/(q+2)) (ξ/α)``, so that ``σ_LO = α + sigma_prefactor·g'(cΔφ_1)``.
    """

    gamma1: float
    gamma2: float
    xi: float
    lam: float
    q: float
    alpha: float
    paper_variant: bool
    gamma: float
    lam_eff: float
    c: float
    rate_prefactor: float
    sigma_prefactor: float


def leading_order_coefficients(
    gamma1: float,
    gamma2: float,
    xi: float,
    lam: float,
    q: float,
    alpha: float,
    paper_variant: bool = False,
) -> LeadingOrderCoefficients:
    """The constants ``c``, rate prefactor and σ prefactor of MODEL.md §5.

    Args:
        gamma1, gamma2: risk aversions ``γ_1, γ_2 > 0``.
        xi: agent 1's endowment exposure ``ξ = ξ_1 = −ξ_2``, nonzero (its sign enters σ_LO).
        lam: trading-cost level ``λ > 0`` of the cost ``(λ/2)|φ̇|^q``.
        q: cost power in ``(1, 2]``.
        alpha: the asset's volatility scale ``α > 0``.
        paper_variant: if True, reproduce the paper's erroneous benchmark (MODEL.md §5):
            ``λ`` is replaced by ``2λ/q`` in ``c``, the rate prefactor and σ_LO. (The paper's
            other error, the missing ``/q`` in the rate, is applied by :func:`lo_rate`.)
    """
    g1 = positive_float("gamma1", gamma1)
    g2 = positive_float("gamma2", gamma2)
    xi_f = finite_float("xi", xi)
    if xi_f == 0.0:
        raise ValueError("xi must be nonzero (the benchmark needs |ξ| > 0), got xi = 0.0")
    lam_f = positive_float("lam", lam)
    q_f = check_cost_power(q)
    al = positive_float("alpha", alpha)
    if not isinstance(paper_variant, (bool, np.bool_)):
        raise ValueError(f"paper_variant must be a bool, got paper_variant = {paper_variant!r}")

    gamma = 0.5 * (g1 + g2)
    lam_eff = 2.0 * lam_f / q_f if paper_variant else lam_f
    axi = abs(xi_f)
    e = 1.0 / (q_f + 2.0)
    c = (2.0**q_f * gamma * al**2 / lam_eff) ** e * (al / axi) ** (2.0 * q_f * e)
    rate_prefactor = (gamma * axi**4 / (4.0 * lam_eff * al**2)) ** e
    sigma_prefactor = (
        ((g1 - g2) / (g1 + g2))
        * (lam_eff / 2.0**q_f) ** (2.0 * e)
        * (gamma * al**2) ** (q_f * e)
        * (al / axi) ** ((4.0 - 2.0 * q_f) * e)
        * (xi_f / al)
    )
    return LeadingOrderCoefficients(
        gamma1=g1,
        gamma2=g2,
        xi=xi_f,
        lam=lam_f,
        q=q_f,
        alpha=al,
        paper_variant=bool(paper_variant),
        gamma=gamma,
        lam_eff=lam_eff,
        c=c,
        rate_prefactor=rate_prefactor,
        sigma_prefactor=sigma_prefactor,
    )


def check_profile(coeffs: LeadingOrderCoefficients, profile: GProfile) -> None:
    """Refuse a profile solved for another ``q`` than the coefficients."""
    if not math.isclose(profile.q, coeffs.q, rel_tol=1e-12, abs_tol=0.0):
        raise ValueError(
            f"profile.q must equal coeffs.q, got profile.q = {profile.q!r} and "
            f"coeffs.q = {coeffs.q!r}"
        )


def resolve_variant(coeffs: LeadingOrderCoefficients, paper_variant: bool | None) -> bool:
    """``paper_variant``, or the coefficients' own when ``None`` (MODEL.md §5)."""
    if paper_variant is None:
        return coeffs.paper_variant
    if not isinstance(paper_variant, (bool, np.bool_)):
        raise ValueError(
            f"paper_variant must be a bool or None, got paper_variant = {paper_variant!r}"
        )
    return bool(paper_variant)


def lo_rate(
    delta: ArrayLike,
    coeffs: LeadingOrderCoefficients,
    profile: GProfile,
    paper_variant: bool | None = None,
) -> FloatArray:
    """Agent 1's leading-order trading rate ``φ̇_1`` at deviation ``Δφ_1 = delta`` (MODEL.md §5).

    ``φ̇_1 = −sign(Δφ_1) (γ ξ⁴/(4 λ α²))^(1/(q+2)) |g(c Δφ_1)/q|^(1/(q−1))`` (and ``φ̇_2 = −φ̇_1``).

    Args:
        delta: deviation(s) ``Δφ_1 = φ_1 − φ̄_1``, any shape.
        coeffs: from :func:`leading_order_coefficients`.
        profile: from :func:`solve_g` with the same ``q``.
        paper_variant: drop the ``/q`` inside ``|g|`` as the paper's code does (MODEL.md §5).
            ``None`` (default) follows ``coeffs.paper_variant``, so a paper-variant
            ``coeffs`` gives the paper's full benchmark; an explicit bool overrides it.
    """
    check_profile(coeffs, profile)
    paper = resolve_variant(coeffs, paper_variant)
    d = np.asarray(delta, dtype=np.float64)
    g = np.asarray(profile.g(coeffs.c * d))
    base = np.abs(g) if paper else np.abs(g / coeffs.q)
    return (-np.sign(d) * coeffs.rate_prefactor * base ** (1.0 / (coeffs.q - 1.0)))[()]


def lo_rate_discrete(
    delta: ArrayLike,
    coeffs: LeadingOrderCoefficients,
    profile: GProfile,
    dt: float,
    paper_variant: bool | None = None,
) -> FloatArray:
    """Agent 1's rate in the discrete-time benchmark: :func:`lo_rate` capped at the gap.

    ``φ̇_1 = −sign(Δφ_1)·min(|φ̇_1,LO(Δφ_1)|, |Δφ_1|/Δt)``, so one step ``Δφ_1 + φ̇_1Δt`` lands
    between 0 and ``Δφ_1`` and never overshoots the target. MODEL.md §5 gives the continuous
    rate ``φ̇_1,LO``, which grows like ``|Δφ_1|^(2/q)`` far out (``|Δφ_1|^(1/(q−1))`` near 0
    in ``|g|``); at small λ and coarse Δt its Euler step overshoots and the chain diverges.
    Where the continuous rate is resolved (``|φ̇_1,LO|Δt ≤ |Δφ_1|``) the cap has no effect.

    Args:
        delta: deviation(s) ``Δφ_1 = φ_1 − φ̄_1``, any shape.
        coeffs, profile: as for :func:`lo_rate`.
        dt: the time step ``Δt > 0``.
        paper_variant: as for :func:`lo_rate` (the cap applies to both variants).
    """
    dt_f = positive_float("dt", dt)
    rate = np.asarray(lo_rate(delta, coeffs, profile, paper_variant=paper_variant))
    d = np.asarray(delta, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        capped = np.sign(rate) * np.minimum(np.abs(rate), np.abs(d) / dt_f)
    return capped[()]


def lo_sigma(
    delta: ArrayLike,
    coeffs: LeadingOrderCoefficients,
    profile: GProfile,
    alpha: float | None = None,
) -> FloatArray:
    """Leading-order volatility ``σ_LO = α + sigma_prefactor·g'(c Δφ_1)`` (MODEL.md §5).

    The paper's variant only changes the constants (through ``coeffs``). ``alpha`` defaults to
    ``coeffs.alpha`` and, if given, must equal it.
    """
    check_profile(coeffs, profile)
    if alpha is not None:
        same_value("alpha", alpha, coeffs.alpha)
    d = np.asarray(delta, dtype=np.float64)
    return (coeffs.alpha + coeffs.sigma_prefactor * np.asarray(profile.dg(coeffs.c * d)))[()]
