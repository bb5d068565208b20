"""Independent learners: traders (and the market agent) trained with Stable-Baselines3 (or
Ray RLlib, ``backend="rllib"``) on the one batched market, judged by
:func:`solvers.evaluate` like every solver.

Each trader maximises its own utility ``J_n`` (episode return = ``Σ_k r_n,k``, MODEL.md §2)
as an independent learner; nobody is told the equilibrium conditions, and how close the
result is to an equilibrium is measured afterwards by the best-response gain of MODEL.md §9.
Two flavours:

* ``"shared"`` — simultaneous learning with one parameter-shared model over all traders
  (the observation carries ``γ_n``, ``ξ_n`` and the one-hot index, so one network can act
  differently for each trader);
* ``"ibr"`` — iterated best response: one model per trader, the others frozen.

Two price mechanisms (DESIGN.md):

* ``"clearing"`` — the endogenous clearing drift ``μ = (1/N)Σ_n γ_n σ(σφ_n + ξ_n W)`` with
  ``σ = α`` (MODEL.md §4); the learners' own ``S_0`` is estimated after training with the
  martingale control variate of MODEL.md §2 on calibration paths, so ``S_K ≈ 𝔖`` on average;
* ``"market"`` — the market agent learned by SB3 as well (the adversarial game of the paper
  without its reinforcement link), rewarded for clearing and for ``S_K = 𝔖``.

This module is the entry point: :func:`train_learners` checks the request once
(:func:`~solvers.rl.methods.resolve_plan`) and hands it to its flavour in
:mod:`solvers.rl.training` (:data:`TRAINERS`); the result is a
:class:`~solvers.rl.solution.LearnerSolution` (saved kind ``"sb3-learners"``). With
``backend="rllib"`` it goes to :func:`solvers.rl.rllib.train_rllib` (imported only then) and
the result is a :class:`~solvers.rl.rllib_solution.RLlibLearnerSolution`
(kind ``"rllib-learners"``).

    from solvers.rl import train_learners
    sol = train_learners(get_preset("power-2"), "ppo-shared", timesteps=300_000, seed=0)
    evaluate(sol)
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

import torch

from market_env import MarketConfig

from ..threads import torch_threads
from .envs import RLScaling
from .methods import LearnerPlan, resolve_plan
from .rllib_solution import RLlibLearnerSolution
from .solution import LearnerSolution
from .training import TrainedModels, to_solution, train_ibr, train_market_game, train_shared

__all__ = ["TRAINERS", "train_learners"]

#: The training function of each (flavour, price) pair that
#: :class:`~solvers.rl.methods.LearnerMethod` allows.
TRAINERS: dict[tuple[str, str], Callable[[LearnerPlan, RLScaling], TrainedModels]] = {
    ("shared", "clearing"): train_shared,
    ("ibr", "clearing"): train_ibr,
    ("shared", "market"): train_market_game,
}


def train_learners(
    config: MarketConfig, method: str | None = None, *, threads: int | None = None, **options: Any
) -> LearnerSolution | RLlibLearnerSolution:
    """Train independent learners on ``config`` and return a :class:`LearnerSolution`
    (``backend="sb3"``, default) or an :class:`RLlibLearnerSolution` (``backend="rllib"``).

    Args:
        config: the market.
        method: a name of :data:`~solvers.rl.methods.METHODS` (``"ppo-shared"``,
            ``"ppo-ibr"``, ``"sac-shared"``, ``"sac-ibr"``, ``"market-game"``,
            ``"sac-market-game"``), or None to choose ``algo``, ``flavour``, ``price``.
        options: the keyword options of :func:`~solvers.rl.methods.resolve_plan` (``algo``,
            ``flavour``, ``price``, ``timesteps``, ``n_paths``, ``rounds``,
            ``market_fraction``, ``clearing``, ``seed``, ``device``, ``policy_kwargs``,
            ``algo_kwargs``, ``calibration_paths``, ``progress``, ``backend``,
            ``num_env_runners``, ``train_batch_size``), documented, defaulted and checked
            there, all before any training.
        threads: torch CPU threads of this process (``None``: one, ``0``: all cores;
            ``solvers/threads.py``); RLlib's env runners always run with one.
    """
    allowed = list(inspect.signature(resolve_plan).parameters)[2:]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(f"train_learners got unknown options {unknown}; allowed: {allowed}")
    plan = resolve_plan(config, method, **options)
    with torch_threads(threads):
        scaling = RLScaling.from_config(config)
        torch.manual_seed(plan.seed)
        if plan.backend == "rllib":
            from .rllib import train_rllib

            return train_rllib(plan, scaling)
        start = time.perf_counter()
        trained = TRAINERS[plan.method.flavour, plan.method.price](plan, scaling)
        return to_solution(plan, scaling, trained, start)
