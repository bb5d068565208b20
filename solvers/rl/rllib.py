"""Independent learners trained with Ray RLlib PPO (``backend="rllib"``): the batched market's
gymnasium ``VectorEnv`` in every env runner, one parameter-shared policy over its B×N
sub-environments (MODEL.md §2; DESIGN.md "Scale"), judged afterwards like every solver.

Imported only when ``backend="rllib"`` is asked for (``solvers.rl`` itself never imports Ray).

How RLlib reaches the market (what RLlib forced on the design):

* RLlib's single-agent env runners take one ``gymnasium.vector.VectorEnv`` each
  (``gym_env_vectorize_mode="vector_entry_point"``); its multi-agent runners would loop over
  separate env copies, so all traders are one shared policy over ``agent="shared"``
  (sub-environment ``b·N + n`` is trader ``n`` on path ``b``) and ``num_envs_per_env_runner``
  is ``B·N``.
* Remote env runners are fresh processes that never import ``market_env``: the bare id
  ``market_env/FrictionalMarket-v0`` is unregistered there (RLlib shows it as an
  ``IndexError``). Everything here builds the env through
  :data:`market_env.registration.ENV_ID_FOR_WORKERS` (``"market_env:"`` prefix: gymnasium
  imports ``market_env`` first) inside :func:`make_scaled_vector_env`, a module-level
  creator registered with Ray Tune under :data:`RLLIB_ENV_NAME` (RLlib accepts a class or a
  registered name, not a function); Ray ships it to the workers by reference, so they import
  this module (and ``market_env``) themselves.
* RLlib keeps no running observation statistics we could save, and its actions are unsquashed
  from ``[−1, 1]`` to the action box: :class:`ScaledVectorEnv` applies the SB3 learners' fixed
  scalings (:class:`~solvers.rl.envs.RLScaling`) with action box ``[−1, 1]``, so the saved
  actor (:class:`~solvers.rl.rllib_solution.RLlibLearnerSolution`) needs no RLlib to act.
* Env runners are processes: torch in each gets ``OMP_NUM_THREADS=1`` (Ray ``runtime_env``;
  with all threads each, 2 runners on 2 cores ran 10× slower).

Documented use outside :func:`solvers.rl.train_learners`::

    from ray.rllib.algorithms.ppo import PPOConfig
    from market_env.registration import ENV_ID_FOR_WORKERS
    config = (PPOConfig()
        .environment(ENV_ID_FOR_WORKERS, env_config={"preset": "power-2", "agent": "shared"})
        .env_runners(num_env_runners=2, num_envs_per_env_runner=64 * 2,
                     gym_env_vectorize_mode="vector_entry_point"))
"""

from __future__ import annotations

import os
import time
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space

from market_env.registration import ENV_ID_FOR_WORKERS

from .envs import RLScaling
from .methods import LearnerPlan
from .rllib_solution import RLlibLearnerSolution, unsquash

__all__ = [
    "CALIBRATION_SEED",
    "MODULE_ID",
    "RLLIB_ENV_NAME",
    "RLlibPPO",
    "ScaledVectorEnv",
    "default_rllib_training",
    "make_scaled_vector_env",
    "ppo_config",
    "set_torch_global_flags",
    "torch_global_flags",
    "train_rllib",
]

#: Offset from the run's seed of the ``S_0`` calibration paths (as the SB3 learners').
CALIBRATION_SEED = 104729
#: RLlib's module id of the one shared policy.
MODULE_ID = "default_policy"
#: The Ray Tune env name of :func:`make_scaled_vector_env`.
RLLIB_ENV_NAME = "market_env_scaled_shared"


