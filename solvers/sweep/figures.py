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


def _curves(rows: list[dict[str, Any]], field: str, key: str) -> dict[str, dict[str, Any]]:
    """label of the other values → {x: [model values], "bench": {x: [benchmark values]}}."""
    curves: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"model": defaultdict(list), "bench": defaultdict(list)}
    )
    for r in rows:
        if r["status"] == "failed" or f"cfg.{field}" not in r:
            continue
        others = [
            f"{k[4:]}={r[k]:g}" if isinstance(r[k], (int, float)) else f"{k[4:]}={r[k]}"
            for k in sorted(r)
            if k.startswith("cfg.") and k != f"cfg.{field}"
        ]
        label = ", ".join([r["solver"], *others])
        x = r[f"cfg.{field}"]
        curves[label]["model"][x].append(r.get(key))
        if r.get("benchmark_exists"):
            curves[label]["bench"][x].append(r.get(f"benchmark_{key}"))
            curves[label]["bench_name"] = r.get("benchmark")
    return curves


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
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
        for ax, (key, name) in zip(axes, QUANTITIES):
            curves = _curves(rows, field, key)
            for i, (label, c) in enumerate(sorted(curves.items())):
                colour = f"C{i % 10}"
                pts = sorted((x, _mean(v)) for x, v in c["model"].items())
                pts = [(x, y) for x, y in pts if y is not None]
                if pts:
                    ax.plot(*zip(*pts), "o-", color=colour, label=label)
                bench = sorted((x, _mean(v)) for x, v in c["bench"].items())
                bench = [(x, y) for x, y in bench if y is not None]
                if bench:
                    ax.plot(
                        *zip(*bench),
                        "--",
                        color=colour,
                        alpha=0.8,
                        label=f"{c.get('bench_name', 'benchmark')} ({label.split(', ', 1)[-1]})",
                    )
            positive = all(x > 0 for x in xs)
            if positive and len(xs) > 1 and max(xs) / min(xs) >= 20:
                ax.set_xscale("log")
            ax.set_xlabel(field)
            ax.set_title(name)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7)
        fig.suptitle(f"{title}: model (solid) and benchmark (dashed) against {field}")
        fig.tight_layout()
        path = Path(out) / f"sweep_{field}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
