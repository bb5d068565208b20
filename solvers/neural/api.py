"""One entry point for the neural solvers: :func:`solve` trains, evaluates against the
benchmark of the config (Riccati truth, leading order or frictionless; MODEL.md §3–§5) and
writes the artefact folder."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from market_env import MarketConfig, compute_metrics, path_errors

from ..base import Solution, simulate

__all__ = ["SOLVERS", "benchmark_for", "compare", "make_trainer", "solve"]

EVALUATION_FILE = "evaluation.json"


def benchmark_for(config: MarketConfig) -> tuple[str, Solution]:
    """The best available benchmark: the Riccati truth (q = 2, Σξ = 0), the leading order
    (N = 2, q < 2, MODEL.md §5), else the frictionless equilibrium."""
    from ..analytic import FrictionlessSolution

    if config.cost_power == 2.0:
        from ..analytic import RiccatiSolution

        try:
            return "riccati", RiccatiSolution(config)
        except ValueError:
            pass
    if config.n_agents == 2 and config.cost_power < 2.0:
        try:
            from ..analytic import LeadingOrderSolution  # type: ignore[attr-defined]

            return "leading-order", LeadingOrderSolution(config)
        except (ImportError, ValueError):
            pass
    return "frictionless", FrictionlessSolution(config)


def compare(
    solution: Solution,
    benchmark: Solution | None = None,
    n_paths: int = 3000,
    seed: int = 0,
    *,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Evaluate ``solution`` and ``benchmark`` on the same seeded paths (MODEL.md §2).

    Returns the keys of :func:`solvers.base.evaluate` for the solution, plus
    ``sigma_path_rel_err``, ``mu_path_rel_err``, ``rate_path_rel_err`` (relative L2 errors
    against the benchmark's paths on the same noise), ``benchmark`` (its name) and
    ``benchmark_metrics``; ``trajectories`` holds both rollouts (not JSON).
    """
    name = None
    if benchmark is None:
        name, benchmark = benchmark_for(solution.config)
    start = time.perf_counter()
    traj = simulate(solution, n_paths, seed, device=device)
    metrics = compute_metrics(traj)
    metrics.update(solution=solution.kind, seed=seed, eval_seconds=time.perf_counter() - start)
    ref = simulate(benchmark, n_paths, seed)
    ref_metrics = compute_metrics(ref)
    ref_metrics.update(solution=benchmark.kind, seed=seed)
    metrics.update(path_errors(traj, ref))
    metrics["benchmark"] = name or benchmark.kind
    metrics["benchmark_metrics"] = ref_metrics
    metrics["trajectories"] = (traj, ref)
    return metrics


def make_trainer(
    config: MarketConfig,
    solver: str = "reinforced-gan",
    *,
    schedule: Any = None,
    mu: str = "learned",
    generator: str = "residual",
    device: str = "cpu",
    seed: int = 0,
    progress: bool = True,
    **net_options: Any,
) -> Any:
    """Build the trainer of ``solver`` (``reinforced-gan``, ``combo`` or ``fbsde``)."""
    from .fbsde import DeepFBSDE
    from .reinforced_gan import Combo, ReinforcedGAN

    classes = {"reinforced-gan": ReinforcedGAN, "combo": Combo, "fbsde": DeepFBSDE}
    if solver not in classes:
        raise ValueError(f"solver must be one of {sorted(classes)}, got {solver!r}")
    cls = classes[solver]
    if solver == "fbsde":
        return cls(
            config, schedule, mu=mu, device=device, seed=seed, progress=progress, **net_options
        )
    return cls(
        config,
        schedule,
        mu=mu,
        generator=generator,
        device=device,
        seed=seed,
        progress=progress,
        **net_options,
    )


SOLVERS = ("reinforced-gan", "combo", "fbsde")


def solve(
    config: MarketConfig,
    solver: str = "reinforced-gan",
    *,
    schedule: Any = None,
    mu: str = "learned",
    generator: str = "residual",
    device: str = "cpu",
    seed: int = 0,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    n_eval_paths: int = 3000,
    eval_seed: int = 0,
    progress: bool = True,
    plots: bool = True,
    **net_options: Any,
) -> dict[str, Any]:
    """Train ``solver`` on ``config`` (or resume from ``resume``), evaluate it against the
    benchmark on ``n_eval_paths`` paths of ``eval_seed``, and write the artefact folder
    ``out`` (config, weights, optimiser state, history, ``evaluation.json``, PNG figures).

    Returns the comparison of :func:`compare` plus ``train_seconds`` and ``out``.
    Raises :class:`~solvers.neural.training.TrainingDivergedError` on NaN/explosion.
    """
    from .fbsde import DeepFBSDE
    from .reinforced_gan import Combo, ReinforcedGAN

    if resume is not None:
        from ..base import SPEC_FILE

        spec = json.loads((Path(resume) / SPEC_FILE).read_text())
        solver = spec.get("training", {}).get("solver", solver)
        cls = {"reinforced-gan": ReinforcedGAN, "combo": Combo, "fbsde": DeepFBSDE}[solver]
        trainer = cls.resume(resume, schedule, device=device, progress=progress)
        config = trainer.config
    else:
        trainer = make_trainer(
            config,
            solver,
            schedule=schedule,
            mu=mu,
            generator=generator,
            device=device,
            seed=seed,
            progress=progress,
            **net_options,
        )
    solution = trainer.train()
    solution.to("cpu")
    result = compare(solution, n_paths=n_eval_paths, seed=eval_seed)
    result["train_seconds"] = trainer.train_seconds
    result["solver"] = trainer.name
    result["rounds_done"] = trainer.round
    if out is not None:
        out = Path(out)
        record = {k: v for k, v in result.items() if k != "trajectories"}
        trainer.save(out, extra={"evaluation": record})
        (out / EVALUATION_FILE).write_text(json.dumps(record, indent=2) + "\n")
        if plots:
            from ..plots import plot_comparison

            traj, ref = result["trajectories"]
            plot_comparison(traj, ref, out, label=trainer.name, benchmark=result["benchmark"])
        result["out"] = str(out)
    solution.to(device)
    return result
