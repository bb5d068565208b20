"""The exact quadratic-cost equilibrium (MODEL.md §4, §6)."""

import re

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from market_env import MarketConfig, MarketState, S0_control_variate, get_preset
from market_env.reference import RiccatiSolution
from market_env.reference.riccati import riccati_coefficients
from market_env.solution import evaluate, simulate


@pytest.fixture(scope="module")
def truth():
    return RiccatiSolution(get_preset("quadratic-10"))


def test_quadratic10_numbers(truth):
    metrics = evaluate(truth, n_paths=2000, seed=0)
    assert metrics["sigma0"] == pytest.approx(1.24543, abs=1e-4)
    assert metrics["mu0"] == pytest.approx(0.21580, abs=1e-4)
    assert metrics["S0"] == pytest.approx(0.36108, abs=1e-4)
    assert metrics["clearing_error"] < 1e-10
    # The truth's own time-discretisation error at K = 100 (MODEL.md §4, measured ~1.8e-6).
    assert 5e-7 < metrics["terminal_error"] < 5e-6


def test_summed_utility_within_three_standard_errors(truth):
    metrics = evaluate(truth, n_paths=12000, seed=11)
    se = metrics["utility_sum_se"]
    assert se < 0.4
    assert abs(metrics["utility_sum"] - (-42.076)) < 3 * se


def test_S0_is_the_exact_discrete_formula(truth):
    c = truth.config
    sigma = truth.coefficients.sigma
    expected = c.beta * c.horizon - c.gamma_bar * c.supply * (sigma**2).sum() * c.dt
    assert truth.S0 == pytest.approx(expected, rel=1e-14)
    # and the control-variate estimate on paths agrees to the discretisation error
    traj = simulate(truth, 2000, seed=1)
    assert S0_control_variate(traj).item() == pytest.approx(truth.S0, abs=2e-4)


def test_terminal_spread_shrinks_like_dt():
    """𝔖 − S_K + S_0 spreads ~1.3e-3 at K = 100 and ~1.3e-4 at K = 1000 (MODEL.md §4)."""
    spreads = {}
    for K in (100, 1000):
        sol = RiccatiSolution(get_preset("quadratic-10").with_(n_steps=K))
        traj = simulate(sol, 1000, seed=0)
        spreads[K] = (traj.terminal_payoff - traj.S[:, -1]).std().item()
    assert spreads[100] == pytest.approx(1.3e-3, rel=0.25)
    assert 7.0 < spreads[100] / spreads[1000] < 14.0


def test_rollout_reproduces_the_solution_paths(truth):
    """One simulator: the market's σ is the Riccati table, μ the clearing formula, and the
    holdings follow the Riccati feedback on the recorded state."""
    traj = simulate(truth, 64, seed=2)
    c = truth.config
    sigma = torch.as_tensor(truth.coefficients.sigma)
    torch.testing.assert_close(traj.sigma, sigma.expand(64, -1))
    g = torch.tensor(c.gamma, dtype=torch.float64)
    xi = torch.tensor(c.xi, dtype=torch.float64)
    s = traj.sigma.unsqueeze(-1)
    mu = (g * s * (s * traj.phi[:, :-1] + xi * traj.W[:, :-1].unsqueeze(-1))).mean(-1)
    torch.testing.assert_close(traj.mu, mu)
    F = torch.as_tensor(truth.coefficients.F)
    H = torch.as_tensor(truth.coefficients.H)
    target = c.supply * c.gamma_bar / g[:-1]
    dev = traj.phi[:, :-1, :-1] - target
    rate = -(torch.einsum("bkm,knm->bkn", dev, F) + traj.W[:, :-1, None] * H) / c.lam
    torch.testing.assert_close(traj.fills[..., :-1], rate)
    torch.testing.assert_close(traj.phi[:, 1:], traj.phi[:, :-1] + traj.fills * c.dt)


def test_two_agent_riccati_matches_stationary_limit():
    """Long horizon, two agents: σ_0 approaches the stationary value of MODEL.md §5 at q = 2."""
    c = MarketConfig(
        gamma=(1.0, 2.0), xi=(3.0, -3.0), lam=1e-2, cost_power=2.0, horizon=2.0, n_steps=400
    )
    sol = RiccatiSolution(c)
    gamma = 1.5
    stationary = 1.0 + 0.5 * (2.0 - 1.0) * 3.0 / (gamma / 1e-2) ** 0.5
    assert sol.coefficients.sigma[0] == pytest.approx(stationary, abs=1e-6)
    assert stationary == pytest.approx(1.122474, abs=1e-6)


def test_clear_errors_outside_the_riccati_case():
    with pytest.raises(ValueError, match="cost_power = 2.*got cost_power = 1.5"):
        RiccatiSolution(get_preset("power-2"))
    with pytest.raises(ValueError, match=r"sum\(xi\) = 0.*got sum\(xi\) = 1"):
        RiccatiSolution(MarketConfig(gamma=(1.0, 2.0), xi=(1.0, 0.0)))


