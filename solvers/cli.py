"""The ``market-eq`` command: evaluate benchmarks and saved solutions (and, as they land,
solve, compare, exploit). ``market-eq --help`` lists the subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from market_env import PRESETS, MarketConfig, get_preset, load_config

from .base import Solution, evaluate, load_solution
from .compare import add_compare_parser

__all__ = [
    "main",
    "NAMED_SOLUTIONS",
    "build_named_solution",
    "add_market_arguments",
    "add_threads_argument",
]


def _leading_order(config: MarketConfig) -> Solution:
    from .analytic import LeadingOrderSolution

    return LeadingOrderSolution(config)


def _leading_order_paper(config: MarketConfig) -> Solution:
    from .analytic import LeadingOrderSolution

    return LeadingOrderSolution(config, paper_variant=True)


def _frictionless(config: MarketConfig) -> Solution:
    from .analytic import FrictionlessSolution

    return FrictionlessSolution(config)


def _riccati(config: MarketConfig) -> Solution:
    from .analytic import RiccatiSolution

    return RiccatiSolution(config)


def _riccati_discrete(config: MarketConfig) -> Solution:
    from .analytic import DiscreteRiccatiSolution

    return DiscreteRiccatiSolution(config)


#: Benchmarks the CLI can build from a config by name.
NAMED_SOLUTIONS: dict[str, Callable[[MarketConfig], Solution]] = {
    "frictionless": _frictionless,
    "riccati": _riccati,
    "riccati-discrete": _riccati_discrete,
    "leading-order": _leading_order,
    "leading-order-paper": _leading_order_paper,
}


class CLIError(Exception):
    """A user error: printed as one line, exit status 2, no traceback."""


def build_named_solution(name: str, config: MarketConfig) -> Solution:
    """A benchmark by name, or a saved solution from a directory."""
    if name in NAMED_SOLUTIONS:
        return NAMED_SOLUTIONS[name](config)
    if Path(name).is_dir():
        return load_solution(name)
    raise CLIError(
        f"--solution must be one of {sorted(NAMED_SOLUTIONS)} or a saved solution directory, "
        f"got {name!r}"
    )


def add_market_arguments(parser: argparse.ArgumentParser, default_preset: str | None) -> None:
    """``--preset NAME`` / ``--config FILE.json`` (mutually exclusive)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--preset",
        default=None,
        help=f"market preset, one of {sorted(PRESETS)}"
        + (f" (default {default_preset})" if default_preset else ""),
    )
    group.add_argument("--config", default=None, help="market config JSON file")
    parser.set_defaults(_default_preset=default_preset)


def market_from_args(args: argparse.Namespace) -> MarketConfig | None:
    if args.config is not None:
        return load_config(args.config)
    name = args.preset or args._default_preset
    return None if name is None else get_preset(name)


def solution_from_args(args: argparse.Namespace) -> Solution:
    """``--solution`` with ``--preset``/``--config``: a named benchmark for that market, or
    a saved solution directory (which carries its own config)."""
    config = market_from_args(args)
    if config is None:
        if not Path(args.solution).is_dir():
            raise CLIError("give --preset NAME or --config FILE.json (or a saved --solution DIR)")
        return load_solution(args.solution)
    return build_named_solution(args.solution, config)


def _format_table(metrics: dict[str, Any]) -> str:
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


def saved_run_status(directory: str | Path) -> dict[str, Any]:
    """``converged``, ``stop_reason`` and the verdict message recorded in a saved run's
    ``solution.json`` (runs saved before verdicts existed: ``converged`` ``None``)."""
    from .run_folder import read_spec

    try:
        verdict = read_spec(directory).spec.get("training", {}).get("verdict")
    except ValueError:
        verdict = None
    if not isinstance(verdict, dict):
        return {"converged": None, "stop_reason": None, "verdict_message": "no verdict recorded"}
    return {
        "converged": verdict.get("converged"),
        "stop_reason": verdict.get("stop_reason"),
        "verdict_message": verdict.get("message"),
    }


