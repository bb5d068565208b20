"""PettingZoo ParallelEnv view of the market (DESIGN.md)."""

import warnings

import numpy as np
import pytest
import torch
from pettingzoo.test import parallel_api_test, parallel_seed_test

from market_env import get_preset, parallel_env, solution_agent_policy
from market_env.observation import default_max_rate
from solvers import RiccatiSolution, evaluate


@pytest.fixture(scope="module")
def riccati():
    return RiccatiSolution(get_preset("quadratic-10"))


@pytest.mark.parametrize("preset", ["power-2", "quadratic-10"])
@pytest.mark.parametrize("price", ["clearing", "market"])
def test_parallel_api_and_seed(preset, price):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the API test warns on any inconsistency
        parallel_api_test(parallel_env(preset=preset, price=price, seed=0), num_cycles=200)
    parallel_seed_test(lambda: parallel_env(preset=preset, price=price))


def test_agents_and_spaces():
    env = parallel_env(preset="quadratic-10")
    assert env.possible_agents == [f"trader_{n}" for n in range(10)]
    env_m = parallel_env(preset="power-2", price="market")
    assert env_m.possible_agents == ["trader_0", "trader_1", "market"]
    c = get_preset("quadratic-10")
    assert env.observation_space("trader_3").shape == (25,)
    space = env.action_space("trader_3")
    assert space.shape == (1,)
    assert space.high[0] == pytest.approx(default_max_rate(c), rel=1e-6)
    assert env_m.action_space("market").shape == (3,)
    assert env_m.observation_space("market").shape == (5,)
    obs, infos = env.reset(seed=0)
    o = obs["trader_3"]
    c = get_preset("quadratic-10")
    np.testing.assert_allclose(o[3:13], c.phi0, rtol=1e-6)  # all holdings
    assert o[0] == 0.0 and o[1] == 0.0  # t, W
    assert o[13] == pytest.approx(c.gamma[3]) and o[14] == pytest.approx(c.xi[3])
    assert o[15:].tolist() == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]


def _play(env, policy, seed):
    obs, _ = env.reset(seed=seed)
    total = np.zeros(len(env.traders))
    S, mu, sigma, steps = [], [], [], 0
    while env.agents:
        o = torch.as_tensor(np.stack([obs[a] for a in env.traders])).unsqueeze(0)
        rates = policy(o)[0]
        actions = {a: np.array([rates[n].item()]) for n, a in enumerate(env.traders)}
        obs, rew, term, trunc, info = env.step(actions)
        total += [rew[a] for a in env.traders]
        S.append(info["trader_0"]["S"])
        mu.append(info["trader_0"]["mu"])
        sigma.append(info["trader_0"]["sigma"])
        steps += 1
    assert steps == env.config.n_steps
    return total, np.array(S), np.array(mu), np.array(sigma)


