"""RLlib learners (``backend="rllib"``, MODEL.md §2): one PPO iteration over the batched
``VectorEnv`` in 2 remote env runners gives an evaluable, persistent solution that plays what
RLlib played; remote workers make the env through the documented id; bad combinations fail
before Ray starts."""

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")
pytest.importorskip("ray.rllib")

from market_env import MarketConfig  # noqa: E402
from market_env.metrics import utility_per_path  # noqa: E402
from market_env.registration import ENV_ID, ENV_ID_FOR_WORKERS  # noqa: E402
from solvers import evaluate, load_solution, simulate  # noqa: E402
from solvers.exploitability import exploitability  # noqa: E402
from solvers.rl import RLlibLearnerSolution, RLScaling, resolve_plan, train_learners  # noqa: E402

# Two agents, quadratic costs, K = 10: an iteration is 2 runners × 4 paths × 2 agents × 10.
CONFIG = MarketConfig(
    gamma=(1.0, 2.0), xi=(3.0, -3.0), lam=1e-2, cost_power=2.0, horizon=0.2, n_steps=10
)
TINY = dict(
    backend="rllib",
    num_env_runners=2,
    n_paths=4,
    timesteps=100,
    seed=0,
    device="cpu",
    calibration_paths=64,
    policy_kwargs={"net_arch": [8, 8], "activation_fn": "tanh", "log_std_init": -1.0},
)


@pytest.fixture(scope="module")
def local_ray():
    # logical CPU slots: the kept-open run's 2 runners, train_learners' 2 and one task
    ray.init(
        num_cpus=6,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}},
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def run(local_ray):
    """One PPO iteration with 2 remote env runners, kept open to compare with RLlib."""
    from solvers.rl.rllib import RLlibPPO

    plan = resolve_plan(CONFIG, "ppo-shared", **TINY)
    ppo = RLlibPPO(plan, RLScaling.from_config(CONFIG))
    ppo.train(plan.timesteps)
    yield ppo
    ppo.close()


