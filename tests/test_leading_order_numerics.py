"""Tests of the leading-order benchmark's numerics (MODEL.md §5, §6)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import sparse
from scipy.integrate import quad
from scipy.sparse.linalg import spsolve

from market_env.reference.leading_order_numerics import (
    Q_MIN,
    GProfile,
    expected_sigma_squared_path,
    leading_order_coefficients,
    lo_rate,
    lo_rate_discrete,
    lo_sigma,
    solve_g,
)

# power-2 preset (MODEL.md §6): α = 1, β = 2, s = 1, K = 100, T = 0.4, λ = 1e-2, γ = (1, 2),
# ξ = (3, −3), q = 1.5
G1, G2, XI, LAM, Q, ALPHA = 1.0, 2.0, 3.0, 1e-2, 1.5, 1.0
BETA, SUPPLY, T, K = 2.0, 1.0, 0.4, 100
DT = T / K
GAMMA = 0.5 * (G1 + G2)
GAMMA_BAR = 1.0 / (1.0 / G1 + 1.0 / G2)


@pytest.fixture(scope="module")
def profile() -> GProfile:
    return solve_g(Q)


@pytest.fixture(scope="module")
def coeffs():
    return leading_order_coefficients(G1, G2, XI, LAM, Q, ALPHA)


# --------------------------------------------------------------------------------- g itself


@pytest.mark.parametrize("x_max", [20.0, 50.0])
def test_g_prime_at_zero_q15(x_max: float) -> None:
    prof = solve_g(1.5, x_max)
    assert abs(float(prof.dg(0.0)) - (-1.7711332)) < 1e-6


def test_g_prime_at_zero_independent_of_x_max() -> None:
    assert abs(float(solve_g(1.5, 20.0).dg(0.0)) - float(solve_g(1.5, 50.0).dg(0.0))) < 1e-8


@pytest.mark.parametrize("q", [Q_MIN, 1.1, 1.25, 1.9])
def test_g_prime_at_zero_is_settled(q: float) -> None:
    """solve_g refines its mesh until g'(0) is stable: a finer start mesh (x_max = 20, where
    the same interior solution holds) and a tighter tolerance give the same g'(0)."""
    a = float(solve_g(q).dg(0.0))
    assert abs(float(solve_g(q, 20.0).dg(0.0)) - a) < 1e-8
    if q >= 1.1:  # (at Q_MIN a tighter tolerance exceeds solve_bvp's node budget)
        assert abs(float(solve_g(q, tol=3e-9).dg(0.0)) - a) < 1e-9


def test_solve_g_is_cached() -> None:
    assert solve_g(1.5) is solve_g(np.float64(1.5), 50)


def test_q2_is_exact_linear() -> None:
    prof = solve_g(2.0)
    x = np.array([-80.0, -3.0, -0.1, 0.0, 0.7, 12.0, 50.0, 75.0])
    np.testing.assert_allclose(prof.g(x), -2.0 * x, rtol=0, atol=1e-13)
    np.testing.assert_allclose(prof.dg(x), -2.0, rtol=0, atol=1e-13)


@pytest.mark.parametrize("q", [1.5, 1.25, 1.8, 1.1, 1.9, Q_MIN])
def test_bvp_residual_and_boundary_conditions(q: float) -> None:
    prof = solve_g(q)
    p = 1.0 / (q - 1.0)
    # between the solver's nodes, where the interpolants are least accurate
    xm = 0.5 * (prof.grid[1:] + prof.grid[:-1])
    res = prof.d2g(xm) - prof.dg(xm) * np.abs(prof.g(xm) / q) ** p - 2.0 * xm
    assert np.max(np.abs(res) / (1.0 + np.abs(prof.d2g(xm)))) < 1e-7
    # and by finite differences of g' on a uniform grid, independent of the spline derivative
    x = np.linspace(0.01, 45.0, 1500)
    h = 1e-4
    d2 = (prof.dg(x + h) - prof.dg(x - h)) / (2 * h)
    res_fd = d2 - prof.dg(x) * np.abs(prof.g(x) / q) ** p - 2.0 * x
    assert np.max(np.abs(res_fd) / (1.0 + 2.0 * x)) < 1e-6
    # boundary conditions
    assert abs(float(prof.g(0.0))) < 1e-9
    g_right = -q * (q - 1.0) ** ((1.0 - q) / q) * 50.0 ** (2.0 * (q - 1.0) / q)
    assert abs(float(prof.g(50.0)) - g_right) < 1e-8 * abs(g_right)


