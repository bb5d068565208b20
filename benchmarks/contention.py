"""Training speed under CPU contention: why training uses one torch thread by default.

Seconds per generator epoch and per discriminator epoch of the default problem
(``quadratic-10``, the default schedule's batches: 1000 paths per generator epoch, 200 per
discriminator epoch, 3×50 tanh networks), measured

- alone,
- beside one and two CPU-bound busy loops (other programs on the machine),
- beside one and two copies of the same epoch loop at the same thread setting (other
  training jobs),

at the default thread setting (:data:`solvers.threads.DEFAULT_THREADS`, one thread) and at
all cores (torch's own default, the library's default before). Competitors are
processes this script starts and stops itself. The slowdown is the median epoch time
beside the competitors over the median alone, measured in this same run.

Goal: with one competitor on a 2-core machine the default setting is at most 2.5× slower
than alone (a fair share of 2 cores between 2 jobs is no slowdown for a one-thread job and
2× for a job that wants both cores).

    python benchmarks/contention.py            # writes benchmarks/results/contention.{json,md}
    python benchmarks/contention.py --quick    # a few epochs per cell (seconds)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from provenance import describe, run_meta  # noqa: E402

from market_env import get_preset  # noqa: E402
from market_env.run_folder import atomic_write_json, atomic_write_text  # noqa: E402
from solvers.neural import ReinforcedGAN, default_schedule  # noqa: E402
from solvers.neural.training import simulate_pool  # noqa: E402
from solvers.threads import DEFAULT_THREADS, resolve_threads  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
GOAL = 2.5

BUSY_LOOP = "while True:\n    pass\n"


def make_trainer() -> ReinforcedGAN:
    return ReinforcedGAN(get_preset("quadratic-10"), default_schedule(), progress=False)


def time_epochs(threads: int, max_epochs: int, budget: float) -> dict[str, list[float]]:
    """Times of up to ``max_epochs`` epochs of each phase (at least 3, about ``budget``
    seconds per phase), after one warm-up epoch."""
    torch.set_num_threads(threads)
    tr = make_trainer()
    noise = tr._noise(2, 0)
    pool_noise = tr._noise(tr.schedule.pool_batches, 1, tr.disc_market)
    pool = simulate_pool(tr.nets, tr.disc_market, pool_noise)
    out: dict[str, list[float]] = {"generator": [], "discriminator": []}
    for phase in out:
        times = out[phase]
        for e in range(max_epochs + 1):
            t0 = time.perf_counter()
            if phase == "generator":
                tr.generator_epoch(noise[e % 2])
            else:
                tr.discriminator_epoch(pool, e % len(pool))
            dt = time.perf_counter() - t0
            if e > 0:  # the first epoch warms up
                times.append(dt)
            if len(times) >= 3 and sum(times) > budget:
                break
    return out


def worker(threads: int) -> None:
    """A competitor: generator and discriminator epochs forever."""
    torch.set_num_threads(threads)
    tr = make_trainer()
    noise = tr._noise(2, 0)
    pool = simulate_pool(tr.nets, tr.disc_market, tr._noise(2, 1, tr.disc_market))
    e = 0
    while True:
        tr.generator_epoch(noise[e % 2])
        for b in range(2):
            tr.discriminator_epoch(pool, b)
        e += 1


def start_competitors(kind: str, count: int, threads: int) -> list[subprocess.Popen]:
    procs = []
    for _ in range(count):
        if kind == "busy loop":
            cmd = [sys.executable, "-c", BUSY_LOOP]
        else:
            cmd = [sys.executable, __file__, "--worker", "--threads", str(threads)]
        env = {**os.environ}
        env.pop("OMP_NUM_THREADS", None)  # competitors use torch's own default pool
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL))
    return procs


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


SCENARIOS = [
    ("alone", None, 0),
    ("1 busy loop", "busy loop", 1),
    ("2 busy loops", "busy loop", 2),
    ("1 copy of the epoch loop", "copy", 1),
    ("2 copies of the epoch loop", "copy", 2),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 epochs per cell")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, default=8.0, help="seconds per phase and cell")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds competitors run first")
    args = parser.parse_args()
    if args.worker:
        worker(args.threads)
        return
    settings = [
        (f"default ({DEFAULT_THREADS} thread)", DEFAULT_THREADS),
        (f"all cores ({resolve_threads(0)} threads)", resolve_threads(0)),
    ]
    max_epochs = 3 if args.quick else 30
    budget = 0.5 if args.quick else args.budget
    meta = run_meta("contention.py", load_before=os.getloadavg()[0])
    rows = []
    for label, threads in settings:
        alone: dict[str, float] = {}
        for name, kind, count in SCENARIOS:
            procs = start_competitors(kind, count, threads) if kind else []
            try:
                if procs:
                    time.sleep(args.warmup)
                times = time_epochs(threads, max_epochs, budget)
            finally:
                stop(procs)
            row = {"setting": label, "threads": threads, "scenario": name}
            for phase, ts in times.items():
                med = statistics.median(ts)
                if name == "alone":
                    alone[phase] = med
                row[f"{phase}_s"] = med
                row[f"{phase}_epochs"] = len(ts)
                row[f"{phase}_slowdown"] = med / alone[phase]
            rows.append(row)
            print(
                f"{label:<24} {name:<28} gen {row['generator_s']:.3f} s "
                f"({row['generator_slowdown']:.2f}x)  disc {row['discriminator_s']:.3f} s "
                f"({row['discriminator_slowdown']:.2f}x)",
                flush=True,
            )
    default_label = settings[0][0]
    worst = max(
        max(r["generator_slowdown"], r["discriminator_slowdown"])
        for r in rows
        if r["setting"] == default_label and r["scenario"].startswith("1 ")
    )
    summary = {
        "goal": f"default setting at most {GOAL}x slower than alone beside one competitor",
        "default_worst_slowdown_one_competitor": worst,
        "goal_met": worst <= GOAL,
    }
    result = {"provenance": meta, "summary": summary, "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "contention_quick" if args.quick else "contention"
    atomic_write_json(RESULTS / f"{name}.json", result)
    md = [
        "# Training speed under CPU contention",
        "",
        describe(meta),
        "",
        "Median seconds per epoch of the default problem (quadratic-10: generator 1000 "
        "paths, discriminator 200 paths) and the slowdown against the same setting alone.",
        "",
        "| setting | beside | generator s/epoch | slowdown | discriminator s/epoch | slowdown |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['setting']} | {r['scenario']} | {r['generator_s']:.3f} | "
            f"{r['generator_slowdown']:.2f}× | {r['discriminator_s']:.3f} | "
            f"{r['discriminator_slowdown']:.2f}× |"
        )
    md += [
        "",
        f"Goal: at the default setting, beside one competitor, at most {GOAL}× slower than "
        f"alone. Worst measured: {worst:.2f}× — goal {'met' if worst <= GOAL else 'MISSED'}.",
    ]
    atomic_write_text(RESULTS / f"{name}.md", "\n".join(md) + "\n")
    print(f"worst default slowdown beside one competitor: {worst:.2f}x (goal {GOAL}x)")


if __name__ == "__main__":
    main()
