import math

import pytest
import torch

from market_env import (
    BatchedMarket,
    ClearingDrift,
    ExogenousPrice,
    rollout,
)


def zero_policy(state):
    return torch.zeros_like(state.phi)


def noisy_policy(state):
    # A deterministic, state-dependent policy that does not clear.
    return torch.sin(3.0 * state.W).unsqueeze(-1) + 0.1 * torch.arange(
        state.phi.shape[1], dtype=state.phi.dtype
    )


def test_one_step_matches_model_md_formulas(power2):
    m = BatchedMarket(power2, 3, dtype=torch.float64, clearing="none", seed=1)
    s = m.reset(S0=0.5)
    rates = torch.tensor([[1.0, -2.0], [0.5, 0.0], [-1.0, 3.0]], dtype=torch.float64)
    res = m.step(rates, mu=0.7, sigma=1.1)
    c, dt = power2, power2.dt
    phi, W = s.phi, s.W
    expected = (
        0.7 * phi
        - 0.5 * m.gamma * (1.1 * phi + m.xi * W.unsqueeze(-1)) ** 2
        - 0.5 * c.lam * rates.abs() ** c.cost_power
    ) * dt
    torch.testing.assert_close(res.reward, expected)
    dW = m.noise[:, 0]
    torch.testing.assert_close(res.state.S, 0.5 + 0.7 * dt + 1.1 * dW)
    torch.testing.assert_close(res.state.phi, phi + rates * dt)
    torch.testing.assert_close(res.state.W, dW)
    torch.testing.assert_close(res.imbalance, rates.mean(-1))


def test_clearing_rules(power2):
    rates = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    fills = {}
    for rule in ("project", "residual", "none"):
        m = BatchedMarket(power2, 1, dtype=torch.float64, clearing=rule)
        m.reset()
        res = m.step(rates)
        fills[rule] = res.fills
        assert res.imbalance.item() == pytest.approx(1.5)  # reported whatever the rule
    assert fills["project"].tolist() == [[-0.5, 0.5]]
    assert fills["residual"].tolist() == [[1.0, -1.0]]
    assert fills["none"].tolist() == [[1.0, 2.0]]
    with pytest.raises(ValueError, match="clearing must be one of"):
        BatchedMarket(power2, 1, clearing="magic")


def test_same_seed_same_paths_and_different_seed_differs(quad10):
    a = rollout(BatchedMarket(quad10, 16, seed=3), noisy_policy)
    b = rollout(BatchedMarket(quad10, 16, seed=3), noisy_policy)
    c = rollout(BatchedMarket(quad10, 16, seed=4), noisy_policy)
    assert torch.equal(a.S, b.S) and torch.equal(a.reward, b.reward)
    assert not torch.equal(a.noise, c.noise)
    m = BatchedMarket(quad10, 16, seed=0)
    first = rollout(m, noisy_policy, seed=3)
    assert torch.equal(first.noise, a.noise)


def test_float32_and_float64_agree(quad10):
    t32 = rollout(BatchedMarket(quad10, 64, dtype=torch.float32, seed=5), noisy_policy)
    t64 = rollout(BatchedMarket(quad10, 64, dtype=torch.float64, seed=5), noisy_policy)
    torch.testing.assert_close(t32.noise.double(), t64.noise, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(t32.S.double(), t64.S, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(t32.reward.double(), t64.reward, rtol=1e-4, atol=1e-6)


def test_shapes_and_noise_statistics(quad10):
    traj = rollout(BatchedMarket(quad10, 4000, seed=0, dtype=torch.float64), zero_policy)
    B, K, N = 4000, quad10.n_steps, quad10.n_agents
    assert traj.phi.shape == (B, K + 1, N) and traj.reward.shape == (B, K, N)
    assert traj.S.shape == (B, K + 1) and traj.mu.shape == (B, K)
    # ΔW ~ N(0, Δt): the variance of W_T is T (4000 paths: relative se ≈ 2.2%).
    assert traj.W[:, -1].var().item() == pytest.approx(quad10.horizon, rel=0.1)
    assert traj.noise.var().item() == pytest.approx(quad10.dt, rel=0.01)


def test_rollout_is_differentiable_in_rates_and_price(power2):
    scale = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    sigma = torch.tensor(1.2, dtype=torch.float64, requires_grad=True)
    price = ExogenousPrice(lambda s: (0.5 + 0 * sigma, sigma), S0=0.4)
    m = BatchedMarket(power2, 8, price=price, dtype=torch.float64, seed=2)
    traj = rollout(m, lambda s: scale * torch.stack([-s.W, s.W], -1))
    loss = traj.reward.sum(1).mean() + ((traj.S[:, -1] - traj.terminal_payoff) ** 2).mean()
    loss.backward()
    assert scale.grad is not None and torch.isfinite(scale.grad) and scale.grad != 0
    assert sigma.grad is not None and sigma.grad != 0


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_rates_are_rejected(power2, bad):
    m = BatchedMarket(power2, 2)
    m.reset()
    rates = torch.zeros(2, 2)
    rates[1, 0] = bad
    with pytest.raises(ValueError, match="rates must be finite.*path 1, agent 0"):
        m.step(rates)


def test_bad_shapes_and_order_of_calls(power2):
    m = BatchedMarket(power2, 2)
    with pytest.raises(RuntimeError, match="call reset"):
        m.step(torch.zeros(2, 2))
    m.reset()
    with pytest.raises(ValueError, match=r"rates must have shape \(2, 2\)"):
        m.step(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"noise must have shape \(2, 100\)"):
        m.reset(noise=torch.zeros(3, 100))
    for _ in range(power2.n_steps):
        res = m.step(torch.zeros(2, 2))
    assert res.done
    with pytest.raises(RuntimeError, match="episode is over"):
        m.step(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        BatchedMarket(power2, 0)


def test_clearing_drift_matches_formula(quad10):
    sigma_table = torch.linspace(1.3, 1.0, quad10.n_steps, dtype=torch.float64)
    m = BatchedMarket(
        quad10, 32, price=ClearingDrift(volatility=sigma_table), dtype=torch.float64, seed=0
    )
    traj = rollout(m, noisy_policy)
    gamma, xi = m.gamma, m.xi
    sig = traj.sigma.unsqueeze(-1)
    phi, W = traj.phi[:, :-1], traj.W[:, :-1].unsqueeze(-1)
    mu = (gamma * sig * (sig * phi + xi * W)).sum(-1) / quad10.n_agents
    torch.testing.assert_close(traj.mu, mu)
    torch.testing.assert_close(traj.sigma, sigma_table.expand(32, -1))


def test_default_S0_is_frictionless(power2):
    m = BatchedMarket(power2, 1, dtype=torch.float64)
    s = m.reset()
    c = power2
    assert s.S.item() == pytest.approx((c.beta - c.gamma_bar * c.alpha**2 * c.supply) * c.horizon)
    assert math.isclose(
        m.terminal_payoff(torch.zeros(1, dtype=torch.float64)).item(), c.beta * c.horizon
    )
