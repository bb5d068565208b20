"""One cell of a sweep: solve one market with one solver and seed, judge it against its
benchmark (MODEL.md §3–§5, :func:`market_env.reference.benchmark.choose_benchmark`) on common
paths, and write ``cell.json`` into the cell's folder.

A cell never raises for a problem of its own: a solver that refuses the config or an option,
diverges or does not converge gives a result with ``status`` ``"failed"`` or
``"not-converged"`` and its ``reason`` (one line), so the sweep's table keeps it as a row.
``cell.json`` is written atomically (:func:`market_env.run_folder.atomic_write_json`), last:
a cell is done exactly when its ``cell.json`` reads back complete (:func:`read_result`).

The certificate (MODEL.md §9) is not part of a cell's id: a done cell without one gets it on a
later ``certify`` sweep from its saved solution, without training again
(:func:`certify_cell`; :func:`needs_certificate` says which).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from .spec import ANALYTIC_SOLVERS, Cell

__all__ = [
    "RESULT_FILE",
    "METRIC_KEYS",
    "certify_cell",
    "failed_result",
    "needs_certificate",
    "read_result",
    "run_cell",
]

#: The result file of a cell (its presence, complete, marks the cell done).
RESULT_FILE = "cell.json"
#: Metrics of the solution and of its benchmark that the table reports.
METRIC_KEYS = ("S0", "mu0", "sigma0", "utility_sum", "clearing_error", "terminal_error")
PATH_ERROR_KEYS = ("sigma_path_rel_err", "mu_path_rel_err", "rate_path_rel_err")


def read_result(cell_dir: str | Path) -> dict[str, Any] | None:
    """The result in ``cell_dir/cell.json``, or ``None`` when there is none or it is not a
    complete result (an interrupted write leaves no such file: writes are atomic)."""
    path = Path(cell_dir) / RESULT_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("status") not in ("ok", "not-converged", "failed"):
        return None
    return data


def _head(cell: Cell) -> dict[str, Any]:
    return {
        "id": cell.id,
        "index": cell.index,
        "solver": cell.entry.label,
        "seed": cell.seed,
        **{f"cfg.{k}": v for k, v in cell.values.items()},
        "values": cell.values,
    }


def failed_result(cell: Cell, reason: str, seconds: float = 0.0) -> dict[str, Any]:
    """The row of a cell that failed: its keys and values, ``status`` and ``reason``."""
    return {**_head(cell), "status": "failed", "reason": reason, "cell_seconds": seconds}


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def _schedule(cell: Cell) -> Any:
    from solvers.neural import SCHEDULES, default_schedule

    raw = cell.entry.schedule
    if isinstance(raw, str):
        return replace(SCHEDULES[raw]) if raw != "default" else default_schedule(cell.entry.solver)
    changes = {k: v for k, v in raw.items() if k != "from"}
    base = raw.get("from", "default")
    start = SCHEDULES[base] if base != "default" else default_schedule(cell.entry.solver)
    try:
        return replace(start, **changes)
    except TypeError as exc:  # an unknown field
        raise ValueError(f"schedule: {exc}") from None


def _certificate(solution: Any, cell: Cell) -> dict[str, Any]:
    from solvers.exploitability import exploitability

    ex = exploitability(
        solution,
        n_paths=cell.eval["paths"],
        seed=cell.eval["seed"],
        iterations=cell.eval["certify_iterations"],
        progress=False,
    )
    rel = [r for r in ex.relative_gain_per_agent if r == r]
    return {**ex.to_dict(), "max_relative_gain": max(rel) if rel else float("nan")}


def _solve(cell: Cell, run_dir: Path, certify: bool, threads: int | None) -> dict[str, Any]:
    """The comparison dict of ``solvers.neural.api.solve`` style for any solver kind."""
    from market_env import MarketConfig

    config = MarketConfig.from_dict(cell.config)
    entry, ev = cell.entry, cell.eval
    if entry.kind == "neural":
        from solvers.neural import solve

        result = solve(
            config,
            entry.solver,
            schedule=_schedule(cell),
            seed=cell.seed,
            out=run_dir,
            n_eval_paths=ev["paths"],
            eval_seed=ev["seed"],
            progress=False,
            plots=ev["cell_plots"],
            threads=threads,
            certify=certify,
            certify_iterations=ev["certify_iterations"],
            **entry.options,
        )
        if certify and result.get("saved", True):
            from solvers.loading import load_solution

            result["bracket"] = _bracket(load_solution(run_dir), cell)
        return result
    from solvers.neural.api import compare
    from solvers.threads import torch_threads

    with torch_threads(threads):
        start = time.perf_counter()
        if entry.kind == "analytic":
            from market_env import reference

            class_name, kwargs = ANALYTIC_SOLVERS[entry.solver]
            solution = getattr(reference, class_name)(config, **kwargs)
        else:
            from solvers.rl import train_learners

            options = {"seed": cell.seed, "progress": False, **entry.options}
            solution = train_learners(config, entry.solver, threads=threads, **options)
        train_seconds = time.perf_counter() - start
        result = dict(compare(solution, n_paths=ev["paths"], seed=ev["seed"]))
        result.update(train_seconds=train_seconds, converged=True, stop_reason=None)
        solution.save(run_dir, {"training": {"solver": entry.solver, "seed": cell.seed}})
        if certify:
            result["certificate"] = _certificate(solution, cell)
            result["bracket"] = _bracket(solution, cell)
    return result


def _bracket(solution: Any, cell: Cell) -> dict[str, Any]:
    """The upper side of the two-sided certificate (MODEL.md §9) on the cell's evaluation
    paths: ``epsilon_relative`` (the largest upper bound over ``|J_n|``), or a ``note``."""
    from solvers.certificate import certify

    try:
        cert = certify(solution, n_paths=cell.eval["paths"], seed=cell.eval["seed"])
    except (FloatingPointError, RuntimeError, ValueError) as exc:
        return {"note": f"certificate failed: {exc}"}
    return {"epsilon": cert.epsilon, "epsilon_relative": cert.epsilon_relative}


def _row(cell: Cell, result: dict[str, Any], seconds: float) -> dict[str, Any]:
    row = _head(cell)
    converged = bool(result.get("converged", True))
    row["status"] = "ok" if converged else "not-converged"
    row["reason"] = "" if converged else str(result.get("verdict", {}).get("message", ""))
    for key in METRIC_KEYS:
        row[key] = _finite(result.get(key))
    bench = result.get("benchmark_metrics") or {}
    row["benchmark"] = result.get("benchmark")
    row["benchmark_exists"] = bool(result.get("benchmark_exists"))
    row["benchmark_line"] = result.get("benchmark_line", "")
    for key in METRIC_KEYS:
        row[f"benchmark_{key}"] = _finite(bench.get(key))
    for key in ("S0", "mu0", "sigma0"):
        ref, val = row[f"benchmark_{key}"], row[key]
        ok = row["benchmark_exists"] and ref not in (None, 0.0) and val is not None
        row[f"{key}_rel_err"] = abs(val - ref) / abs(ref) if ok else None
    for key in PATH_ERROR_KEYS:
        row[key] = _finite(result.get(key)) if row["benchmark_exists"] else None
    cert = result.get("certificate")
    row["exploitability"] = _finite(cert.get("max_relative_gain")) if cert else None
    bracket = result.get("bracket") or {}
    row["epsilon_upper"] = _finite(bracket.get("epsilon_relative"))
    row["certified"] = cert is not None
    row["train_seconds"] = _finite(result.get("train_seconds"))
    row["cell_seconds"] = seconds
    if any(row[k] is None for k in ("S0", "mu0", "sigma0")) and row["status"] == "ok":
        row["status"], row["reason"] = "failed", "the evaluation is not finite"
    return row


def run_cell(
    cell: Cell | dict[str, Any],
    out: str | Path,
    *,
    certify: bool = False,
    threads: int | None = None,
) -> dict[str, Any]:
    """Run ``cell`` into ``out/cells/<id>/`` (the solver's run folder ``run/`` and
    ``cell.json``) and return its row (also what ``cell.json`` holds)."""
    from market_env.run_folder import atomic_write_json, one_line

    if isinstance(cell, dict):
        cell = Cell.from_dict(cell)
    cell_dir = Path(out) / "cells" / cell.id
    cell_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        result = _solve(cell, cell_dir / "run", certify, threads)
        row = _row(cell, result, time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - any failure of one cell is its row's reason
        from solvers.neural import TrainingDivergedError

        what = "diverged" if isinstance(exc, TrainingDivergedError) else type(exc).__name__
        row = failed_result(cell, f"{what}: {one_line(exc)}", time.perf_counter() - start)
    row["worker"] = {"pid": os.getpid(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
    row["cell"] = cell.to_dict()
    atomic_write_json(cell_dir / RESULT_FILE, row, finite=True)
    return row


def needs_certificate(row: dict[str, Any]) -> bool:
    """Whether a done cell's row lacks the certificate that a ``certify`` sweep adds (a
    failed cell has no solution to certify)."""
    return row.get("status") != "failed" and not row.get("certified")


def certify_cell(
    cell: Cell | dict[str, Any],
    out: str | Path,
    *,
    certify: bool = True,
    threads: int | None = None,
) -> dict[str, Any]:
    """Add both sides of the certificate (MODEL.md §9) to the done cell ``cell`` from the
    solution saved in its run folder, without training again, and rewrite its ``cell.json``
    (atomically). A certificate that cannot be computed leaves the row as it was, with
    ``certify_note`` saying why, so a later ``certify`` sweep tries again. ``certify`` is
    accepted for the executor's uniform call and must be true."""
    from market_env.run_folder import atomic_write_json, one_line
    from solvers.loading import load_solution
    from solvers.threads import torch_threads

    if not certify:
        raise ValueError("certify_cell certifies: certify must be True")
    if isinstance(cell, dict):
        cell = Cell.from_dict(cell)
    cell_dir = Path(out) / "cells" / cell.id
    row = read_result(cell_dir)
    if row is None:
        raise FileNotFoundError(f"cell {cell.id} has no complete {RESULT_FILE} in {cell_dir}")
    start = time.perf_counter()
    try:
        with torch_threads(threads):
            solution = load_solution(cell_dir / "run")
            cert = _certificate(solution, cell)
            bracket = _bracket(solution, cell)
    except Exception as exc:  # noqa: BLE001 - the row keeps its results and says why
        row["certify_note"] = f"certificate failed: {type(exc).__name__}: {one_line(exc)}"
    else:
        row["exploitability"] = _finite(cert.get("max_relative_gain"))
        row["epsilon_upper"] = _finite(bracket.get("epsilon_relative"))
        row["certified"] = True
        row.pop("certify_note", None)
    row["certify_seconds"] = time.perf_counter() - start
    atomic_write_json(cell_dir / RESULT_FILE, row, finite=True)
    return row
