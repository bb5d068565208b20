"""SB3 independent learners (MODEL.md §2, §9): each flavour trains, gives an evaluable and persistent
Solution, reproduces with its seed, and plays exactly what it learned in the environments."""

import json

import numpy as np
import pytest
import torch

from market_env import MarketConfig, MarketSB3VecEnv
from solvers import evaluate, load_solution, simulate
from solvers.cli import main
from solvers.rl import LearnerSolution, MarketAgentVecEnv, ScaledTraderVecEnv, train_learners

# Two agents, quadratic costs, K = 10: a few hundred SB3 steps take well under a second.
CONFIG = MarketConfig(
    gamma=(1.0, 2.0), xi=(3.0, -3.0), lam=1e-2, cost_power=2.0, horizon=0.2, n_steps=10
)
SAC_FAST = {"batch_size": 64, "gradient_steps": 1, "learning_starts": 40}
FLAVOURS = {
    "ppo-shared": dict(timesteps=400, n_paths=4),
    "ppo-ibr": dict(timesteps=400, n_paths=4, rounds=2),
    "sac-shared": dict(timesteps=300, n_paths=2, algo_kwargs=SAC_FAST),
    "market-game": dict(timesteps=400, n_paths=4, rounds=2),
}


def _train(method, seed=0):
    return train_learners(CONFIG, method, seed=seed, device="cpu", **FLAVOURS[method])


@pytest.fixture(scope="module")
def trained():
    return {method: _train(method) for method in FLAVOURS}


def _finite_metrics(m):
    for key in ("S0", "mu0", "sigma0", "utility_sum", "clearing_error", "terminal_error"):
        assert np.isfinite(m[key]), key
    assert all(np.isfinite(m["utility_per_agent"]))


