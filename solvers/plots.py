"""Figures like the paper's (MODEL.md §7): a solution against its benchmark on common paths.

``plot_comparison`` writes four PNG files: ``rates.png`` and ``holdings.png`` (two agents,
one sample path), ``sigma.png`` and ``mu.png`` (one sample path, and the mean over paths).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from market_env import Trajectory  # noqa: E402

__all__ = ["plot_comparison"]


def _np(x) -> np.ndarray:
    return x.detach().cpu().double().numpy()


def plot_comparison(
    traj: Trajectory,
    reference: Trajectory,
    out_dir: str | Path,
    *,
    label: str = "model",
    benchmark: str = "benchmark",
    agents: tuple[int, int] = (0, 1),
    path: int = 0,
    T: float | None = None,
) -> list[Path]:
    """Write ``rates.png``, ``holdings.png``, ``sigma.png``, ``mu.png`` under ``out_dir``.

    ``traj`` and ``reference`` must be rolled out on the same noise
    (:func:`solvers.base.simulate` with the same seed). Returns the written paths.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    K = traj.mu.shape[1]
    t = np.arange(K + 1) / K if T is None else np.linspace(0.0, T, K + 1)
    tl = t[:-1]
    xlabel = "t / T" if T is None else "t"
    written = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        p = out_dir / name
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)

    for name, key, tt, title in (
        ("rates.png", "fills", tl, "trading rate φ̇"),
        ("holdings.png", "phi", t, "holdings φ"),
    ):
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for i, n in enumerate(agents):
            if n >= traj.phi.shape[-1]:
                continue
            color = f"C{i}"
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
        ax.legend(fontsize=8)
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