class ScaledVectorEnv(VectorWrapper):
    """The market's ``VectorEnv`` in the learners' units (:class:`RLScaling`): observations
    ``(obs − shift)/scale``, actions in ``Box(−1, 1)`` times ``rate_scale``, rewards times
    ``reward_scale``. Dynamics untouched.

    Actions arrive as the policy's raw Gaussian samples and are mapped onto ``Box(−1, 1)``
    here by :func:`~solvers.rl.rllib_solution.unsquash` (RLlib's ``unsquash_action``, same
    float32 arithmetic, so the same numbers), for the whole batch at once: RLlib's own
    ``NormalizeAndClipActions`` connector does it sub-environment by sub-environment and took
    half of the sampling time (``benchmarks/results/rllib_throughput.md``: sampling ran twice
    as fast without it), so :func:`ppo_config` turns it off."""

    def __init__(self, env: VectorEnv, scaling: RLScaling) -> None:
        super().__init__(env)
        D = len(scaling.obs_shift)
        if env.single_observation_space.shape != (D,):
            raise ValueError(
                f"the scaling is for observations of length {D}, the env has "
                f"{env.single_observation_space.shape}"
            )
        self.scaling = scaling
        self.single_observation_space = spaces.Box(-np.inf, np.inf, (D,), np.float32)
        self.single_action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._shift = np.asarray(scaling.obs_shift, dtype=np.float32)
        self._scale = np.asarray(scaling.obs_scale, dtype=np.float32)

    def _obs(self, obs: np.ndarray) -> np.ndarray:
        return ((obs - self._shift) / self._scale).astype(np.float32, copy=False)

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> Any:
        obs, infos = self.env.reset(seed=seed, options=options)
        return self._obs(obs), infos

    def step(self, actions: Any) -> Any:
        unit = unsquash(torch.from_numpy(np.ascontiguousarray(actions, dtype=np.float32)))
        a = unit.numpy().astype(np.float64) * self.scaling.rate_scale
        obs, rewards, terminated, truncated, infos = self.env.step(a)
        rewards = (rewards * self.scaling.reward_scale).astype(np.float32, copy=False)
        return self._obs(obs), rewards, terminated, truncated, infos


def make_scaled_vector_env(env_config: dict[str, Any]) -> ScaledVectorEnv:
    """RLlib's env creator (also runs in remote env runners): ``gymnasium.make_vec`` of
    :data:`~market_env.registration.ENV_ID_FOR_WORKERS` with ``agent="shared"`` at the
    clearing drift, wrapped in :class:`ScaledVectorEnv`.

    ``env_config``: ``num_envs`` (B·N, set by RLlib), ``config`` (a
    :class:`~market_env.MarketConfig` dict), ``scaling`` (an :class:`RLScaling` dict),
    ``clearing``."""
    cfg = dict(env_config)
    env = gymnasium.make_vec(
        ENV_ID_FOR_WORKERS,
        num_envs=int(cfg["num_envs"]),
        vectorization_mode="vector_entry_point",
        config=dict(cfg["config"]),
        agent="shared",
        price="clearing",
        clearing=cfg.get("clearing", "project"),
    )
    return ScaledVectorEnv(env, RLScaling.from_dict(cfg["scaling"]))