@pytest.mark.parametrize("seed", [3, 17])
def test_equilibrium_through_pettingzoo_matches_evaluate(riccati, seed):
    env = parallel_env(preset="quadratic-10", price=riccati, dtype="float64")
    total, S, mu, sigma = _play(env, solution_agent_policy(riccati), seed)
    metrics, traj = evaluate(riccati, n_paths=1, seed=seed, return_trajectory=True)
    # observations are float32, so rates agree to ~1e-7 relative
    np.testing.assert_allclose(total, metrics["utility_per_agent"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(S, traj.S[0, 1:].numpy(), rtol=0, atol=1e-8)
    np.testing.assert_allclose(mu, traj.mu[0].numpy(), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(sigma, traj.sigma[0].numpy(), rtol=1e-12)


def test_equilibrium_price_by_name_power2():
    from market_env import equilibrium_solution

    sol = equilibrium_solution(get_preset("power-2"))
    env = parallel_env(preset="power-2", price="equilibrium", dtype="float64")
    total, S, _, _ = _play(env, solution_agent_policy(sol), 5)
    metrics, traj = evaluate(sol, n_paths=1, seed=5, return_trajectory=True)
    np.testing.assert_allclose(total, metrics["utility_per_agent"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(S, traj.S[0, 1:].numpy(), atol=1e-7)


def test_market_agent_sets_price_and_is_rewarded():
    c = get_preset("power-2")
    env = parallel_env(preset="power-2", price="market")
    env.reset(seed=1)
    total = 0.0
    imbalances = []
    while env.agents:
        actions = {"trader_0": np.array([1.0]), "trader_1": np.array([3.0])}
        actions["market"] = np.array([0.5, np.log(1.2), 0.7], dtype=np.float32)
        obs, rew, term, trunc, info = env.step(actions)
        total += rew["market"]
        imbalances.append(info["market"]["imbalance"])
        assert info["trader_0"]["sigma"] == pytest.approx(1.2 * c.alpha, rel=1e-6)
        assert info["trader_0"]["mu"] == pytest.approx(0.5)
    assert info["market"]["S0"] == pytest.approx(0.7, rel=1e-6)
    # S_K = S_0 + Σ μΔt + σ W_K, and the episode return is −clearing error − terminal error
    m = env.view.market
    S_K, payoff = m.state.S[0].item(), m.terminal_payoff()[0].item()
    assert S_K == pytest.approx(0.7 + 0.5 * c.horizon + 1.2 * m.state.W[0].item(), rel=1e-5)
    expected = -np.mean(np.square(imbalances)) - (S_K - payoff) ** 2
    assert total == pytest.approx(expected, rel=1e-5)
    assert np.mean(imbalances) == pytest.approx(2.0)


def test_clip_actions_and_bounds():
    env = parallel_env(preset="power-2")
    env.reset(seed=0)
    bound = env.action_space("trader_0").high[0]
    _, _, _, _, info = env.step({"trader_0": np.array([1e9]), "trader_1": np.array([0.0])})
    assert info["trader_0"]["order"] == pytest.approx(bound, rel=1e-6)
    strict = parallel_env(preset="power-2", clip_actions=False)
    strict.reset(seed=0)
    with pytest.raises(ValueError, match="trader_0.*max_rate"):
        strict.step({"trader_0": np.array([1e9]), "trader_1": np.array([0.0])})


def test_bad_inputs():
    env = parallel_env(preset="power-2")
    with pytest.raises(RuntimeError, match="reset"):
        env.step({"trader_0": np.array([0.0]), "trader_1": np.array([0.0])})
    env.reset(seed=0)
    ok = {"trader_0": np.array([0.0]), "trader_1": np.array([0.0])}
    with pytest.raises(ValueError, match=r"trader_1 must have shape \(1,\)"):
        env.step({**ok, "trader_1": np.zeros(2)})
    with pytest.raises(ValueError, match="trader_0 must be finite, got nan"):
        env.step({**ok, "trader_0": np.array([np.nan])})
    with pytest.raises(ValueError, match="trader_1 must be finite, got inf"):
        env.step({**ok, "trader_1": np.array([np.inf])})
    with pytest.raises(ValueError, match=r"unknown agent name\(s\) \['trader_7'\]"):
        env.step({**ok, "trader_7": np.array([0.0])})
    with pytest.raises(ValueError, match=r"missing actions for agent\(s\) \['trader_1'\]"):
        env.step({"trader_0": np.array([0.0])})
    with pytest.raises(ValueError, match="unknown agent 'bob'"):
        env.action_space("bob")
    for _ in range(env.config.n_steps):
        env.step(ok)
    assert env.agents == []
    with pytest.raises(RuntimeError, match="episode is over"):
        env.step(ok)
    with pytest.raises(ValueError, match="unknown preset 'quadratic-3'"):
        parallel_env(preset="quadratic-3")
    with pytest.raises(ValueError, match="price must be one of"):
        parallel_env(preset="power-2", price="magic")
    with pytest.raises(ValueError, match="render_mode"):
        parallel_env(preset="power-2", render_mode="video")
    env_m = parallel_env(preset="power-2", price="market")
    env_m.reset(seed=0)
    with pytest.raises(ValueError, match=r"market must have shape \(3,\)"):
        env_m.step({**ok, "market": np.zeros(2)})
    with pytest.raises(ValueError, match="market must be finite"):
        env_m.step({**ok, "market": np.array([0.0, np.nan, 0.0])})


def test_render_modes(capsys):
    env = parallel_env(preset="power-2", render_mode="rgb_array")
    env.reset(seed=0)
    for _ in range(5):
        env.step({a: env.action_space(a).sample() for a in env.agents})
    img = env.render()
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
    assert img.std() > 0
    human = parallel_env(preset="power-2", render_mode="human")
    human.reset(seed=0)
    human.step({a: np.array([0.0]) for a in human.agents})
    out = capsys.readouterr().out
    assert "k=  1" in out and "S=" in out
    assert parallel_env(preset="power-2").render() is None


def test_state_is_markov_state():
    env = parallel_env(preset="power-2")
    env.reset(seed=0)
    env.step({a: np.array([1.0]) for a in env.agents})
    state = env.state()
    assert state.shape == env.state_space.shape == (5,)
    m = env.view.market.state
    np.testing.assert_allclose(state[1:], [m.W[0], m.S[0], *m.phi[0].tolist()], rtol=1e-6)
