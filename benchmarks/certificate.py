"""The two-sided equilibrium certificate (MODEL.md §9) on the presets: per agent,
``lower ≤ best-response gain ≤ upper`` with standard errors, for the Riccati truth, the
Reinforced-GAN, the leading order and one SB3 learner, with wall time.

The upper bound is the information-relaxation bound with ``h`` fitted by backward regression
(``solvers.certificate``); the lower bound the better (on validation paths) of the greedy
policy of ``h`` and a best response trained by ``solvers.exploitability`` (``--iterations``
Adam steps). The Reinforced-GAN rows load the saved runs ``benchmarks/results/runs/
<preset>-rgan-s0`` (the default schedule, seed 0); the SB3 row trains ``ppo-shared`` on
``power-2`` with a small budget (``--sb3-timesteps``) inside the script. There is no leading
order for ``N = 10`` (MODEL.md §5), so ``power-10`` has the Reinforced-GAN row only.

    flock /work/notes/heavy.lock python benchmarks/certificate.py
    python benchmarks/certificate.py --quick        # a smoke run (few paths, no file written)

Writes ``benchmarks/results/certificate.json`` and ``certificate.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from provenance import describe, run_meta  # noqa: E402

from market_env import get_preset  # noqa: E402
from market_env.reference import (  # noqa: E402
    DiscreteRiccatiSolution,
    LeadingOrderSolution,
    RiccatiSolution,
)
from market_env.run_folder import atomic_write_json, atomic_write_text  # noqa: E402
from solvers import load_solution  # noqa: E402
from solvers.certificate import certify  # noqa: E402
from solvers.exploitability import train_best_response  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
RUNS = RESULTS / "runs"
GOAL = 5e-3  # bracket width goal for the truth and the Reinforced-GAN on quadratic-10


def _sb3(preset: str, timesteps: int) -> Any:
    from solvers.rl import train_learners

    return train_learners(
        get_preset(preset), "ppo-shared", timesteps=timesteps, seed=0, progress=False
    )


def rows(sb3_timesteps: int) -> list[tuple[str, str, Any]]:
    """``(preset, label, builder)`` of every row."""
    return [
        ("quadratic-10", "Riccati truth (discrete, exact)", lambda c: DiscreteRiccatiSolution(c)),
        ("quadratic-10", "Riccati (continuous, on 100 steps)", lambda c: RiccatiSolution(c)),
        ("quadratic-10", "Reinforced-GAN", lambda c: load_solution(RUNS / "quadratic-10-rgan-s0")),
        ("power-2", "leading order", lambda c: LeadingOrderSolution(c)),
        ("power-2", "Reinforced-GAN", lambda c: load_solution(RUNS / "power-2-rgan-s0")),
        ("power-10", "Reinforced-GAN", lambda c: load_solution(RUNS / "power-10-rgan-s0")),
        (
            "power-2",
            f"SB3 ppo-shared ({sb3_timesteps // 1000}k steps)",
            lambda c: _sb3("power-2", sb3_timesteps),
        ),
    ]


def run_row(preset: str, label: str, build: Any, args: argparse.Namespace) -> dict[str, Any]:
    config = get_preset(preset)
    start = time.perf_counter()
    solution = build(config)
    built = time.perf_counter() - start
    n_paths = args.paths if config.n_agents <= 2 or config.cost_power == 2 else args.paths_power10
    fit_paths = args.fit_paths if n_paths == args.paths else args.paths_power10
    t0 = time.perf_counter()
    br = None
    if args.iterations > 0:
        br = train_best_response(solution, iterations=args.iterations, train_paths=args.train_paths)
    trained = time.perf_counter() - t0
    cert = certify(
        solution,
        n_paths=n_paths,
        seed=0,
        fit_paths=fit_paths,
        nodes=args.nodes,
        best_response=br,
    )
    out = cert.to_dict()
    out.pop("best_response", None)
    if br is not None:
        out["best_response_best_iteration_per_agent"] = br.best
        out["best_response_final_train_gain"] = br.history[-1] if br.history else None
    out.update(
        preset=preset,
        solution=label,
        kind=solution.kind,
        seconds_build=built,
        seconds_best_response=trained,
        seconds_certificate=cert.seconds,
        load_average_1min=round(os.getloadavg()[0], 2),
    )
    return out


def _fmt(x: float) -> str:
    return f"{x:.2e}"


def _slack_detail(inner: dict[str, Any]) -> str:
    """Mean slack and slow paths (absent from results written before they were recorded)."""
    if "mean_slack" not in inner:
        return ""
    return (
        f", mean {_fmt(inner['mean_slack'])}, {inner['fraction_residual_above_1e-6']:.2%} "
        "of paths with residual above 1e-6"
    )


def _width_se(row: dict[str, Any], n: int) -> str:
    if "width_se_per_agent" not in row:
        return "—"
    return _fmt(row["width_se_per_agent"][n] / abs(row["utility_per_agent"][n]))


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Two-sided equilibrium certificate (MODEL.md §9)",
        "",
        describe(result["meta"]),
        "",
        "Per agent n, `lower ≤ G_n ≤ upper`, where `G_n` is agent n's best-response gain "
        "against the solution (a price-taking deviation). Upper: information relaxation "
        f"with `h` fitted by backward regression ({result['settings']['nodes']} "
        "Gauss–Hermite nodes per step); lower: the better (on validation paths) of the "
        "greedy policy of `h` and a trained best response "
        f"({result['settings']['iterations']} Adam steps), clipped at 0. All relative to "
        "`|J_n|`; the row shows the largest over agents. Width goal for the truth and the "
        f"Reinforced-GAN on quadratic-10: ≤ {GOAL:.1%} of `|J_n|`.",
        "",
        "| preset | solution | paths | max upper/\\|J\\| | max lower/\\|J\\| "
        "| max width/\\|J\\| | max s.e. (upper)/\\|J\\| | perfect foresight/\\|J\\| "
        "| ε (natural) | inner residual | wall (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        u = r["utility_per_agent"]
        se = max(s / abs(j) for s, j in zip(r["upper_gain_se_per_agent"], u))
        pf = max(p / abs(j) for p, j in zip(r["perfect_foresight_gain_per_agent"], u))
        wall = r["seconds_build"] + r["seconds_best_response"] + r["seconds_certificate"]
        lines.append(
            f"| {r['preset']} | {r['solution']} | {r['n_paths']} "
            f"| {_fmt(max(r['relative_upper_gain_per_agent']))} "
            f"| {_fmt(max(r['relative_lower_gain_per_agent']))} "
            f"| {_fmt(max(r['relative_width_per_agent']))} | {_fmt(se)} | {_fmt(pf)} "
            f"| {_fmt(r['epsilon'])} | {_fmt(r['inner']['max_residual'])} | {wall:.0f} |"
        )
    lines += ["", "## Per agent", ""]
    for r in result["rows"]:
        fit = r["value_fit"]
        lines += [
            f"### {r['preset']}: {r['solution']}",
            "",
            f"{r['verdict']}. Inner solver: {r['inner']['solver']} (residual "
            f"{_fmt(r['inner']['max_residual'])}, certified slack "
            f"{_fmt(r['inner']['max_slack'])}{_slack_detail(r['inner'])}); h fit: relative "
            f"residual {_fmt(fit.get('max_relative_fit_residual', 0.0))}, quadrature "
            f"change with 2J+1 nodes {_fmt(fit.get('quadrature_error_vs_2J+1_nodes', 0.0))}; "
            f"wall: build {r['seconds_build']:.0f} s, best response "
            f"{r['seconds_best_response']:.0f} s, certificate {r['seconds_certificate']:.0f} s "
            f"(load {r['load_average_1min']}).",
            "",
            "| agent | J_n | lower | ± s.e. | upper | ± s.e. | per-path std (upper) "
            "| width/\\|J\\| | ± s.e. | perfect foresight | lower from |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for n, u in enumerate(r["utility_per_agent"]):
            lines.append(
                f"| {n} | {u:.5f} | {_fmt(r['lower_gain_per_agent'][n])} "
                f"| {_fmt(r['lower_gain_se_per_agent'][n])} "
                f"| {_fmt(r['upper_gain_per_agent'][n])} "
                f"| {_fmt(r['upper_gain_se_per_agent'][n])} "
                f"| {_fmt(r['upper_std_per_path_per_agent'][n])} "
                f"| {_fmt(r['relative_width_per_agent'][n])} "
                f"| {_width_se(r, n)} "
                f"| {_fmt(r['perfect_foresight_gain_per_agent'][n])} "
                f"| {r['lower_source_per_agent'][n]} |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--paths", type=int, default=3000, help="evaluation paths")
    p.add_argument("--fit-paths", type=int, default=4000, help="paths h is fitted on")
    p.add_argument("--paths-power10", type=int, default=1500, help="paths (both) on power-10")
    p.add_argument("--nodes", type=int, default=10)
    p.add_argument("--iterations", type=int, default=100, help="best-response Adam steps")
    p.add_argument("--train-paths", type=int, default=256)
    p.add_argument("--sb3-timesteps", type=int, default=40_000)
    p.add_argument("--only", nargs="*", help="substrings of the row labels to run")
    p.add_argument("--quick", action="store_true", help="smoke run: few paths, nothing written")
    p.add_argument(
        "--report", action="store_true", help="only rebuild certificate.md from the JSON"
    )
    args = p.parse_args(argv)
    if args.report:
        result = json.loads((RESULTS / "certificate.json").read_text())
        atomic_write_text(RESULTS / "certificate.md", markdown(result))
        return 0
    if args.quick:
        args.paths = args.fit_paths = args.paths_power10 = 64
        args.iterations, args.sb3_timesteps = 2, 2000
    meta = run_meta("certificate.py", argv)
    result: dict[str, Any] = {"meta": meta, "settings": vars(args), "rows": []}
    for preset, label, build in rows(args.sb3_timesteps):
        if args.only and not any(s in f"{preset} {label}" for s in args.only):
            continue
        print(f"{preset}: {label} ...", flush=True)
        row = run_row(preset, label, build, args)
        print(
            f"  {row['verdict']}; width/|J| ≤ {max(row['relative_width_per_agent']):.2e}"
            f" ({row['seconds_certificate']:.0f} s)",
            flush=True,
        )
        result["rows"].append(row)
        if not args.quick:
            atomic_write_json(RESULTS / "certificate.json", result)
            atomic_write_text(RESULTS / "certificate.md", markdown(result))
    if args.quick:
        print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
