"""Learning curves of independent learners against the equilibrium (MODEL.md §2, §9): do they
approach it, how fast, and where do they stall?

For each preset (``quadratic-10``: discrete Riccati truth; ``power-2``: leading order, chosen
by :func:`market_env.reference.benchmark.choose_benchmark`) and each learner, one training run
is stopped at checkpoints of 1e5, 3e5, 1e6, 3e6, 1e7, 3e7, 1e8 environment steps (up to
``--max-steps``). An environment step is one agent-step of one sub-environment (SB3's
timesteps; RLlib's sampled env steps): one step of one trader on one path. At each checkpoint
the current policy becomes a solution (``S_0`` calibrated on separate paths) and is judged on
common seeded paths by the same code as ``market-eq compare`` (:func:`solvers.compare.
evaluate_row`):

* exploitability: the largest per-agent best-response gain over ``|J_n|`` (MODEL.md §9 lower
  bound, :func:`solvers.exploitability.exploitability`), with its standard error;
* utility gap: ``(Σ_n J_n − Σ_n J_n^bench)/|Σ_n J_n^bench|`` on the same paths;
* rate-path error: relative L2 error of ``φ̇`` against the benchmark on the same noise;
* wall time of training so far, and the training steps per second.

Learners: ``ppo-shared-sb3`` (SB3 PPO, one shared policy over B×N sub-environments),
``ppo-shared-rllib`` (RLlib PPO, ``--rllib-runners`` env runners each holding the batched
``VectorEnv``), ``a2c-shared-sb3`` (SB3 A2C, the same shared setting). Each (preset, learner)
run stops before a checkpoint whose training time, extrapolated at the rate so far, would
exceed ``--budget-s`` seconds, so a session on a small machine ends with partial curves; the
results say where each stopped and at what rate.

    python benchmarks/learner_curves.py --max-steps 1e7 --budget-s 300
    python benchmarks/learner_curves.py --max-steps 1e8 --budget-s 1e9     # the full curve
    python benchmarks/learner_curves.py --plot-only                         # redraw
    python benchmarks/learner_curves.py --merge runs/a runs/b   # curves run apart, into one

Curves run in separate processes (say one per preset, at the same time) write to separate
``--out`` folders; ``--merge`` copies their curves into ``--out`` (a curve replaces the one of
the same preset and learner), and every curve keeps the command, date, commit and load that
made it (``meta``), listed under the Markdown table.

Writes ``benchmarks/results/learner_curves.{json,md,png}`` (JSON after every checkpoint).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.provenance import describe, run_meta  # noqa: E402
from market_env import ClearingDrift, compute_metrics, get_preset  # noqa: E402
from market_env.reference.benchmark import choose_benchmark  # noqa: E402
from market_env.solution import simulate  # noqa: E402
from solvers.compare import CompareBudgets, evaluate_row  # noqa: E402
from solvers.rl import RLScaling, resolve_plan  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PRESETS = ("quadratic-10", "power-2")
LEARNERS = ("ppo-shared-sb3", "ppo-shared-rllib", "a2c-shared-sb3")
CHECKPOINTS = (1e5, 3e5, 1e6, 3e6, 1e7, 3e7, 1e8)


class SB3Run:
    """An SB3 shared learner trained in stages (the :mod:`solvers.rl.training` pieces)."""

    def __init__(self, plan: Any, scaling: RLScaling) -> None:
        from solvers.rl.training import make_model, trader_env

        self.plan, self.scaling = plan, scaling
        env = trader_env(plan, scaling, "shared", plan.seed, ClearingDrift())
        self.model = make_model(plan, env, plan.seed)
        self.train_seconds = 0.0

    @property
    def steps(self) -> int:
        return int(self.model.num_timesteps)

    def train(self, until: int) -> int:
        from solvers.rl.training import learn

        start = time.perf_counter()
        learn(self.model, max(1, until - self.steps))
        self.train_seconds += time.perf_counter() - start
        return self.steps

    def solution(self) -> Any:
        from solvers.rl.training import TrainedModels, to_solution

        phases = [{"phase": "traders", "timesteps": self.steps}]
        sol = to_solution(
            self.plan, self.scaling, TrainedModels([self.model], phases=phases), time.perf_counter()
        )
        sol.training["train_seconds"] = self.train_seconds
        return sol

    def close(self) -> None:
        self.model.env.close()


class RLlibRun:
    """The RLlib shared learner (:class:`solvers.rl.rllib.RLlibPPO`)."""

    def __init__(self, plan: Any, scaling: RLScaling) -> None:
        from solvers.rl.rllib import RLlibPPO

        self.run = RLlibPPO(plan, scaling)

    @property
    def steps(self) -> int:
        return self.run.steps

    @property
    def train_seconds(self) -> float:
        return self.run.train_seconds

    def train(self, until: int) -> int:
        return self.run.train(until)

    def solution(self) -> Any:
        return self.run.solution()

    def close(self) -> None:
        self.run.close()


def start_run(learner: str, preset: str, args: argparse.Namespace) -> Any:
    config = get_preset(preset)
    scaling = RLScaling.from_config(config)
    common = dict(timesteps=int(args.max_steps), seed=args.seed, device=args.device)
    if learner == "ppo-shared-rllib":
        plan = resolve_plan(
            config, "ppo-shared", backend="rllib", num_env_runners=args.rllib_runners, **common
        )
        return RLlibRun(plan, scaling)
    algo = learner.split("-")[0]
    plan = resolve_plan(config, algo=algo, flavour="shared", price="clearing", **common)
    return SB3Run(plan, scaling)


def point(row: dict[str, Any], bench_sum: float, run: Any, steps_target: float) -> dict:
    """One checkpoint's numbers from an :func:`evaluate_row` row."""
    rel = row.get("exploit_relative_gain_per_agent") or []
    utils = row["utility_per_agent"]
    worst = max(range(len(rel)), key=lambda n: rel[n] if rel[n] is not None else -1) if rel else 0
    se = row.get("exploit_gain_se_per_agent")
    return {
        "checkpoint": steps_target,
        "env_steps": run.steps,
        "train_seconds": run.train_seconds,
        "env_steps_per_second": run.steps / run.train_seconds if run.train_seconds else None,
        "exploit_max_relative_gain": row.get("exploit_max_relative_gain"),
        "exploit_max_relative_gain_se": se[worst] / abs(utils[worst]) if se else None,
        "exploit_worst_agent": worst,
        "exploit_gain_per_agent": row.get("exploit_gain_per_agent"),
        "exploit_gain_se_per_agent": se,
        "utility_sum": row["utility_sum"],
        "utility_sum_se": row["utility_sum_se"],
        "utility_gap": (row["utility_sum"] - bench_sum) / abs(bench_sum),
        "rate_path_rel_err": row["rate_path_rel_err"],
        "sigma_path_rel_err": row["sigma_path_rel_err"],
        "mu_path_rel_err": row["mu_path_rel_err"],
        "clearing_error": row["clearing_error"],
        "terminal_error": row["terminal_error"],
        "load_average_1min": os.getloadavg()[0],
    }


