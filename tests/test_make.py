"""market_env.make: every interface through one factory, one set of option defaults, and the
errors that name what is allowed (DESIGN.md floor 3)."""

import subprocess
import sys
from dataclasses import fields

import gymnasium
import numpy as np
import pytest
import torch

import market_env
from market_env import ENV_ID, EnvOptions, MarketSB3VecEnv, MarketVectorEnv, get_preset, make
from market_env.envs.gym import FrictionalMarketEnv
from market_env.envs.options import INTERFACE_OPTIONS, INTERFACES
from market_env.envs.pettingzoo import MarketParallelEnv
from market_env.observation import default_max_rate


@pytest.mark.parametrize(
    "interface, cls",
    [
        ("parallel", MarketParallelEnv),
        ("gym", FrictionalMarketEnv),
        ("vector", MarketVectorEnv),
        ("sb3", MarketSB3VecEnv),
    ],
)
def test_each_interface_through_make_steps(interface, cls):
    env = make("power-2", interface, seed=0)
    assert isinstance(env, cls)
    if interface == "parallel":
        obs, _ = env.reset(seed=0)
        _, rewards, *_ = env.step({a: np.zeros(1) for a in env.agents})
        assert set(rewards) == {"trader_0", "trader_1"}
    elif interface == "gym":
        obs, _ = env.reset(seed=0)
        _, reward, terminated, truncated, _ = env.step(np.zeros(1, dtype=np.float32))
        assert obs.shape == (9,) and np.isfinite(reward) and not truncated
    elif interface == "vector":
        obs, _ = env.reset(seed=0)
        _, reward, *_ = env.step(np.zeros((1, 1), dtype=np.float32))
        assert obs.shape == (1, 9) and reward.shape == (1,)
    else:
        obs = env.reset()
        env.step_async(np.zeros((1, 1), dtype=np.float32))
        _, reward, dones, infos = env.step_wait()
        assert obs.shape == (1, 9) and reward.dtype == np.float32 and len(infos) == 1


def test_num_paths_and_shared_layout():
    venv = make("power-2", "vector", num_paths=8, agent="shared")
    assert venv.num_envs == 16 and venv.n_paths == 8
    sb3 = make("power-2", "sb3", num_paths=3, agent=1)
    assert sb3.num_envs == 3 and sb3.market.batch_size == 3
    with pytest.raises(ValueError, match="num_paths must be 1"):
        make("power-2", "gym", num_paths=4)
    with pytest.raises(ValueError, match="num_paths must be an integer >= 1, got 0"):
        make("power-2", "vector", num_paths=0)


def test_make_accepts_a_config_and_an_options_object():
    config = get_preset("power-2").with_(n_steps=5)
    opts = EnvOptions(dtype="float64", seed=3, clearing="residual")
    env = make(config, "vector", num_paths=2, options=opts, agent=1)
    assert env.config is config and env.options.agent == 1
    market = env.view.market
    assert market.dtype == torch.float64 and env.options.clearing == "residual"


def test_unknown_interface_and_option_list_what_is_allowed():
    with pytest.raises(ValueError, match=r"interface must be one of \['parallel', 'gym'"):
        make("power-2", "rllib")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['speed'\].*allowed: \["):
        make("power-2", "gym", speed=3)
    with pytest.raises(ValueError, match="unknown option"):
        market_env.parallel_env(preset="power-2", agent=1)  # PettingZoo: every trader acts
    with pytest.raises(ValueError, match="option 'others' does not apply to interface 'parallel'"):
        MarketParallelEnv(get_preset("power-2"), EnvOptions(others="zero"))
    with pytest.raises(ValueError, match="render_mode must be None or one of \\['rgb_array'\\]"):
        make("power-2", "vector", render_mode="human")


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("dtype", "float16", r"dtype must be one of \['float32', 'float64'\]"),
        (
            "clearing",
            "magic",
            r"clearing must be one of \['none', 'project', 'residual'\], got 'magic'",
        ),
        ("max_rate", -1.0, "max_rate must be None or a finite number > 0, got -1.0"),
        ("clip_actions", "yes", "clip_actions must be True or False"),
        ("seed", -2, "seed must be None or an integer >= 0, got -2"),
        ("autoreset_mode", "never", r"autoreset_mode must be one of \['next_step'"),
        ("render_mode", "video", "render_mode must be None, 'rgb_array' or 'human'"),
    ],
)
def test_bad_option_values_name_option_value_and_allowed(option, value, message):
    with pytest.raises(ValueError, match=message):
        make("power-2", "vector", **{option: value})


