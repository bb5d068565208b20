"""The leading-order benchmark as a Solution rolled out in the market (MODEL.md §5, §6)."""

import numpy as np
import pytest
import torch

from market_env import MarketConfig, S0_control_variate, get_preset
from market_env.reference import LeadingOrderSolution
from market_env.reference.leading_order_numerics import lo_rate, lo_rate_discrete, lo_sigma
from market_env.solution import evaluate, simulate

#: Small λ at K = 100 (power-2 with ξ = ±2, λ = 1e-3, q = 1.25): the continuous rate
#: overshoots its target in one step, so the discrete benchmark's cap at the gap binds.
SMALL_LAMBDA = get_preset("power-2").with_(xi=(2.0, -2.0), lam=1e-3, cost_power=1.25)


@pytest.fixture(scope="module")
def lo():
    return LeadingOrderSolution(get_preset("power-2"))


def test_power2_numbers(lo):
    m = evaluate(lo, n_paths=500, seed=0)
    assert m["sigma0"] == pytest.approx(1.0612, abs=1e-3)
    assert m["mu0"] == pytest.approx(0.7507, abs=1e-3)
    assert m["S0"] == pytest.approx(0.5045, abs=2e-3)
    assert m["clearing_error"] == 0.0
    assert m["solution"] == "leading-order"


def test_paper_variant_reproduces_the_papers_numbers():
    paper = LeadingOrderSolution(get_preset("power-2"), paper_variant=True)
    m = evaluate(paper, n_paths=100, seed=0)
    assert m["sigma0"] == pytest.approx(1.0721, abs=1e-4)
    assert m["mu0"] == pytest.approx(0.7663, abs=1e-4)
    assert m["solution"] == "leading-order-paper"


