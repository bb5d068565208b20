"""RLlib sampling throughput on the batched market (DESIGN.md "Scale"): environment steps per
second that RLlib's env runners collect with 1 and with 2 runners, the same total number of
sub-environments (B paths × N traders, parameter-shared ``VectorEnv``) in both, beside the
bare ``VectorEnv`` stepped in one process with random actions (what RLlib adds per step).

An environment step is one agent-step of one sub-environment (as SB3's timesteps). Sampling
is RLlib's ``EnvRunner.sample`` with exploration (the PPO module's forward pass included), run
on all runners at once; each measurement is preceded by a warm-up sample.

    python benchmarks/rllib_throughput.py                    # quadratic-10, 640 sub-envs
    python benchmarks/rllib_throughput.py --preset power-2 --paths 320 --steps 200000

Writes ``benchmarks/results/rllib_throughput.{json,md}`` with provenance and load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.provenance import describe, run_meta  # noqa: E402
from market_env import get_preset  # noqa: E402
from solvers.rl import RLScaling, resolve_plan  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def bare_vector_env(preset: str, total_envs: int, steps: int) -> float:
    """Steps/s of the scaled shared ``VectorEnv`` alone (one process, random actions)."""
    from solvers.rl.rllib import make_scaled_vector_env

    config = get_preset(preset)
    env = make_scaled_vector_env(
        {
            "num_envs": total_envs,
            "config": config.to_dict(),
            "scaling": RLScaling.from_config(config).to_dict(),
        }
    )
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    calls = max(1, steps // total_envs)
    start = time.perf_counter()
    for _ in range(calls):
        env.step(rng.uniform(-1, 1, (total_envs, 1)).astype(np.float32))
    seconds = time.perf_counter() - start
    env.close()
    return calls * total_envs / seconds


def rllib_sampling(preset: str, runners: int, total_paths: int, steps: int) -> dict:
    """Sampling steps/s of ``runners`` env runners holding ``total_paths/runners`` paths each."""
    from solvers.rl.rllib import RLlibPPO

    config = get_preset(preset)
    plan = resolve_plan(
        config,
        "ppo-shared",
        backend="rllib",
        num_env_runners=runners,
        n_paths=total_paths // runners,
        device="cpu",
    )
    with RLlibPPO(plan, RLScaling.from_config(config)) as run:
        group = run.algo.env_runner_group
        per_runner = steps // runners

        def sample(n: int) -> list:
            return group.foreach_env_runner(
                lambda er: sum(len(e) for e in er.sample(num_timesteps=n, random_actions=False)),
                local_env_runner=False,
            )

        sample(max(1, per_runner // 10))  # warm-up
        load = os.getloadavg()[0]
        start = time.perf_counter()
        counts = sample(per_runner)
        seconds = time.perf_counter() - start
    done = int(sum(counts))
    return {
        "env_runners": runners,
        "paths_per_runner": total_paths // runners,
        "sub_envs_per_runner": total_paths // runners * config.n_agents,
        "env_steps": done,
        "seconds": seconds,
        "env_steps_per_second": done / seconds,
        "load_average_1min_before": round(load, 2),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quadratic-10")
    parser.add_argument("--paths", type=int, default=64, help="total paths B (all runners)")
    parser.add_argument("--steps", type=int, default=400_000, help="env steps per measurement")
    parser.add_argument("--runners", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    meta = run_meta("rllib_throughput.py", argv)
    config = get_preset(args.preset)
    total_envs = args.paths * config.n_agents
    bare = bare_vector_env(args.preset, total_envs, args.steps)
    rows = [rllib_sampling(args.preset, r, args.paths, args.steps) for r in args.runners]
    base = rows[0]["env_steps_per_second"]
    for r in rows:
        r["speedup_vs_first"] = r["env_steps_per_second"] / base
    result = {
        "meta": meta,
        "preset": args.preset,
        "total_paths": args.paths,
        "total_sub_envs": total_envs,
        "bare_vector_env_steps_per_second": bare,
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rllib_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# RLlib sampling throughput ({args.preset}, {total_envs} sub-environments in all)",
        "",
        describe(meta),
        "",
        "An environment step is one agent-step of one sub-environment. Sampling = RLlib "
        "`EnvRunner.sample` with exploration (PPO module forward pass included), all runners "
        "at once, after a warm-up.",
        "",
        "| what | runners | sub-envs per runner | env steps / s | speedup "
        "| load avg before / after |",
        "|---|---|---|---|---|---|",
        f"| bare `VectorEnv`, one process, random actions | – | {total_envs} | {bare:.3g} "
        "| – | – |",
    ]
    for r in rows:
        lines.append(
            f"| RLlib env runners | {r['env_runners']} | {r['sub_envs_per_runner']} "
            f"| {r['env_steps_per_second']:.3g} | {r['speedup_vs_first']:.2f}× "
            f"| {r['load_average_1min_before']} / {r['load_average_1min_after']} |"
        )
    (out / "rllib_throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
