"""How a result was produced, written once for the library (the sweep's table) and the
benchmark scripts (``benchmarks/provenance.py`` builds on it): the CPU model, the git commit
of the source and the load average, so results files say where and when they came from."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

__all__ = ["cpu_model", "git_commit", "load_average"]

#: The source tree (a git checkout when installed with ``pip install -e``).
SOURCE = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit(cwd: str | Path = SOURCE) -> str:
    """The short commit of the checkout at ``cwd``, with ``+uncommitted changes`` when tracked
    files differ from it; ``"unknown"`` outside a checkout."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "--short", "HEAD") + ("+uncommitted changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def load_average() -> float:
    """The 1-minute load average now, rounded to 0.01."""
    return round(os.getloadavg()[0], 2)
