"""The three ways the independent learners train, one function each, over shared helpers.

Each trader maximises its own ``J_n`` (episode return ``Σ_k r_n,k``, MODEL.md §2) and is
never told the equilibrium conditions; every flavour takes a checked
:class:`~solvers.rl.methods.LearnerPlan` and returns the trained SB3 models
(:class:`TrainedModels`), which :func:`to_solution` turns into a
:class:`~solvers.rl.solution.LearnerSolution`:

* :func:`train_shared` — one parameter-shared model over all traders at the clearing drift
  (MODEL.md §4): B paths × N traders are the B·N sub-environments of
  :class:`market_env.MarketSB3VecEnv` (``agent="shared"``).
* :func:`train_ibr` — iterated best response: one model per trader, trained on
  ``MarketSB3VecEnv(agent=n)`` while the others play their current models frozen, cycling
  ``n = 0..N−1`` for ``rounds`` rounds (Gauss–Seidel order).
* :func:`train_market_game` — the shared traders against a market agent learned by SB3 as
  well, alternating rounds: the traders against the frozen market agent
  (:class:`~solvers.rl.envs.MarketAgentPrice`), then the market agent
  (:class:`~solvers.rl.envs.MarketAgentVecEnv`) against the frozen traders.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from market_env import ClearingDrift, PriceMechanism

from .envs import (
    MarketActor,
    MarketAgentPrice,
    MarketAgentVecEnv,
    RLScaling,
    ScaledTraderVecEnv,
    TraderActor,
)
from .methods import LearnerPlan, algo_class, sb3_policy_kwargs
from .solution import LearnerSolution

__all__ = [
    "CALIBRATION_SEED",
    "MARKET_SEED",
    "OthersPolicy",
    "TrainedModels",
    "learn",
    "make_model",
    "to_solution",
    "train_ibr",
    "train_market_game",
    "train_shared",
    "trader_env",
]

#: Offsets from the run's seed of the market agent's model and of the S_0 calibration paths.
MARKET_SEED = 7919
CALIBRATION_SEED = 104729


@dataclass
class TrainedModels:
    """What a flavour returns: the trader models (one, or one per trader), the market
    agent's model (market game only) and one record per phase."""

    traders: list[Any]
    market: Any = None
    phases: list[dict[str, Any]] = field(default_factory=list)


# ----- shared helpers -------------------------------------------------------------------------
def make_model(plan: LearnerPlan, env: Any, seed: int) -> Any:
    """A fresh SB3 model of the plan's algorithm on ``env``, silent and without log files."""
    from stable_baselines3.common.logger import Logger

    model = algo_class(plan.method.algo)(
        "MlpPolicy",
        env,
        seed=seed,
        device=plan.device,
        policy_kwargs=sb3_policy_kwargs(plan.policy_kwargs),
        verbose=0,
        **plan.algo_kwargs_for(env.num_envs),
    )
    # SB3's default logger creates an empty folder in the temp directory on every learn()
    model.set_logger(Logger(folder=None, output_formats=[]))
    return model


def learn(model: Any, timesteps: int) -> None:
    """Train ``timesteps`` more steps, starting from a fresh episode (the other side may
    have changed since the last call)."""
    model._last_obs = None  # SB3 then resets the env in _setup_learn
    model.learn(int(timesteps), reset_num_timesteps=False)


def trader_env(
    plan: LearnerPlan,
    scaling: RLScaling,
    agent: int | str,
    seed: int,
    price: PriceMechanism,
    others: Any = None,
) -> ScaledTraderVecEnv:
    """The scaled SB3 environment of one trader (``agent=n``, B paths) or of all of them
    (``agent="shared"``, B·N sub-environments), the others playing ``others``."""
    from market_env import MarketSB3VecEnv

    num_envs = plan.n_paths * plan.config.n_agents if agent == "shared" else plan.n_paths
    kw = {} if others is None else {"others": others}
    base = MarketSB3VecEnv(
        num_envs=num_envs,
        config=plan.config,
        agent=agent,
        price=price,
        clearing=plan.clearing,
        device=plan.device,
        seed=seed,
        **kw,
    )
    return ScaledTraderVecEnv(base, scaling)


class OthersPolicy:
    """The non-learning traders of IBR: every trader's current (frozen) actor, as an agent
    policy ``obs (B, N, D) -> rates (B, N)`` (the learner's own column is zero and unused)."""

    def __init__(self, actors: list[TraderActor], learner: int) -> None:
        self.actors = actors
        self.learner = learner

    def __call__(self, obs: Tensor) -> Tensor:
        cols = [
            torch.zeros(obs.shape[0], dtype=obs.dtype, device=obs.device)
            if m == self.learner
            else actor(obs[:, m])
            for m, actor in enumerate(self.actors)
        ]
        return torch.stack(cols, -1)


def _log(plan: LearnerPlan, text: str) -> None:
    if plan.progress:
        print(f"[{plan.name}] {text}", file=sys.stderr, flush=True)


