"""Agent-steps per second of the RL interfaces against the raw simulator.

Measured in one run, on one thread by default (the 2-core CPU is shared), for N = 10
(``quadratic-10``):

(a) a plain Python loop over one PettingZoo ``ParallelEnv`` (B = 1; fixed action dicts, so
    action sampling is not timed; resets included);
(b) the SB3 ``VecEnv`` adapter (``MarketSB3VecEnv``) with B = 4096 paths: parameter-shared
    (B×N = 40960 sub-environments) and one learning agent (B sub-environments, the other
    nine following the Riccati equilibrium); ``step_async`` + ``step_wait`` with a fixed
    action array, auto-resets included;
(c) raw ``BatchedMarket.step`` at B = 4096 (``measure_batched_market`` of
    ``benchmarks/env_throughput.py``).

Prints a table and the ratios (targets: (c) ≥ 300×(a), (b) ≥ 30×(a)) and writes
``benchmarks/results/interface_throughput.{json,md}``.

    python benchmarks/interface_throughput.py [--batch 4096] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from provenance import run_meta  # noqa: E402

from market_env import get_preset, parallel_env  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _row(what: str, preset: str, batch: int, agents_per_step: int, steps: int, best: float):
    config = get_preset(preset)
    return {
        "what": what,
        "preset": preset,
        "n_agents": config.n_agents,
        "batch_size": batch,
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "us_per_step": 1e6 * best / steps,
        "agent_steps_per_s": agents_per_step * steps / best,
    }


def measure_pettingzoo_loop(
    *, preset: str = "quadratic-10", steps: int = 2000, repeats: int = 3
) -> dict:
    """(a) best-of-``repeats`` agent-steps/s of a plain loop over one PettingZoo env."""
    env = parallel_env(preset=preset, seed=0)
    actions = {a: np.zeros(1, dtype=np.float32) for a in env.possible_agents}
    best = float("inf")
    for _ in range(repeats + 1):  # the first pass warms up
        env.reset(seed=0)
        start = time.perf_counter()
        for _ in range(steps):
            if not env.agents:
                env.reset()
            env.step(actions)
        best = min(best, time.perf_counter() - start)
    return _row("PettingZoo ParallelEnv loop", preset, 1, env.config.n_agents, steps, best)


def measure_sb3_vec_env(
    batch_size: int,
    *,
    shared: bool = True,
    preset: str = "quadratic-10",
    steps: int = 200,
    repeats: int = 3,
) -> dict:
    """(b) best-of-``repeats`` agent-steps/s of ``MarketSB3VecEnv.step`` (learning agents)."""
    from market_env import MarketSB3VecEnv

    config = get_preset(preset)
    num_envs = batch_size * config.n_agents if shared else batch_size
    venv = MarketSB3VecEnv(
        num_envs=num_envs, preset=preset, agent="shared" if shared else 0, seed=0
    )
    rng = np.random.default_rng(0)
    actions = rng.normal(0.0, 1.0, size=(num_envs, 1)).astype(np.float32)
    best = float("inf")
    for _ in range(repeats + 1):
        venv.reset()
        start = time.perf_counter()
        for _ in range(steps):
            venv.step_async(actions)
            venv.step_wait()
        best = min(best, time.perf_counter() - start)
    what = "SB3 VecEnv adapter, " + (
        "B×N parameter-shared"
        if shared
        else "1 learning agent × B paths (others: Riccati; learner's steps counted)"
    )
    return _row(what, preset, batch_size, num_envs, steps, best)


def _markdown(rows: list[dict], ratios: dict, meta: dict) -> str:
    lines = [
        "# RL interface throughput",
        "",
        f"Produced by `{meta['command']}` on {meta['date']} ({meta['machine']}, "
        f"torch {meta['torch']}). Best of {meta['repeats']} runs; CPU, "
        f"{meta['threads']} thread(s).",
        "",
        "| what | B | N | µs / step | agent-steps / s |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['what']} | {r['batch_size']} | {r['n_agents']} | {r['us_per_step']:.1f} | "
            f"{r['agent_steps_per_s']:.3g} |"
        )
    lines += ["", "| ratio | measured | target |", "|---|---|---|"]
    for name, (value, target) in ratios.items():
        lines.append(f"| {name} | {value:.0f}× | ≥ {target}× |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--loop-steps", type=int, default=2000)
    parser.add_argument("--vec-steps", type=int, default=200)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from env_throughput import measure_batched_market

    a = measure_pettingzoo_loop(steps=args.loop_steps, repeats=args.repeats)
    b = measure_sb3_vec_env(args.batch, shared=True, steps=args.vec_steps, repeats=args.repeats)
    b1 = measure_sb3_vec_env(args.batch, shared=False, steps=args.vec_steps, repeats=args.repeats)
    c = measure_batched_market(args.batch, steps=args.vec_steps * 5, repeats=args.repeats)
    c = {**c, "what": "raw BatchedMarket.step"}
    rows = [a, b, b1, c]
    ratios = {
        "(c) raw / (a) PettingZoo": (c["agent_steps_per_s"] / a["agent_steps_per_s"], 300),
        "(b) SB3 shared / (a) PettingZoo": (b["agent_steps_per_s"] / a["agent_steps_per_s"], 30),
    }
    meta = run_meta(
        "interface_throughput.py",
        argv,
        threads=args.threads,
        repeats=args.repeats,
    )
    md = _markdown(rows, ratios, meta)
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "rows": rows, "ratios": {k: v[0] for k, v in ratios.items()}}
    (args.out / "interface_throughput.json").write_text(json.dumps(payload, indent=2) + "\n")
    (args.out / "interface_throughput.md").write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
