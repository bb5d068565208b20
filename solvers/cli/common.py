"""What every ``market-eq`` subcommand shares: the user-error type and exit statuses, argument
types, the market arguments (``--preset``/``--config``), the solution argument (a named
benchmark or a saved run folder), the thread option and JSON output.

Only the standard library and the torch-free :mod:`market_env.config` are imported at module
level, so ``market-eq --help`` answers without loading torch; everything heavy is imported
inside the functions that run a command.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from market_env.config import PRESETS, MarketConfig, get_preset, load_config

if TYPE_CHECKING:
    from market_env.solution import Solution

__all__ = [
    "CLIError",
    "EXIT_BAD_INPUT",
    "EXIT_DIVERGED",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_CONVERGED",
    "NAMED_SOLUTIONS",
    "add_evaluation_arguments",
    "add_json_argument",
    "add_market_arguments",
    "add_solution_argument",
    "add_threads_argument",
    "build_named_solution",
    "market_from_args",
    "non_negative_int",
    "positive_int",
    "print_json",
    "saved_run_status",
    "solution_from_args",
]

#: Exit statuses of ``market-eq`` (0: success; ``solve`` documents them in its epilog).
EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
EXIT_NOT_CONVERGED = 4
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """A user error: printed as one line, exit status 2, no traceback."""


# ----- argument types ------------------------------------------------------------------------
def positive_int(text: str) -> int:
    """An ``argparse`` type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An ``argparse`` type: an integer >= 0 (for ``--threads``, 0 means all cores)."""
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
        type=non_negative_int,
        default=None,
        help="torch CPU threads (default 1: the only setting that does not collapse when "
        "other processes share the CPU, see benchmarks/results/contention.md; 0: all cores)",
    )


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    """``--json``: print one JSON object (:func:`print_json`) instead of a table."""
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def add_evaluation_arguments(parser: argparse.ArgumentParser) -> None:
    """``--paths`` and ``--seed`` of the common evaluation paths (default 3000, seed 0)."""
    parser.add_argument("--paths", type=positive_int, default=3000, help="evaluation paths")
    parser.add_argument("--seed", type=int, default=0, help="seed of the evaluation paths")


def print_json(value: Any) -> None:
    """Print ``value`` as one JSON object on stdout (what JSON cannot hold as its ``str``)."""
    print(json.dumps(value, default=str))


# ----- the market ----------------------------------------------------------------------------
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
    parser.set_defaults(default_preset=default_preset)


def market_from_args(args: argparse.Namespace) -> MarketConfig | None:
    """The market of ``--config``, else of ``--preset`` (else the subcommand's default)."""
    if args.config is not None:
        return load_config(args.config)
    name = args.preset or args.default_preset
    return None if name is None else get_preset(name)


# ----- the solution --------------------------------------------------------------------------
#: The known answers ``--solution`` builds by name (MODEL.md §3–§5): name → (class in
#: :mod:`market_env.reference`, its keyword arguments besides the config).
NAMED_SOLUTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "frictionless": ("FrictionlessSolution", {}),
    "riccati": ("RiccatiSolution", {}),
    "riccati-discrete": ("DiscreteRiccatiSolution", {}),
    "leading-order": ("LeadingOrderSolution", {}),
    "leading-order-paper": ("LeadingOrderSolution", {"paper_variant": True}),
}


def add_solution_argument(
    parser: argparse.ArgumentParser, directory: str = "a directory written by `market-eq solve`"
) -> None:
    """``--solution NAME|DIR`` (required), then ``--preset``/``--config`` for a named one;
    ``directory`` says in the help what a saved solution is."""
    parser.add_argument(
        "--solution", required=True, help=f"one of {sorted(NAMED_SOLUTIONS)}, or {directory}"
    )
    add_market_arguments(parser, default_preset=None)


def build_named_solution(name: str, config: MarketConfig) -> Solution:
    """A known answer by name for ``config``, or a saved solution from a directory."""
    if name in NAMED_SOLUTIONS:
        from market_env import reference

        class_name, options = NAMED_SOLUTIONS[name]
        return getattr(reference, class_name)(config, **options)
    if Path(name).is_dir():
        from solvers.loading import load_solution

        return load_solution(name)
    raise CLIError(
        f"--solution must be one of {sorted(NAMED_SOLUTIONS)} or a saved solution directory, "
        f"got {name!r}"
    )


def solution_from_args(args: argparse.Namespace) -> Solution:
    """``--solution`` with ``--preset``/``--config``: a named benchmark for that market, or
    a saved solution directory (which carries its own config)."""
    config = market_from_args(args)
    if config is None:
        if not Path(args.solution).is_dir():
            raise CLIError("give --preset NAME or --config FILE.json (or a saved --solution DIR)")
        from solvers.loading import load_solution

        return load_solution(args.solution)
    return build_named_solution(args.solution, config)


def saved_run_status(directory: str | Path) -> dict[str, Any]:
    """``converged``, ``stop_reason`` and the verdict message recorded in a saved run's
    ``solution.json`` (runs saved before verdicts existed: ``converged`` ``None``)."""
    from market_env.run_folder import read_spec

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