def test_odd_extension_and_far_field(profile: GProfile) -> None:
    x = np.array([0.3, 2.0, 17.0, 49.5, 60.0, 200.0])
    np.testing.assert_array_equal(profile.g(-x), -profile.g(x))
    np.testing.assert_array_equal(profile.dg(-x), profile.dg(x))
    A, a = 1.5 * 0.5 ** (-1.0 / 3.0), 2.0 / 3.0
    far = np.array([60.0, 200.0])
    np.testing.assert_allclose(profile.g(far), -A * far**a, rtol=1e-14)
    np.testing.assert_allclose(profile.dg(-far), -a * A * far ** (a - 1.0), rtol=1e-14)
    # g is decreasing, so the leading-order rate always pushes Δ back to 0
    grid = np.linspace(0.0, 60.0, 3001)
    assert np.all(profile.dg(grid) < 0.0)
    assert profile.g(np.array([[1.0, 2.0]])).shape == (1, 2)
    assert np.isnan(profile.g(np.nan))


# ------------------------------------------------------------------- coefficients, rate, σ


def test_q2_reduces_to_the_quadratic_answer() -> None:
    prof = solve_g(2.0)
    co = leading_order_coefficients(G1, G2, XI, LAM, 2.0, ALPHA)
    d = np.linspace(-2.0, 2.0, 41)
    np.testing.assert_allclose(
        lo_rate(d, co, prof), -ALPHA * math.sqrt(GAMMA / LAM) * d, rtol=1e-13, atol=1e-13
    )
    expected = ALPHA + 0.5 * (G2 - G1) * (XI / ALPHA) / (ALPHA * math.sqrt(GAMMA / LAM))
    np.testing.assert_allclose(lo_sigma(d, co, prof), expected, rtol=1e-13)
    assert abs(expected - 1.122474) < 1e-6


def test_q2_sigma_matches_stationary_riccati_for_other_alpha() -> None:
    # MODEL.md §4 with N = 2 in its stationary state: F = σ√(λγ), H = ξ√(λγ), so
    # σ = α + ((γ2−γ1)/(γ1+γ2)) ξ √(λγ) (γ = (γ1+γ2)/2), for any α.
    alpha, g1, g2, xi, lam = 1.3, 0.7, 2.9, -2.2, 0.03
    co = leading_order_coefficients(g1, g2, xi, lam, 2.0, alpha)
    gamma = 0.5 * (g1 + g2)
    sigma = alpha + (g2 - g1) / (g1 + g2) * xi * math.sqrt(lam * gamma)
    assert abs(float(lo_sigma(0.4, co, solve_g(2.0))) - sigma) < 1e-13
    assert abs(float(lo_rate(0.4, co, solve_g(2.0))) + alpha * math.sqrt(gamma / lam) * 0.4) < 1e-12


def test_sigma0_corrected_and_paper_variant(profile: GProfile) -> None:
    co = leading_order_coefficients(G1, G2, XI, LAM, Q, ALPHA)
    paper = leading_order_coefficients(G1, G2, XI, LAM, Q, ALPHA, paper_variant=True)
    s0, s0_paper = float(lo_sigma(0.0, co, profile)), float(lo_sigma(0.0, paper, profile, ALPHA))
    assert abs(s0 - 1.061167) < 1e-5
    assert abs(s0_paper - 1.072096) < 1e-5
    # μ_0 = γ̄ s σ_0² (MODEL.md §6)
    assert abs(GAMMA_BAR * SUPPLY * s0**2 - 0.750717) < 1e-5
    assert abs(GAMMA_BAR * SUPPLY * s0_paper**2 - 0.766259) < 1e-5
    # the paper's λ → 2λ/q substitution
    assert paper.lam_eff == pytest.approx(2 * LAM / Q, rel=1e-15)


