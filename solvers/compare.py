"""Every method on one market, one table: the benchmark (Riccati truth or leading order), the
neural solvers (Reinforced-GAN, Combo, Deep FBSDE) and the independent SB3 learners
judged on common paths by the same metrics (MODEL.md §2) and by their
exploitability (:func:`solvers.exploitability.exploitability`).

:func:`run_comparison` in Python; on the command line ``market-eq compare --preset
quadratic-10 [--methods ...] [--quick] [--json] [--out DIR]`` (``solvers/cli/compare.py``);
``benchmarks/compare_learners.py`` runs the presets ``quadratic-10`` and ``power-2`` and
writes ``benchmarks/results/``.

Learners train with Stable-Baselines3, or with Ray RLlib (``CompareBudgets.backend="rllib"``,
``market-eq compare --backend rllib``: ``ppo-shared`` over RLlib env runners; the other
learner methods then fail with a row naming what RLlib supports).

Per method: train (wall time), roll out on ``n_paths`` paths of ``seed`` with
:func:`market_env.solution.simulate` (the benchmark on the same noise), :func:`market_env.
compute_metrics`, :func:`market_env.path_errors` against the benchmark, and the best-response
gains. Methods whose solver cannot be imported or fails are kept as rows with a note.
"""

from __future__ import annotations

import json
import math
import sys
import time
import traceback
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from market_env import MarketConfig, Trajectory, compute_metrics, path_errors
from market_env.device import resolve_device
from market_env.reference.benchmark import choose_benchmark, finite_metrics
from market_env.solution import Solution, simulate

__all__ = [
    "ALL_METHODS",
    "NEURAL_METHODS",
    "LEARNER_METHODS",
    "CompareBudgets",
    "evaluate_row",
    "known_methods",
    "run_comparison",
    "format_markdown",
]

#: Neural solvers by method name -> ``solvers.neural`` solver name.
NEURAL_METHODS = {"reinforced-gan": "reinforced-gan", "combo": "combo", "deep-fbsde": "fbsde"}
#: Independent learners of the table (names of :data:`solvers.rl.METHODS`).
LEARNER_METHODS = ("ppo-shared", "ppo-ibr", "sac-shared", "market-game")
#: The table's methods, in order.
ALL_METHODS = ("benchmark", *NEURAL_METHODS, *LEARNER_METHODS)


def known_methods() -> list[str]:
    """Every method :func:`run_comparison` accepts: :data:`ALL_METHODS` and the rest of
    :data:`solvers.rl.METHODS`."""
    from .rl import METHODS

    return ["benchmark", *NEURAL_METHODS, *METHODS]


@dataclass
class CompareBudgets:
    """Training and certification budgets of a comparison.

    Attributes:
        timesteps: SB3 timesteps of each on-policy learner (PPO-shared, PPO-IBR, market game).
        sac_timesteps: SB3 timesteps of each off-policy learner (SAC is ~20× slower per step).
        neural_seconds: optional wall-clock cap of each neural solver (its schedule's
            ``max_seconds``; default none, so a seed gives the same table on any machine;
            a capped solver that hits it is marked NOT CONVERGED in its row).
        neural_schedule: ``"default"`` (:func:`solvers.neural.default_schedule` with its
            epochs per round scaled by ``neural_epoch_fraction``, same rounds) or ``"quick"``
            (``solvers.neural.SCHEDULES["quick"]``).
        neural_epoch_fraction: the scale of the default schedule's epochs per round.
        exploit_iterations, exploit_train_paths: best-response training of the certificate.
        n_paths, seed: the common evaluation paths (also those of the certificate).
        train_seed: seed of every method's training (networks, training paths), kept apart
            from the evaluation seed so no method trains on the evaluation paths.
        backend: who trains the learners: ``"sb3"`` or ``"rllib"``
            (:func:`solvers.rl.train_learners`).
        num_env_runners: RLlib env runners (``None``: the learners' default, 2).
        bound: also bracket each method's gains from above (the information-relaxation
            upper bound of MODEL.md §9, :func:`solvers.certificate.certify`) on the same
            evaluation paths: the columns ``ε / |J_n|`` and ``width / |J_n|``.
    """

    timesteps: int = 2_000_000
    sac_timesteps: int = 100_000
    neural_seconds: float | None = None
    neural_schedule: str = "default"
    neural_epoch_fraction: float = 0.15
    exploit_iterations: int = 60
    exploit_train_paths: int = 256
    n_paths: int = 3000
    seed: int = 0
    train_seed: int = 1
    backend: str = "sb3"
    num_env_runners: int | None = None
    bound: bool = False

    def __post_init__(self) -> None:
        if self.backend not in ("sb3", "rllib"):
            raise ValueError(f"backend must be one of ['sb3', 'rllib'], got {self.backend!r}")

    @classmethod
    def quick(cls, **changes: Any) -> CompareBudgets:
        """Seconds per method: a smoke test, not a result."""
        values = dict(
            timesteps=2_000,
            sac_timesteps=1_000,
            neural_seconds=5.0,
            neural_schedule="quick",
            exploit_iterations=2,
            exploit_train_paths=32,
            n_paths=200,
        )
        values.update(changes)
        return cls(**values)

    @classmethod
    def from_options(cls, quick: bool = False, **options: Any) -> CompareBudgets:
        """The full budgets, or with ``quick`` those of :meth:`quick`, with every option that
        is not ``None`` applied: how ``market-eq compare`` and ``benchmarks/compare_learners.py``
        turn their options into budgets (an option not given keeps the chosen default, so
        ``--quick`` is never overridden by a full default)."""
        changes = {k: v for k, v in options.items() if v is not None}
        return cls.quick(**changes) if quick else cls(**changes)