def _direct_riccati(config):
    """MODEL.md §4 integrated directly in (F, H) by DOP853 (an independent implementation)."""
    N, lam, alpha = config.n_agents, config.lam, config.alpha
    gamma, xi = np.asarray(config.gamma), np.asarray(config.xi)
    m = N - 1
    A = gamma[None, :m] * (N * np.eye(m) - 1.0) + gamma[-1]
    b = A @ xi[:m]
    v = config.gamma_bar * (1.0 / gamma[:m] - 1.0 / gamma[-1])

    def rhs(_tau, y):
        F, H = y[: m * m].reshape(m, m), y[m * m :]
        sigma = alpha + v @ H
        return np.concatenate(
            [((sigma**2 / N) * A - F @ F / lam).ravel(), (sigma / N) * b - F @ H / lam]
        )

    tau = config.horizon - np.arange(config.n_steps) * config.dt
    sol = solve_ivp(
        rhs, (0.0, config.horizon), np.zeros(m * m + m), method="DOP853", t_eval=tau[::-1],
        rtol=1e-13, atol=1e-15,
    )  # fmt: skip
    assert sol.success
    Y = sol.y[:, ::-1].T
    F, H = Y[:, : m * m].reshape(-1, m, m), Y[:, m * m :]
    return alpha + H @ v, F, H


@pytest.mark.parametrize(
    "config",
    [
        get_preset("quadratic-10"),
        MarketConfig(gamma=(1.0, 2.0), xi=(3.0, -3.0), lam=1e-2, horizon=2.0, n_steps=400),
        MarketConfig(
            gamma=(0.3, 5.0, 40.0), xi=(10.0, -4.0, -6.0), lam=1.0, horizon=5.0, n_steps=1000
        ),
    ],
)
def test_modal_solve_matches_the_direct_integration(config):
    """The decoupled modal form (LSODA) against the Riccati system in (F, H) (DOP853)."""
    co = riccati_coefficients(config)
    sigma, F, H = _direct_riccati(config)

    def rel(a, b):
        return np.max(np.abs(a - b)) / np.max(np.abs(b))

    assert rel(co.sigma, sigma) < 1e-11  # measured 1.6e-13 on quadratic-10
    assert rel(co.F, F) < 1e-10  # 1.7e-12
    assert rel(co.H, H) < 1e-10  # 1.9e-12


@pytest.mark.parametrize(
    ("gamma", "xi", "lam", "horizon", "n_steps"),
    [
        ((0.01, 100.0), 50.0, 1e-4, 5.0, 20000),  # stiff corner: DOP853 needs ~60000 steps
        ((100.0, 0.01), 0.1, 1e-4, 5.0, 20000),
        ((100.0, 100.5), 50.0, 1e-4, 1.0, 10000),
        ((1.0, 2.0), 3.0, 1e-2, 200.0, 20000),  # a horizon beyond the tested range
    ],
)
def test_stiff_and_long_configs_reach_the_stationary_answer(gamma, xi, lam, horizon, n_steps):
    """Two agents far from t = T sit at the stationary quadratic answer (MODEL.md §5 at
    q = 2): σ = α + ((γ_2−γ_1)/(γ_1+γ_2)) ξ √(λγ), F = σ√(λγ), H = ξ√(λγ), γ = (γ_1+γ_2)/2."""
    c = MarketConfig(gamma=gamma, xi=(xi, -xi), lam=lam, horizon=horizon, n_steps=n_steps)
    co = riccati_coefficients(c)
    g = 0.5 * sum(gamma)
    sigma = 1.0 + (gamma[1] - gamma[0]) / sum(gamma) * xi * np.sqrt(lam * g)
    assert co.sigma[0] == pytest.approx(sigma, rel=1e-12)
    assert co.F[0, 0, 0] == pytest.approx(sigma * np.sqrt(lam * g), rel=1e-11)
    assert co.H[0, 0] == pytest.approx(xi * np.sqrt(lam * g), rel=1e-11)
    assert co.step_rate <= 1.0


def test_refuses_too_few_steps_with_the_steps_it_needs():
    """T = 100 at K = 100 (Δt = 1): the discrete feedback would overshoot 13.7-fold and
    diverge (a utility of −1.3e218 before); refused, with the K that works."""
    c = MarketConfig(gamma=(1.0, 2.0), xi=(3.0, -3.0), lam=1e-2, horizon=100.0, n_steps=100)
    with pytest.raises(ValueError, match=r"n_steps = 100 is too small.*horizon = 100") as info:
        RiccatiSolution(c)
    message = str(info.value)
    assert "\n" not in message and "overshoots" in message
    need = int(re.search(r"use n_steps >= (\d+)", message).group(1))
    assert 1300 < need < 1400
    sol = RiccatiSolution(c.with_(n_steps=need))
    assert 0.99 < sol.coefficients.step_rate <= 1.0
    with pytest.raises(ValueError, match="n_steps"):
        RiccatiSolution(c.with_(n_steps=need - 2))


def test_policy_in_the_modal_basis_is_the_riccati_feedback():
    """The policy applies F/λ through V diag(r) V⁻¹; on random states it equals the dense
    formula of MODEL.md §4."""
    c = get_preset("quadratic-10")
    sol = RiccatiSolution(c)
    gen = torch.Generator().manual_seed(0)
    phi = torch.randn(16, 10, generator=gen, dtype=torch.float64)
    W = torch.randn(16, generator=gen, dtype=torch.float64)
    k = 37
    state = MarketState(k=k, t=k * c.dt, W=W, S=W, phi=phi)
    rates = sol.policy(state)
    F = torch.as_tensor(sol.coefficients.F[k])
    H = torch.as_tensor(sol.coefficients.H[k])
    g = torch.tensor(c.gamma, dtype=torch.float64)
    dev = phi[:, :-1] - c.supply * c.gamma_bar / g[:-1]
    head = -(dev @ F.T + W[:, None] * H) / c.lam
    torch.testing.assert_close(rates[:, :-1], head, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        rates.sum(-1), torch.zeros(16, dtype=torch.float64), atol=1e-12, rtol=0
    )
