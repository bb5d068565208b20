"""Agent-steps per second of the batched market simulator (MODEL.md §2).

Measures ``BatchedMarket.step`` (clearing-drift price, ``project`` clearing, no action
validation: the setting solvers train in) for N = 10 and B ∈ {1, 64, 4096} on the CPU with
1 and with all intra-op threads, and on CUDA when a GPU is present. Prints a table and writes
``benchmarks/results/env_throughput.{json,md}``.

    python benchmarks/env_throughput.py [--steps 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from provenance import run_meta

from market_env import BatchedMarket, get_preset

RESULTS = Path(__file__).resolve().parent / "results"


def measure_batched_market(
    batch_size: int,
    *,
    preset: str = "quadratic-10",
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    steps: int = 2000,
    repeats: int = 5,
    validate: bool = False,
) -> dict:
    """Best-of-``repeats`` agent-steps/s of ``steps`` calls of :meth:`BatchedMarket.step`."""
    config = get_preset(preset)
    market = BatchedMarket(config, batch_size, device=device, dtype=dtype, validate=validate)
    rates = torch.zeros(batch_size, config.n_agents, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    best = float("inf")
    for _ in range(repeats + 1):  # the first pass warms up
        market.reset()
        done, elapsed = 0, 0.0
        while done < steps:
            n = min(steps - done, config.n_steps - market.state.k)
            sync()
            start = time.perf_counter()
            for _ in range(n):
                market.step(rates)
            sync()
            elapsed += time.perf_counter() - start
            done += n
            if market.state.k == config.n_steps:
                market.reset()
        best = min(best, elapsed)
    agent_steps = batch_size * config.n_agents * steps
    return {
        "what": "BatchedMarket.step",
        "preset": preset,
        "n_agents": config.n_agents,
        "batch_size": batch_size,
        "device": device,
        "dtype": str(dtype).replace("torch.", ""),
        "threads": torch.get_num_threads() if device == "cpu" else None,
        "validate": validate,
        "us_per_step": 1e6 * best / steps,
        "agent_steps_per_s": agent_steps / best,
    }


def _markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        "# Environment throughput",
        "",
        f"Produced by `{meta['command']}` on {meta['date']} ({meta['machine']}, "
        f"torch {meta['torch']}, 1-min load average {meta['load_average_1min']} at the end: "
        "other jobs shared the CPU). Best of "
        f"{meta['repeats']} runs of {meta['steps']} steps; clearing-drift price, `project` "
        "clearing, no action validation.",
        "",
        "| what | device | threads | B | N | µs / step | agent-steps / s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['what']} | {r['device']} | {r['threads'] or '-'} | {r['batch_size']} | "
            f"{r['n_agents']} | {r['us_per_step']:.1f} | {r['agent_steps_per_s']:.3g} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 4096])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    rows = []
    max_threads = torch.get_num_threads()
    for threads in sorted({1, max_threads}):
        torch.set_num_threads(threads)
        for B in args.batches:
            rows.append(measure_batched_market(B, steps=args.steps, repeats=args.repeats))
    torch.set_num_threads(max_threads)
    if torch.cuda.is_available():
        for B in args.batches + [65536]:
            rows.append(
                measure_batched_market(B, device="cuda", steps=args.steps, repeats=args.repeats)
            )
    meta = run_meta(
        "env_throughput.py",
        argv,
        steps=args.steps,
        repeats=args.repeats,
    )
    md = _markdown(rows, meta)
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "_cuda" if torch.cuda.is_available() else ""
    (args.out / f"env_throughput{suffix}.json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n"
    )
    (args.out / f"env_throughput{suffix}.md").write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