def test_one_iteration_with_two_env_runners_gives_an_evaluable_solution(run, tmp_path):
    assert run.algo.env_runner_group.num_remote_env_runners() == 2
    assert run.steps >= 2 * 4 * 2 * CONFIG.n_steps and run.iterations == 1
    sol = run.solution()
    assert isinstance(sol, RLlibLearnerSolution) and sol.kind == "rllib-learners"
    assert sol.training["backend"] == "rllib" and sol.training["num_env_runners"] == 2
    m = evaluate(sol, n_paths=64, seed=3)
    for key in ("S0", "mu0", "sigma0", "utility_sum", "clearing_error", "terminal_error"):
        assert np.isfinite(m[key]), key
    gains = exploitability(sol, n_paths=32, iterations=2, seed=1)
    assert all(np.isfinite(gains.gain_per_agent))
    sol.save(tmp_path / "rllib")
    state = torch.load(tmp_path / "rllib" / "weights.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    loaded = load_solution(tmp_path / "rllib")
    assert isinstance(loaded, RLlibLearnerSolution)
    m2 = evaluate(loaded, n_paths=64, seed=3)
    for key in ("S0", "mu0", "sigma0", "utility_sum", "clearing_error", "terminal_error"):
        assert m2[key] == m[key], key


def test_solution_plays_what_rllib_plays_in_its_env(run):
    """RLlib's own module and action map, stepped in the env its runners hold, give the
    same per-path utilities as the solution simulated on the same seed (same scalings)."""
    from ray.rllib.utils.spaces.space_utils import unsquash_action

    from solvers.rl.rllib import make_scaled_vector_env

    B, N = 8, CONFIG.n_agents
    scaling = RLScaling.from_config(CONFIG)
    env = make_scaled_vector_env(
        {"num_envs": B * N, "config": CONFIG.to_dict(), "scaling": scaling.to_dict()}
    )
    module = run.algo.get_module()
    sol = run.solution(calibrate=False)  # the env's clearing drift starts at the default S_0
    obs, _ = env.reset(seed=5)
    total = np.zeros(B * N)
    for _ in range(CONFIG.n_steps):
        with torch.no_grad():
            out = module.forward_inference({"obs": torch.as_tensor(obs)})["action_dist_inputs"]
        mean = out[:, :1].numpy()
        ours = sol.unit_actions(torch.as_tensor(obs)).numpy()
        actions = unsquash_action(mean, env.single_action_space)
        np.testing.assert_array_equal(ours, actions[:, 0])
        obs, reward, *_ = env.step(mean)  # raw, as RLlib's runners send it: the env unsquashes
        total += reward / scaling.reward_scale
    env.close()
    traj = simulate(sol, B, seed=5)
    np.testing.assert_allclose(
        total.reshape(B, N), utility_per_path(traj).double().numpy(), rtol=2e-4, atol=1e-6
    )


def test_env_unsquash_is_rllibs_bit_for_bit():
    """The batched unsquash that ScaledVectorEnv and the saved solution share gives RLlib's
    ``unsquash_action`` exactly, including samples far outside ``[−1, 1]`` and values near
    ``−1`` where rounding bites."""
    from gymnasium import spaces
    from ray.rllib.utils.spaces.space_utils import unsquash_action

    from solvers.rl.rllib_solution import unsquash

    rng = np.random.default_rng(0)
    a = np.concatenate(
        [rng.normal(0, 2, 20000), -1 + rng.uniform(0, 1e-3, 5000), rng.uniform(-1e-7, 1e-7, 50)]
    ).astype(np.float32)[:, None]
    box = spaces.Box(-1.0, 1.0, (1,), np.float32)
    expected = unsquash_action(a, box)
    got = unsquash(torch.from_numpy(a)).numpy()
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(got, np.clip(a, -1, 1))  # the rounding is real, so is the test


def test_rllib_gives_back_torchs_determinism_settings(local_ray):
    """RLlib's seeding turns on torch.use_deterministic_algorithms for the whole process; a
    closed run leaves the caller's settings as they were (a later CUDA op would raise)."""
    from solvers.rl.rllib import RLlibPPO, set_torch_global_flags, torch_global_flags

    before = torch_global_flags()
    try:
        set_torch_global_flags({**before, "deterministic": False, "cudnn_deterministic": False})
        with RLlibPPO(resolve_plan(CONFIG, "ppo-shared", **TINY), RLScaling.from_config(CONFIG)):
            inside = torch_global_flags()
        after = torch_global_flags()
    finally:
        set_torch_global_flags(before)
    assert inside["deterministic"]  # RLlib's doing, so the test can fail
    assert not after["deterministic"] and not after["cudnn_deterministic"]


def test_train_learners_backend_rllib_returns_the_solution(local_ray):
    sol = train_learners(CONFIG, "ppo-shared", **TINY)
    assert isinstance(sol, RLlibLearnerSolution)
    assert sol.training["timesteps"] >= 100 and "S0_calibration" in sol.training
    assert ray.is_initialized()  # the caller's Ray is left running


def test_remote_worker_makes_the_env_through_the_documented_id(local_ray):
    """A fresh Ray worker never imported market_env: the bare id is unknown there (the
    NamespaceNotFound RLlib showed as an IndexError), the prefixed one works."""

    def make(env_id):
        import sys as worker_sys

        import gymnasium

        preloaded = "market_env" in worker_sys.modules
        try:
            env = gymnasium.make_vec(
                env_id,
                num_envs=4,
                vectorization_mode="vector_entry_point",
                preset="power-2",
                agent="shared",
            )
        except Exception as exc:  # reported to the driver
            return preloaded, type(exc).__name__
        return preloaded, env.num_envs

    remote = ray.remote(num_cpus=1, max_calls=1)(make)
    preloaded, bare = ray.get(remote.remote(ENV_ID))
    if not preloaded:
        assert bare == "NamespaceNotFound"
    assert ray.get(remote.remote(ENV_ID_FOR_WORKERS))[1] == 4
    assert ENV_ID_FOR_WORKERS == "market_env:" + ENV_ID


@pytest.mark.parametrize(
    "options, message",
    [
        ({"algo": "sac"}, r"backend='rllib' supports algo='ppo', flavour='shared'"),
        ({"flavour": "ibr"}, r"backend='rllib' supports .* got algo='ppo', flavour='ibr'"),
        ({"price": "market"}, r"price='market'"),
        ({"num_env_runners": -1}, "num_env_runners must be an integer >= 0, got -1"),
        ({"train_batch_size": 1}, "train_batch_size must be an integer >= 2, got 1"),
        ({"policy_kwargs": {"ortho_init": False}}, r"policy_kwargs \['ortho_init'\]"),
        ({"backend": "tune"}, r"backend must be one of \['sb3', 'rllib'\], got 'tune'"),
    ],
)
def test_unsupported_rllib_requests_fail_before_ray_starts(options, message):
    kw = {"backend": "rllib", **options}
    with pytest.raises(ValueError, match=message):
        resolve_plan(CONFIG, "ppo-shared", **kw)


def test_rllib_options_are_refused_with_sb3():
    with pytest.raises(ValueError, match=r"\['num_env_runners'\] apply to backend='rllib'"):
        resolve_plan(CONFIG, "ppo-shared", num_env_runners=2)


def test_compare_has_rllib_rows(local_ray):
    from solvers.compare import CompareBudgets, format_markdown, run_comparison

    budgets = CompareBudgets.quick(backend="rllib", num_env_runners=2, timesteps=100, n_paths=64)
    result = run_comparison(CONFIG, ["ppo-shared", "sac-shared"], budgets=budgets, figures=False)
    ppo, sac = result["rows"]
    assert ppo["backend"] == "rllib" and ppo["training"]["num_env_runners"] == 2
    assert np.isfinite(ppo["exploit_max_gain"])
    assert "backend='rllib' supports algo='ppo'" in sac["note"]
    assert "ppo-shared (RLlib)" in format_markdown(result)


def test_compare_cli_backend_options(capsys):
    from solvers.cli import main

    with pytest.raises(SystemExit):
        main(["compare", "--preset", "power-2", "--backend", "tune"])
    assert main(["compare", "--preset", "power-2", "--num-env-runners", "2"]) != 0
    assert "--num-env-runners needs --backend rllib" in capsys.readouterr().err
    with pytest.raises(ValueError, match="backend must be one of"):
        from solvers.compare import CompareBudgets

        CompareBudgets(backend="tune")


def test_rllib_default_paths_split_the_sb3_batch_over_the_runners():
    sb3 = resolve_plan(CONFIG, "ppo-shared", device="cpu")
    for runners in (1, 2):
        plan = resolve_plan(CONFIG, "ppo-shared", backend="rllib", num_env_runners=runners)
        assert plan.n_paths * runners == sb3.n_paths and plan.backend == "rllib"
    assert resolve_plan(CONFIG, "ppo-shared", backend="rllib", num_env_runners=0).n_paths == (
        sb3.n_paths
    )
