"""The sweep's table: one row per cell (its swept values, the solution's metrics of MODEL.md
§2, the benchmark's and the errors against it, the certificate, the train time, and the
status with its reason), written as CSV, Markdown and JSON with the provenance of the run
(command, date, machine, git commit, load average)."""

from __future__ import annotations

import csv
import io
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..provenance import cpu_model, git_commit, load_average
from .cell import METRIC_KEYS, PATH_ERROR_KEYS

__all__ = ["TABLE_FILES", "columns", "format_markdown", "provenance", "write_table"]

#: The files :func:`write_table` writes into the sweep's folder.
TABLE_FILES = ("sweep.csv", "sweep.md", "sweep.json")


def _program() -> str:
    name = Path(sys.argv[0]).name
    return "market-eq" if name in ("market-eq", "__main__.py") else f"python {name}"


def provenance(**extra: Any) -> dict[str, Any]:
    """How the sweep was produced: command line, UTC date, machine, Python, git commit of the
    source (where it is a checkout) and the 1-minute load average now; ``extra`` merged in."""
    meta: dict[str, Any] = {
        "command": " ".join([_program(), *sys.argv[1:]]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_model()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "commit": git_commit(),
        "load_average_1min": load_average(),
    }
    meta.update(extra)
    return meta


def columns(rows: list[dict[str, Any]]) -> list[str]:
    """The table's columns: id, status, solver, seed, the swept fields, the metrics, the
    benchmark's, the errors, exploitability, times, reason."""
    swept = sorted(
        {k for r in rows for k in r if k.startswith("cfg.")},
        key=lambda k: next(i for i, r in enumerate(rows) if k in r),
    )
    return [
        "id",
        "status",
        "solver",
        "seed",
        *swept,
        *METRIC_KEYS,
        "benchmark",
        *(f"benchmark_{k}" for k in METRIC_KEYS),
        "S0_rel_err",
        "mu0_rel_err",
        "sigma0_rel_err",
        *PATH_ERROR_KEYS,
        "exploitability",
        "epsilon_upper",
        "train_seconds",
        "cell_seconds",
        "reason",
    ]


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=columns(rows), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


def _fmt(x: Any, spec: str = ".4g") -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return format(x, spec)
    return str(x)


def format_markdown(rows: list[dict[str, Any]], meta: dict[str, Any], title: str) -> str:
    """The table as Markdown: a header with the provenance, one row per cell (model beside
    benchmark for S_0, μ_0, σ_0), then one line per cell that failed or did not converge."""
    swept = [c for c in columns(rows) if c.startswith("cfg.")]
    head = [
        "cell",
        "status",
        "solver",
        "seed",
        *(c[4:] for c in swept),
        "S_0",
        "bench S_0",
        "μ_0",
        "bench μ_0",
        "σ_0",
        "bench σ_0",
        "utility",
        "clearing err",
        "terminal err",
        "σ path err",
        "exploit.",
        "ε upper",
        "train s",
    ]
    lines = (
        [f"# Sweep `{title}`", "", meta.get("note", ""), ""]
        if meta.get("note")
        else [f"# Sweep `{title}`", ""]
    )
    lines += [
        f"Produced by `{meta['command']}` on {meta['date']} ({meta['machine']}; Python "
        f"{meta['python']}; commit {meta['commit']}; executor {meta.get('executor')}, "
        f"{meta.get('workers')} worker(s); wall time {meta.get('wall_seconds', 0):.1f} s; "
        f"1-min load average {meta['load_average_1min']} at the start, "
        f"{meta.get('load_average_end', '?')} at the end).",
        "",
        "Benchmark per cell: "
        + "; ".join(sorted({str(r.get("benchmark")) for r in rows if r.get("benchmark")}))
        + ". Errors are "
        "relative to the benchmark where one exists (`–` where none does).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        cells = [
            r["id"],
            r["status"],
            r["solver"],
            str(r["seed"]),
            *(_fmt(r.get(c), "g") for c in swept),
        ]
        for key in ("S0", "mu0", "sigma0"):
            cells += [_fmt(r.get(key), ".5f"), _fmt(r.get(f"benchmark_{key}"), ".5f")]
        cells += [
            _fmt(r.get("utility_sum"), ".5f"),
            _fmt(r.get("clearing_error"), ".2e"),
            _fmt(r.get("terminal_error"), ".2e"),
            "–" if r.get("sigma_path_rel_err") is None else f"{r['sigma_path_rel_err']:.2%}",
            _fmt(r.get("exploitability"), ".2e"),
            _fmt(r.get("epsilon_upper"), ".2e"),
            _fmt(r.get("train_seconds"), ".1f"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    bad = [r for r in rows if r["status"] != "ok"]
    if bad:
        lines += ["", "Cells that failed or did not converge:", ""]
        lines += [f"- `{r['id']}` ({r['status']}): {r['reason']}" for r in bad]
    return "\n".join(lines) + "\n"


def write_table(
    out: str | Path,
    rows: list[dict[str, Any]],
    meta: dict[str, Any],
    spec: dict[str, Any],
    title: str,
) -> list[Path]:
    """Write ``sweep.csv``, ``sweep.md`` and ``sweep.json`` (rows, spec, provenance) into
    ``out`` atomically; return their paths."""
    from market_env.run_folder import atomic_write_json, atomic_write_text

    out = Path(out)
    paths = [out / name for name in TABLE_FILES]
    atomic_write_text(paths[0], _csv(rows))
    atomic_write_text(paths[1], format_markdown(rows, meta, title))
    slim = [{k: v for k, v in r.items() if k not in ("cell", "values")} for r in rows]
    atomic_write_json(paths[2], {"provenance": meta, "spec": spec, "rows": slim}, finite=True)
    return paths
