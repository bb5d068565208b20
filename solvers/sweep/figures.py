"""Figures of a sweep: ``S_0``, ``μ_0`` and ``σ_0`` (MODEL.md §2) against each swept
parameter, one line per value of the other swept parameters (and per solver; seeds averaged),
the benchmark dashed in the same colour where one exists (MODEL.md §4–§5)."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

__all__ = ["plot_sweep"]

QUANTITIES = (("S0", "$S_0$"), ("mu0", r"$\mu_0$"), ("sigma0", r"$\sigma_0$"))


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return sum(values) / len(values) if values else None


def _others(row: dict[str, Any], field: str) -> str:
    """The row's values of the swept fields other than ``field``, as a label."""
    parts = []
    for k in sorted(row):
        if k.startswith("cfg.") and k != f"cfg.{field}":
            v = row[k]
            parts.append(f"{k[4:]}={v:g}" if isinstance(v, (int, float)) else f"{k[4:]}={v}")
    return ", ".join(parts)


def _curves(rows: list[dict[str, Any]], field: str, key: str) -> dict[str, Any]:
    """``{others: {"model": {solver: {x: [values]}}, "bench": {x: [values]}, "names": set}}``
    (the benchmark depends on the market only, so one curve per value of the others)."""
    curves: dict[str, Any] = defaultdict(
        lambda: {
            "model": defaultdict(lambda: defaultdict(list)),
            "bench": defaultdict(list),
            "names": set(),
        }
    )
    for r in rows:
        if r["status"] == "failed" or f"cfg.{field}" not in r:
            continue
        c = curves[_others(r, field)]
        x = r[f"cfg.{field}"]
        c["model"][r["solver"]][x].append(r.get(key))
        if r.get("benchmark_exists"):
            c["bench"][x].append(r.get(f"benchmark_{key}"))
            c["names"].add(str(r.get("benchmark")))
    return curves


def _points(values: dict[Any, list[float]]) -> list[tuple[Any, float]]:
    pts = sorted((x, _mean(v)) for x, v in values.items())
    return [(x, y) for x, y in pts if y is not None]


def plot_sweep(rows: list[dict[str, Any]], out: str | Path, title: str = "") -> list[Path]:
    """Write ``sweep_<field>.png`` into ``out`` for every swept numeric field; return the
    paths. A log x-axis where the values are positive and span a factor of 20 or more."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fields = sorted({k[4:] for r in rows for k in r if k.startswith("cfg.")})
    written = []
    for field in fields:
        xs = sorted({r[f"cfg.{field}"] for r in rows if f"cfg.{field}" in r}, key=str)
        if not all(isinstance(x, (int, float)) for x in xs):
            continue  # list-valued fields (gamma, xi) have no axis
        fig, axes = plt.subplots(1, 3, figsize=(13, 4.8), layout="constrained")
        for ax, (key, name) in zip(axes, QUANTITIES):
            curves = _curves(rows, field, key)
            solvers = sorted({name for c in curves.values() for name in c["model"]})
            for i, (others, c) in enumerate(sorted(curves.items())):
                colour = f"C{i % 10}"
                for j, solver in enumerate(solvers):
                    pts = _points(c["model"].get(solver, {}))
                    if pts:
                        label = ", ".join(t for t in (solver, others) if t)
                        ax.plot(*zip(*pts), marker="osD^v"[j % 5], color=colour, label=label)
                bench = _points(c["bench"])
                if bench:
                    label = "benchmark: " + " / ".join(sorted(c["names"]))
                    label += f" ({others})" if others else ""
                    ax.plot(*zip(*bench), "--", color=colour, alpha=0.8, label=label)
            positive = all(x > 0 for x in xs)
            if positive and len(xs) > 1 and max(xs) / min(xs) >= 20:
                ax.set_xscale("log")
            ax.set_xlabel(field)
            ax.set_title(name)
            ax.grid(alpha=0.3)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=8)
        fig.suptitle(f"{title}: model (solid) and benchmark (dashed) against {field}")
        path = Path(out) / f"sweep_{field}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
