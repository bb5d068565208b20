"""The custom-agent policy protocol: torch callables obs -> rates (DESIGN.md)."""

import numpy as np
import pytest
import torch

from market_env import (
    BatchedMarket,
    as_state_policy,
    parallel_env,
    rollout,
    sb3_agent_policy,
    solution_agent_policy,
)
from solvers import PolicySolution, RiccatiSolution, evaluate


def make_net(n_agents, dtype=torch.float64):
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(2 * n_agents + 5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)
    ).to(dtype)


def test_shared_network_in_rollout(power2):
    net = make_net(2)
    market = BatchedMarket(power2, 32, dtype=torch.float64, seed=0)
    traj = rollout(market, as_state_policy(net, power2))
    assert traj.orders.shape == (32, 100, 2)
    # every agent's order is the network on its own observation
    obs0 = torch.tensor([0.0, 0.0, float(traj.S0), *power2.phi0, 2.0, -3.0, 0.0, 1.0])
    with torch.no_grad():
        assert traj.orders[0, 0, 1].item() == pytest.approx(net(obs0.double()).item())


def test_per_agent_policies_and_gradients(power2):
    nets = [make_net(2), make_net(2)]
    market = BatchedMarket(power2, 8, dtype=torch.float64, seed=0)
    traj = rollout(market, as_state_policy(nets, power2))
    loss = -traj.reward.sum(1).mean()
    loss.backward()  # differentiable through the market
    assert nets[0][0].weight.grad is not None


def test_bad_policy_output(power2):
    market = BatchedMarket(power2, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="shape"):
        rollout(market, as_state_policy(lambda obs: obs[..., :2], power2))
    with pytest.raises(ValueError, match="one per agent"):
        rollout(market, as_state_policy([make_net(2)], power2))


def test_evaluate_accepts_custom_policy_and_matches_solution(quad10):
    truth = RiccatiSolution(quad10)
    custom = PolicySolution(quad10, solution_agent_policy(truth), price=truth)
    a = evaluate(truth, n_paths=200, seed=2)
    b = evaluate(custom, n_paths=200, seed=2)
    assert b["utility_per_agent"] == pytest.approx(a["utility_per_agent"], rel=1e-10)
    assert b["S0"] == pytest.approx(a["S0"])
    assert b["sigma0"] == pytest.approx(a["sigma0"])
    net_metrics = evaluate(PolicySolution(quad10, make_net(10)), n_paths=50, seed=0)
    assert np.isfinite(net_metrics["utility_sum"])


def test_custom_policy_through_pettingzoo_matches_evaluate(power2):
    net = make_net(2, torch.float32)
    env = parallel_env(config=power2, price="clearing")
    obs, _ = env.reset(seed=8)
    total = np.zeros(2)
    while env.agents:
        o = torch.as_tensor(np.stack([obs[a] for a in env.traders]))
        with torch.no_grad():
            r = net(o)[:, 0]
        obs, rew, *_ = env.step({a: r[n : n + 1].numpy() for n, a in enumerate(env.traders)})
        total += [rew[a] for a in env.traders]
    metrics = evaluate(PolicySolution(power2, net, dtype=torch.float32), n_paths=1, seed=8)
    np.testing.assert_allclose(total, metrics["utility_per_agent"], rtol=1e-4)


def test_sb3_model_as_agent_policy():
    from stable_baselines3 import PPO

    from market_env import MarketSB3VecEnv

    venv = MarketSB3VecEnv(num_envs=4, preset="power-2", agent="shared", seed=0)
    model = PPO("MlpPolicy", venv, n_steps=8, batch_size=32, n_epochs=1, seed=0, device="cpu")
    obs = venv.reset()
    expected, _ = model.predict(obs, deterministic=True)
    got = sb3_agent_policy(model)(torch.as_tensor(obs))
    np.testing.assert_allclose(got.numpy(), expected[:, 0], rtol=1e-6)
    # and as `others` in the single-agent env
    import gymnasium

    env = gymnasium.make("market_env/FrictionalMarket-v0", preset="power-2", others=model)
    env.reset(seed=0)
    env.step(np.zeros(1, dtype=np.float32))