def cmd_evaluate(args: argparse.Namespace) -> int:
    solution = solution_from_args(args)
    metrics = evaluate(solution, n_paths=args.paths, seed=args.seed)
    if Path(args.solution).is_dir():
        metrics.update(saved_run_status(args.solution))
    if args.json:
        print(json.dumps(metrics))
    else:
        if "verdict_message" in metrics:
            print(f"saved run: {metrics['verdict_message']}")
        print(_format_table(metrics))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="market-eq",
        description="Market equilibria with trading frictions (see MODEL.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    ev = sub.add_parser(
        "evaluate",
        help="roll a solution out on seeded paths and print its metrics",
        description="Roll a benchmark or a saved solution out in the batched market and "
        "print S0, mu0, sigma0, utilities, clearing and terminal errors.",
    )
    ev.add_argument(
        "--solution",
        required=True,
        help=f"one of {sorted(NAMED_SOLUTIONS)}, or a directory written by `market-eq solve`",
    )
    add_market_arguments(ev, default_preset=None)
    ev.add_argument("--paths", type=positive_int, default=3000, help="evaluation paths")
    ev.add_argument("--seed", type=int, default=0, help="seed of the evaluation paths")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    add_threads_argument(ev)
    ev.set_defaults(func=cmd_evaluate)
    add_exploit_parser(sub)
    _add_solve_parser(sub)
    add_compare_parser(sub)
    return parser


def cmd_exploit(args: argparse.Namespace) -> int:
    from .exploitability import exploitability

    solution = solution_from_args(args)
    result = exploitability(
        solution,
        n_paths=args.paths,
        seed=args.seed,
        iterations=args.iterations,
        train_paths=args.train_paths,
        progress=not args.no_progress,
    )
    out = result.to_dict()
    if args.json:
        print(json.dumps(out))
        return 0
    print(
        f"exploitability of {solution.kind} ({out['n_paths']} paths, seed {out['seed']}, "
        f"{out['iterations']} best-response iterations)"
    )
    print(f"{'agent':>5}  {'utility':>12}  {'gain':>11}  {'± s.e.':>9}  {'gain/|utility|':>14}")
    for n, (u, g, se, rel) in enumerate(
        zip(
            out["utility_per_agent"],
            out["gain_per_agent"],
            out["gain_se_per_agent"],
            out["relative_gain_per_agent"],
        )
    ):
        print(f"{n:>5}  {u:>12.5f}  {g:>11.3e}  {se:>9.1e}  {rel:>14.2e}")
    return 0


def _add_solve_parser(sub: argparse._SubParsersAction) -> None:
    from .neural.cli import add_solve_parser

    add_solve_parser(sub)


def add_exploit_parser(sub: argparse._SubParsersAction) -> None:
    ex = sub.add_parser(
        "exploit",
        help="certify a solution: each agent's gain from a trained best response",
        description="Train, for each agent, a price-taking best response to the solution by "
        "differentiable rollouts, and report the utility gain over the solution's own "
        "strategy on common evaluation paths (an equilibrium has gain ~ 0).",
    )
    ex.add_argument(
        "--solution",
        required=True,
        help=f"one of {sorted(NAMED_SOLUTIONS)}, or a saved solution directory",
    )
    add_market_arguments(ex, default_preset=None)
    ex.add_argument("--paths", type=positive_int, default=3000, help="evaluation paths")
    ex.add_argument("--seed", type=int, default=0, help="seed of the evaluation paths")
    ex.add_argument("--iterations", type=int, default=300, help="best-response Adam steps")
    ex.add_argument("--train-paths", type=positive_int, default=512, help="paths per step")
    ex.add_argument("--json", action="store_true", help="print one JSON object")
    ex.add_argument("--no-progress", action="store_true", help="hide the progress bar (on stderr)")
    add_threads_argument(ex)
    ex.set_defaults(func=cmd_exploit)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def _threads(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be an integer >= 0 (0: all cores), got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0 (0: all cores), got {value}")
    return value


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads``: the one CPU thread policy of every subcommand (``solvers/threads.py``)."""
    parser.add_argument(
        "--threads",
        type=_threads,
        default=None,
        help="torch CPU threads (default 1: the only setting that does not collapse when "
        "other processes share the CPU, see benchmarks/results/contention.md; 0: all cores)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    from .threads import torch_threads

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with torch_threads(getattr(args, "threads", None)):
            return args.func(args)
    except (CLIError, ValueError) as exc:
        print(f"market-eq {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
