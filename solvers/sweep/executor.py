"""Run the cells of a sweep: as Ray tasks of one CPU each (DESIGN.md "Scale"), or one after
another in this process (``serial``).

Ray is an optional extra (``pip install -e ".[scale]"``) and is imported only here, inside
:func:`run_ray`; without it :class:`RayUnavailableError` says how to install it. Each task
runs :func:`solvers.sweep.cell.run_cell` in a Ray worker with ``OMP_NUM_THREADS=1`` (and one
torch thread): two cells' OpenMP pools on the same cores otherwise spin against each other
(``benchmarks/results/contention.md``). Results come back with ``ray.wait`` as they finish,
so one progress bar counts cells; at most ``workers`` cells are in flight.

Resume: a cell whose ``cell.json`` reads back complete (:func:`solvers.sweep.cell.
read_result`) is not run again (``retry_failed`` reruns the failed ones). With ``certify``, a
done cell without a certificate gets one from its saved solution
(:func:`solvers.sweep.cell.certify_cell`), as a task like any other, without training.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .cell import certify_cell, failed_result, needs_certificate, read_result, run_cell
from .spec import Cell

__all__ = ["INSTALL_HINT", "RayUnavailableError", "SweepRun", "run_cells", "run_ray"]

#: What a user without Ray runs.
INSTALL_HINT = 'Ray is not installed: pip install -e ".[scale]" (or run with --serial)'
#: Environment of every Ray worker (one OpenMP/MKL thread; torch's own count is set per cell).
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


class RayUnavailableError(RuntimeError):
    """``ray`` cannot be imported; the message is :data:`INSTALL_HINT`."""


class SweepRun:
    """What :func:`run_cells` did: the rows in cell order, which cells ran, which were
    skipped as done, which done cells were only certified, the wall time and the executor
    (``"ray"`` or ``"serial"``)."""

    def __init__(
        self,
        rows: list[dict[str, Any]],
        ran: list[str],
        skipped: list[str],
        seconds: float,
        executor: str,
        workers: int,
        certified: list[str] | None = None,
    ) -> None:
        self.rows, self.ran, self.skipped = rows, ran, skipped
        self.seconds, self.executor, self.workers = seconds, executor, workers
        self.certified = certified or []


def _progress(total: int, done: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=done,
        desc="sweep cells",
        unit="cell",
        disable=not enabled,
        file=sys.stderr,
        dynamic_ncols=True,
    )


def run_ray(
    cells: list[Cell],
    out: Path,
    *,
    workers: int | None,
    address: str | None,
    certify: bool,
    threads: int | None,
    on_row: Callable[[dict[str, Any]], None],
    certify_only: frozenset[str] = frozenset(),
) -> int:
    """Run ``cells`` as Ray tasks (``num_cpus`` = the cell's threads, at least 1); call
    ``on_row`` with each row as it finishes; return the concurrency used.

    ``address`` joins an existing cluster (``ray start --head`` prints it; ``"auto"`` finds a
    local one); otherwise a local Ray is started with ``workers`` CPUs (default: this
    machine's cores) and shut down at the end. A task that dies (a killed worker) is a failed
    row but writes no ``cell.json``, so a resumed sweep runs it again. Cells whose id is in
    ``certify_only`` are done cells that only get their certificate (:func:`certify_cell`).
    """
    try:
        import ray
    except ImportError:
        raise RayUnavailableError(INSTALL_HINT) from None

    env = dict(WORKER_ENV)
    if threads and threads > 1:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    if os.environ.get("PYTHONPATH"):  # a source checkout run without installing it
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    cpus = max(1, threads or 1)
    owned = not ray.is_initialized()
    if owned:
        if address:
            ray.init(address=address, logging_level="WARNING", log_to_driver=False)
        else:
            ray.init(
                num_cpus=(workers or os.cpu_count() or 1) * cpus,
                include_dashboard=False,
                logging_level="WARNING",
                log_to_driver=False,
            )
    try:
        cluster_cpus = int(ray.cluster_resources().get("CPU", 1))
        limit = max(1, min(workers or cluster_cpus // cpus, max(1, cluster_cpus // cpus)))
        options = dict(num_cpus=cpus, runtime_env={"env_vars": env}, max_retries=0)
        tasks = {fn: ray.remote(fn).options(**options) for fn in (run_cell, certify_cell)}
        pending = list(cells)
        running: dict[Any, Cell] = {}
        while pending or running:
            while pending and len(running) < limit:
                cell = pending.pop(0)
                fn = certify_cell if cell.id in certify_only else run_cell
                ref = tasks[fn].remote(cell.to_dict(), str(out), certify=certify, threads=threads)
                running[ref] = cell
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                cell = running.pop(ref)
                try:
                    row = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a dead task is the cell's reason
                    text = str(exc).strip().splitlines()
                    row = failed_result(cell, f"ray task failed: {text[-1] if text else exc}")
                on_row(row)
        return limit
    finally:
        if owned:
            ray.shutdown()


def run_cells(
    cells: list[Cell],
    out: str | Path,
    *,
    serial: bool = False,
    workers: int | None = None,
    address: str | None = None,
    certify: bool = False,
    threads: int | None = None,
    retry_failed: bool = False,
    progress: bool = True,
) -> SweepRun:
    """Run every cell of ``cells`` not done yet into ``out`` and return all rows.

    ``serial`` runs them here one by one (no Ray); otherwise :func:`run_ray`. Raises
    :class:`RayUnavailableError` before anything runs when Ray is needed and missing.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[str, Any]] = {}
    todo: list[Cell] = []
    recertify: list[Cell] = []
    for cell in cells:
        done = read_result(out / "cells" / cell.id)
        if done is None or (retry_failed and done["status"] == "failed"):
            todo.append(cell)
        elif certify and needs_certificate(done):
            recertify.append(cell)
        else:
            rows[cell.id] = done
    certify_only = frozenset(c.id for c in recertify)
    jobs = todo + recertify
    if jobs and not serial:
        try:
            import ray  # noqa: F401 - fail before the bar, with the install line
        except ImportError:
            raise RayUnavailableError(INSTALL_HINT) from None
    start = time.perf_counter()
    bar = _progress(len(cells), len(rows), progress)

    def on_row(row: dict[str, Any]) -> None:
        rows[row["id"]] = row
        bar.update(1)
        if row["status"] != "ok":
            bar.write(f"[sweep] {row['id']}: {row['status']}: {row['reason']}", file=sys.stderr)
        if row.get("certify_note"):
            bar.write(f"[sweep] {row['id']}: {row['certify_note']}", file=sys.stderr)

    try:
        if serial or not jobs:
            for cell in jobs:
                fn = certify_cell if cell.id in certify_only else run_cell
                on_row(fn(cell, out, certify=certify, threads=threads))
            used = 1
        else:
            used = run_ray(
                jobs,
                out,
                workers=workers,
                address=address,
                certify=certify,
                threads=threads,
                on_row=on_row,
                certify_only=certify_only,
            )
    finally:
        bar.close()
    ordered = [rows[c.id] for c in cells if c.id in rows]
    return SweepRun(
        ordered,
        [c.id for c in todo],
        [c.id for c in cells if c not in todo and c not in recertify],
        time.perf_counter() - start,
        "serial" if serial else "ray",
        used,
        certified=[c.id for c in recertify],
    )
