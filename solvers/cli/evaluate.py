"""``market-eq evaluate``: roll a benchmark or a saved solution out on seeded paths and print
the MODEL.md §2 metrics."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import (
    add_evaluation_arguments,
    add_json_argument,
    add_solution_argument,
    add_threads_argument,
    print_json,
    saved_run_status,
    solution_from_args,
)

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Register ``market-eq evaluate`` on the ``market-eq`` sub-parsers ``sub``."""
    p = sub.add_parser(
        "evaluate",
        help="roll a solution out on seeded paths and print its metrics",
        description="Roll a benchmark or a saved solution out in the batched market and "
        "print S0, mu0, sigma0, utilities, clearing and terminal errors.",
    )
    add_solution_argument(p)
    add_evaluation_arguments(p)
    add_json_argument(p)
    add_threads_argument(p)
    p.set_defaults(func=run)


def format_table(metrics: dict[str, Any]) -> str:
    """The metrics of one evaluation as an aligned two-column table."""
    rows = [
        ("solution", metrics.get("solution")),
        ("paths / seed", f"{metrics['n_paths']} / {metrics['seed']}"),
        ("S0", f"{metrics['S0']:.6f}"),
        ("mu0", f"{metrics['mu0']:.6f}"),
        ("sigma0", f"{metrics['sigma0']:.6f}"),
        ("utility (sum)", f"{metrics['utility_sum']:.4f} ± {metrics['utility_sum_se']:.4f}"),
        ("clearing error", f"{metrics['clearing_error']:.3e}"),
        ("terminal error", f"{metrics['terminal_error']:.3e}"),
    ]
    for n, (u, se) in enumerate(zip(metrics["utility_per_agent"], metrics["utility_se_per_agent"])):
        rows.append((f"utility agent {n}", f"{u:.4f} ± {se:.4f}"))
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def run(args: argparse.Namespace) -> int:
    """Evaluate ``--solution`` on ``--paths`` paths of ``--seed``; print a table or JSON."""
    from market_env.solution import evaluate

    solution = solution_from_args(args)
    metrics = evaluate(solution, n_paths=args.paths, seed=args.seed)
    if Path(args.solution).is_dir():
        metrics.update(saved_run_status(args.solution))
    if args.json:
        print_json(metrics)
    else:
        if "verdict_message" in metrics:
            print(f"saved run: {metrics['verdict_message']}")
        print(format_table(metrics))
    return 0
