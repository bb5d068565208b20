"""Stable-Baselines3 VecEnv adapter (DESIGN.md)."""

import gymnasium
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecMonitor

from market_env import ENV_ID, MarketSB3VecEnv, MarketVectorEnv, get_preset, solution_agent_policy
from solvers import RiccatiSolution, evaluate


def test_sb3_auto_reset_semantics():
    venv = MarketSB3VecEnv(num_envs=3 * 2, preset="power-2", agent="shared")
    venv.seed(5)
    obs = venv.reset()
    assert obs.shape == (6, 9)
    actions = np.zeros((6, 1), dtype=np.float32)
    for _ in range(99):
        venv.step_async(actions)
        obs, rew, dones, infos = venv.step_wait()
        assert not dones.any() and len(infos) == 6 and infos[0] == {}
    obs, rew, dones, infos = venv.step(actions)
    assert dones.all() and rew.dtype == np.float32
    final = np.stack([info["terminal_observation"] for info in infos])
    assert final[:, 0] == pytest.approx(0.4)  # t = T in the final observations
    assert (obs[:, 0] == 0.0).all()  # the returned observations start the next episode
    assert infos[0]["TimeLimit.truncated"] is False


def test_sb3_seed_reproduces_paths():
    def first_steps(seed):
        venv = MarketSB3VecEnv(num_envs=4, preset="power-2", agent=0)
        venv.seed(seed)
        venv.reset()
        return venv.step(np.ones((4, 1), dtype=np.float32))[0]

    np.testing.assert_array_equal(first_steps(1), first_steps(1))
    assert not np.array_equal(first_steps(1), first_steps(2))


def test_sb3_adapter_equilibrium_matches_evaluate():
    sol = RiccatiSolution(get_preset("quadratic-10"))
    policy = solution_agent_policy(sol)
    B = 4
    venv = MarketSB3VecEnv(
        num_envs=B * 10, preset="quadratic-10", agent="shared", price=sol, dtype=torch.float64
    )
    venv.seed(21)
    obs = venv.reset()
    total = np.zeros(B * 10)
    for _ in range(100):
        rates = policy(torch.as_tensor(obs)).numpy().reshape(-1, 1)
        obs, rew, dones, infos = venv.step(rates)
        total += rew
    metrics, traj = evaluate(sol, n_paths=B, seed=21, return_trajectory=True)
    np.testing.assert_allclose(total.reshape(B, 10), traj.reward.sum(1).numpy(), rtol=1e-5)


def test_adapter_needs_same_step_vector_env():
    with pytest.raises(ValueError, match="same_step"):
        MarketSB3VecEnv(MarketVectorEnv(4, preset="power-2"))
    with pytest.raises(ValueError, match="not both"):
        MarketSB3VecEnv(MarketVectorEnv(4, preset="power-2"), preset="power-2")


@pytest.mark.parametrize("agent", [0, "shared"])
def test_ppo_runs_on_each_sb3_adapter(agent):
    num_envs = 4 if agent == 0 else 4 * 2
    venv = VecMonitor(MarketSB3VecEnv(num_envs=num_envs, preset="power-2", agent=agent, seed=0))
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=num_envs * 128)  # crosses an episode end (K = 100)
    assert model.num_timesteps >= num_envs * 128
    assert len(model.ep_info_buffer) > 0


def test_ppo_on_gymnasium_make():
    env = gymnasium.make(ENV_ID, preset="power-2", agent=1)
    model = PPO("MlpPolicy", env, n_steps=128, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=256)
    action, _ = model.predict(env.reset(seed=0)[0], deterministic=True)
    assert action.shape == (1,)
