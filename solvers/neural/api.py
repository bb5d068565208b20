"""One entry point for the neural solvers: :func:`solve` trains, saves the run folder,
then evaluates against the benchmark of the config (Riccati truth or leading order, MODEL.md
§4–§5, or none: :mod:`market_env.reference.benchmark`)."""

from __future__ import annotations

import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from market_env import MarketConfig, compute_metrics, path_errors
from market_env.jsonio import short_path, short_repr
from market_env.reference.benchmark import BenchmarkChoice, choose_benchmark, finite_metrics
from market_env.solution import Solution, evaluate, simulate

from .model import SOLVERS
from .net_options import (
    ACTIVATION_NAMES,
    GENERATORS,
    LAST_RATES,
    MU_MODES,
    NET_SHAPES,
    PRICE_NETS,
    NetOptions,
    check_option_names,
)
from .schedule import SCHEDULES, GANSchedule, default_schedule
from .trainer import NeuralTrainer

__all__ = [
    "ACTIVATION_NAMES",
    "GENERATORS",
    "LAST_RATES",
    "MU_MODES",
    "NET_SHAPES",
    "PRICE_NETS",
    "SCHEDULES",
    "SOLVERS",
    "GANSchedule",
    "NetOptions",
    "default_schedule",
    "trainer_class",
    "Comparison",
    "benchmark_for",
    "compare",
    "format_comparison",
    "make_trainer",
    "solve",
]

EVALUATION_FILE = "evaluation.json"


def benchmark_for(config: MarketConfig) -> tuple[str, Solution]:
    """``(name, solution)`` of the reference :func:`compare` uses by default: the benchmark of
    :func:`market_env.reference.benchmark.choose_benchmark`, else the frictionless equilibrium
    under the name ``"frictionless (reference)"``."""
    choice = choose_benchmark(config)
    return choice.reference_label, choice.reference


class Comparison(dict):
    """The result of :func:`compare`: a dict of metrics (JSON-ready) that prints as a table.

    The two rollouts are in :attr:`trajectories` ``(solution, benchmark)``, not in the dict.
    """

    trajectories: tuple[Any, Any] | None = None

    def __repr__(self) -> str:
        return format_comparison(self)

    __str__ = __repr__


def compare(
    solution: Solution,
    benchmark: Solution | None = None,
    n_paths: int = 3000,
    seed: int = 0,
    *,
    device: str | torch.device = "cpu",
) -> Comparison:
    """Evaluate ``solution`` and ``benchmark`` on the same seeded paths (MODEL.md §2).

    ``benchmark=None`` takes the config's benchmark (:func:`market_env.reference.benchmark.
    choose_benchmark`; where none exists the frictionless equilibrium is compared with as a
    labelled reference and ``benchmark_line`` says so). Returns a :class:`Comparison`: the
    keys of :func:`market_env.solution.evaluate` for the solution, plus ``sigma_path_rel_err``,
    ``mu_path_rel_err``, ``rate_path_rel_err`` (relative L2 errors against the benchmark's
    paths on the same noise), ``benchmark`` (its name), ``benchmark_line``,
    ``benchmark_exists`` and ``benchmark_metrics``. A benchmark whose rollout is not finite
    is dropped for the frictionless reference, with the reason in ``benchmark_line``.
    """
    if benchmark is None:
        choice = choose_benchmark(solution.config)
    else:
        choice = BenchmarkChoice(
            benchmark.label, benchmark, benchmark, f"benchmark: {benchmark.label} (given)"
        )
    start = time.perf_counter()
    traj = simulate(solution, n_paths, seed, device=device)
    metrics = Comparison(compute_metrics(traj))
    metrics.update(solution=solution.kind, seed=seed, eval_seconds=time.perf_counter() - start)
    ref = simulate(choice.reference, n_paths, seed)
    ref_metrics = compute_metrics(ref)
    if not finite_metrics(ref_metrics):
        choice = choice.failed("its own rollout is not finite")
        ref = simulate(choice.reference, n_paths, seed)
        ref_metrics = compute_metrics(ref)
    ref_metrics.update(solution=choice.reference.label, seed=seed)
    metrics.update(path_errors(traj, ref))
    metrics["benchmark"] = choice.reference_label
    metrics["benchmark_line"] = choice.line
    metrics["benchmark_exists"] = choice.solution is not None
    metrics["benchmark_metrics"] = ref_metrics
    metrics.trajectories = (traj, ref)
    return metrics


