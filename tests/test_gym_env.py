"""Gymnasium single-agent env and VectorEnv (DESIGN.md)."""

import warnings

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import market_env
from market_env import ENV_ID, MarketVectorEnv, get_preset, solution_agent_policy
from market_env.envs.gym import FrictionalMarketEnv
from solvers import RiccatiSolution, evaluate


@pytest.fixture(scope="module")
def riccati():
    return RiccatiSolution(get_preset("quadratic-10"))


def test_registered_on_import():
    assert ENV_ID == "market_env/FrictionalMarket-v0"
    assert ENV_ID in gymnasium.registry
    spec = gymnasium.spec(ENV_ID)
    assert spec.vector_entry_point == "market_env.envs.vector:MarketVectorEnv"
    market_env.register_envs()  # idempotent


@pytest.mark.parametrize("preset", ["power-2", "quadratic-10"])
def test_gymnasium_check_env(preset):
    env = gymnasium.make(ENV_ID, preset=preset, agent=1)
    assert isinstance(env.unwrapped, FrictionalMarketEnv)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Only a recommendation: our action is the trading rate itself (documented bounds).
        warnings.filterwarnings("ignore", message=".*symmetric and normalized space")
        # W, S and holdings are unbounded, so their bounds are ±inf on purpose.
        warnings.filterwarnings("ignore", message=".*infinity")
        check_env(env.unwrapped, skip_render_check=True)


def test_sb3_check_env():
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gymnasium.make(ENV_ID, preset="power-2")
    with warnings.catch_warnings():
        # SB3 only recommends a [-1, 1] action box; our action is the rate itself.
        warnings.filterwarnings("ignore", message=".*symmetric and normalized Box action")
        warnings.filterwarnings("ignore", message=".*unconventional shape")
        sb3_check_env(env.unwrapped, warn=True)


def test_default_others_are_the_equilibrium(riccati):
    env = gymnasium.make(ENV_ID, preset="quadratic-10").unwrapped
    # the exact equilibrium of the K-step market the env steps (MODEL.md §2, §4), which is
    # within O(Δt) of the continuous-time Riccati S_0 = 0.361079 of MODEL.md §4
    assert type(env.others_solution).__name__ == "DiscreteRiccatiSolution"
    assert env.view.market.price.S0 == pytest.approx(riccati.S0, abs=5e-5)
    assert env.view.market.price.S0 != pytest.approx(riccati.S0, abs=1e-9)
    env2 = gymnasium.make(ENV_ID, preset="power-10").unwrapped
    assert type(env2.others_solution).__name__ == "FrictionlessSolution"
    env3 = gymnasium.make(ENV_ID, preset="power-2").unwrapped
    assert type(env3.others_solution).__name__ == "LeadingOrderSolution"


@pytest.mark.parametrize("agent", [0, "trader_6"])
def test_equilibrium_through_gym_matches_evaluate(riccati, agent):
    env = gymnasium.make(
        ENV_ID, preset="quadratic-10", agent=agent, others=riccati, dtype="float64"
    )
    n = env.unwrapped.agent
    policy = solution_agent_policy(riccati)
    obs, _ = env.reset(seed=4)
    total, S, terminated, steps = 0.0, [], False, 0
    while not terminated:
        rate = policy(torch.as_tensor(obs)).reshape(1).numpy()
        obs, reward, terminated, truncated, info = env.step(rate)
        assert not truncated
        total += reward
        S.append(info["S"])
        steps += 1
    assert steps == 100
    metrics, traj = evaluate(riccati, n_paths=1, seed=4, return_trajectory=True)
    assert total == pytest.approx(metrics["utility_per_agent"][n], rel=1e-6)
    np.testing.assert_allclose(S, traj.S[0, 1:].numpy(), atol=1e-8)
    with pytest.raises(RuntimeError, match="episode is over"):
        env.step(np.zeros(1, dtype=np.float32))


def test_gym_bad_inputs():
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        gymnasium.make(ENV_ID, preset="nope")
    with pytest.raises(ValueError, match="unknown agent 12"):
        gymnasium.make(ENV_ID, preset="quadratic-10", agent=12)
    with pytest.raises(ValueError, match="agent must be an index"):
        gymnasium.make(ENV_ID, preset="quadratic-10", agent="market")
    with pytest.raises(ValueError, match="others must be one of"):
        gymnasium.make(ENV_ID, preset="power-2", others="random")
    with pytest.raises(ValueError, match="price='market'"):
        gymnasium.make(ENV_ID, preset="power-2", price="market")
    env = FrictionalMarketEnv(preset="power-2", seed=0)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(1))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"trader_0 must have shape \(1,\)"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="trader_0 must be finite, got nan"):
        env.step(np.array([np.nan]))
    with pytest.raises(ValueError, match="trader_0 must be finite, got -inf"):
        env.step(np.array([-np.inf]))