def _train(
    name: str, config: MarketConfig, budgets: CompareBudgets, device: str, progress: bool
) -> Solution:
    if name == "benchmark":
        choice = choose_benchmark(config)
        if choice.solution is None:
            raise _NoBenchmark(choice.line)
        return choice.solution
    if name in NEURAL_METHODS:
        from .neural import SCHEDULES, default_schedule, make_trainer

        solver = NEURAL_METHODS[name]
        if budgets.neural_schedule == "default":
            schedule = default_schedule(solver)
            f = budgets.neural_epoch_fraction
            for key in ("gen_epochs", "disc_epochs"):
                if hasattr(schedule, key):
                    setattr(schedule, key, max(1, round(getattr(schedule, key) * f)))
        else:
            schedule = replace(SCHEDULES[budgets.neural_schedule])
        if budgets.neural_seconds is not None:
            schedule = replace(schedule, max_seconds=budgets.neural_seconds)
        trainer = make_trainer(
            config,
            solver,
            schedule=schedule,
            seed=budgets.train_seed,
            device=_training_device(device),
            progress=False,
        )
        solution = trainer.train()
        if hasattr(solution, "to"):
            solution.to("cpu")
        solution.training = {"verdict": trainer.verdict.to_dict()}
        return solution
    from .rl import METHODS, train_learners

    algo = METHODS[name].algo
    steps = budgets.timesteps if algo in ("ppo", "a2c") else budgets.sac_timesteps
    backend: dict[str, Any] = {}
    if budgets.backend == "rllib":
        backend = {"backend": "rllib", "num_env_runners": budgets.num_env_runners}
    return train_learners(
        config,
        name,
        timesteps=steps,
        seed=budgets.train_seed,
        device=device,
        progress=progress,
        **backend,
    )


class _NoBenchmark(Exception):
    """The config has no benchmark (its row says why)."""


def _training_device(device: str) -> str:
    """``device`` with ``"auto"`` resolved (CUDA when present), as the result records it."""
    return str(resolve_device(device)) if device == "auto" else device


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def evaluate_row(
    name: str,
    solution: Solution,
    reference: Trajectory,
    budgets: CompareBudgets,
) -> tuple[dict[str, Any], Trajectory]:
    """One row of the table: ``solution`` on ``budgets.n_paths`` paths of ``budgets.seed``
    (metrics, path errors against the ``reference`` rollout on the same noise) and its
    best-response gains (``exploit_*``; a failed certificate leaves ``exploit_note``).
    Returns the row and the solution's trajectory."""
    from .exploitability import exploitability

    traj = simulate(solution, budgets.n_paths, budgets.seed)
    metrics = compute_metrics(traj)
    row: dict[str, Any] = {
        "method": name,
        "solution": getattr(solution, "label", solution.kind),
        "utility_sum": metrics["utility_sum"],
        "utility_sum_se": metrics["utility_sum_se"],
        "utility_per_agent": metrics["utility_per_agent"],
        "clearing_error": metrics["clearing_error"],
        "terminal_error": metrics["terminal_error"],
        "S0": metrics["S0"],
        "mu0": metrics["mu0"],
        "sigma0": metrics["sigma0"],
    }
    row.update(path_errors(traj, reference))
    start = time.perf_counter()
    try:
        ex = exploitability(
            solution,
            n_paths=budgets.n_paths,
            seed=budgets.seed,
            iterations=budgets.exploit_iterations,
            train_paths=budgets.exploit_train_paths,
        )
        rel = [_finite(r) for r in ex.relative_gain_per_agent]
        row.update(
            exploit_gain_per_agent=ex.gain_per_agent,
            exploit_gain_se_per_agent=ex.gain_se_per_agent,
            exploit_relative_gain_per_agent=rel,
            exploit_max_gain=max(ex.gain_per_agent),
            exploit_max_relative_gain=max((r for r in rel if r is not None), default=None),
        )
    except (FloatingPointError, RuntimeError, ValueError) as exc:
        row["exploit_note"] = f"exploitability failed: {exc}"
    row["exploit_seconds"] = time.perf_counter() - start
    if budgets.bound:
        row.update(bracket_row(solution, budgets))
    return row, traj