# ----- the flavours ---------------------------------------------------------------------------
def train_shared(plan: LearnerPlan, scaling: RLScaling) -> TrainedModels:
    """One parameter-shared trader model at the clearing drift, ``timesteps`` steps."""
    env = trader_env(plan, scaling, "shared", plan.seed, ClearingDrift())
    model = make_model(plan, env, plan.seed)
    learn(model, plan.timesteps)
    _log(plan, f"traders: {model.num_timesteps} timesteps")
    return TrainedModels([model], phases=[{"phase": "traders", "timesteps": model.num_timesteps}])


def train_ibr(plan: LearnerPlan, scaling: RLScaling) -> TrainedModels:
    """One model per trader (seed ``seed + 1 + n``), ``timesteps/(rounds·N)`` steps per
    turn, cycling over the traders ``rounds`` times against the others' current models."""
    N = plan.config.n_agents
    actors = [TraderActor(scaling) for _ in range(N)]
    traders = []
    for n in range(N):
        env = trader_env(
            plan, scaling, n, plan.seed + 1 + n, ClearingDrift(), OthersPolicy(actors, n)
        )
        model = make_model(plan, env, plan.seed + 1 + n)
        actors[n].policy = model.policy
        traders.append(model)
    per_turn = max(1, plan.timesteps // (plan.rounds * N))
    for r in range(plan.rounds):
        for n, model in enumerate(traders):
            learn(model, per_turn)
            _log(plan, f"round {r + 1}/{plan.rounds} trader {n}: {model.num_timesteps} timesteps")
    total = sum(m.num_timesteps for m in traders)
    return TrainedModels(traders, phases=[{"phase": "traders", "timesteps": total}])


def train_market_game(plan: LearnerPlan, scaling: RLScaling) -> TrainedModels:
    """Shared traders and the market agent (seed ``seed + 7919``), alternating ``rounds``
    times; the market agent gets ``market_fraction`` of the timesteps."""
    market_actor = MarketActor(scaling, scaling.market_maker(plan.config))
    trader_actor = TraderActor(scaling)
    env = trader_env(
        plan, scaling, "shared", plan.seed, MarketAgentPrice(market_actor, plan.config)
    )
    model = make_model(plan, env, plan.seed)
    trader_actor.policy = model.policy
    market_seed = plan.seed + MARKET_SEED
    m_env = MarketAgentVecEnv(
        plan.config,
        plan.n_paths,
        trader_actor,
        scaling,
        clearing=plan.clearing,
        device=plan.device,
        seed=market_seed,
    )
    market_model = make_model(plan, m_env, market_seed)
    market_actor.policy = market_model.policy
    t_traders = max(1, int(plan.timesteps * (1 - plan.market_fraction)) // plan.rounds)
    t_market = max(1, int(plan.timesteps * plan.market_fraction) // plan.rounds)
    for r in range(plan.rounds):
        learn(model, t_traders)
        learn(market_model, t_market)
        _log(
            plan,
            f"round {r + 1}/{plan.rounds}: traders {model.num_timesteps}, "
            f"market {market_model.num_timesteps} timesteps",
        )
    phases = [
        {"phase": "traders", "timesteps": model.num_timesteps},
        {"phase": "market", "timesteps": market_model.num_timesteps},
    ]
    return TrainedModels([model], market_model, phases)


# ----- the result -----------------------------------------------------------------------------
def to_solution(
    plan: LearnerPlan, scaling: RLScaling, trained: TrainedModels, start: float
) -> LearnerSolution:
    """The :class:`LearnerSolution` of the trained models (on the CPU), with its training
    record; at the clearing drift its ``S_0`` is estimated on ``calibration_paths`` paths
    of seed ``seed + 104729`` (never the evaluation paths; MODEL.md §2)."""
    training = {
        "timesteps_budget": plan.timesteps,
        "timesteps": sum(p["timesteps"] for p in trained.phases),
        "phases": trained.phases,
        "n_paths": plan.n_paths,
        "rounds": plan.rounds if plan.uses_rounds else None,
        "seed": plan.seed,
        "device": str(plan.device),
        "algo_kwargs": {
            k: v
            for k, v in plan.algo_kwargs_for(plan.trader_num_envs).items()
            if isinstance(v, (int, float, str, bool))
        },
        "train_seconds": time.perf_counter() - start,
    }
    solution = LearnerSolution(
        plan.config,
        method=plan.name,
        algo=plan.method.algo,
        flavour=plan.method.flavour,
        price=plan.method.price,
        policy_kwargs=plan.policy_kwargs,
        scaling=scaling.to_dict(),
        clearing=plan.clearing,
        training=training,
        device="cpu",
    )
    solution.load_from_models(trained.traders, trained.market)
    if plan.method.price == "clearing":
        solution.calibrate_S0(plan.calibration_paths, plan.seed + CALIBRATION_SEED)
    solution.training["total_seconds"] = time.perf_counter() - start
    return solution
