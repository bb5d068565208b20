"""``market-eq sweep SPEC.json``: a grid of equilibria, each cell one Ray task of one CPU
(or ``--serial`` here), one table (CSV, Markdown, JSON) and figures (:mod:`solvers.sweep`).

Only the torch-free spec module (for the epilog: the spec format) loads before the arguments
are parsed, so ``--help`` needs no torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import (
    EXIT_BAD_INPUT,
    EXIT_NOT_CONVERGED,
    add_json_argument,
    add_threads_argument,
    positive_int,
    print_json,
)

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``market-eq sweep`` on the ``market-eq`` sub-parsers ``sub``."""
    from solvers.sweep.spec import SPEC_HELP  # torch-free: the spec format, for the epilog

    p = sub.add_parser(
        "sweep",
        help="solve a grid of markets (lam, cost_power, ... x seeds x solvers) as Ray tasks",
        description="Expand SPEC into cells (grid x seeds x solvers), run each cell as one Ray "
        "task with one CPU and one torch thread (local Ray on this machine's cores by default, "
        "--address for a cluster, --serial for no Ray), each into OUT/cells/<id>/, then write "
        "OUT/sweep.csv, sweep.md, sweep.json (per cell: the swept values, S0, mu0, sigma0, "
        "utility, clearing and terminal errors, the benchmark and the errors against it, "
        "exploitability with --certify, train time) and OUT/sweep_<field>.png. Resumable: a "
        "cell whose cell.json is complete is not run again.",
        epilog=SPEC_HELP + '\nRay is an optional extra: pip install -e ".[scale]". Exit status: '
        "0 every cell ok; 4 a cell failed or did not converge (one line each; the table keeps "
        "it as a row with its reason); 2 a bad spec or option; 130 interrupted (finished "
        "cells are kept; run again to resume).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", metavar="SPEC", help="the sweep spec, a JSON file (format below)")
    p.add_argument("--out", default=None, help="sweep folder (default sweeps/<spec name>)")
    p.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="cells at once (default: this machine's cores, or the cluster's CPUs)",
    )
    p.add_argument(
        "--address", default=None, help="join a running Ray cluster (ray start --head; 'auto')"
    )
    p.add_argument("--serial", action="store_true", help="run the cells in this process, no Ray")
    p.add_argument(
        "--certify",
        action="store_true",
        help="add each cell's exploitability (best responses) and the upper side of its "
        "certificate (eps, information relaxation, MODEL.md §9); on a resumed sweep, done "
        "cells without them are certified from their saved solutions, not trained again",
    )
    p.add_argument(
        "--quick", action="store_true", help="every neural solver on the quick schedule (smoke)"
    )
    p.add_argument("--retry-failed", action="store_true", help="run failed cells again")
    add_json_argument(p)
    p.add_argument("--no-plots", action="store_true", help="do not write PNG figures")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_threads_argument(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run the sweep; print the table (or ``--json``); exit status by the cells (epilog)."""
    from solvers.sweep import RayUnavailableError, load_spec, quick_spec, run_sweep

    spec = load_spec(args.spec)
    if args.quick:
        spec = quick_spec(spec)
    if args.address and args.serial:
        raise ValueError("--address and --serial exclude each other")
    out = Path(args.out) if args.out else Path("sweeps") / spec.name
    try:
        result = run_sweep(
            spec,
            out,
            serial=args.serial,
            workers=args.workers,
            address=args.address,
            certify=args.certify,
            threads=args.threads,
            retry_failed=args.retry_failed,
            progress=not args.no_progress,
            plots=not args.no_plots,
        )
    except RayUnavailableError as exc:
        print(f"market-eq sweep: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    rows = result["rows"]
    if args.json:
        print_json({"provenance": result["provenance"], "rows": rows, "files": result["files"]})
    else:
        print((out / "sweep.md").read_text())
        print(f"table and figures in {out}")
    bad = [r for r in rows if r["status"] != "ok"]
    for r in bad:
        print(f"market-eq sweep: cell {r['id']} {r['status']}: {r['reason']}", file=sys.stderr)
    for r in rows:
        if args.certify and r.get("certify_note"):
            print(f"market-eq sweep: cell {r['id']}: {r['certify_note']}", file=sys.stderr)
    return EXIT_NOT_CONVERGED if bad else 0
