"""Independent learners against the equilibrium (MODEL.md §9): for ``quadratic-10`` and
``power-2``, every method — benchmark (Riccati truth / leading order), Reinforced-GAN, Combo,
Deep FBSDE, PPO-shared, PPO-IBR, SAC-shared, market-agent game — trained with modest
budgets, evaluated on common paths (MODEL.md §2) and certified by exploitability.

    python benchmarks/compare_learners.py                      # both presets, full budgets
    python benchmarks/compare_learners.py --presets power-2 --timesteps 500000
    python benchmarks/compare_learners.py --merge-only         # rebuild the combined files

Writes ``benchmarks/results/compare_learners/<preset>/`` (``compare.json``, ``compare.md``,
one PNG per method and ``overview.png``) and the combined ``compare_learners.json`` and
``compare_learners.md`` (with the command, date, machine and budgets) in
``benchmarks/results/``. Runs one preset after the other; to use two cores run one process
per preset (``--presets ...``) and then ``--merge-only``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import shlex
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from market_env import get_preset  # noqa: E402
from solvers.compare import ALL_METHODS, CompareBudgets, format_markdown, run_comparison  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PRESETS = ("quadratic-10", "power-2")


def machine() -> str:
    """One line describing where this ran (with the load average: the CPU may be shared)."""
    import stable_baselines3

    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPU cores, {gpu}; "
        f"Python {platform.python_version()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} thread), SB3 {stable_baselines3.__version__}; "
        f"load average at start {os.getloadavg()[0]:.1f}"
    )


def merge(out_root: Path, presets: tuple[str, ...] = PRESETS, note: str | None = None) -> Path:
    """Combine ``<out_root>/<preset>/compare.json`` into ``compare_learners.{json,md}``;
    ``note`` (how the runs were launched, say) is kept in both."""
    results = {}
    for p in presets:
        f = out_root / p / "compare.json"
        if f.is_file():
            results[p] = json.loads(f.read_text())
            (out_root / p / "compare.md").write_text(format_markdown(results[p]) + "\n")
    combined = {"note": note, "presets": results}
    (RESULTS / "compare_learners.json").write_text(json.dumps(combined, indent=2) + "\n")
    lines = [
        "# Independent learners against the equilibrium",
        "",
        "Produced by `benchmarks/compare_learners.py` (see each preset's `run` block for the",
        "exact command, date, machine and budgets). Natural units: `Σ_n J_n` is the summed",
        "utility (paper's normalisation: divide by N·K·T); clearing error = mean |Σ_n φ̇_n/N|²",
        "of the *submitted* rates; path errors are relative L2 errors of the σ, μ, φ̇ paths",
        "against the benchmark on the same noise; exploitability = the largest per-agent gain",
        "of a trained price-taking best response (and that gain over |J_n|); train s = wall",
        "time of training on the machine below. See the README for the reading.",
        "",
    ]
    if note:
        lines += [f"Note: {note}", ""]
    for p, res in results.items():
        run = res.get("run", {})
        lines += [
            f"## {p} (benchmark: {res['benchmark']})",
            "",
            f"- command: `{run.get('command', '?')}`",
            f"- date: {run.get('date', '?')}; machine: {run.get('machine', '?')}",
            f"- budgets: {json.dumps(res['budgets'])}",
            "",
            format_markdown(res),
            "",
        ]
        per_agent = [
            (
                r["method"],
                r.get("exploit_gain_per_agent"),
                r.get("exploit_relative_gain_per_agent"),
                r.get("utility_per_agent"),
            )
            for r in res["rows"]
            if r.get("exploit_gain_per_agent") is not None
        ]
        if per_agent and len(per_agent[0][1]) <= 2:
            lines += ["Exploitability per agent (gain ± s.e., gain/|J_n|):", ""]
            lines += [
                "| method | "
                + " | ".join(f"agent {n + 1}" for n in range(len(per_agent[0][1])))
                + " |"
            ]
            lines += ["|---|" + "---|" * len(per_agent[0][1])]
            for r in res["rows"]:
                if r.get("exploit_gain_per_agent") is None:
                    continue
                cells = [
                    f"{g:.2e} ± {se:.1e} ({'—' if rel is None else f'{rel:.2%}'} of \\|{u:.4f}\\|)"
                    for g, se, rel, u in zip(
                        r["exploit_gain_per_agent"],
                        r["exploit_gain_se_per_agent"],
                        r["exploit_relative_gain_per_agent"],
                        r["utility_per_agent"],
                    )
                ]
                lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
            lines.append("")
        lines += [f"Figures: `benchmarks/results/compare_learners/{p}/*.png`", ""]
    lines += _seed_section(out_root)
    path = RESULTS / "compare_learners.md"
    path.write_text("\n".join(lines))
    return path


def _seed_section(out_root: Path) -> list[str]:
    """Rows of extra runs under ``<out_root>/seeds/*/compare.json`` (other training seeds)."""
    files = sorted((out_root / "seeds").glob("*/compare.json"))
    if not files:
        return []
    lines = [
        "## Other training seeds",
        "",
        "`market-eq compare --preset P --methods M --train-seed S --no-figures --json --out "
        "benchmarks/results/compare_learners/seeds/P-seedS` (same budgets; seed 1 is above).",
        "",
        "| preset | method | train seed | Σ_n J_n (± s.e.) | clearing err | terminal err "
        "| φ̇ path err | exploit max gain | max gain / \\|J_n\\| | train s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in files:
        res = json.loads(f.read_text())
        for r in res["rows"]:
            if "note" in r:
                continue
            lines.append(
                f"| {res['preset']} | {r['method']} | {res['budgets']['train_seed']} "
                f"| {r['utility_sum']:.4f} ± {r['utility_sum_se']:.4f} "
                f"| {r['clearing_error']:.2e} | {r['terminal_error']:.2e} "
                f"| {r['rate_path_rel_err']:.3f} | {r['exploit_max_gain']:.3e} "
                f"| {r['exploit_max_relative_gain']:.2e} | {r['train_seconds']:.0f} |"
            )
    return lines + [""]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=f"budget defaults: {CompareBudgets()} (--quick: {CompareBudgets.quick()})",
    )
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--methods", nargs="+", default=list(ALL_METHODS))
    parser.add_argument("--timesteps", type=int, default=None, help="PPO timesteps")
    parser.add_argument("--sac-timesteps", type=int, default=None)
    parser.add_argument("--neural-seconds", type=float, default=None)
    parser.add_argument("--neural-epoch-fraction", type=float, default=None)
    parser.add_argument("--exploit-iterations", type=int, default=None)
    parser.add_argument("--exploit-train-paths", type=int, default=None)
    parser.add_argument("--paths", dest="n_paths", metavar="PATHS", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None, help="evaluation seed")
    parser.add_argument("--train-seed", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="smoke-test budgets")
    parser.add_argument("--merge-only", action="store_true")
    parser.add_argument("--note", default=None, help="a note for the combined files")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out_root = RESULTS / "compare_learners"
    if not args.merge_only:
        budget_fields = {f.name for f in dataclasses.fields(CompareBudgets)}
        budgets = CompareBudgets.from_options(
            quick=args.quick, **{k: v for k, v in vars(args).items() if k in budget_fields}
        )
        command = "python benchmarks/compare_learners.py " + shlex.join(
            sys.argv[1:] if argv is None else argv
        )
        for preset in args.presets:
            start = dt.datetime.now(dt.timezone.utc)
            out = out_root / preset
            result = run_comparison(
                get_preset(preset),
                args.methods,
                budgets=budgets,
                device=args.device,
                out=out,
                progress=True,
                preset=preset,
            )
            end = dt.datetime.now(dt.timezone.utc)
            result["run"] = {
                "command": command.strip(),
                "date": f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC",
                "wall_seconds": (end - start).total_seconds(),
                "machine": machine(),
            }
            (out / "compare.json").write_text(json.dumps(result, indent=2) + "\n")
            print(format_markdown(result), flush=True)
    print(f"wrote {merge(out_root, note=args.note)}")


if __name__ == "__main__":
    main()
