"""Sweeps: grids of equilibria (MODEL.md §2–§8), each cell one independent solve, run as Ray
tasks of one CPU each (DESIGN.md "Scale") or serially in this process.

Modules: :mod:`~solvers.sweep.spec` (the spec format, its checks, the cells and their stable
ids), :mod:`~solvers.sweep.cell` (one cell: solve, judge against the benchmark, ``cell.json``),
:mod:`~solvers.sweep.executor` (Ray or serial, resume, one progress bar),
:mod:`~solvers.sweep.table` (CSV, Markdown, JSON with provenance) and
:mod:`~solvers.sweep.figures` (S_0, μ_0, σ_0 against each swept parameter).

``run_sweep(load_spec("examples/sweep_quick.json"), "sweeps/quick")`` in Python; on the
command line ``market-eq sweep SPEC.json`` (``solvers/cli/sweep.py``). Ray is imported only
when cells run on it.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from .cell import RESULT_FILE, read_result, run_cell
from .executor import INSTALL_HINT, RayUnavailableError, SweepRun, run_cells
from .spec import SPEC_HELP, Cell, SolverEntry, SweepSpec, expand_cells, load_spec, parse_spec
from .table import provenance, write_table

__all__ = [
    "INSTALL_HINT",
    "RESULT_FILE",
    "SPEC_HELP",
    "Cell",
    "RayUnavailableError",
    "SolverEntry",
    "SweepRun",
    "SweepSpec",
    "expand_cells",
    "load_spec",
    "parse_spec",
    "quick_spec",
    "read_result",
    "run_cell",
    "run_cells",
    "run_sweep",
]


def quick_spec(spec: SweepSpec) -> SweepSpec:
    """``spec`` with every neural solver on the ``quick`` schedule (a smoke test; the cells
    get other ids than the full ones, so the two never mix in one folder)."""
    entries = [replace(e, schedule="quick") if e.kind == "neural" else e for e in spec.solvers]
    return replace(spec, solvers=entries)


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    *,
    plots: bool = True,
    note: str = "",
    **options: Any,
) -> dict[str, Any]:
    """Run every cell of ``spec`` not yet done in ``out``, then write the table
    (``sweep.csv``, ``sweep.md``, ``sweep.json``) and, with ``plots``, the figures into
    ``out``; ``note`` heads the Markdown table.

    ``options`` are those of :func:`~solvers.sweep.executor.run_cells` (``serial``,
    ``workers``, ``address``, ``certify``, ``threads``, ``retry_failed``, ``progress``).
    Returns ``{"rows", "provenance", "files", "ran", "skipped", "certified"}``; ``rows`` has
    one row per cell, ``status`` ``"ok"``, ``"not-converged"`` or ``"failed"`` with its
    ``reason``; ``certified`` lists done cells that only got their certificate now.
    """
    out = Path(out)
    cells = expand_cells(spec)
    meta = provenance(note=note)  # the commit and the load when the cells start
    run = run_cells(cells, out, **options)
    meta.update(
        executor=run.executor,
        workers=run.workers,
        wall_seconds=round(run.seconds, 2),
        cells=len(cells),
        cells_run=len(run.ran),
        cells_skipped=len(run.skipped),
        cells_certified_only=len(run.certified),
        load_average_end=round(os.getloadavg()[0], 2),
    )
    files = write_table(out, run.rows, meta, spec.to_dict(), spec.name)
    if plots:
        from .figures import plot_sweep

        files += plot_sweep(run.rows, out, spec.name)
    return {
        "rows": run.rows,
        "provenance": meta,
        "files": [str(f) for f in files],
        "ran": run.ran,
        "skipped": run.skipped,
        "certified": run.certified,
    }
