"""Speed of the neural solvers (MODEL.md §8): seconds per generator and per discriminator epoch
at batch 1000 on ``quadratic-10`` with 3×50 tanh networks, and the wall time the default
Reinforced-GAN schedule needs to reach the targets against the Riccati truth.

    python benchmarks/solver_speed.py                 # CPU (epochs at 1 and all threads)
    python benchmarks/solver_speed.py --device cuda   # on a GPU
    python benchmarks/solver_speed.py --skip-targets  # epoch timings only

Writes ``benchmarks/results/solver_speed_<device>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from provenance import describe, run_meta  # noqa: E402

from market_env import get_preset  # noqa: E402
from market_env.reference import RiccatiSolution  # noqa: E402
from market_env.solution import simulate  # noqa: E402
from solvers.neural import GANSchedule, ReinforcedGAN, default_schedule  # noqa: E402
from solvers.neural.training import simulate_pool  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"

#: The accuracy targets of the paper comparison on quadratic-10, Reinforced-GAN with μ
#: learned (3000 paths).
TARGETS = {
    "S0_rel_err": 0.01,
    "mu0_rel_err": 0.05,
    "sigma_path_rel_err": 0.02,
    "rate_path_rel_err": 0.10,
    "clearing_error": 1e-5,
    "terminal_error": 2e-6,
    "utility_rel_err": 0.01,
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def epoch_timings(
    device: str, batch: int = 1000, repeats: int = 20, **net_options
) -> dict[str, float]:
    """Median seconds per generator epoch and per discriminator epoch (after warm-up)."""
    config = get_preset("quadratic-10")
    schedule = GANSchedule(batch_size=batch, disc_batch_size=batch, noise_batches=2)
    tr = ReinforcedGAN(config, schedule, device=device, progress=False, **net_options)
    dev = tr.device
    noise = tr._noise(2, 0)
    gen = []
    for i in range(repeats + 3):
        _sync(dev)
        t = time.perf_counter()
        tr.generator_epoch(noise[i % 2])
        _sync(dev)
        gen.append(time.perf_counter() - t)
    pool = simulate_pool(tr.nets, tr.disc_market, tr._noise(2, 1, tr.disc_market))
    disc = []
    for i in range(repeats + 3):
        _sync(dev)
        t = time.perf_counter()
        tr.discriminator_epoch(pool, i % 2)
        _sync(dev)
        disc.append(time.perf_counter() - t)
    return {
        "generator_epoch_s": statistics.median(gen[3:]),
        "discriminator_epoch_s": statistics.median(disc[3:]),
    }


def check_targets(m: dict, truth: dict) -> dict[str, bool]:
    rel = lambda a, b: abs(a - b) / abs(b)  # noqa: E731
    values = {
        "S0_rel_err": rel(m["S0"], truth["S0"]),
        "mu0_rel_err": rel(m["mu0"], truth["mu0"]),
        "sigma_path_rel_err": m["sigma_path_rel_err"],
        "rate_path_rel_err": m["rate_path_rel_err"],
        "clearing_error": m["clearing_error"],
        "terminal_error": m["terminal_error"],
        "utility_rel_err": rel(m["utility_sum"], truth["utility_sum"]),
    }
    return {k: (values[k], values[k] <= TARGETS[k]) for k in TARGETS}


def time_to_targets(device: str, seed: int, max_seconds: float, generator: str) -> dict:
    """Train the default schedule, evaluating (3000 paths, untimed) after every round."""
    from market_env import compute_metrics, path_errors

    config = get_preset("quadratic-10")
    truth = RiccatiSolution(config)
    ref = simulate(truth, 3000, seed=0)
    truth_m = compute_metrics(ref)
    truth_m["S0"] = truth.S0
    schedule = replace(default_schedule(), max_seconds=max_seconds)
    tr = ReinforcedGAN(
        config, schedule, device=device, seed=seed, generator=generator, progress=False
    )
    first_hit: dict[str, float | None] = {k: None for k in TARGETS}
    all_hit = None
    log = []
    for r in range(1, schedule.rounds + 1):
        tr.train(rounds=r)
        sol = tr.solution
        traj = simulate(sol, 3000, seed=0, device=device)
        m = compute_metrics(traj)
        m.update(path_errors(traj.detach(), ref))
        status = check_targets(m, truth_m)
        for k, (_, ok) in status.items():
            if ok and first_hit[k] is None:
                first_hit[k] = tr.train_seconds
        if all_hit is None and all(ok for _, ok in status.values()):
            all_hit = tr.train_seconds
        log.append(
            {
                "round": tr.round,
                "train_seconds": tr.train_seconds,
                **{k: v for k, (v, _) in status.items()},
            }
        )
        print(json.dumps(log[-1]), flush=True)
        if tr.history.get("stopped_early"):
            break
    return {
        "first_hit_seconds": first_hit,
        "all_targets_seconds": all_hit,
        "log": log,
        "final": log[-1] if log else None,
    }


#: Network variants timed (all 3×50 tanh): name → options of :class:`NeuralSolution`.
VARIANTS = {
    "default: hybrid nets, one joint σ/μ network": {},
    "hybrid nets, separate σ and μ networks (paper's layout)": {"price_net": "separate"},
    "shared over time, linear skip": {"net_shape": "shared"},
    "shared over time, plain MLP": {"net_shape": "shared", "skip": False},
    "one network per step (paper's shape), separate σ, μ": {
        "net_shape": "per-step",
        "price_net": "separate",
    },
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="threads of the time-to-targets run (default 0: torch's default, all cores); "
        "epoch timings are taken at 1 thread and at this number",
    )
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=600.0)
    ap.add_argument("--generator", default="residual", choices=["all", "residual"])
    ap.add_argument("--skip-targets", action="store_true")
    args = ap.parse_args()
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    meta = run_meta("solver_speed.py")
    out = {"meta": meta, "device": args.device, "threads": threads, "epochs": {}}
    if torch.device(args.device).type == "cuda":
        out["gpu"] = torch.cuda.get_device_name()
    if not args.skip_targets:  # first, while the thread pool is fresh
        out["time_to_targets"] = time_to_targets(
            args.device, args.seed, args.max_seconds, args.generator
        )
    # most threads first: growing the pool after running with 1 thread costs ~10% here
    thread_counts = [threads] if args.device != "cpu" else sorted({1, threads}, reverse=True)
    for n in thread_counts:
        torch.set_num_threads(n)
        for name, options in VARIANTS.items():
            reps = args.repeats if "per step" not in name else max(5, args.repeats // 4)
            t = epoch_timings(args.device, repeats=reps, **options)
            out["epochs"][f"{name} | {n}"] = {"variant": name, "threads": n, **t}
            print(f"{n} thread(s), {name}: {t}", flush=True)
        if n == threads:
            d = default_schedule()
            out["default_schedule_disc_batch"] = d.disc_batch_size
            out["default_disc_epoch_s"] = epoch_timings(
                args.device, batch=d.disc_batch_size or d.batch_size, repeats=args.repeats
            )["discriminator_epoch_s"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    tag = torch.device(args.device).type
    (RESULTS / f"solver_speed_{tag}.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        f"## Solver speed ({args.device}, torch {torch.__version__})",
        "",
        describe(meta) + " Epoch timings are medians after 3 warm-up epochs.",
        "",
        "| networks (3×50 tanh, batch 1000, quadratic-10) | threads | s / generator epoch | "
        "s / discriminator epoch |",
        "|---|---|---|---|",
    ]
    for row in out["epochs"].values():
        lines.append(
            f"| {row['variant']} | {row['threads']} | {row['generator_epoch_s']:.3f} | "
            f"{row['discriminator_epoch_s']:.3f} |"
        )
    lines += [
        "| authors' implementation (the paper's code, same 2-core CPU) | 2 | 0.60 | 0.55 |",
        "",
        f"Default schedule (discriminator batch {d.disc_batch_size}, {threads} thread(s)): "
        f"{out['default_disc_epoch_s']:.3f} s per discriminator epoch.",
    ]
    if "time_to_targets" in out:
        tt = out["time_to_targets"]
        lines += [
            "",
            f"Time to the accuracy targets (default schedule, seed {args.seed}, {threads} "
            "thread(s), evaluated on 3000 paths after every round, evaluation not timed):",
            "",
            "| target | first reached after (s of training) |",
            "|---|---|",
        ]
        for k, v in tt["first_hit_seconds"].items():
            lines.append(f"| {k} ≤ {TARGETS[k]:g} | {'not reached' if v is None else f'{v:.0f}'} |")
        at = tt["all_targets_seconds"]
        lines.append(f"| all targets at once | {'not reached' if at is None else f'{at:.0f}'} |")
    (RESULTS / f"solver_speed_{tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