def test_gym_render_rgb_array():
    env = gymnasium.make(ENV_ID, preset="power-2", render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    img = env.render()
    assert img.ndim == 3 and img.shape[-1] == 3


# ----- VectorEnv ----------------------------------------------------------------------------
def test_make_vec_returns_batched_env():
    envs = gymnasium.make_vec(ENV_ID, num_envs=8, preset="power-2", agent=1)
    assert isinstance(envs, MarketVectorEnv)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (8, 9) and obs.dtype == np.float32
    assert envs.single_action_space.shape == (1,)
    obs, rew, term, trunc, info = envs.step(np.zeros((8, 1), dtype=np.float32))
    assert rew.shape == term.shape == trunc.shape == (8,)
    assert info["mu"].shape == (8,)
    shared = gymnasium.make_vec(ENV_ID, num_envs=3 * 10, preset="quadratic-10", agent="shared")
    obs, _ = shared.reset(seed=0)
    assert obs.shape == (30, 25)
    # sub-environment b·N + n is trader n on path b
    assert obs[13, 15 + 3] == 1.0 and obs[13, 13] == pytest.approx(1.3)


def test_vector_env_equilibrium_matches_evaluate(riccati):
    B, seed = 6, 9
    policy = solution_agent_policy(riccati)
    metrics, traj = evaluate(riccati, n_paths=B, seed=seed, return_trajectory=True)
    utility = traj.reward.sum(1).numpy()  # (B, N)
    # one learning agent, B paths
    envs = gymnasium.make_vec(
        ENV_ID, num_envs=B, preset="quadratic-10", agent=2, others=riccati, dtype=torch.float64
    )
    obs, _ = envs.reset(seed=seed)
    total = np.zeros(B)
    for _ in range(100):
        rates = policy(torch.as_tensor(obs)).numpy().reshape(B, 1)
        obs, rew, term, trunc, info = envs.step(rates)
        total += rew
    assert term.all()
    np.testing.assert_allclose(total, utility[:, 2], rtol=1e-6)
    np.testing.assert_allclose(info["S"], traj.S[:, -1].numpy(), atol=1e-8)
    # parameter-shared, B×N
    shared = MarketVectorEnv(
        B * 10, preset="quadratic-10", agent="shared", price=riccati, dtype=torch.float64
    )
    obs, _ = shared.reset(seed=seed)
    total = np.zeros(B * 10)
    for _ in range(100):
        rates = policy(torch.as_tensor(obs)).numpy().reshape(-1, 1)
        obs, rew, term, trunc, info = shared.step(rates)
        total += rew
    np.testing.assert_allclose(total.reshape(B, 10), utility, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("mode", ["next_step", "same_step"])
def test_vector_autoreset(mode):
    envs = MarketVectorEnv(4, preset="power-2", agent=0, autoreset_mode=mode, seed=0)
    obs0, _ = envs.reset(seed=0)
    a = np.zeros((4, 1), dtype=np.float32)
    for _ in range(99):
        obs, rew, term, trunc, info = envs.step(a)
        assert not term.any()
    obs, rew, term, trunc, info = envs.step(a)
    assert term.all() and not trunc.any()
    if mode == "same_step":
        assert info["final_obs"].shape == (4, 9)
        assert info["final_obs"][0, 0] == pytest.approx(0.4)  # t = T
        assert obs[0, 0] == 0.0 and obs[0, 1] == 0.0  # already reset
    else:
        assert obs[0, 0] == pytest.approx(0.4)
        obs, rew, term, trunc, info = envs.step(a)  # the reset step
        assert (rew == 0).all() and not term.any() and obs[0, 0] == 0.0
    obs, *_ = envs.step(a)
    assert not np.allclose(obs[:, 1], 0.0)  # a fresh path is running


def test_vector_render_rgb_array():
    envs = MarketVectorEnv(4, preset="power-2", render_mode="rgb_array")
    envs.reset(seed=0)
    envs.step(np.zeros((4, 1), dtype=np.float32))
    img = envs.render()
    assert img.ndim == 3 and img.shape[-1] == 3


def test_vector_bad_inputs():
    with pytest.raises(ValueError, match="multiple of N = 10"):
        MarketVectorEnv(25, preset="quadratic-10", agent="shared")
    with pytest.raises(ValueError, match="unknown agent 3"):
        MarketVectorEnv(4, preset="power-2", agent=3)
    with pytest.raises(ValueError, match="autoreset_mode"):
        MarketVectorEnv(4, preset="power-2", autoreset_mode="never")
    envs = MarketVectorEnv(4, preset="power-2", agent="shared")
    with pytest.raises(RuntimeError, match="reset"):
        envs.step(np.zeros((4, 1)))
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(4, 1\)"):
        envs.step(np.zeros((3, 1)))
    bad = np.zeros((4, 1))
    bad[3] = np.nan
    with pytest.raises(ValueError, match="trader_1 must be finite, got nan"):
        envs.step(bad)
    nan_others = MarketVectorEnv(
        4, preset="power-2", agent=0, others=lambda obs: torch.full(obs.shape[:-1], np.nan)
    )
    nan_others.reset(seed=0)
    with pytest.raises(ValueError, match="others' policy returned non-finite"):
        nan_others.step(np.zeros((4, 1)))
