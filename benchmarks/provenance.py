"""How a benchmark result was produced: command, date, machine, versions, threads, load and
the git commit, written by every script in ``benchmarks/`` into its JSON and Markdown."""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from solvers.provenance import cpu_model, git_commit, load_average

ROOT = Path(__file__).resolve().parents[1]


def run_meta(script: str, argv: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """The provenance record of one benchmark run (``extra`` is merged in)."""
    args = sys.argv[1:] if argv is None else argv
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    meta: dict[str, Any] = {
        "command": " ".join(["python", f"benchmarks/{script}", *args]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_model()}, {os.cpu_count()} CPUs" + (f", {gpu}" if gpu else ", no GPU"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_average_1min": load_average(),
        "commit": git_commit(ROOT),
    }
    meta.update(extra)
    return meta


def describe(meta: dict[str, Any]) -> str:
    """One Markdown sentence saying how a result was produced."""
    return (
        f"Produced by `{meta['command']}` on {meta['date']} ({meta['machine']}; Python "
        f"{meta['python']}, torch {meta['torch']}, {meta['threads']} thread(s); commit "
        f"{meta['commit']}; 1-min load average {meta['load_average_1min']} at the start: "
        "the CPU may be shared with other jobs)."
    )
