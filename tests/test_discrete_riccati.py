"""The exact equilibrium of the K-step quadratic market (market_env.reference.discrete_riccati).

Checks that can fail: the paths clear and meet the terminal condition to rounding; the last
rate is zero (a rate at the last step moves no rewarded holdings); no agent gains by a
trained deviation in the simulated market, where the continuous-time Riccati equilibrium
sampled on the same steps does; and it tends to the continuous equilibrium at rate Δt.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from market_env import BatchedMarket, MarketConfig, get_preset
from market_env.reference import (
    DiscreteRiccatiSolution,
    RiccatiSolution,
    choose_benchmark,
    discrete_riccati_coefficients,
)
from market_env.solution import evaluate
from solvers.exploitability import exploitability

# A small-S_0 market (S_0 is a small difference of βT and Σ E[μ_k] Δt): where the continuous
# and the discrete equilibria differ most in relative terms.
H2 = MarketConfig(gamma=(1.0, 3.0), xi=(1.5, -1.5), lam=0.02, alpha=1.5, beta=1.0, supply=0.5)
H3 = MarketConfig(
    gamma=(0.5, 1.0, 2.0), xi=(1.0, -0.4, -0.6), lam=0.005, alpha=0.8, beta=2.0, supply=2.0
)


@pytest.mark.parametrize("config", [H2, H3, get_preset("quadratic-10")], ids=["h2", "h3", "q10"])
def test_paths_clear_and_meet_the_terminal_condition_exactly(config):
    metrics = evaluate(DiscreteRiccatiSolution(config), n_paths=500, seed=3)
    scale = (config.alpha**2) * config.horizon
    assert metrics["terminal_error"] <= 1e-24 * scale
    assert metrics["clearing_error"] <= 1e-24
    continuous = evaluate(RiccatiSolution(config), n_paths=500, seed=3)
    assert continuous["terminal_error"] > 1e6 * metrics["terminal_error"]  # it is not exact here


def test_the_last_rate_is_zero():
    co = discrete_riccati_coefficients(H3)
    assert np.abs(co.gains[-1]).max() == 0.0 and np.abs(co.gains[-2]).max() > 0.1


def test_tends_to_the_continuous_equilibrium_at_rate_dt():
    fine = RiccatiSolution(H2.with_(n_steps=3200))
    gaps = []
    for K in (100, 200, 400):
        d = discrete_riccati_coefficients(H2.with_(n_steps=K))
        gaps.append((abs(d.S0 - fine.S0), abs(d.sigma[0] - fine.coefficients.sigma[0])))
    for (s_a, v_a), (s_b, v_b) in zip(gaps, gaps[1:]):
        assert 1.6 < s_a / s_b < 2.4 and 1.6 < v_a / v_b < 2.4  # halving Δt halves the gap
    # on this market the gap in S_0 at K = 100 is as large as S_0 itself
    assert gaps[0][0] > 0.5 * abs(fine.S0)


def _own_rate_gradients(solution, config):
    """∂J_n/∂φ̇_n,k of every agent and step on a noiseless path from random holdings, with
    the price path and the other agents' rates held fixed (price takers), by autograd
    through the simulator. Zero at an equilibrium of the simulated market: without noise the
    path is the conditional-mean path, and a linear-quadratic optimum's first-order
    condition holds on it exactly."""
    rng = np.random.default_rng(0)
    start = tuple(config.phi0[n] + float(rng.normal()) for n in range(config.n_agents))
    config = config.with_(initial_holdings=start)
    solution = type(solution)(config)
    market = BatchedMarket(config, 1, price=solution.price(), clearing="none", dtype=torch.float64)
    noise = torch.zeros(1, config.n_steps, dtype=torch.float64)
    state = market.reset(noise=noise, S0=solution.S0)
    rates, prices = [], []
    for _ in range(config.n_steps):
        u = solution.policy(state)
        mu, sigma = solution.price()(state, market)
        rates.append(u)
        prices.append((mu, sigma))
        state = market.step(u, mu, sigma).state
    u = torch.stack(rates, 1).detach().requires_grad_(True)  # (1, K, N)
    state = market.reset(noise=noise, S0=solution.S0)
    total = torch.zeros(1, config.n_agents, dtype=torch.float64)
    for k, (mu, sigma) in enumerate(prices):
        res = market.step(u[:, k], mu.detach(), sigma.detach())
        total = total + res.reward
        state = res.state
    (grad,) = torch.autograd.grad(total.sum(), u)  # J_n depends on φ̇_n only
    scale = float(torch.stack(rates).abs().max()) * config.lam * config.dt
    return grad.abs().max().item() / scale


@pytest.mark.parametrize("config", [H2, H3], ids=["h2", "h3"])
def test_first_order_conditions_of_the_simulated_market_hold_exactly(config):
    assert _own_rate_gradients(DiscreteRiccatiSolution(config), config) < 1e-10
    # the continuous-time equilibrium sampled on the same steps misses them at O(Δt)
    assert _own_rate_gradients(RiccatiSolution(config), config) > 1e-3


def test_no_agent_gains_by_a_trained_deviation():
    truth = exploitability(DiscreteRiccatiSolution(H2), n_paths=1000, iterations=30)
    for gain, se in zip(truth.gain_per_agent, truth.gain_se_per_agent):
        assert gain <= 3 * se + 1e-9


def test_is_the_benchmark_of_quadratic_markets():
    choice = choose_benchmark(H2)
    assert choice.name == "riccati-discrete" and choice.exact
    assert "100-step market" in choice.line
    assert isinstance(choice.solution, DiscreteRiccatiSolution)


def test_unstable_markets_are_refused_and_the_continuous_one_is_used(monkeypatch):
    wide = MarketConfig(gamma=(0.01, 100.0), xi=(5.0, -5.0), lam=0.01, n_steps=200)
    with pytest.raises(ValueError, match=r"unstable at n_steps = 200.*σ reaches"):
        DiscreteRiccatiSolution(wide)
    # where the continuous truth exists it stands in, said so (here by a tighter σ limit)
    monkeypatch.setattr("market_env.reference.discrete_riccati.SIGMA_LIMIT", 1.05)
    choice = choose_benchmark(H2)
    assert choice.name == "riccati" and isinstance(choice.solution, RiccatiSolution)
    assert "unstable" in choice.line and "O(Δt)" in choice.line


def test_refusals_name_the_parameter():
    with pytest.raises(ValueError, match="cost_power"):
        DiscreteRiccatiSolution(H2.with_(cost_power=1.5))
    with pytest.raises(ValueError, match="xi"):
        DiscreteRiccatiSolution(H2.with_(xi=(1.0, 0.5)))
    with pytest.raises(ValueError, match="n_agents"):
        DiscreteRiccatiSolution(MarketConfig(gamma=(1.0,) * 201, xi=(1.0, -1.0) * 100 + (0.0,)))


def test_float32_rollout_matches_float64():
    sol = DiscreteRiccatiSolution(H3)
    m64 = evaluate(sol, n_paths=200, seed=0)
    m32 = evaluate(sol, n_paths=200, seed=0, dtype=torch.float32)
    assert math.isclose(m32["utility_sum"], m64["utility_sum"], rel_tol=1e-4)