def bracket_row(solution: Solution, budgets: CompareBudgets) -> dict[str, Any]:
    """The two-sided certificate of ``solution`` on the comparison's evaluation paths
    (MODEL.md §9): ``bracket_*`` keys (lower and upper gains per agent, the largest upper
    bound and width relative to ``|J_n|``), or ``bracket_note`` when it fails."""
    from .certificate import certify

    start = time.perf_counter()
    out: dict[str, Any] = {}
    try:
        cert = certify(solution, n_paths=budgets.n_paths, seed=budgets.seed)
        widths = [
            (u - lo) / abs(j) if j else None
            for u, lo, j in zip(
                cert.upper_gain_per_agent, cert.lower_gain_per_agent, cert.utility_per_agent
            )
        ]
        out.update(
            bracket_lower_per_agent=cert.lower_gain_per_agent,
            bracket_upper_per_agent=cert.upper_gain_per_agent,
            bracket_upper_se_per_agent=cert.upper_gain_se_per_agent,
            bracket_epsilon=_finite(cert.epsilon),
            bracket_max_relative_upper=_finite(cert.epsilon_relative),
            bracket_max_relative_width=max((w for w in widths if w is not None), default=None),
            bracket_verdict=cert.verdict,
        )
    except (FloatingPointError, RuntimeError, ValueError) as exc:
        out["bracket_note"] = f"certificate failed: {exc}"
    out["bracket_seconds"] = time.perf_counter() - start
    return out