def test_paper_rate_overtrades_by_q_to_the_one_over_q_minus_one(coeffs, profile) -> None:
    d = np.array([-1.5, -0.2, 0.05, 0.9, 4.0])
    ratio = lo_rate(d, coeffs, profile, paper_variant=True) / lo_rate(d, coeffs, profile)
    np.testing.assert_allclose(ratio, Q ** (1.0 / (Q - 1.0)), rtol=1e-13)  # 2.25 at q = 1.5
    # a paper-variant coeffs gives the paper's full rate by default
    paper = leading_order_coefficients(G1, G2, XI, LAM, Q, ALPHA, paper_variant=True)
    np.testing.assert_array_equal(
        lo_rate(d, paper, profile), lo_rate(d, paper, profile, paper_variant=True)
    )
    assert float(lo_rate(0.0, coeffs, profile)) == 0.0


def _ergodic_policy_iteration(
    gamma: float, xi: float, alpha: float, lam: float, q: float, half_width: float, n: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Agent 1's ergodic tracking problem (MODEL.md §5) by policy iteration on a grid.

    ``ρ = min_u[(γα²/2)Δ² + (λ/2)|u|^q + u V'] + ½(ξ/α)² V''`` on ``[−L, L]`` with reflecting
    ends (``V' = 0``). For a fixed policy, ``(V, ρ)`` solve the linear system with
    ``V(0) = 0``; ``V'`` by central differences (second order; upwind where central would
    break monotonicity), ``V''`` by the three-point stencil. Policy update
    ``u = −sign(V')(|V'|/(λq/2))^(1/(q−1))``.
    """
    x, h = np.linspace(-half_width, half_width, n, retstep=True)
    x[n // 2] = 0.0  # odd n: the centre node (linspace leaves it at rounding level)
    s2 = (xi / alpha) ** 2
    state_cost = 0.5 * gamma * alpha**2 * x**2
    centre = n // 2
    assert x[centre] == 0.0
    u = -alpha * math.sqrt(gamma / lam) * x  # the q = 2 policy as a start
    u[0] = u[-1] = 0.0
    norm_row = sparse.csr_matrix(([1.0], ([0], [centre])), shape=(1, n))
    for _ in range(60):
        central = np.abs(u) * h <= s2
        lo = np.where(
            central, s2 / (2 * h * h) - u / (2 * h), s2 / (2 * h * h) + np.maximum(-u, 0) / h
        )
        up = np.where(
            central, s2 / (2 * h * h) + u / (2 * h), s2 / (2 * h * h) + np.maximum(u, 0) / h
        )
        diag = -(lo + up)
        lo[0], up[0], diag[0] = 0.0, s2 / (h * h), -s2 / (h * h)
        lo[-1], up[-1], diag[-1] = s2 / (h * h), 0.0, -s2 / (h * h)
        gen = sparse.diags([lo[1:], diag, up[:-1]], [-1, 0, 1], shape=(n, n))
        system = sparse.bmat([[gen, -np.ones((n, 1))], [norm_row, None]], format="csc")
        rhs = np.concatenate([-(state_cost + 0.5 * lam * np.abs(u) ** q), [0.0]])
        sol = spsolve(system, rhs)
        V, rho = sol[:n], float(sol[n])
        dV = np.zeros(n)
        dV[1:-1] = (V[2:] - V[:-2]) / (2 * h)
        u_new = -np.sign(dV) * (np.abs(dV) / (lam * q / 2)) ** (1.0 / (q - 1.0))
        change = np.max(np.abs(u_new - u)) / np.max(np.abs(u_new))
        u = u_new
        if change < 1e-10:
            assert np.all(np.abs(u) * h <= s2), "central scheme everywhere at convergence"
            return x, u, rho
    raise AssertionError("policy iteration did not converge")


def _lo_stationary_std(coeffs, profile) -> float:
    """Std of the stationary density ``∝ exp(2∫ φ̇_1,LO / (ξ/α)²)`` of the continuous Δ."""
    s2 = (coeffs.xi / coeffs.alpha) ** 2
    x = np.linspace(0.0, 10.0 * math.sqrt(s2), 20001)
    while True:
        r = lo_rate(x, coeffs, profile)
        R = np.concatenate([[0.0], np.cumsum(0.5 * (r[1:] + r[:-1]) * np.diff(x))])
        if 2.0 * R[-1] / s2 < -80.0:
            dens = np.exp(2.0 * R / s2)
            return math.sqrt(np.trapezoid(x**2 * dens, x) / np.trapezoid(dens, x))
        x = 2.0 * x


@pytest.mark.parametrize(
    ("q", "lam"),
    [(1.5, 1e-2), (1.25, 1e-4), (1.25, 1e-1), (1.5, 1e-4), (1.75, 1e-1), (1.9, 1e-4)],
)
def test_rate_is_the_optimal_ergodic_feedback(q: float, lam: float) -> None:
    """MODEL.md §5's stationary-feedback identity: the leading-order rate is the optimal
    feedback of agent 1's ergodic tracking problem, solved here by policy iteration."""
    co = leading_order_coefficients(G1, G2, XI, lam, q, ALPHA)
    prof = solve_g(q)
    std_lo = _lo_stationary_std(co, prof)
    x, u, _ = _ergodic_policy_iteration(GAMMA, XI, ALPHA, lam, q, 15.0 * std_lo, n=2401)
    # stationary std of the controlled Δ from its density ∝ exp(2∫u/(ξ/α)²)
    s2 = (XI / ALPHA) ** 2
    R = np.concatenate([[0.0], np.cumsum(0.5 * (u[1:] + u[:-1]) * np.diff(x))])
    dens = np.exp(2.0 * (R - R.max()) / s2)
    dens /= np.trapezoid(dens, x)
    std = math.sqrt(np.trapezoid(x**2 * dens, x))
    assert dens[0] < 1e-30 and dens[-1] < 1e-30  # the reflecting ends are out of reach
    assert std == pytest.approx(std_lo, rel=1e-3)
    if (q, lam) == (Q, LAM):
        assert 0.3 < std < 0.5
    mask = (np.abs(x) <= 3.0 * std) & (x != 0.0)
    u_lo = lo_rate(x[mask], co, prof)
    rel = np.abs(u[mask] - u_lo) / np.abs(u_lo)
    assert np.max(rel) < 1e-4  # measured 5e-6 (q = 1.9) to 3.1e-5 (q = 1.25)


# -------------------------------------------------------------- the discrete benchmark's rate


def test_discrete_rate_is_capped_at_the_gap() -> None:
    """At small λ the continuous rate overshoots in one step; the discrete rate lands each
    step between 0 and Δ, and equals the continuous rate wherever that is resolved."""
    co = leading_order_coefficients(1.0, 2.0, 2.0, 1e-3, 1.25, 1.0)
    prof = solve_g(1.25)
    dt = 0.004
    d = np.concatenate([-np.geomspace(1e-4, 5.0, 300), [0.0], np.geomspace(1e-4, 5.0, 300)])
    cont = lo_rate(d, co, prof)
    disc = lo_rate_discrete(d, co, prof, dt)
    after = d + disc * dt
    assert np.all(np.abs(after) <= np.abs(d))
    # no sign change: never past the target (where the cap binds, Δ + φ̇Δt is 0 up to rounding)
    assert np.all(np.sign(d) * after >= -1e-15 * np.abs(d))
    resolved = np.abs(cont) * dt <= np.abs(d)
    assert resolved.sum() > 100 and (~resolved).sum() > 100  # both regimes are exercised
    np.testing.assert_array_equal(disc[resolved], cont[resolved])
    np.testing.assert_allclose(after[~resolved], 0.0, atol=1e-15)
    assert float(lo_rate_discrete(0.0, co, prof, dt)) == 0.0
    # and the paper's rate is capped the same way
    paper = lo_rate_discrete(d, co, prof, dt, paper_variant=True)
    assert np.all(np.abs(d + paper * dt) <= np.abs(d))


def test_discrete_rate_has_no_effect_on_power2(coeffs, profile) -> None:
    d = np.linspace(-3.0, 3.0, 6001)  # ±7.5 stationary std
    np.testing.assert_array_equal(
        lo_rate_discrete(d, coeffs, profile, DT), lo_rate(d, coeffs, profile)
    )


# ----------------------------------------------------------------------- E[σ²] and S_0


def test_expected_sigma_squared_path_and_S0(coeffs, profile) -> None:
    e = expected_sigma_squared_path(coeffs, profile, ALPHA, XI, K, DT)
    assert e.shape == (K,)
    s0 = float(lo_sigma(0.0, coeffs, profile))
    assert e[0] == pytest.approx(s0**2, rel=1e-15)
    # Δ spreads out and g' shrinks away from 0, until the law is stationary (to rounding)
    assert np.all(np.diff(e)[:40] < 0.0)
    assert np.all(np.diff(e) < 1e-14)
    S0 = BETA * T - GAMMA_BAR * SUPPLY * float(np.sum(e)) * DT
    assert abs(S0 - 0.5045) < 2e-3
    # σ held at σ_0 (MODEL.md §6: 0.499713)
    assert abs(BETA * T - GAMMA_BAR * SUPPLY * K * s0**2 * DT - 0.499713) < 1e-6
    # grid-converged
    e_coarse = expected_sigma_squared_path(coeffs, profile, None, None, K, DT, n_grid=1001)
    assert np.max(np.abs(e_coarse - e)) < 1e-9


def test_expected_sigma_squared_path_matches_monte_carlo(coeffs, profile) -> None:
    e = expected_sigma_squared_path(coeffs, profile, ALPHA, XI, K, DT)
    rng = np.random.default_rng(20250405)
    M = 20_000
    d = np.zeros(M)
    total = np.zeros(M)
    for _ in range(K):
        total += lo_sigma(d, coeffs, profile) ** 2 * DT
        d = (
            d
            + lo_rate_discrete(d, coeffs, profile, DT) * DT
            + (XI / ALPHA) * math.sqrt(DT) * rng.standard_normal(M)
        )
    se = total.std(ddof=1) / math.sqrt(M)
    assert abs(total.mean() - float(np.sum(e)) * DT) < 4.0 * se


def _monte_carlo_sigma2(coeffs, profile, xi, K, dt, M, seed):
    """Mean and standard error of σ_LO(Δ_k)² on M paths of the capped discrete chain."""
    rng = np.random.default_rng(seed)
    d = np.zeros(M)
    mean, se = np.empty(K), np.empty(K)
    for k in range(K):
        v = lo_sigma(d, coeffs, profile) ** 2
        mean[k], se[k] = v.mean(), v.std(ddof=1) / math.sqrt(M)
        d = (
            d
            + lo_rate_discrete(d, coeffs, profile, dt) * dt
            + abs(xi) * math.sqrt(dt) * (rng.standard_normal(M))
        )
    return mean, se


def test_law_of_the_capped_chain_at_small_lambda() -> None:
    """γ = (1, 2), ξ = 2, λ = 1e-3, q = 1.25, T = 0.4, K = 100: the cap binds on ~14% of the
    steps; the law (now on a grid that follows Δ's spread) matches a Monte Carlo of the
    capped chain and is grid-converged."""
    co = leading_order_coefficients(1.0, 2.0, 2.0, 1e-3, 1.25, 1.0)
    prof = solve_g(1.25)
    K, dt = 100, 0.004
    e = expected_sigma_squared_path(co, prof, 1.0, 2.0, K, dt)
    assert np.all(np.isfinite(e))
    mc, se = _monte_carlo_sigma2(co, prof, 2.0, K, dt, 20_000, seed=5)
    assert np.max(np.abs(e - mc)[1:] / se[1:]) < 4.0
    e_fine = expected_sigma_squared_path(co, prof, 1.0, 2.0, K, dt, n_grid=4001, n_std=18.0)
    assert np.max(np.abs(e - e_fine)) < 1e-8


def test_law_resolves_sigma_features_finer_than_the_noise() -> None:
    """Noise-dominated chain (one-step spread ≈ 190/c): σ_LO(Δ) = α + P g'(cΔ) has a spike of
    width 1/c at 0 that a grid on the scale of the noise misses (by 1.4e-3 at k = 1); E[σ²] is
    computed through the Gaussian-smoothed σ² instead (MODEL.md §5)."""
    q, xi, K, dt = 1.1, 50.0, 10, 0.5
    co = leading_order_coefficients(100.0, 0.01, xi, 1e-4, q, 1.0)
    prof = solve_g(q)
    e = expected_sigma_squared_path(co, prof, None, None, K, dt)
    s = xi * math.sqrt(dt)

    # k = 1: Δ_1 ~ N(0, s²) exactly; an adaptive quadrature split at the spike
    def integrand(y):
        return (
            float(lo_sigma(y, co, prof)) ** 2
            * math.exp(-0.5 * (y / s) ** 2)
            / (s * math.sqrt(2.0 * math.pi))
        )

    w = 40.0 / co.c
    exact = sum(
        quad(integrand, a, b, limit=500, epsabs=1e-12, epsrel=1e-10)[0]
        for a, b in [(-10 * s, -w), (-w, 0.0), (0.0, w), (w, 10 * s)]
    )
    assert abs(e[1] - exact) < 1e-9  # measured 2.8e-11
    mc, se = _monte_carlo_sigma2(co, prof, xi, K, dt, 100_000, seed=7)
    assert np.max(np.abs(e - mc)[1:] / se[1:]) < 4.0


def test_paper_variant_path_uses_paper_rate(profile) -> None:
    paper = leading_order_coefficients(G1, G2, XI, LAM, Q, ALPHA, paper_variant=True)
    e_paper = expected_sigma_squared_path(paper, profile, None, None, K, DT)
    e_mixed = expected_sigma_squared_path(paper, profile, None, None, K, DT, paper_variant=False)
    # the paper's rate over-trades, so Δ stays nearer 0 and σ² stays larger
    # (k = 0 is the point mass at 0 and Δ_1 ~ N(0, (ξ/α)²Δt) whatever the rate; the two
    # grids differ, hence the quadrature-level tolerance)
    np.testing.assert_allclose(e_paper[:2], e_mixed[:2], rtol=1e-9)
    assert np.all(e_paper[2:] > e_mixed[2:])


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("q", [1.0, 0.5, 2.5, float("nan"), float("inf")])
def test_solve_g_rejects_bad_q(q: float) -> None:
    with pytest.raises(ValueError, match=r"q"):
        solve_g(q)


@pytest.mark.parametrize("x_max", [0.0, -5.0, float("nan")])
def test_solve_g_rejects_bad_x_max(x_max: float) -> None:
    with pytest.raises(ValueError, match=r"x_max"):
        solve_g(1.5, x_max)


def test_solve_g_refuses_q_below_q_min() -> None:
    with pytest.raises(ValueError, match=r"q \(the cost power\) = 1\.02 is outside the range"):
        solve_g(1.02)


def test_messages_name_parameter_value_and_rule() -> None:
    with pytest.raises(ValueError, match=r"q .*\(1, 2\].*q = 2\.5"):
        solve_g(2.5)
    with pytest.raises(ValueError, match=r"x_max must be > 0, got x_max = -1\.0"):
        solve_g(1.5, -1.0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"gamma1": 0.0}, "gamma1"),
        ({"gamma2": -1.0}, "gamma2"),
        ({"xi": 0.0}, "xi"),
        ({"lam": 0.0}, "lam"),
        ({"q": 1.0}, "q"),
        ({"q": 3.0}, "q"),
        ({"alpha": -1.0}, "alpha"),
        ({"paper_variant": "yes"}, "paper_variant"),
    ],
)
def test_coefficients_reject_bad_inputs(kwargs: dict, name: str) -> None:
    args = {"gamma1": G1, "gamma2": G2, "xi": XI, "lam": LAM, "q": Q, "alpha": ALPHA}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        leading_order_coefficients(**args)


def test_mismatches_and_bad_path_arguments(coeffs, profile) -> None:
    with pytest.raises(ValueError, match="profile.q"):
        lo_rate(0.1, coeffs, solve_g(2.0))
    with pytest.raises(ValueError, match="alpha"):
        lo_sigma(0.1, coeffs, profile, alpha=2.0)
    with pytest.raises(ValueError, match="xi"):
        expected_sigma_squared_path(coeffs, profile, ALPHA, 2.0, K, DT)
    with pytest.raises(ValueError, match="n_steps"):
        expected_sigma_squared_path(coeffs, profile, ALPHA, XI, 0, DT)
    with pytest.raises(ValueError, match="dt"):
        expected_sigma_squared_path(coeffs, profile, ALPHA, XI, K, 0.0)
    with pytest.raises(ValueError, match="n_grid"):
        expected_sigma_squared_path(coeffs, profile, ALPHA, XI, K, DT, n_grid=50)
