"""Sweep scaling: wall time of the same 8-cell grid (``examples/sweep_lam_power.json``: λ × q
on ``power-2``, one seed, Reinforced-GAN) serially in one process, and as Ray tasks with 1 and
2 workers, each into a fresh folder, on a shortened schedule (2 rounds of 10 generator and 25
price epochs, so the whole measurement takes minutes; the figures and table of the default
schedule are ``benchmarks/results/sweeps/lam_power/``).

    flock /work/notes/heavy.lock python benchmarks/sweep_scaling.py

writes ``benchmarks/results/sweep_scaling.json`` and ``.md`` with the provenance and the load
average before and after each run (the speedup is only honest on an otherwise idle machine).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.provenance import describe, run_meta  # noqa: E402
from solvers.sweep import load_spec, run_sweep  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: The shortened schedule of every cell (a field change of the default one).
SCHEDULE = {"from": "default", "rounds": 2, "gen_epochs": 10, "disc_epochs": 25}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", default=str(ROOT / "examples" / "sweep_lam_power.json"))
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    spec = load_spec(args.spec)
    spec = replace(spec, solvers=[replace(e, schedule=SCHEDULE) for e in spec.solvers])
    meta = run_meta("sweep_scaling.py", argv, schedule=SCHEDULE, spec=spec.to_dict())
    rows = []
    for executor, workers in (("serial", 1), ("ray", 1), ("ray", 2)):
        with tempfile.TemporaryDirectory(prefix="sweep-scaling-") as tmp:
            load0 = os.getloadavg()[0]
            start = time.perf_counter()
            result = run_sweep(
                spec, tmp, serial=executor == "serial", workers=workers, progress=False, plots=False
            )
            wall = time.perf_counter() - start
            statuses = [r["status"] for r in result["rows"]]
            rows.append(
                {
                    "executor": executor,
                    "workers": workers,
                    "cells": len(statuses),
                    "wall_seconds": round(wall, 1),
                    "sum_cell_seconds": round(sum(r["cell_seconds"] for r in result["rows"]), 1),
                    "statuses": {s: statuses.count(s) for s in sorted(set(statuses))},
                    "load_average_before": round(load0, 2),
                    "load_average_after": round(os.getloadavg()[0], 2),
                }
            )
            print(rows[-1], file=sys.stderr, flush=True)
    base = next(r for r in rows if r["executor"] == "ray" and r["workers"] == 1)["wall_seconds"]
    for r in rows:
        r["speedup_vs_ray_1"] = round(base / r["wall_seconds"], 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sweep_scaling.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [
        "# Sweep scaling: the same 8-cell grid, serial and on local Ray with 1 and 2 workers",
        "",
        describe(meta),
        "",
        f"Grid: `{Path(args.spec).name}` (λ × q on power-2, one seed, Reinforced-GAN) on a "
        f"SHORTENED schedule {SCHEDULE} (not the default; the default-schedule sweep is "
        "`sweeps/lam_power/`). Each cell one Ray task with one CPU and OMP_NUM_THREADS=1; wall "
        "time includes starting Ray and its workers.",
        "",
        "| executor | workers | cells | wall s | sum of cell s | speedup vs Ray 1 worker | "
        "load before | load after | statuses |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['executor']} | {r['workers']} | {r['cells']} | {r['wall_seconds']} | "
            f"{r['sum_cell_seconds']} | {r['speedup_vs_ray_1']}× | {r['load_average_before']} | "
            f"{r['load_average_after']} | {r['statuses']} |"
        )
    (RESULTS / "sweep_scaling.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
