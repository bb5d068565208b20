"""The exact quadratic-cost equilibrium (MODEL.md §4, §6)."""

import pytest
import torch

from market_env import MarketConfig, S0_control_variate, get_preset
from solvers import RiccatiSolution, evaluate, simulate


@pytest.fixture(scope="module")
def truth():
    return RiccatiSolution(get_preset("quadratic-10"))


def test_quadratic10_numbers(truth):
    metrics = evaluate(truth, n_paths=2000, seed=0)
    assert metrics["sigma0"] == pytest.approx(1.24543, abs=1e-4)
    assert metrics["mu0"] == pytest.approx(0.21580, abs=1e-4)
    assert metrics["S0"] == pytest.approx(0.36108, abs=1e-4)
    assert metrics["clearing_error"] < 1e-10
    # The truth's own time-discretisation error at K = 100 (MODEL.md §4, issue: ~1.8e-6).
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
