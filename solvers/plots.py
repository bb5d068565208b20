"""Figures like the paper's (MODEL.md §7): a solution against its benchmark on common paths.

``plot_comparison`` writes four PNG files: ``rates.png`` and ``holdings.png`` (every agent
up to five, else the first two and the last, always including the last agent, which absorbs
the imbalance under the residual clearing rule; one sample path), ``sigma.png`` and
``mu.png`` (one sample path, and the mean over paths). Each file is written to a temporary
name and renamed, so a killed run never leaves a truncated figure.

``plot_methods`` draws the methods of a comparison (:func:`solvers.compare.run_comparison`)
against the benchmark: ``<method>.png`` each and ``overview.png``.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from market_env import Trajectory  # noqa: E402

__all__ = ["plot_comparison", "plot_methods", "agents_to_draw"]

#: Up to this many agents every agent is drawn.
MAX_DRAWN = 5


def agents_to_draw(n_agents: int) -> tuple[int, ...]:
    """Every agent when ``N ≤ 5``, else the first two and the last."""
    if n_agents <= MAX_DRAWN:
        return tuple(range(n_agents))
    return (0, 1, n_agents - 1)


def _np(x) -> np.ndarray:
    return x.detach().cpu().double().numpy()


def _save(fig, path: Path, dpi: int) -> Path:
    """Lay ``fig`` out, write it as PNG to a temporary name, rename it to ``path``, close it."""
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, dpi=dpi, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path


def plot_comparison(
    traj: Trajectory,
    reference: Trajectory,
    out_dir: str | Path,
    *,
    label: str = "model",
    benchmark: str = "benchmark",
    agents: tuple[int, ...] | None = None,
    path: int = 0,
    T: float | None = None,
) -> list[Path]:
    """Write ``rates.png``, ``holdings.png``, ``sigma.png``, ``mu.png`` under ``out_dir``.

    ``traj`` and ``reference`` must be rolled out on the same noise
    (:func:`market_env.solution.simulate` with the same seed). ``agents``: which agents' rates
    and holdings to draw (default :func:`agents_to_draw`). Returns the written paths.
    """
    N = traj.phi.shape[-1]
    agents = agents_to_draw(N) if agents is None else agents
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    K = traj.mu.shape[1]
    t = np.arange(K + 1) / K if T is None else np.linspace(0.0, T, K + 1)
    tl = t[:-1]
    xlabel = "t / T" if T is None else "t"
    written = []

    def save(fig, name: str) -> None:
        written.append(_save(fig, out_dir / name, dpi=110))

    for name, key, tt, title in (
        ("rates.png", "fills", tl, "trading rate φ̇"),
        ("holdings.png", "phi", t, "holdings φ"),
    ):
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for i, n in enumerate(agents):
            if n >= traj.phi.shape[-1]:
                continue
            color = f"C{i % 10}"
            ax.plot(
                tt,
                _np(getattr(traj, key)[path, :, n]),
                color=color,
                label=f"agent {n + 1}, {label}",
            )
            ax.plot(
                tt,
                _np(getattr(reference, key)[path, :, n]),
                color=color,
                ls="--",
                label=f"agent {n + 1}, {benchmark}",
            )
        ax.set_xlabel(xlabel)
        ax.set_title(f"{title} (sample path {path})")
        shown = "" if len(agents) == N else f"agents {', '.join(str(n + 1) for n in agents)} of {N}"
        ax.legend(
            fontsize=7, title=shown or None, title_fontsize=7, ncol=2 if len(agents) > 3 else 1
        )
        save(fig, name)

    for name, key, title in (("sigma.png", "sigma", "volatility σ"), ("mu.png", "mu", "drift μ")):
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        a, b = _np(getattr(traj, key)), _np(getattr(reference, key))
        ax.plot(tl, a[path], color="C0", label=f"{label}, path {path}")
        ax.plot(tl, b[path], color="C0", ls="--", label=f"{benchmark}, path {path}")
        ax.plot(tl, a.mean(0), color="C1", label=f"{label}, mean over paths")
        ax.plot(tl, b.mean(0), color="C1", ls="--", label=f"{benchmark}, mean over paths")
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.legend(fontsize=8)
        save(fig, name)
    return written


def plot_methods(
    trajectories: dict[str, Trajectory],
    reference: Trajectory,
    out_dir: str | Path,
    benchmark: str = "benchmark",
    *,
    agents: tuple[int, int] = (0, 1),
    path: int = 0,
) -> list[Path]:
    """Per method, ``<method>.png``: mean μ and σ over paths (and one sample path), and two
    agents' holdings on the sample path, against the benchmark (dashed) on the same noise;
    plus ``overview.png`` with every method's mean μ and σ."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    K = reference.mu.shape[1]
    t = [k / K for k in range(K + 1)]
    for name, traj in trajectories.items():
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        for ax, key, title in ((axes[0], "mu", "drift μ"), (axes[1], "sigma", "volatility σ")):
            a, b = _np(getattr(traj, key)), _np(getattr(reference, key))
            ax.plot(t[:-1], a.mean(0), color="C0", label=f"{name}, mean")
            ax.plot(t[:-1], b.mean(0), color="C0", ls="--", label=f"{benchmark}, mean")
            ax.plot(t[:-1], a[path], color="C1", lw=0.8, label=f"{name}, path {path}")
            ax.plot(t[:-1], b[path], color="C1", lw=0.8, ls="--", label=f"{benchmark}, path {path}")
            ax.set_title(title)
            ax.set_xlabel("t / T")
        axes[0].legend(fontsize=7)
        ax = axes[2]
        for i, n in enumerate(agents):
            if n >= traj.phi.shape[-1]:
                continue
            ax.plot(t, _np(traj.phi[path, :, n]), color=f"C{i}", label=f"agent {n + 1}, {name}")
            ax.plot(
                t,
                _np(reference.phi[path, :, n]),
                color=f"C{i}",
                ls="--",
                label=f"agent {n + 1}, {benchmark}",
            )
        ax.set_title(f"holdings φ (path {path})")
        ax.set_xlabel("t / T")
        ax.legend(fontsize=7)
        written.append(_save(fig, out_dir / f"{name}.png", dpi=100))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, key, title in (
        (axes[0], "mu", "mean drift μ"),
        (axes[1], "sigma", "mean volatility σ"),
    ):
        ax.plot(t[:-1], _np(getattr(reference, key)).mean(0), "k--", lw=2, label=benchmark)
        for name, traj in trajectories.items():
            if name != "benchmark":
                ax.plot(t[:-1], _np(getattr(traj, key)).mean(0), lw=1, label=name)
        ax.set_title(title)
        ax.set_xlabel("t / T")
    axes[1].legend(fontsize=7)
    written.append(_save(fig, out_dir / "overview.png", dpi=100))
    return written
