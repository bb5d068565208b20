"""The ``market-eq`` command: ``solve`` (a neural solver), ``evaluate`` (a benchmark or a saved
run), ``exploit`` (the best-response certificate), ``compare`` (every method, one table) and
``sweep`` (a grid of equilibria as Ray tasks).
``market-eq --help`` lists them.

A leaf of the layout (DESIGN.md "Floors"): nothing in the library imports it. One module per
subcommand (``add_parser`` registers it, ``run`` executes it) and :mod:`.common` for what
they share. Only the standard library and :mod:`market_env.config` load before the arguments
are parsed, so ``--help`` needs no torch.

Exit status: 0 success; 2 a bad input (one line on stderr, no traceback); ``solve`` also 3
(training diverged), 4 (NOT CONVERGED) and 130 (interrupted; any subcommand stopped by
Ctrl-C exits 130 with one line).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import compare, evaluate, exploit, solve, sweep
from .common import EXIT_BAD_INPUT, EXIT_INTERRUPTED, CLIError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``market-eq`` parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="market-eq",
        description="Market equilibria with trading frictions (see MODEL.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (evaluate, exploit, solve, compare, sweep):
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``market-eq argv`` (default ``sys.argv[1:]``); return its exit status."""
    args = build_parser().parse_args(argv)
    try:
        from solvers.threads import torch_threads

        with torch_threads(args.threads):
            return args.func(args)
    except (CLIError, ValueError) as exc:
        print(f"market-eq {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"market-eq {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