def run_curves(args: argparse.Namespace, result: dict[str, Any], out: Path) -> None:
    budgets = CompareBudgets(
        n_paths=args.eval_paths,
        exploit_iterations=args.exploit_iterations,
        exploit_train_paths=args.exploit_train_paths,
    )
    checkpoints = [c for c in CHECKPOINTS if c <= args.max_steps]
    for preset in args.presets:
        config = get_preset(preset)
        choice = choose_benchmark(config)
        reference = simulate(choice.reference, budgets.n_paths, budgets.seed)
        bench_row, _ = evaluate_row("benchmark", choice.reference, reference, budgets)
        entry = result["presets"].setdefault(preset, {"learners": {}})
        entry["benchmark"] = choice.reference_label
        entry["benchmark_utility_sum"] = compute_metrics(reference)["utility_sum"]
        entry["benchmark_exploit_max_relative_gain"] = bench_row.get("exploit_max_relative_gain")
        for learner in args.learners:
            torch.manual_seed(args.seed)
            run = start_run(learner, preset, args)
            # Each curve keeps the command that made it, so curves from separate runs merge.
            curve: dict[str, Any] = {"points": [], "stopped": None, "meta": result["meta"]}
            entry["learners"][learner] = curve
            try:
                for target in checkpoints:
                    run.train(int(target))
                    sol = run.solution()
                    row, _ = evaluate_row(learner, sol, reference, budgets)
                    p = point(row, entry["benchmark_utility_sum"], run, target)
                    curve["points"].append(p)
                    print(
                        f"[{preset} {learner}] {p['env_steps']:.3g} steps "
                        f"{p['train_seconds']:.0f} s: exploit {p['exploit_max_relative_gain']}, "
                        f"utility gap {p['utility_gap']:.3g}, "
                        f"rate err {p['rate_path_rel_err']:.3g}",
                        file=sys.stderr,
                        flush=True,
                    )
                    write(result, out)
                    later = [c for c in checkpoints if c > run.steps]
                    projected = run.train_seconds * later[0] / run.steps if later else 0.0
                    if projected > args.budget_s:
                        curve["stopped"] = (
                            f"time budget: {later[0]:.0e} steps would take about "
                            f"{projected:.0f} s of training at the rate so far "
                            f"(> --budget-s {args.budget_s:g})"
                        )
                        break
                else:
                    curve["stopped"] = f"reached --max-steps {args.max_steps:g}"
            finally:
                run.close()
            write(result, out)