def test_all_interfaces_share_the_same_defaults():
    defaults = EnvOptions()
    assert defaults.dtype == "float32" and defaults.seed is None and defaults.device == "cpu"
    assert defaults.clearing == "project" and defaults.clip_actions is True
    config = get_preset("power-2")
    envs = {i: make("power-2", i) for i in INTERFACES}
    for interface, env in envs.items():
        view = env.view
        assert view.market.dtype == torch.float32, interface
        assert view.max_rate == pytest.approx(default_max_rate(config)), interface
        assert view.clip_actions is True, interface
        assert view.market.device == torch.device("cpu"), interface
        options = view.options
        for f in fields(EnvOptions):
            if f.name != "autoreset_mode":  # the SB3 adapter needs "same_step"
                assert getattr(options, f.name) == getattr(defaults, f.name), (interface, f.name)
    # one learner against the others faces the equilibrium; when every trader learns, clearing
    gym_price = envs["gym"].view.market.price
    assert type(envs["gym"].others_solution).__name__ == "LeadingOrderSolution"
    assert gym_price.volatility is not None  # the leading-order σ, not the plain clearing α
    assert gym_price.S0 == pytest.approx(envs["gym"].others_solution.price().S0)
    for plain in (envs["parallel"], make("power-2", "vector", agent="shared")):
        price = plain.view.market.price
        assert type(price).__name__ == "ClearingDrift" and price.volatility is None
    # gymnasium.make / make_vec go through the same options
    gym_env = gymnasium.make(ENV_ID, preset="power-2").unwrapped
    assert gym_env.options == envs["gym"].options
    assert gymnasium.make_vec(ENV_ID, num_envs=1, preset="power-2").options == defaults


def test_every_option_is_documented_in_make():
    doc = make.__doc__
    for f in fields(EnvOptions):
        assert f"``{f.name}``" in doc, f.name
    for interface in INTERFACES:
        assert f'``"{interface}"``' in doc
    assert set().union(*INTERFACE_OPTIONS.values()) == {f.name for f in fields(EnvOptions)}


def test_market_maker_learns_in_the_vector_env_as_in_pettingzoo():
    """agent="market" (vector/SB3) and price="market" (PettingZoo) share the view and the
    MarketMaker component: the same actions give the same prices and market rewards."""
    config = get_preset("power-2").with_(n_steps=6)
    venv = make(config, "vector", num_paths=1, agent="market", others="zero", dtype="float64")
    assert venv.single_action_space.shape == (3,)
    assert venv.single_observation_space.shape == (config.n_agents + 3,)
    pz = make(config, "parallel", price="market", dtype="float64")
    venv.reset(seed=5)
    pz.reset(seed=5)
    action = np.array([0.3, 0.1, 0.6])
    for _ in range(config.n_steps):
        obs_v, rew_v, term, _, info = venv.step(action[None])
        obs_p, rew_p, *_ = pz.step({"trader_0": 0.0, "trader_1": 0.0, "market": action})
        np.testing.assert_allclose(rew_v[0], rew_p["market"], rtol=1e-12)
        np.testing.assert_allclose(obs_v[0], obs_p["market"], rtol=1e-6)
    assert term.all()
    assert float(venv.view.market.S0.reshape(-1)[0]) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="agent='market' sets the price itself"):
        make(config, "vector", agent="market", price="clearing")
    with pytest.raises(ValueError, match="price='market' needs the market maker to act"):
        make(config, "vector", price="market")


def test_market_maker_sb3_env_trains():
    from stable_baselines3 import PPO

    venv = make(get_preset("power-2").with_(n_steps=4), "sb3", num_paths=2, agent="market", seed=0)
    assert venv.observation_space.shape == (5,) and venv.action_space.shape == (3,)
    model = PPO("MlpPolicy", venv, n_steps=8, batch_size=16, n_epochs=1, seed=0, device="cpu")
    model.learn(32)
    assert model.num_timesteps >= 32


def test_import_market_env_loads_no_torch_and_registers_idempotently():
    code = (
        "import sys, market_env, market_env.config, gymnasium\n"
        "market_env.register_envs(); market_env.register_envs()\n"
        "spec = gymnasium.spec('market_env/FrictionalMarket-v0')\n"
        "print(spec.entry_point, spec.vector_entry_point)\n"
        "print(sorted(m for m in ('torch', 'pettingzoo', 'stable_baselines3') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split("\n")
    assert (
        out[0] == "market_env.envs.gym:FrictionalMarketEnv market_env.envs.vector:MarketVectorEnv"
    )
    assert out[1] == "[]"
    assert "make" in dir(market_env) and "make" in market_env.__all__
    assert callable(market_env.rollout)  # the function, though market_env.rollout is a module
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        market_env.nope  # noqa: B018