def test_rollout_reproduces_the_benchmark_formulas(lo):
    """The torch evaluation inside the market matches the numpy formulas on recorded states."""
    traj = simulate(lo, 64, seed=3)
    c = lo.config
    W = traj.W[:, :-1].numpy()
    delta = traj.phi[:, :-1, 0].numpy() - (
        c.supply * c.gamma_bar / c.gamma[0] - c.xi[0] / c.alpha * W
    )
    rate = lo_rate_discrete(delta, lo.coefficients, lo.profile, c.dt)
    # on power-2 the cap at the gap never binds: the discrete rate is the MODEL.md §5 rate
    np.testing.assert_array_equal(rate, lo_rate(delta, lo.coefficients, lo.profile))
    sigma = lo_sigma(delta, lo.coefficients, lo.profile)
    np.testing.assert_allclose(traj.fills[..., 0].numpy(), rate, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(traj.fills[..., 1].numpy(), -rate, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(traj.sigma.numpy(), sigma, rtol=1e-10)
    # μ is μ_LO of MODEL.md §5 (which equals the two-agent clearing drift)
    g1, g2 = c.gamma
    xi = c.xi[0]
    mu_lo = (
        c.gamma_bar * c.supply * sigma**2
        + 0.5 * (g1 - g2) * sigma**2 * delta
        + 0.5 * xi * (sigma / c.alpha) * (g1 - g2) * (c.alpha - sigma) * W
    )
    np.testing.assert_allclose(traj.mu.numpy(), mu_lo, rtol=1e-9, atol=1e-12)
    assert float(traj.sigma.std()) > 1e-3  # σ really is state dependent


def test_quadratic_limit_is_the_exact_stationary_answer():
    c = MarketConfig(gamma=(1.0, 2.0), xi=(3.0, -3.0), lam=1e-2, cost_power=2.0, horizon=0.4)
    sol = LeadingOrderSolution(c)
    traj = simulate(sol, 32, seed=0)
    gamma = 1.5
    delta = traj.phi[:, :-1, 0] - (c.supply * c.gamma_bar / 1.0 - 3.0 * traj.W[:, :-1])
    torch.testing.assert_close(traj.fills[..., 0], -np.sqrt(gamma / c.lam) * delta)
    torch.testing.assert_close(traj.sigma, torch.full_like(traj.sigma, 1.122474), atol=1e-6, rtol=0)


def test_utility_beats_the_papers_overtrading_rate():
    """The paper's rate over-trades by q^(1/(q−1)) (MODEL.md §5): on common paths the
    corrected rate gives the agents a higher summed utility."""
    c = get_preset("power-2")
    right = LeadingOrderSolution(c)

    class OverTrading(LeadingOrderSolution):
        kind = "test-overtrading"

        def policy(self, state):
            return 1.5**2 * super().policy(state)

    m_right = evaluate(right, n_paths=4000, seed=1)
    m_over = evaluate(OverTrading(c), n_paths=4000, seed=1)
    assert (
        sum(m_right["utility_per_agent"])
        > sum(m_over["utility_per_agent"]) + 3 * m_right["utility_sum_se"]
    )


def _deviations(sol, traj):
    """``Δφ_1`` before each step and ``Δφ_1 + φ̇_1Δt`` after it (same target ``φ̄_1(W_k)``)."""
    c = sol.config
    target = c.supply * c.gamma_bar / c.gamma[0] - (c.xi[0] / c.alpha) * traj.W[:, :-1]
    return traj.phi[:, :-1, 0] - target, traj.phi[:, 1:, 0] - target


def test_capped_discrete_benchmark_on_the_small_lambda_config():
    """The small-λ config: the continuous rate overshoots its target in one step on many
    steps (more than twice over, so the uncapped chain diverges); the discrete benchmark
    caps each step at the gap, evaluates to finite utilities, and its exact S_0 is the one
    its own paths give (control variate, MODEL.md §2)."""
    sol = LeadingOrderSolution(SMALL_LAMBDA)
    c = sol.config
    m, traj = evaluate(sol, n_paths=3000, seed=0, return_trajectory=True)
    for key in ("S0", "sigma0", "mu0", "utility_sum", "terminal_error"):
        assert np.isfinite(m[key]), key
    assert np.all(np.isfinite(m["utility_per_agent"]))
    assert m["S0"] == pytest.approx(0.530361, abs=1e-6)
    before, after = _deviations(sol, traj)
    assert float((after.abs() - before.abs()).max()) <= 0.0  # never farther from the target
    assert bool((torch.sign(before) * after >= -1e-12).all())  # never past it
    cont = torch.as_tensor(lo_rate(before.numpy(), sol.coefficients, sol.profile))
    overshoot = cont.abs() * c.dt > before.abs()
    assert 0.05 < float(overshoot.double().mean()) < 0.5  # the cap binds on ~14% of steps
    assert bool((cont.abs() * c.dt > 2.0 * before.abs()).any())  # unstable without it
    torch.testing.assert_close(
        traj.fills[..., 0][overshoot], -before[overshoot] / c.dt, rtol=1e-12, atol=1e-12
    )
    # S_0 is exact for the capped strategy: the control-variate estimate agrees
    traj2 = simulate(sol, 20000, seed=1)
    x = traj2.terminal_payoff - traj2.S[:, -1] + traj2.S[:, 0]
    se = float(x.std()) / np.sqrt(x.numel())
    assert abs(S0_control_variate(traj2).item() - sol.S0) < 4.0 * se


def test_paper_variant_is_capped_too():
    sol = LeadingOrderSolution(SMALL_LAMBDA, paper_variant=True)
    m, traj = evaluate(sol, n_paths=500, seed=0, return_trajectory=True)
    assert np.isfinite(m["utility_sum"]) and m["solution"] == "leading-order-paper"
    before, after = _deviations(sol, traj)
    assert float((after.abs() - before.abs()).max()) <= 0.0


def test_errors():
    with pytest.raises(ValueError, match="N = 2 agents, got N = 10"):
        LeadingOrderSolution(get_preset("power-10"))
    with pytest.raises(ValueError, match=r"xi = \(ξ, −ξ\)"):
        LeadingOrderSolution(MarketConfig(gamma=(1.0, 2.0), xi=(3.0, -2.0), cost_power=1.5))
    with pytest.raises(ValueError, match=r"cost_power = 1\.02 is outside the range.*>= 1\.05"):
        LeadingOrderSolution(MarketConfig(gamma=(1.0, 2.0), xi=(3.0, -3.0), cost_power=1.02))
