"""The law of agent 1's deviation under the discrete leading-order strategy, and with it the
benchmark's exact ``S_0`` (MODEL.md §5).

:func:`expected_sigma_squared_path` gives ``E[σ_LO(Δφ_1,k)²]``, ``k = 0..K−1``, for the
discrete-time deviation chain driven by the capped rate
(:func:`~market_env.reference.leading_order_numerics.coefficients.lo_rate_discrete`), by
propagating its law on a grid that adapts to the config; with it
``S_0,LO = βT − γ̄ s Σ_k E[σ_k²] Δt`` exactly up to grid accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import sparse
from scipy.interpolate import CubicSpline
from scipy.signal import fftconvolve

from .checks import FloatArray, finite_float, positive_float, positive_int, same_value
from .coefficients import (
    LeadingOrderCoefficients,
    check_profile,
    lo_rate,
    lo_rate_discrete,
    lo_sigma,
    resolve_variant,
)
from .profile import GProfile

__all__ = ["MAX_FINE_NODES", "MAX_LAW_WORK", "expected_sigma_squared_path"]


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
    check_profile(coeffs, profile)
    if alpha is not None:
        same_value("alpha", alpha, coeffs.alpha)
    if xi is not None:
        same_value("xi", xi, coeffs.xi)
    K = positive_int("n_steps", n_steps)
    dt_f = positive_float("dt", dt)
    paper = resolve_variant(coeffs, paper_variant)
    fixed_n: int | None = None
    if n_grid is not None:
        fixed_n = positive_int("n_grid", n_grid)
        if fixed_n < 101:
            raise ValueError(f"n_grid must be >= 101, got n_grid = {fixed_n}")
    n_std_f = finite_float("n_std", n_std)
    if n_std_f < 6.0:
        raise ValueError(f"n_std must be >= 6, got n_std = {n_std_f!r}")
    mass_tol_f = positive_float("mass_tol", mass_tol)

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
