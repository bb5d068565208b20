"""Pure numerics of the power-cost leading-order benchmark (MODEL.md §5).

Everything here is numpy/scipy, float64, and independent of the market simulator:

- :func:`solve_g` solves the boundary value problem of MODEL.md §5,
  ``g''(x) − g'(x)·|g(x)/q|^(1/(q−1)) = 2x`` on ``[0, x_max]``, ``g(0) = 0``,
  ``g(x_max) = −q (q−1)^((1−q)/q) x_max^(2(q−1)/q)``, and returns a :class:`GProfile`
  that evaluates ``g`` and ``g'`` anywhere (odd extension, boundary formula beyond ``x_max``).
- :func:`leading_order_coefficients` gives ``c``, the rate prefactor and the σ prefactor of
  MODEL.md §5 (with ``γ = (γ_1+γ_2)/2`` and ``|ξ|`` in every power).
- :func:`lo_rate` and :func:`lo_sigma` are agent 1's leading-order trading rate ``φ̇_1`` and the
  leading-order volatility ``σ_LO`` as functions of the deviation ``Δφ_1 = φ_1 − φ̄_1``.
- :func:`lo_rate_discrete` is the rate of the discrete-time benchmark: the MODEL.md §5 rate
  capped at the gap, ``|φ̇_1|Δt ≤ |Δφ_1|``, so a step never overshoots the target (the cap has
  no effect where the continuous rate is resolved by Δt).
- :func:`expected_sigma_squared_path` gives ``E[σ_LO(Δφ_1,k)²]``, ``k = 0..K−1``, for the
  discrete-time deviation chain driven by that capped rate, by propagating its law on a grid
  that adapts to the config; with it ``S_0,LO = βT − γ̄ s Σ_k E[σ_k²] Δt`` exactly up to grid
  accuracy.

Range: ``q ∈ [Q_MIN, 2]`` (:data:`Q_MIN` = 1.05; the BVP for ``g`` is out of reach nearer 1).

The paper's benchmark has two errors (MODEL.md §5); ``paper_variant=True`` reproduces them
for the side-by-side table only: the rate without the ``/q`` inside ``|g|``, and ``λ``
replaced by ``2λ/q`` in ``c``, the rate prefactor and σ_LO.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse
from scipy.integrate import solve_bvp
from scipy.interpolate import CubicHermiteSpline, CubicSpline
from scipy.signal import fftconvolve

__all__ = [
    "GProfile",
    "LeadingOrderCoefficients",
    "expected_sigma_squared_path",
    "leading_order_coefficients",
    "G_PRIME_TOL",
    "Q_MIN",
    "lo_rate",
    "lo_rate_discrete",
    "lo_sigma",
    "solve_g",
]

FloatArray = NDArray[np.float64]

#: Smallest cost power the leading-order benchmark is built for (see :func:`solve_g`).
Q_MIN = 1.05
#: :func:`solve_g` refines its mesh until ``g'(0)`` moves by at most this (relative).
G_PRIME_TOL = 1e-9


# ---------------------------------------------------------------------------------------------
# validation helpers


def _finite_float(name: str, value: object) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {name} = {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {name} = {out!r}")
    return out


def _positive(name: str, value: object) -> float:
    out = _finite_float(name, value)
    if out <= 0.0:
        raise ValueError(f"{name} must be > 0, got {name} = {out!r}")
    return out


def _check_q(q: object) -> float:
    out = _finite_float("q", q)
    if not 1.0 < out <= 2.0:
        raise ValueError(f"q (the cost power) must lie in (1, 2], got q = {out!r}")
    return out


def positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a positive integer, got {name} = {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer (>= 1), got {name} = {value!r}")
    return int(value)


def _boundary_constants(q: float) -> tuple[float, float]:
    """``(A, a)`` of the far-field form ``g(x) ≈ −A x^a`` (MODEL.md §5).

    ``A = q (q−1)^((1−q)/q)``, ``a = 2(q−1)/q``.
    """
    return q * (q - 1.0) ** ((1.0 - q) / q), 2.0 * (q - 1.0) / q


# ---------------------------------------------------------------------------------------------
# the profile g


@dataclass(frozen=True, eq=False)
class GProfile:
    """The solution ``g`` of the MODEL.md §5 boundary value problem, ready to evaluate.

    ``g'' − g'·|g/q|^(1/(q−1)) = 2x`` on ``[0, x_max]``, ``g(0) = 0``,
    ``g(x_max) = −q (q−1)^((1−q)/q) x_max^(2(q−1)/q)``.

    Attributes:
        q: cost power, in ``(1, 2]``.
        x_max: right end of the solved interval.
        grid: increasing mesh on ``[0, x_max]`` (the solver's final mesh).
        g_values: ``g`` on ``grid``.
        dg_values: ``g'`` on ``grid``.
        d2g_values: ``g''`` on ``grid`` (from the ODE itself).

    ``g`` is interpolated by a cubic Hermite spline on ``(g, g')`` and ``g'`` by one on
    ``(g', g'')`` (fourth-order accurate, the same order as the collocation solution).
    Evaluation is extended oddly, ``g(−x) = −g(x)`` (so ``g'`` is even), and for
    ``|x| > x_max`` by the boundary formula ``−sign(x) q (q−1)^((1−q)/q) |x|^(2(q−1)/q)``.
    The arrays are read-only: profiles are cached and shared.

    Near ``x_max`` the Dirichlet condition pins ``g`` to the leading far-field term, which the
    true (infinite-interval) solution only approaches; the mismatch is absorbed in a boundary
    layer of width about ``|g(x_max)/q|^(−1/(q−1))`` (0.003 at q = 3/2), inside which ``g'``
    departs from the far-field derivative (at q = 3/2: −1.77 at ``x_max`` against −0.34). It
    does not reach the interior (``g'(0)`` is the same for ``x_max = 20`` and ``50``) and
    ``c|Δφ_1| ≈ 50`` is dozens of standard deviations out, but ``g'`` is not continuous at
    ``±x_max``.
    """

    q: float
    x_max: float
    grid: FloatArray
    g_values: FloatArray
    dg_values: FloatArray
    d2g_values: FloatArray
    _g_spline: CubicHermiteSpline = field(init=False, repr=False)
    _dg_spline: CubicHermiteSpline = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("grid", "g_values", "dg_values", "d2g_values"):
            arr = np.array(getattr(self, name), dtype=np.float64)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(
            self, "_g_spline", CubicHermiteSpline(self.grid, self.g_values, self.dg_values)
        )
        object.__setattr__(
            self, "_dg_spline", CubicHermiteSpline(self.grid, self.dg_values, self.d2g_values)
        )

    def _split(self, x: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray, NDArray[np.bool_]]:
        xa = np.asarray(x, dtype=np.float64)
        ax = np.abs(xa)
        inside = ax <= self.x_max
        return xa, ax, np.sign(xa), inside

    def g(self, x: ArrayLike) -> FloatArray:
        """``g(x)`` for any real array ``x`` (odd; boundary formula beyond ``x_max``)."""
        xa, ax, sgn, inside = self._split(x)
        A, a = _boundary_constants(self.q)
        out = np.empty_like(xa)
        out[inside] = self._g_spline(ax[inside])
        outside = ~inside
        out[outside] = -A * ax[outside] ** a
        out[np.isnan(xa)] = np.nan
        return (sgn * out)[()]

    def dg(self, x: ArrayLike) -> FloatArray:
        """``g'(x)`` for any real array ``x`` (even; derivative of the boundary formula beyond)."""
        xa, ax, _, inside = self._split(x)
        A, a = _boundary_constants(self.q)
        out = np.empty_like(xa)
        out[inside] = self._dg_spline(ax[inside])
        outside = ~inside
        out[outside] = -a * A * ax[outside] ** (a - 1.0)
        out[np.isnan(xa)] = np.nan
        return out[()]

    def d2g(self, x: ArrayLike) -> FloatArray:
        """``g''(x)`` (odd), the derivative of the ``g'`` interpolant; for residual checks."""
        xa, ax, sgn, inside = self._split(x)
        A, a = _boundary_constants(self.q)
        out = np.empty_like(xa)
        out[inside] = self._dg_spline(ax[inside], 1)
        outside = ~inside
        out[outside] = -a * (a - 1.0) * A * ax[outside] ** (a - 2.0)
        out[np.isnan(xa)] = np.nan
        return (sgn * out)[()]


def solve_g(q: float, x_max: float = 50.0, tol: float = 1e-8) -> GProfile:
    """Solve the MODEL.md §5 boundary value problem for ``g`` (cached on ``(q, x_max, tol)``).

    ``g''(x) − g'(x)·|g(x)/q|^(1/(q−1)) = 2x`` on ``[0, x_max]``, ``g(0) = 0``,
    ``g(x_max) = −q (q−1)^((1−q)/q) x_max^(2(q−1)/q)``.

    At ``q = 2`` the exact ``g(x) = −2x`` is returned. Otherwise ``scipy.integrate.solve_bvp``
    (4th-order collocation, adaptive mesh) is started from the far-field form
    ``−A x (1 + x²)^((a−1)/2)`` on a mesh refined geometrically at ``x = 0`` (where
    ``|g|^(1/(q−1))`` is not smooth for ``q ≠ 3/2``) and at ``x_max`` (where the Dirichlet
    condition creates a thin boundary layer). ``tol`` is solve_bvp's relative collocation
    residual tolerance (also used for the boundary conditions). The mesh is then refined
    (every interval halved, solved again) until ``g'(0)`` changes by at most
    :data:`G_PRIME_TOL` relative between two refinements (the first refinement moves it by
    ~2e-11 on ``q ∈ [1.05, 1.99]``); the refined profile is returned. At the default ``1e-8``
    the profile agrees with an independent DOP853 integration (rtol 1e-13) to about 4e-10 in
    ``g`` and ``g'`` at ``q = 3/2``, and ``g'(0) = −1.7711331973``. Tolerances much below 1e-8
    are not reachable in double precision (the mesh grows without bound).

    Args:
        q: cost power, in ``[Q_MIN, 2]`` (:data:`Q_MIN`: below it the boundary layer at
            ``x_max``, of width ``|g(x_max)/q|^(−1/(q−1))``, is out of the solver's reach).
        x_max: right end of the interval, ``> 0`` (MODEL.md uses 50).
        tol: relative residual tolerance, in ``[1e-9, 1e-2]``.

    Raises:
        ValueError: on an invalid argument, or if the collocation solver does not converge
            or ``g'(0)`` does not settle under refinement.
    """
    q = _check_q(q)
    if q < Q_MIN:
        raise ValueError(
            f"q (the cost power) = {q!r} is outside the range of the leading-order benchmark "
            f"(q >= {Q_MIN}): the boundary value problem for g (MODEL.md §5) is too stiff "
            "to solve reliably there"
        )
    x_max = _positive("x_max", x_max)
    tol = _finite_float("tol", tol)
    if not 1e-9 <= tol <= 1e-2:
        raise ValueError(f"tol must lie in [1e-9, 1e-2], got tol = {tol!r}")
    return _solve_g_cached(q, x_max, tol)


@functools.lru_cache(maxsize=64)
def _solve_g_cached(q: float, x_max: float, tol: float) -> GProfile:
    if q == 2.0:
        grid = np.linspace(0.0, x_max, 2)
        return GProfile(
            q=q,
            x_max=x_max,
            grid=grid,
            g_values=-2.0 * grid,
            dg_values=np.full_like(grid, -2.0),
            d2g_values=np.zeros_like(grid),
        )

    p = 1.0 / (q - 1.0)
    A, a = _boundary_constants(q)
    g_right = -A * x_max**a

    def rhs(x: FloatArray, y: FloatArray) -> FloatArray:
        return np.vstack([y[1], 2.0 * x + y[1] * np.abs(y[0] / q) ** p])

    def bc(ya: FloatArray, yb: FloatArray) -> FloatArray:
        return np.array([ya[0], yb[0] - g_right])

    def fail(message: str) -> ValueError:
        return ValueError(
            f"q (the cost power) = {q!r}: the boundary value problem for g (MODEL.md §5) "
            f"failed at x_max = {x_max!r}, tol = {tol!r}: {message}"
        )

    span = min(1.0, 0.5 * x_max)
    mesh = np.unique(
        np.concatenate(
            [
                np.linspace(0.0, x_max, 2001),
                span * np.geomspace(1e-6, 1.0, 100),
                x_max - span * np.geomspace(1e-4, 1.0, 200),
            ]
        )
    )
    base = 1.0 + mesh**2
    g0 = -A * mesh * base ** ((a - 1.0) / 2.0)
    dg0 = -A * (base ** ((a - 1.0) / 2.0) + (a - 1.0) * mesh**2 * base ** ((a - 3.0) / 2.0))
    guess = np.vstack([g0, dg0])
    previous = math.nan
    for _ in range(4):
        with np.errstate(over="ignore", invalid="ignore"):
            sol = solve_bvp(rhs, bc, mesh, guess, tol=tol, bc_tol=tol, max_nodes=300_000)
        if sol.status != 0:
            raise fail(f"{sol.message} (try a smaller x_max or a larger tol)")
        if not np.isfinite(sol.y).all():
            raise fail("the solution is not finite")
        slope = float(sol.y[1, 0])
        if abs(slope - previous) <= G_PRIME_TOL * max(1.0, abs(slope)):
            break
        previous = slope
        # refine: halve every interval, start from the current solution
        mesh = np.sort(np.concatenate([sol.x, 0.5 * (sol.x[1:] + sol.x[:-1])]))
        guess = np.vstack([np.interp(mesh, sol.x, sol.y[0]), np.interp(mesh, sol.x, sol.y[1])])
    else:
        change = slope - previous
        raise fail(f"g'(0) did not settle under mesh refinement (last change {change:.3g})")
    y = sol.y
    d2g = rhs(sol.x, y)[1]
    return GProfile(q=q, x_max=x_max, grid=sol.x, g_values=y[0], dg_values=y[1], d2g_values=d2g)


# ---------------------------------------------------------------------------------------------
# coefficients, rate and volatility


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
    g1 = _positive("gamma1", gamma1)
    g2 = _positive("gamma2", gamma2)
    xi_f = _finite_float("xi", xi)
    if xi_f == 0.0:
        raise ValueError("xi must be nonzero (the benchmark needs |ξ| > 0), got xi = 0.0")
    lam_f = _positive("lam", lam)
    q_f = _check_q(q)
    al = _positive("alpha", alpha)
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


def _check_profile(coeffs: LeadingOrderCoefficients, profile: GProfile) -> None:
    if not math.isclose(profile.q, coeffs.q, rel_tol=1e-12, abs_tol=0.0):
        raise ValueError(
            f"profile.q must equal coeffs.q, got profile.q = {profile.q!r} and "
            f"coeffs.q = {coeffs.q!r}"
        )


def _resolve_variant(coeffs: LeadingOrderCoefficients, paper_variant: bool | None) -> bool:
    if paper_variant is None:
        return coeffs.paper_variant
    if not isinstance(paper_variant, (bool, np.bool_)):
        raise ValueError(
            f"paper_variant must be a bool or None, got paper_variant = {paper_variant!r}"
        )
    return bool(paper_variant)


def _same(name: str, value: object, expected: float) -> None:
    v = _finite_float(name, value)
    if not math.isclose(v, expected, rel_tol=1e-12, abs_tol=0.0):
        raise ValueError(
            f"{name} must equal the value the coefficients were built with ({expected!r}), "
            f"got {name} = {v!r}"
        )


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
    _check_profile(coeffs, profile)
    paper = _resolve_variant(coeffs, paper_variant)
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
    dt_f = _positive("dt", dt)
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
    _check_profile(coeffs, profile)
    if alpha is not None:
        _same("alpha", alpha, coeffs.alpha)
    d = np.asarray(delta, dtype=np.float64)
    return (coeffs.alpha + coeffs.sigma_prefactor * np.asarray(profile.dg(coeffs.c * d)))[()]


# ---------------------------------------------------------------------------------------------
# law of the discrete-time deviation chain


def _stationary_std(rate: Callable[[FloatArray], FloatArray], noise: float, start: float) -> float:
    """Std of the continuous stationary density ``∝ exp(2∫_0^x rate / noise²)``; inf if none."""
    x_end = start
    for _ in range(60):
        x = np.linspace(0.0, x_end, 4001)
        r = np.asarray(rate(x))
        expo = 2.0 * np.concatenate([[0.0], np.cumsum(0.5 * (r[1:] + r[:-1]) * np.diff(x))])
        expo /= noise**2
        if expo[-1] < -60.0:
            dens = np.exp(expo)
            h = x[1] - x[0]
            # even density: E[Δ²] = ∫_0^∞ x² p / ∫_0^∞ p (trapezoid)
            w = np.full_like(x, h)
            w[0] = w[-1] = 0.5 * h
            return float(math.sqrt(np.sum(w * x**2 * dens) / np.sum(w * dens)))
        x_end *= 2.0
    return math.inf


def expected_sigma_squared_path(
    coeffs: LeadingOrderCoefficients,
    profile: GProfile,
    alpha: float | None,
    xi: float | None,
    n_steps: int,
    dt: float,
    paper_variant: bool | None = None,
    n_grid: int | None = None,
    n_std: float = 12.0,
    mass_tol: float = 1e-9,
) -> FloatArray:
    """``E[σ_LO(Δ_k)²]`` for ``k = 0..K−1`` along the discrete-time deviation chain (MODEL.md §5).

    ``Δ_{k+1} = Δ_k + φ̇_1(Δ_k) Δt + (ξ/α) ΔW_k``, ``ΔW_k ~ N(0, Δt)``, ``Δ_0 = 0``, with
    ``φ̇_1`` the discrete benchmark's rate, :func:`lo_rate_discrete` (the MODEL.md §5 rate
    capped at the gap, so each step lands between 0 and ``Δ_k`` before the noise). Then
    ``S_0,LO = βT − γ̄ s Σ_k E[σ_k²] Δt`` (MODEL.md §5) is exact for the simulated strategy
    up to grid accuracy.

    Computed deterministically: ``k = 0`` is the point mass at 0; from ``k = 1`` on, the law
    is a density on a uniform grid of ``n`` nodes on ``[−L, L]``, propagated by the exact
    Gaussian transition kernel (``p_{k+1}(y) = ∫ p_k(x) N(y; x + φ̇_1(x)Δt, (ξ/α)²Δt) dx``,
    trapezoid rule in ``x``). The grid adapts to the config:

    - ``L = n_std·s`` with ``s`` the spread of Δ: the smaller of the uncontrolled spread
      ``(|ξ|/α)√(KΔt)`` and 1.5 times the continuous stationary std (the capped discrete
      chain's std is at most √2 times the continuous one), but at least the one-step spread
      ``(|ξ|/α)√Δt``;
    - ``n`` (odd, so 0 is a node) makes the spacing ``L/1000``, but within ``[1/20, 1/4]`` of
      the one-step spread (the Gaussian kernel is integrated to spectral accuracy there, and a
      finer grid only costs time);
    - if the law loses mass (``|1 − mass| > mass_tol`` at some step) the grid is widened
      (``L`` doubled, up to three times).

    Args:
        coeffs: from :func:`leading_order_coefficients` (its ``paper_variant`` sets the
            constants).
        profile: from :func:`solve_g` with the same ``q``.
        alpha, xi: ``α`` and ``ξ``; ``None`` takes them from ``coeffs``, a value must match.
        n_steps: ``K ≥ 1``.
        dt: ``Δt > 0``.
        paper_variant: rate without the ``/q`` (see :func:`lo_rate`); ``None`` follows coeffs.
        n_grid: a fixed number of grid nodes (``≥ 101``; the spacing must be at most a third
            of the one-step spread), or ``None`` (default) for the adaptive rule above.
        n_std: half-width of the grid in units of the spread estimate, ``≥ 6``.
        mass_tol: allowed deviation of the total probability from 1.

    Returns:
        Array of shape ``(K,)``.

    Raises:
        ValueError: on an invalid argument, a too coarse ``n_grid``, a grid beyond
            :data:`MAX_LAW_WORK`, or if the law loses mass on every grid tried.
    """
    _check_profile(coeffs, profile)
    if alpha is not None:
        _same("alpha", alpha, coeffs.alpha)
    if xi is not None:
        _same("xi", xi, coeffs.xi)
    K = positive_int("n_steps", n_steps)
    dt_f = _positive("dt", dt)
    paper = _resolve_variant(coeffs, paper_variant)
    fixed_n: int | None = None
    if n_grid is not None:
        fixed_n = positive_int("n_grid", n_grid)
        if fixed_n < 101:
            raise ValueError(f"n_grid must be >= 101, got n_grid = {fixed_n}")
    n_std_f = _finite_float("n_std", n_std)
    if n_std_f < 6.0:
        raise ValueError(f"n_std must be >= 6, got n_std = {n_std_f!r}")
    mass_tol_f = _positive("mass_tol", mass_tol)

    noise = abs(coeffs.xi) / coeffs.alpha
    step_sd = noise * math.sqrt(dt_f)

    def rate(x: FloatArray) -> FloatArray:
        return np.asarray(lo_rate_discrete(x, coeffs, profile, dt_f, paper_variant=paper))

    def continuous_rate(x: FloatArray) -> FloatArray:
        return np.asarray(lo_rate(x, coeffs, profile, paper_variant=paper))

    def sigma2(x: FloatArray) -> FloatArray:
        return np.asarray(lo_sigma(x, coeffs, profile)) ** 2

    out = np.empty(K)
    out[0] = float(sigma2(np.zeros(1))[0])
    if K == 1:
        return out

    spread = noise * math.sqrt(K * dt_f)
    stationary = _stationary_std(continuous_rate, noise, start=noise)
    spread = max(min(spread, 1.5 * stationary), step_sd)
    half = n_std_f * spread
    where = (
        f"gamma = ({coeffs.gamma1:g}, {coeffs.gamma2:g}), xi = {coeffs.xi:g}, "
        f"lam = {coeffs.lam:g}, cost_power = {coeffs.q:g}, n_steps = {K}, dt = {dt_f:.3g}"
    )
    lost = ""
    for _ in range(4):
        if fixed_n is None:
            h_auto = min(max(half / 1000.0, step_sd / 20.0), step_sd / 4.0)
            n = math.ceil(2.0 * half / h_auto) + 1
            n += 1 - n % 2
        else:
            n = fixed_n
        h = 2.0 * half / (n - 1)
        if h > step_sd / 3.0:
            raise ValueError(
                f"n_grid = {n} is too small: grid spacing {h:.3g} exceeds a third of the "
                f"one-step noise (|ξ|/α)√Δt = {step_sd:.3g}; need n_grid >= "
                f"{math.ceil(6 * half / step_sd) + 1}"
            )
        band = math.ceil(9.0 * step_sd / h) + 1
        work = float(K) * n * (2 * band + 1)
        if work > MAX_LAW_WORK:
            raise ValueError(
                f"n_steps = {K} is outside the range where the leading-order S_0 is computed "
                f"({where}): the law of Δ needs a grid of {n} nodes for {K} steps "
                f"({work:.2g} > {MAX_LAW_WORK:.0e} operations)"
            )
        result = _propagate_law(
            rate, sigma2, 1.0 / coeffs.c, half, n, band, K, dt_f, step_sd, mass_tol_f
        )
        if isinstance(result, str):
            lost = result
            half *= 2.0
            continue
        out[1:] = result
        return out
    raise ValueError(
        f"the law of Δ (MODEL.md §5) lost mass on every grid tried, up to ±{half / 2:.3g} "
        f"({where}): {lost}"
    )


#: Largest ``K·n·(band width)`` :func:`expected_sigma_squared_path` takes on (~10 s).
MAX_LAW_WORK = 5e9


def _gaussian_smoothed(
    f: Callable[[FloatArray], FloatArray], lo: float, hi: float, sd: float, spacing: float
) -> Callable[[FloatArray], FloatArray]:
    """``G(μ) = E[f(μ + sd·Z)]``, ``Z ~ N(0, 1)``, for ``μ ∈ [lo, hi]``.

    ``f`` is sampled on a uniform grid of the given spacing over ``[lo − 9sd, hi + 9sd]`` and
    convolved with the sampled Gaussian by FFT (trapezoid rule, spectrally accurate for the
    Gaussian once ``spacing ≤ sd/4``, and resolving ``f``'s own features at ``spacing``); ``G``
    is smooth on the scale ``sd`` and is read between the samples by a cubic spline.
    """
    m = math.ceil(9.0 * sd / spacing)
    n_f = math.ceil((hi - lo) / spacing) + 2 * m + 3
    if n_f > MAX_FINE_NODES:
        raise ValueError(
            f"the fine grid for E[σ²] needs {n_f} > {MAX_FINE_NODES} nodes (spacing "
            f"{spacing:.3g} over [{lo:.3g}, {hi:.3g}] ± 9·{sd:.3g})"
        )
    Y = lo - (m + 1) * spacing + spacing * np.arange(n_f)
    kz = spacing * np.arange(-m, m + 1)
    kernel = np.exp(-0.5 * (kz / sd) ** 2) * (spacing / (sd * math.sqrt(2.0 * math.pi)))
    G = fftconvolve(f(Y), kernel, mode="same")
    inner = slice(m, n_f - m)  # where the whole kernel lies on the grid
    return CubicSpline(Y[inner], G[inner])


#: Largest fine grid :func:`_gaussian_smoothed` builds (a few seconds of FFT at most).
MAX_FINE_NODES = 2**22


def _propagate_law(
    rate: Callable[[FloatArray], FloatArray],
    sigma2: Callable[[FloatArray], FloatArray],
    feature: float,
    half: float,
    n: int,
    band: int,
    K: int,
    dt: float,
    step_sd: float,
    mass_tol: float,
) -> FloatArray | str:
    """``E[σ²(Δ_k)]``, ``k = 1..K−1``, on the grid ``linspace(−half, half, n)``, or a message
    saying where mass was lost (see :func:`expected_sigma_squared_path`).

    The density ``p_k`` (``k ≥ 1``) is smooth on the scale of the one-step noise, but ``σ²``
    varies on the scale ``feature = 1/c`` of ``g'(cΔ)``, which can be far finer. So
    ``E[σ²(Δ_k)] = ∫ p_{k−1}(x) G(m(x)) dx`` with ``m(x) = x + φ̇_1(x)Δt`` and
    ``G(μ) = E[σ²(μ + (ξ/α)√Δt Z)]`` computed once on a grid that resolves both scales
    (:func:`_gaussian_smoothed`); ``E[σ²(Δ_1)] = G(m(0))`` exactly.
    """
    # (the step from linspace itself: y[1] − y[0] would carry a 1e-13 relative rounding error,
    # a systematic mass drift per step)
    y, h = np.linspace(-half, half, n, retstep=True)
    # quadrature weights of the trapezoid rule on the grid
    wq = np.full(n, h)
    wq[0] = wq[-1] = 0.5 * h
    # Transition matrix, banded: kernel[j, i] = wq_i N(y_j; y_i + φ̇_1(y_i)Δt, (ξ/α)²Δt),
    # kept where |y_j − mean_i| ≤ 9 step_sd (the dropped Gaussian tail is below 1e-17).
    # The capped rate keeps every mean inside [−half, half].
    mean = y + rate(y) * dt
    centre = np.rint((mean - y[0]) / h).astype(np.int64)
    src = np.repeat(np.arange(n), 2 * band + 1)
    tgt = (centre[:, None] + np.arange(-band, band + 1)[None, :]).ravel()
    keep = (tgt >= 0) & (tgt < n)
    src, tgt = src[keep], tgt[keep]
    z = (y[tgt] - mean[src]) / step_sd
    vals = np.exp(-0.5 * z * z) * (wq[src] / (step_sd * math.sqrt(2.0 * math.pi)))
    kernel = sparse.csr_matrix((vals, (tgt, src)), shape=(n, n))
    smoothed = _gaussian_smoothed(
        sigma2, -half, half, step_sd, min(step_sd / 100.0, 0.05 * feature)
    )
    next_s2 = wq * smoothed(np.clip(mean, -half, half))  # wq_i G(m(y_i))

    out = np.empty(K - 1)
    r0 = float(rate(np.zeros(1))[0]) * dt
    out[0] = float(smoothed(r0))
    if K == 2:
        return out
    # k = 1: Δ_1 ~ N(φ̇_1(0)Δt, (ξ/α)²Δt) exactly
    dens = np.exp(-0.5 * ((y - r0) / step_sd) ** 2) / (step_sd * math.sqrt(2.0 * math.pi))
    for k in range(2, K):
        mass = float(wq @ dens)
        if not abs(mass - 1.0) <= mass_tol:
            return (
                f"at step k = {k - 1} the total is {mass!r} (|1 − mass| > mass_tol = {mass_tol!r})"
            )
        out[k - 1] = float(next_s2 @ dens)
        if k + 1 < K:
            dens = kernel @ dens
    return out