@pytest.mark.parametrize("method", list(FLAVOURS))
def test_learner_gives_an_evaluable_solution_that_round_trips(trained, method, tmp_path):
    sol = trained[method]
    assert isinstance(sol, LearnerSolution) and sol.label == method
    assert sol.training["timesteps"] >= FLAVOURS[method]["timesteps"]
    m = evaluate(sol, n_paths=64, seed=3)
    _finite_metrics(m)
    assert m["solution"] == method
    sol.save(tmp_path / method)
    state = torch.load(tmp_path / method / "weights.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    loaded = load_solution(tmp_path / method)
    assert isinstance(loaded, LearnerSolution)
    m2 = evaluate(loaded, n_paths=64, seed=3)
    for key in ("S0", "mu0", "sigma0", "utility_sum", "clearing_error", "terminal_error"):
        assert m2[key] == m[key], key


def test_ibr_has_one_model_per_trader_and_market_game_a_market_model(trained):
    assert len(trained["ppo-ibr"].trader_policies) == CONFIG.n_agents
    assert len(trained["ppo-shared"].trader_policies) == 1
    game = trained["market-game"]
    assert game.market_policy is not None
    assert any(k.startswith("market.") for k in game.state_dict())
    # the clearing-drift learners estimate their own S_0 (control variate, MODEL.md §2)
    assert trained["ppo-shared"].training["S0_calibration"]["paths"] == 2000


@pytest.mark.parametrize("method", ["ppo-shared", "sac-shared", "ppo-ibr"])
def test_same_seed_same_result(trained, method):
    again = _train(method, seed=0)
    a, b = trained[method].state_dict(), again.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (
        evaluate(again, n_paths=32)["utility_sum"]
        == evaluate(trained[method], n_paths=32)["utility_sum"]
    )
    other = _train(method, seed=1).state_dict()
    assert any(not torch.equal(a[k], other[k]) for k in a)


def test_policy_is_what_the_shared_learner_plays_in_its_env(trained):
    """The Solution builds the env's observations: playing the SB3 network in the scaled
    MarketSB3VecEnv gives exactly the utilities of evaluate() on the same seed."""
    sol = trained["ppo-shared"]
    B, N = 5, CONFIG.n_agents
    venv = ScaledTraderVecEnv(
        MarketSB3VecEnv(
            num_envs=B * N, config=CONFIG, agent="shared", price=sol.price(), dtype=torch.float64
        ),
        sol.scaling,
    )
    venv.seed(7)
    obs = venv.reset()
    total = np.zeros(B * N)
    for _ in range(CONFIG.n_steps):
        with torch.no_grad():
            a = sol.trader_policies[0]._predict(torch.as_tensor(obs), deterministic=True)
        obs, rew, _, _ = venv.step(a.numpy())
        total += rew / sol.scaling.reward_scale
    traj = simulate(sol, B, seed=7)
    np.testing.assert_allclose(
        total.reshape(B, N), traj.reward.sum(1).numpy(), rtol=1e-4, atol=1e-6
    )


def test_market_agent_price_replays_the_market_env(trained):
    """The market game's price is the market agent's deterministic play in its VecEnv."""
    sol = trained["market-game"]
    B, K = 3, CONFIG.n_steps
    env = MarketAgentVecEnv(CONFIG, B, sol.agent_policies()[0], sol.scaling, dtype=torch.float64)
    env.seed(11)
    obs = env.reset()
    S = []
    for _ in range(K - 1):  # the last step auto-resets the env
        with torch.no_grad():
            a = sol.market_policy._predict(torch.as_tensor(obs), deterministic=True)
        obs, _, dones, _ = env.step(a.numpy())
        assert not dones.any()
        S.append(env.view.market.state.S.numpy().copy())
    traj = simulate(sol, B, seed=11)
    np.testing.assert_allclose(np.stack(S, 1), traj.S[:, 1:K].numpy(), rtol=1e-6, atol=1e-9)
    assert float(traj.S0) == pytest.approx(sol.S0)


def test_bad_learner_input_is_rejected():
    with pytest.raises(ValueError, match="method must be one of"):
        train_learners(CONFIG, "dqn-shared")
    with pytest.raises(ValueError, match="algo must be one of"):
        train_learners(CONFIG, algo="dqn")
    with pytest.raises(ValueError, match="flavour must be one of"):
        train_learners(CONFIG, flavour="everyone")
    with pytest.raises(ValueError, match="needs flavour='shared'"):
        train_learners(CONFIG, flavour="ibr", price="market")
    with pytest.raises(ValueError, match="timesteps"):
        train_learners(CONFIG, "ppo-shared", timesteps=0)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"clearing": "sometimes"}, r"clearing must be one of \['none', 'project', 'residual'\]"),
        ({"policy_kwargs": {"activation_fn": "sigmoid"}}, "activation_fn must be one of"),
        ({"calibration_paths": 0}, "calibration_paths must be >= 1, got 0"),
        ({"market_fraction": 1.0}, r"market_fraction must be in \(0, 1\), got 1.0"),
        ({"rounds": 0}, "rounds must be >= 1, got 0"),
        ({"n_paths": 0}, "n_paths must be >= 1, got 0"),
        ({"device": "gpu"}, "device must be 'auto', 'cpu'"),
        ({"algo": "dqn"}, r"algo must be one of \['ppo', 'a2c', 'sac', 'td3'\], got 'dqn'"),
    ],
)
def test_a_bad_option_fails_before_any_training(monkeypatch, options, message):
    """One check of the whole request (resolve_plan): no flavour is ever started."""
    from solvers.rl import learners

    def must_not_train(plan, scaling):
        raise AssertionError("training started")

    for key in learners.TRAINERS:
        monkeypatch.setitem(learners.TRAINERS, key, must_not_train)
    with pytest.raises(ValueError, match=message):
        train_learners(CONFIG, "ppo-ibr", **options)


def test_unknown_option_is_named():
    with pytest.raises(TypeError, match=r"unknown options \['timestep'\]"):
        train_learners(CONFIG, "ppo-shared", timestep=10)