def default_rllib_training(batch: int) -> dict[str, Any]:
    """RLlib ``PPOConfig.training`` options matching the SB3 PPO defaults
    (:func:`~solvers.rl.methods.default_algo_kwargs`) for a train batch of ``batch`` steps:
    8 mini-batches, 5 epochs, lr 1e-3, undiscounted (``gamma = 1``, the return is ``J_n``),
    GAE λ 0.95, clip 0.2, no entropy bonus, gradient norm 0.5, value loss weight 0.5, and
    neither SB3's absent KL penalty nor a value-loss clip."""
    return dict(
        lr=1e-3,
        gamma=1.0,
        lambda_=0.95,
        clip_param=0.2,
        entropy_coeff=0.0,
        grad_clip=0.5,
        grad_clip_by="global_norm",
        num_epochs=5,
        minibatch_size=max(2, batch // 8),
        vf_loss_coeff=0.5,
        use_kl_loss=False,
        vf_clip_param=1e9,
    )


def ppo_config(plan: LearnerPlan, scaling: RLScaling) -> Any:
    """The RLlib ``PPOConfig`` of a checked plan (``backend="rllib"``): the scaled shared
    ``VectorEnv`` in ``num_env_runners`` runners (``B·N`` sub-environments each), one
    episode per sub-environment per iteration unless ``train_batch_size`` says otherwise,
    the SB3 network shape (``policy_kwargs``), the learner on ``plan.device``. Registers
    :func:`make_scaled_vector_env` as :data:`RLLIB_ENV_NAME` (call it with Ray running)."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.tune.registry import register_env

    register_env(RLLIB_ENV_NAME, make_scaled_vector_env)
    N, K = plan.config.n_agents, plan.config.n_steps
    per_runner = plan.n_paths * N
    batch = plan.train_batch_size or max(1, plan.num_env_runners) * per_runner * K
    training = default_rllib_training(batch)
    training.update(plan.algo_kwargs)
    pk = plan.policy_kwargs
    gpu = plan.device.type == "cuda"
    return (
        PPOConfig()
        .framework("torch")
        .environment(
            RLLIB_ENV_NAME,
            env_config={
                "config": plan.config.to_dict(),
                "scaling": scaling.to_dict(),
                "clearing": plan.clearing,
            },
            # ScaledVectorEnv unsquashes the whole batch itself (see its docstring).
            normalize_actions=False,
            clip_actions=False,
        )
        .env_runners(
            num_env_runners=plan.num_env_runners,
            num_envs_per_env_runner=per_runner,
            gym_env_vectorize_mode="vector_entry_point",
            rollout_fragment_length="auto",
            num_cpus_per_env_runner=1,
        )
        .learners(num_learners=0, num_gpus_per_learner=1 if gpu else 0)
        .training(train_batch_size_per_learner=batch, **training)
        .rl_module(
            model_config={
                "fcnet_hiddens": [int(h) for h in pk.get("net_arch", [64, 64])],
                "fcnet_activation": pk.get("activation_fn", "tanh"),
                "head_fcnet_hiddens": [],
                "vf_share_layers": False,
                "free_log_std": True,
            }
        )
        .debugging(seed=plan.seed, log_level="ERROR")
        .reporting(metrics_num_episodes_for_smoothing=1)
    )


def ensure_ray(num_env_runners: int) -> bool:
    """Start a local Ray (workers with ``OMP_NUM_THREADS=1``, at least one CPU slot per env
    runner) unless one is running; returns whether it started one."""
    import ray

    if ray.is_initialized():
        return False
    ray.init(
        num_cpus=max(os.cpu_count() or 1, num_env_runners),
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}},
    )
    return True


def torch_global_flags() -> dict[str, bool]:
    """Torch's process-wide determinism settings, which RLlib's seeding changes."""
    import torch

    return {
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
    }


def set_torch_global_flags(flags: dict[str, bool]) -> None:
    """Put back settings read by :func:`torch_global_flags`."""
    import torch

    torch.use_deterministic_algorithms(flags["deterministic"], warn_only=flags["warn_only"])
    torch.backends.cudnn.deterministic = flags["cudnn_deterministic"]
    torch.backends.cudnn.benchmark = flags["cudnn_benchmark"]


class RLlibPPO:
    """An RLlib PPO run of a plan that can be stopped and read at any environment step count
    (the learning curves use it; :func:`train_rllib` runs it once).

    An environment step is one agent-step of one sub-environment (as SB3's timesteps).
    Close it (or use it as a context manager): it stops the algorithm and the Ray it started.
    """

    def __init__(self, plan: LearnerPlan, scaling: RLScaling) -> None:
        self.plan = plan
        self.scaling = scaling
        self.started_ray = ensure_ray(plan.num_env_runners)
        # RLlib's seeding turns on torch's deterministic algorithms (and cuDNN's flags) for the
        # whole process; close() gives the caller's settings back.
        self._torch_flags = torch_global_flags()
        self.algo = ppo_config(plan, scaling).build_algo()
        self.steps = 0
        self.iterations = 0
        self.train_seconds = 0.0
        self._set_log_std(float(plan.policy_kwargs.get("log_std_init", 0.0)))

    def _set_log_std(self, value: float) -> None:
        """Start the free log-std at SB3's ``log_std_init`` on the learner and the runners."""

        def fill(learner: Any) -> None:
            learner.module[MODULE_ID].pi.log_std.data.fill_(value)

        self.algo.learner_group.foreach_learner(fill)
        self.algo.env_runner_group.sync_weights(
            from_worker_or_learner_group=self.algo.learner_group, inference_only=True
        )

    def train(self, until_steps: int) -> int:
        """Run PPO iterations until at least ``until_steps`` environment steps were sampled;
        returns the steps so far."""
        while self.steps < until_steps:
            start = time.perf_counter()
            result = self.algo.train()
            self.train_seconds += time.perf_counter() - start
            self.iterations += 1
            steps = result.get("num_env_steps_sampled_lifetime")
            if steps is None:
                steps = result["env_runners"]["num_env_steps_sampled_lifetime"]
            self.steps = int(steps)
        return self.steps

    def actor_state_dict(self) -> dict[str, Any]:
        """The learner's actor weights as the ``nn.Sequential`` of
        :func:`~solvers.rl.rllib_solution.build_actor` names them."""
        import torch

        weights = self.algo.learner_group.get_weights([MODULE_ID])[MODULE_ID]
        n_hidden = len(self.plan.policy_kwargs.get("net_arch", [64, 64]))
        out = {}
        for i in range(n_hidden):
            for p in ("weight", "bias"):
                out[f"{2 * i}.{p}"] = weights[f"encoder.actor_encoder.net.mlp.{2 * i}.{p}"]
        for p in ("weight", "bias"):
            out[f"{2 * n_hidden}.{p}"] = weights[f"pi.net.mlp.0.{p}"]
        return {k: torch.as_tensor(np.asarray(v), dtype=torch.float32) for k, v in out.items()}

    def solution(self, calibrate: bool = True) -> RLlibLearnerSolution:
        """The current actor as an :class:`RLlibLearnerSolution` (CPU); ``S_0`` estimated on
        ``calibration_paths`` paths of seed ``seed + 104729`` (never the evaluation paths)."""
        plan = self.plan
        pk = plan.policy_kwargs
        solution = RLlibLearnerSolution(
            plan.config,
            method=plan.name,
            hiddens=list(pk.get("net_arch", [64, 64])),
            activation=pk.get("activation_fn", "tanh"),
            scaling=self.scaling.to_dict(),
            clearing=plan.clearing,
            training=self.record(),
        )
        solution.actor.load_state_dict(self.actor_state_dict())
        if calibrate:
            solution.calibrate_S0(plan.calibration_paths, plan.seed + CALIBRATION_SEED)
        return solution

    def record(self) -> dict[str, Any]:
        """The JSON training record: backend, budgets, runners, steps, seed, wall time."""
        plan = self.plan
        return {
            "backend": "rllib",
            "timesteps_budget": plan.timesteps,
            "timesteps": self.steps,
            "iterations": self.iterations,
            "n_paths": plan.n_paths,
            "num_env_runners": plan.num_env_runners,
            "num_envs_per_env_runner": plan.n_paths * plan.config.n_agents,
            "train_batch_size": self.algo.config.train_batch_size_per_learner,
            "seed": plan.seed,
            "device": str(plan.device),
            "train_seconds": self.train_seconds,
            "env_steps_per_second": self.steps / self.train_seconds if self.train_seconds else 0.0,
        }

    def close(self) -> None:
        """Stop the algorithm (its env runners) and the Ray this run started, and give back
        torch's determinism settings as they were before the run."""
        import ray

        self.algo.stop()
        set_torch_global_flags(self._torch_flags)
        if self.started_ray:
            ray.shutdown()

    def __enter__(self) -> RLlibPPO:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def train_rllib(plan: LearnerPlan, scaling: RLScaling) -> RLlibLearnerSolution:
    """Train the plan with RLlib PPO for ``plan.timesteps`` environment steps (whole
    iterations: ``training["timesteps"]`` may exceed the budget) and return the solution."""
    start = time.perf_counter()
    with RLlibPPO(plan, scaling) as run:
        run.train(plan.timesteps)
        solution = run.solution()
    solution.training["total_seconds"] = time.perf_counter() - start
    return solution