def format_comparison(result: dict[str, Any]) -> str:
    """A solve or a :func:`compare` as a readable table: the verdict and the benchmark line
    above, the solution beside its benchmark (or the labelled reference)."""
    b = result.get("benchmark_metrics") or {}
    lines = []
    if "verdict" in result:
        lines.append(result["verdict"]["message"])
    if result.get("benchmark_line"):
        lines.append(result["benchmark_line"])
    exists = result.get("benchmark_exists", bool(b))
    ref_name = result.get("benchmark", "benchmark") if b else "(no benchmark)"
    rows = [("", result.get("solver", result.get("solution", "solution")), ref_name, "")]
    rows[0] = (*rows[0][:3], "rel. error" if exists else "rel. diff.")

    def rel(a: float, ref: float | None) -> str:
        return f"{abs(a - ref) / abs(ref):.2%}" if ref else "-"

    for key in ("S0", "mu0", "sigma0", "utility_sum"):
        ref = b.get(key)
        rows.append(
            (key, f"{result[key]:.6f}", "" if ref is None else f"{ref:.6f}", rel(result[key], ref))
        )
    for key in ("clearing_error", "terminal_error"):
        ref = b.get(key)
        rows.append((key, f"{result[key]:.3e}", "" if ref is None else f"{ref:.3e}", ""))
    if exists:
        for key in ("sigma_path_rel_err", "mu_path_rel_err", "rate_path_rel_err"):
            if key in result:
                name = key.replace("_rel_err", " rel. L2 error")
                rows.append((name, f"{result[key]:.2%}", "", ""))
    if "train_seconds" in result:
        rows.append(("train seconds", f"{result['train_seconds']:.1f}", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.append(
        f"({result['n_paths']} evaluation paths, seed {result['seed']}; utilities on common paths)"
    )
    if result.get("certificate"):
        c = result["certificate"]
        lines.append(
            f"exploitability: largest best-response gain {c['max_relative_gain']:.2e} of |J_n| "
            f"(agent {c['argmax_agent']}; a lower bound, {c['iterations']} Adam steps)"
        )
    if result.get("out"):
        lines.append(f"run saved to {result['out']}")
    return "\n".join(lines)


def trainer_class(solver: str) -> type[NeuralTrainer]:
    """The trainer class of ``solver`` (one of :data:`SOLVERS`)."""
    from .fbsde import DeepFBSDE
    from .joint import Combo
    from .reinforced_gan import ReinforcedGAN

    classes: dict[str, type[NeuralTrainer]] = {
        "reinforced-gan": ReinforcedGAN,
        "combo": Combo,
        "fbsde": DeepFBSDE,
    }
    if solver not in classes:
        raise ValueError(f"solver must be one of {sorted(classes)}, got {short_repr(solver)}")
    return classes[solver]


def _flat_options(
    solver: str, mu: str | None, generator: str | None, options: dict[str, Any]
) -> dict[str, Any]:
    """The flat network keywords of a call; ``generator`` is fixed (``"all"``) for fbsde,
    so a value given there is not used (the CLI always passes one)."""
    flat = dict(options)
    if mu is not None:
        flat["mu"] = mu
    if generator is not None and solver != "fbsde":
        flat["generator"] = generator
    return flat


def make_trainer(
    config: MarketConfig,
    solver: str = "reinforced-gan",
    *,
    schedule: GANSchedule | None = None,
    mu: str | None = None,
    generator: str | None = None,
    device: str = "cpu",
    seed: int = 0,
    progress: bool = True,
    threads: int | None = None,
    tolerances: Any = None,
    net_options: NetOptions | None = None,
    **options: Any,
) -> NeuralTrainer:
    """Build the trainer of ``solver`` (``reinforced-gan``, ``combo`` or ``fbsde``).

    The networks: ``net_options=NetOptions(...)``, or flat keywords (``mu``, ``generator``,
    ``width``, ``depth``, ``net_shape``, ``skip``, ``activation``, ``price_net``,
    ``last_rate``), turned into one :class:`~solvers.neural.net_options.NetOptions` here
    (what is not given is the solver's default; fbsde fixes ``generator="all"`` and
    ``last_rate="learned"`` and does not use a ``generator`` given here). A keyword that is
    no network option is a ``ValueError`` naming it and listing the allowed ones.
    """
    cls = trainer_class(solver)
    flat = _flat_options(solver, mu, generator, options)
    net = cls.net_options_from(net_options, flat, f"{solver} network options")
    return cls(
        config,
        schedule,
        device=device,
        seed=seed,
        progress=progress,
        threads=threads,
        tolerances=tolerances,
        net_options=net,
    )


def solve(
    config: MarketConfig | None,
    solver: str = "reinforced-gan",
    *,
    schedule: GANSchedule | None = None,
    mu: str | None = None,
    generator: str | None = None,
    device: str = "cpu",
    seed: int = 0,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    n_eval_paths: int = 3000,
    eval_seed: int = 0,
    progress: bool = True,
    plots: bool = True,
    threads: int | None = None,
    certify: bool = False,
    certify_iterations: int = 300,
    tolerances: Any = None,
    net_options: NetOptions | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Train ``solver`` on ``config`` (or resume the run in ``resume``), save the run folder
    ``out``, then evaluate it against the benchmark on ``n_eval_paths`` paths of
    ``eval_seed``.

    The networks: ``net_options`` or flat keywords, as :func:`make_trainer` takes them (a
    resumed run keeps its own networks: names are still checked, values are not used).

    Order (so that training is never lost): ``out`` is checked writable and locked before
    training (a second solve into a folder in use is refused; a fresh run clears an earlier
    run's files); the folder is saved as soon as training ends (every file written to a
    temporary name and renamed, ``solution.json`` last: :mod:`market_env.run_folder`); only then
    are the benchmark, the evaluation, the optional certificate and the figures computed, and
    a failing benchmark costs one line (``benchmark_line``), not the run.

    Returns the comparison of :func:`compare` (or, when the benchmark failed, the metrics of
    :func:`market_env.solution.evaluate`) plus ``verdict`` (:mod:`solvers.neural.convergence`),
    ``converged``, ``stop_reason``, ``train_seconds``, ``solver``, ``rounds_done``, ``out``;
    an interrupted solve (SIGINT/SIGTERM) is saved and returned unevaluated. Raises
    :class:`~solvers.neural.training.TrainingDivergedError` on NaN/explosion (the folder then
    keeps its previous state) and ``ValueError`` for bad inputs, before any training.
    """
    from market_env.run_folder import RunLock, check_writable, clear_stale, read_spec

    from ..threads import resolve_threads

    if resume is not None and out is None:
        out = resume
    out = None if out is None else Path(out)
    if out is not None:
        check_writable(out)
    with RunLock(out) if out is not None else nullcontext():
        if resume is not None:
            check_option_names(options, "solve")
            saved = read_spec(resume).spec.get("training", {}).get("solver", solver)
            if saved not in SOLVERS:
                raise ValueError(
                    f"{short_path(resume)} was not written by a neural solver (training.solver "
                    f"is {short_repr(saved)}; allowed: {sorted(SOLVERS)})"
                )
            solver = saved
            trainer = trainer_class(solver).resume(
                resume, schedule, device=device, progress=progress
            )
            trainer.threads = resolve_threads(threads)
            if tolerances is not None:
                trainer.tolerances = tolerances
            config = trainer.config
        else:
            if config is None:
                raise ValueError("solve needs a MarketConfig (or resume=DIR)")
            trainer = make_trainer(
                config,
                solver,
                schedule=schedule,
                mu=mu,
                generator=generator,
                device=device,
                seed=seed,
                progress=progress,
                threads=threads,
                tolerances=tolerances,
                net_options=net_options,
                **options,
            )
            if out is not None:
                clear_stale(out)
        solution = trainer.train()
        verdict = trainer.verdict
        if out is not None:
            trainer.save(out)
        result = _evaluate_run(
            trainer,
            solution,
            verdict,
            n_eval_paths,
            eval_seed,
            progress,
            certify,
            certify_iterations,
        )
        if out is not None:
            _write_evaluation(out, result, plots)
            result["out"] = str(out)
    solution.to(device)
    return result


def _say(progress: bool, text: str) -> None:
    if progress:
        print(f"[solve] {text}", file=sys.stderr, flush=True)


def _evaluate_run(
    trainer: NeuralTrainer,
    solution: Solution,
    verdict: Any,
    n_paths: int,
    seed: int,
    progress: bool,
    certify: bool,
    certify_iterations: int,
) -> dict[str, Any]:
    """The evaluation part of :func:`solve`, after the run is saved."""
    head = {
        "verdict": verdict.to_dict(),
        "converged": verdict.converged,
        "stop_reason": verdict.stop_reason,
        "train_seconds": trainer.train_seconds,
        "solver": trainer.name,
        "rounds_done": trainer.round,
    }
    _say(progress, verdict.message)
    solution.to("cpu")
    if verdict.stop_reason == "interrupted":
        result: dict[str, Any] = Comparison(
            evaluate(solution, n_paths=min(n_paths, 500), seed=seed)
        )
        result.update(head, benchmark_line="not evaluated against a benchmark: interrupted")
        return result
    _say(progress, f"evaluating on {n_paths} paths (seed {seed}) beside the benchmark")
    try:
        result = compare(solution, n_paths=n_paths, seed=seed)
    except (ValueError, RuntimeError, FloatingPointError, ArithmeticError) as exc:
        result = Comparison(evaluate(solution, n_paths=n_paths, seed=seed))
        result["benchmark_line"] = f"no benchmark: building it failed ({exc})"
        result["benchmark_exists"] = False
    result.update(head)
    _say(progress, result["benchmark_line"])
    if certify:
        from ..exploitability import exploitability

        _say(progress, f"certifying: a best response per agent ({certify_iterations} steps)")
        ex = exploitability(
            solution, n_paths=n_paths, seed=seed, iterations=certify_iterations, progress=progress
        )
        rel = [r for r in ex.relative_gain_per_agent if r == r]
        result["certificate"] = {
            **ex.to_dict(),
            "max_relative_gain": max(rel) if rel else float("nan"),
            "argmax_agent": int(max(range(len(rel)), key=rel.__getitem__)) if rel else -1,
        }
    return result


FIGURES = ("rates.png", "holdings.png", "sigma.png", "mu.png")


def _write_evaluation(out: Path, result: dict[str, Any], plots: bool) -> None:
    """``evaluation.json`` (atomic) and the figures; a figure that fails costs one line."""
    from market_env.run_folder import atomic_write_json

    record = dict(result)
    atomic_write_json(out / EVALUATION_FILE, record, finite=True)
    trajectories = getattr(result, "trajectories", None)
    if plots and trajectories is not None:
        from ..plots import plot_comparison

        traj, ref = trajectories
        try:
            plot_comparison(traj, ref, out, label=result["solver"], benchmark=result["benchmark"])
        except (OSError, ValueError, RuntimeError) as exc:
            print(f"[solve] figures not written: {exc}", file=sys.stderr)
    else:  # never leave an earlier state's figures beside this one
        for name in FIGURES:
            (out / name).unlink(missing_ok=True)