def test_plan_fills_defaults_and_every_method_has_a_trainer():
    from solvers.rl import METHODS, LearnerMethod, resolve_plan
    from solvers.rl.learners import TRAINERS

    plan = resolve_plan(CONFIG, "sac-ibr", device="cpu")
    assert (plan.method, plan.name) == (LearnerMethod("sac", "ibr", "clearing"), "sac-ibr")
    assert (plan.n_paths, plan.rounds, plan.trader_num_envs) == (16, 3, 16)
    plan = resolve_plan(CONFIG, algo="a2c", price="market", device="cpu")
    assert plan.name == "a2c-market-game" and plan.rounds == 4 and plan.uses_rounds
    assert plan.n_paths == 160 and plan.trader_num_envs == 320
    assert {(m.flavour, m.price) for m in METHODS.values()} <= set(TRAINERS)
    assert plan.algo_kwargs_for(8)["n_steps"] == CONFIG.n_steps


def test_saved_kind_loads_the_learner_class(trained):
    from solvers.loading import kind_class

    assert kind_class("sb3-learners") is LearnerSolution
    with pytest.raises(ValueError, match="calibrate_S0 is for price='clearing'"):
        trained["market-game"].calibrate_S0(8, seed=0)


def test_compare_cli_quick_json(tmp_path, capsys):
    path = tmp_path / "market.json"
    CONFIG.save(path)
    args = [
        "compare",
        "--config",
        str(path),
        "--quick",
        "--json",
        "--paths",
        "64",
        "--methods",
        "benchmark,ppo-shared",
        "--out",
        str(tmp_path / "out"),
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["method"]: r for r in out["rows"]}
    assert set(rows) == {"benchmark", "ppo-shared"}
    for r in rows.values():
        for key in (
            "utility_sum",
            "clearing_error",
            "terminal_error",
            "S0",
            "mu0",
            "sigma0",
            "sigma_path_rel_err",
            "mu_path_rel_err",
            "rate_path_rel_err",
            "exploit_max_gain",
            "exploit_max_relative_gain",
            "train_seconds",
        ):
            assert key in r and r[key] is not None, key
    assert rows["benchmark"]["sigma_path_rel_err"] == 0.0
    assert (tmp_path / "out" / "compare.md").is_file()
    assert (tmp_path / "out" / "ppo-shared.png").is_file()


def test_compare_cli_rejects_unknown_method(tmp_path, capsys):
    path = tmp_path / "market.json"
    CONFIG.save(path)
    assert main(["compare", "--config", str(path), "--quick", "--methods", "ppo-magic"]) == 2
    err = capsys.readouterr().err
    assert "unknown method" in err and "ppo-shared" in err


def test_saved_learner_evaluates_from_a_fresh_process(trained, tmp_path):
    """`market-eq evaluate --solution DIR` loads the learners' kind without importing SB3 first."""
    import subprocess
    import sys

    trained["ppo-shared"].save(tmp_path / "sol")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "solvers.cli",
            "evaluate",
            "--solution",
            str(tmp_path / "sol"),
            "--paths",
            "64",
            "--seed",
            "3",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    metrics = json.loads(out.stdout)
    assert metrics["solution"] == "ppo-shared"
    assert metrics["utility_sum"] == pytest.approx(
        evaluate(trained["ppo-shared"], n_paths=64, seed=3)["utility_sum"], rel=1e-12
    )


def test_compare_skips_a_solver_that_cannot_be_imported(monkeypatch):
    import sys

    from solvers.compare import CompareBudgets, format_markdown, run_comparison

    monkeypatch.setitem(sys.modules, "solvers.neural", None)  # as if not importable
    result = run_comparison(
        CONFIG, ["benchmark", "reinforced-gan"], budgets=CompareBudgets.quick(n_paths=32)
    )
    rows = {r["method"]: r for r in result["rows"]}
    assert rows["reinforced-gan"]["note"].startswith("skipped: solver not importable")
    assert rows["benchmark"]["terminal_error"] < 1e-3
    assert "skipped" in format_markdown(result)