def merge(result: dict[str, Any], folders: list[str]) -> dict[str, Any]:
    """Copy the curves of the ``learner_curves.json`` in each of ``folders`` into ``result``
    (a curve replaces the one of the same preset and learner); each keeps its ``meta``."""
    for folder in folders:
        path = Path(folder) / "learner_curves.json"
        if not path.is_file():
            raise SystemExit(f"learner_curves.py: --merge: no {path}")
        other = json.loads(path.read_text())
        for preset, entry in other["presets"].items():
            target = result["presets"].setdefault(preset, {"learners": {}})
            for key, value in entry.items():
                if key != "learners":
                    target[key] = value
            for learner, curve in entry["learners"].items():
                curve.setdefault("meta", other["meta"])
                curve.setdefault("budgets", other.get("budgets"))
                target["learners"][learner] = curve
    return result


def fmt(x: Any, spec: str) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return format(x, spec)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Learning curves: independent learners against the equilibrium",
        "",
        describe(result["meta"]),
        "",
        "An environment step is one agent-step of one sub-environment (one trader, one path, "
        "one time step). exploit = largest per-agent best-response gain / |J_n| (± s.e.); "
        "utility gap = (Σ J_n − Σ J_n^bench)/|Σ J_n^bench| on common paths; rate err = relative "
        f"L2 error of φ̇ against the benchmark. Evaluation: {result['budgets']['n_paths']} paths, "
        f"best responses of {result['budgets']['exploit_iterations']} Adam steps.",
    ]
    for preset, entry in result["presets"].items():
        lines += [
            "",
            f"## {preset} (benchmark: {entry.get('benchmark')}, Σ J_n = "
            f"{entry.get('benchmark_utility_sum', math.nan):.4g}; its own exploit "
            f"{fmt(entry.get('benchmark_exploit_max_relative_gain'), '.2%')})",
            "",
            "| learner | env steps | train s | steps/s | exploit (± s.e.) | max abs gain "
            "| utility gap | rate err |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for learner, curve in entry["learners"].items():
            for p in curve["points"]:
                ex = p["exploit_max_relative_gain"]
                ex_se = p["exploit_max_relative_gain_se"]
                lines.append(
                    f"| {learner} | {p['env_steps']:.3g} | {p['train_seconds']:.0f} "
                    f"| {fmt(p['env_steps_per_second'], '.3g')} "
                    f"| {fmt(ex, '.2%')} ± {fmt(ex_se, '.2%')} "
                    f"| {fmt(max(p['exploit_gain_per_agent'] or [math.nan]), '.2e')} "
                    f"| {p['utility_gap']:+.1%} "
                    f"| {p['rate_path_rel_err']:.3f} |"
                )
            if curve.get("stopped"):
                lines.append(f"| {learner} | stopped: {curve['stopped']} | | | | | | |")
    made = [
        f"- {preset}, {learner}: `{c['meta']['command']}` on {c['meta']['date']}, commit "
        f"{c['meta']['commit']}, 1-min load {c['meta']['load_average_1min']} at the start"
        for preset, entry in result["presets"].items()
        for learner, c in entry["learners"].items()
        if c.get("meta")
    ]
    if made:
        lines += ["", "Each curve was made by:", "", *made]
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    presets = list(result["presets"])
    metrics = [
        ("exploit_max_relative_gain", "exploitability (max gain / |J_n|)"),
        ("utility_gap", "|utility gap| to benchmark"),
        ("rate_path_rel_err", "rate-path rel. L2 error"),
    ]
    fig, axes = plt.subplots(
        len(metrics), len(presets), figsize=(5 * len(presets), 9), squeeze=False
    )
    for j, preset in enumerate(presets):
        entry = result["presets"][preset]
        for i, (key, label) in enumerate(metrics):
            ax = axes[i][j]
            for learner, curve in entry["learners"].items():
                pts = [p for p in curve["points"] if p.get(key) is not None]
                if pts:
                    ax.plot(
                        [p["env_steps"] for p in pts],
                        [abs(p[key]) for p in pts],
                        marker="o",
                        label=learner,
                    )
            if key == "exploit_max_relative_gain" and entry.get(
                "benchmark_exploit_max_relative_gain"
            ):
                ax.axhline(
                    entry["benchmark_exploit_max_relative_gain"],
                    color="k",
                    ls="--",
                    label="benchmark's own",
                )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("environment steps (agent-steps)")
            ax.set_ylabel(label)
            ax.set_title(preset)
            ax.grid(True, which="both", alpha=0.3)
            if i == 0:
                ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(result: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "learner_curves.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "learner_curves.md").write_text(markdown(result))
    plot(result, out / "learner_curves.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=LEARNERS)
    parser.add_argument("--max-steps", type=float, default=1e7)
    parser.add_argument("--budget-s", type=float, default=300.0, help="training s per run")
    parser.add_argument("--rllib-runners", type=int, default=2)
    parser.add_argument("--eval-paths", type=int, default=1000)
    parser.add_argument("--exploit-iterations", type=int, default=60)
    parser.add_argument("--exploit-train-paths", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--plot-only", action="store_true")
    parser.add_argument(
        "--merge", nargs="+", metavar="DIR", help="merge the curves in these result folders"
    )
    parser.add_argument(
        "--append", action="store_true", help="keep the presets/learners already in the JSON"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.plot_only:
        write(json.loads((out / "learner_curves.json").read_text()), out)
        return 0
    if args.merge:
        path = out / "learner_curves.json"
        result = json.loads(path.read_text()) if path.exists() else {"presets": {}}
        merge(result, args.merge)
        result["meta"] = run_meta(
            "learner_curves.py", argv, env_step="one agent-step of one sub-env"
        )
        write(result, out)
        return 0
    torch.set_num_threads(1)
    result: dict[str, Any] = {"presets": {}}
    if args.append and (out / "learner_curves.json").exists():
        result = json.loads((out / "learner_curves.json").read_text())
    result["meta"] = run_meta("learner_curves.py", argv, env_step="one agent-step of one sub-env")
    result["budgets"] = {
        "n_paths": args.eval_paths,
        "exploit_iterations": args.exploit_iterations,
        "exploit_train_paths": args.exploit_train_paths,
        "max_steps": args.max_steps,
        "budget_s": args.budget_s,
        "rllib_runners": args.rllib_runners,
        "seed": args.seed,
    }
    run_curves(args, result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