def run_comparison(
    config: MarketConfig,
    methods: list[str] | tuple[str, ...] = ALL_METHODS,
    *,
    budgets: CompareBudgets | None = None,
    device: str = "auto",
    out: str | Path | None = None,
    figures: bool = True,
    progress: bool = False,
    preset: str | None = None,
) -> dict[str, Any]:
    """Train and judge each of ``methods`` on ``config`` (module docstring).

    Args:
        config: the market.
        methods: names from :data:`ALL_METHODS` (or any of :data:`solvers.rl.METHODS`).
        budgets: :class:`CompareBudgets` (default: the full budgets).
        device: for training (``"auto"``: CUDA when available); evaluation runs on the CPU.
        out: a folder for ``compare.json``, ``compare.md`` and the figures (optional).
        figures: write the figures when ``out`` is given.
        progress: print progress to stderr.
        preset: the preset's name, recorded in the result.

    Returns:
        ``{"preset", "config", "benchmark", "budgets", "rows": [...], "figures": [...]}``;
        each row holds the metrics of :func:`market_env.compute_metrics`, the path errors
        against the benchmark, ``exploit_max_gain``, ``exploit_max_relative_gain`` (and per
        agent), ``train_seconds``, or a ``note`` when the method was skipped or failed.
    """
    known = known_methods()
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; known methods: {known}")
    if not methods:
        raise ValueError(f"give at least one method; known methods: {known}")
    budgets = CompareBudgets() if budgets is None else budgets
    choice = choose_benchmark(config)
    reference = simulate(choice.reference, budgets.n_paths, budgets.seed)
    if not finite_metrics(compute_metrics(reference)):
        choice = choice.failed("its own rollout is not finite")
        reference = simulate(choice.reference, budgets.n_paths, budgets.seed)
    benchmark = choice.reference
    if progress:
        print(f"[compare] {choice.line}", flush=True, file=sys.stderr)
    rows: list[dict[str, Any]] = []
    trajectories: dict[str, Trajectory] = {}
    for name in methods:
        if progress:
            print(f"[compare] {name} ...", flush=True, file=sys.stderr)
        torch.manual_seed(budgets.train_seed)
        start = time.perf_counter()
        try:
            solution = _train(name, config, budgets, device, progress)
        except _NoBenchmark as exc:
            rows.append({"method": name, "note": str(exc)})
            continue
        except ImportError as exc:
            rows.append({"method": name, "note": f"skipped: solver not importable ({exc})"})
            continue
        except Exception as exc:  # a solver failure is a result, not a crash of the table
            rows.append(
                {
                    "method": name,
                    "note": f"failed: {type(exc).__name__}: {exc}",
                    "train_seconds": time.perf_counter() - start,
                    "traceback": traceback.format_exc(limit=3),
                }
            )
            continue
        train_seconds = time.perf_counter() - start
        row, traj = evaluate_row(name, solution, reference, budgets)
        row["train_seconds"] = train_seconds
        if isinstance(getattr(solution, "training", None), dict):
            row["backend"] = solution.training.get("backend", "sb3")
        if name == "benchmark":
            row["solution"] = benchmark.label
        training = getattr(solution, "training", None)
        if isinstance(training, dict):
            row["training"] = training
            verdict = training.get("verdict")
            if isinstance(verdict, dict):
                row["converged"] = verdict.get("converged")
                row["verdict"] = verdict.get("message")
        rows.append(row)
        trajectories[name] = traj
    result: dict[str, Any] = {
        "preset": preset,
        "config": config.to_dict(),
        "benchmark": choice.reference_label,
        "benchmark_line": choice.line,
        "benchmark_exists": choice.solution is not None,
        "budgets": asdict(budgets),
        "device": _training_device(device),
        "rows": rows,
        "figures": [],
    }
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if figures and trajectories:
            from .plots import plot_methods

            result["figures"] = [
                str(p) for p in plot_methods(trajectories, reference, out, choice.reference_label)
            ]
        (out / "compare.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / "compare.md").write_text(format_markdown(result) + "\n")
    return result


def _fmt(x: Any, spec: str) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return format(x, spec)


def format_markdown(result: dict[str, Any]) -> str:
    """The comparison as a Markdown table (natural units; ``Σ_n J_n`` with its s.e.)."""
    head = (
        "| method | Σ_n J_n (± s.e.) | clearing err | terminal err | S_0 | μ_0 | σ_0 "
        "| σ path err | μ path err | φ̇ path err | exploit max gain | max gain / \\|J_n\\| "
        "| train s |"
    )
    bound = any("bracket_seconds" in r for r in result["rows"])
    if bound:
        extra = "| ε / \\|J_n\\| (upper) | width / \\|J_n\\| "
        head = head[: -len("| train s |")] + extra + "| train s |"
    columns = 15 if bound else 13
    lines = [head, "|" + "---|" * columns]
    if result.get("benchmark_line"):
        lines.insert(0, result["benchmark_line"] + "\n")
    for r in result["rows"]:
        if "note" in r:
            note = str(r["note"]).replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {r['method']} | {note} |" + " |" * (columns - 2))
            continue
        label = r["method"] if r["method"] != "benchmark" else f"benchmark ({r['solution']})"
        if r.get("backend") == "rllib":
            label += " (RLlib)"
        if r.get("converged") is False:
            label += f" ({r['verdict']})"
        lines.append(
            "| "
            + " | ".join(
                [
                    label,
                    f"{r['utility_sum']:.4f} ± {r['utility_sum_se']:.4f}",
                    _fmt(r["clearing_error"], ".2e"),
                    _fmt(r["terminal_error"], ".2e"),
                    _fmt(r["S0"], ".4f"),
                    _fmt(r["mu0"], ".4f"),
                    _fmt(r["sigma0"], ".4f"),
                    _fmt(r["sigma_path_rel_err"], ".3f"),
                    _fmt(r["mu_path_rel_err"], ".3f"),
                    _fmt(r["rate_path_rel_err"], ".3f"),
                    _fmt(r.get("exploit_max_gain"), ".3e"),
                    _fmt(r.get("exploit_max_relative_gain"), ".2e"),
                    *(
                        [
                            _fmt(r.get("bracket_max_relative_upper"), ".2e"),
                            _fmt(r.get("bracket_max_relative_width"), ".2e"),
                        ]
                        if bound
                        else []
                    ),
                    _fmt(r.get("train_seconds"), ".0f"),
                ]
            )
            + " |"
        )
    return "\n".join(lines)
