"""``market-eq solve``: train a neural solver, compare with the benchmark, save the run.

Registered in :func:`solvers.cli.build_parser` by :func:`add_solve_parser`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

__all__ = ["add_solve_parser", "cmd_solve"]

DEFAULT_PRESET = "quadratic-10"


def add_solve_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``solve`` subcommand to the ``market-eq`` subparsers ``sub``."""
    from ..cli import _positive_int, add_market_arguments

    p = sub.add_parser(
        "solve",
        help="compute an equilibrium with a neural solver (Reinforced-GAN, Combo, Deep FBSDE)",
        description="Train a neural equilibrium solver (MODEL.md §8), compare it with the "
        "benchmark on common paths (Riccati truth for q = 2, leading order for N = 2, "
        "q < 2, else frictionless), and write the run (config, weights, history, "
        "evaluation, PNG figures) to --out. With no options: quadratic-10, Reinforced-GAN, "
        "CPU, at most 10 minutes.",
    )
    add_market_arguments(p, default_preset=DEFAULT_PRESET)
    p.add_argument(
        "--solver", default="reinforced-gan", choices=["reinforced-gan", "combo", "fbsde"]
    )
    p.add_argument(
        "--mu",
        default="learned",
        choices=["learned", "clearing"],
        help="drift network, or the clearing drift (exact for q = 2 only)",
    )
    p.add_argument(
        "--generator",
        default="residual",
        choices=["all", "residual"],
        help="rates of N-1 agents with the last clearing (default), or of all agents (the "
        "clearing error then measures the price)",
    )
    p.add_argument(
        "--net-shape",
        default="hybrid",
        choices=["hybrid", "shared", "per-step"],
        help="shared MLP with time input + per-step linear maps (default), shared only, or "
        "one network per step (the paper's)",
    )
    p.add_argument(
        "--price-net",
        default=None,
        choices=["separate", "joint"],
        help="separate sigma and mu networks (the paper's), or one network with both outputs "
        "(half the cost); default: the solver's",
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation and training")
    p.add_argument(
        "--out", default=None, help="artefact folder (default runs/<preset>-<solver>-s<seed>)"
    )
    p.add_argument("--resume", default=None, help="continue training the run in this folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quick", action="store_true", help="tiny schedule (a smoke test, seconds)")
    p.add_argument("--rounds", type=_positive_int, default=None, help="alternating rounds")
    p.add_argument("--epochs", type=_positive_int, default=None, help="epochs per phase and round")
    p.add_argument("--batch", type=_positive_int, default=None, help="paths per epoch")
    p.add_argument("--lr-gen", type=float, default=None, help="generator learning rate")
    p.add_argument("--lr-disc", type=float, default=None, help="discriminator learning rate")
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="training time budget in seconds (default 540; rounds stop at a round boundary)",
    )
    p.add_argument(
        "--terminal-weight",
        type=float,
        default=None,
        help="discriminator weight of |S_K - payoff|^2 (default 100)",
    )
    p.add_argument(
        "--link-form",
        default=None,
        choices=["increment", "cumulative"],
        help="reinforcement-link loss: step by step (default) or the paper's cumulative form",
    )
    p.add_argument(
        "--link-sigma-grad",
        action="store_const",
        const=True,
        default=None,
        help="let the link loss train sigma too (the earlier behaviour; by default sigma "
        "answers to the terminal loss only)",
    )
    p.add_argument("--paths", type=_positive_int, default=3000, help="evaluation paths")
    p.add_argument("--eval-seed", type=int, default=0, help="seed of the evaluation paths")
    p.add_argument("--no-plots", action="store_true", help="do not write PNG figures")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (default 0: torch's default, all cores; 2 threads make a "
        "generator epoch 1.1x and a discriminator epoch 1.5x faster than 1 on a 2-core CPU)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=cmd_solve)
    return p


#: CLI options that change the training schedule: option → ``GANSchedule`` field(s).
SCHEDULE_ARGS: dict[str, tuple[str, ...]] = {
    "rounds": ("rounds",),
    "epochs": ("gen_epochs", "disc_epochs"),
    "batch": ("batch_size",),
    "lr_gen": ("lr_gen",),
    "lr_disc": ("lr_disc",),
    "time_limit": ("max_seconds",),
    "terminal_weight": ("terminal_weight",),
    "link_form": ("link_form",),
    "link_sigma_grad": ("link_sigma_grad",),
}


def _schedule(args: argparse.Namespace) -> Any:
    from .reinforced_gan import SCHEDULES, default_schedule

    schedule = SCHEDULES["quick"] if args.quick else None
    if schedule is None:
        schedule = default_schedule(args.solver)
    changes: dict[str, Any] = {}
    for arg, fields_ in SCHEDULE_ARGS.items():
        value = getattr(args, arg)
        if value is not None:
            changes.update(dict.fromkeys(fields_, value))
    return replace(schedule, **changes)


def _format(result: dict[str, Any]) -> str:
    b = result["benchmark_metrics"]
    rows = [("", result["solver"], result["benchmark"], "rel. error")]

    def rel(a: float, ref: float) -> str:
        return f"{abs(a - ref) / abs(ref):.2%}" if ref else "-"

    for key in ("S0", "mu0", "sigma0", "utility_sum"):
        rows.append((key, f"{result[key]:.6f}", f"{b[key]:.6f}", rel(result[key], b[key])))
    for key in ("clearing_error", "terminal_error"):
        rows.append((key, f"{result[key]:.3e}", f"{b[key]:.3e}", ""))
    for key in ("sigma_path_rel_err", "mu_path_rel_err", "rate_path_rel_err"):
        rows.append((key.replace("_rel_err", " rel. L2 error"), f"{result[key]:.2%}", "", ""))
    rows.append(("train seconds", f"{result['train_seconds']:.1f}", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.append(
        f"({result['n_paths']} evaluation paths, seed {result['seed']}; utilities on common paths)"
    )
    if result.get("out"):
        lines.append(f"run saved to {result['out']}")
    return "\n".join(lines)


def cmd_solve(args: argparse.Namespace) -> int:
    import torch

    from ..cli import CLIError, market_from_args
    from .api import solve
    from .training import TrainingDivergedError

    if args.threads < 0:
        raise CLIError(f"--threads must be >= 0 (0: all cores), got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise CLIError("--device cuda requested but no CUDA device is available")
    config = None if args.resume else market_from_args(args)
    schedule = _schedule(args) if not args.resume or _any_schedule_option(args) else None
    out = args.out
    if out is None:
        name = args.preset or (Path(args.config).stem if args.config else DEFAULT_PRESET)
        out = args.resume or str(Path("runs") / f"{name}-{args.solver}-s{args.seed}")
    try:
        result = solve(
            config,
            args.solver,
            schedule=schedule,
            mu=args.mu,
            generator=args.generator,
            net_shape=args.net_shape,
            **({"price_net": args.price_net} if args.price_net else {}),
            device=args.device,
            seed=args.seed,
            out=out,
            resume=args.resume,
            n_eval_paths=args.paths,
            eval_seed=args.eval_seed,
            progress=not args.no_progress,
            plots=not args.no_plots,
        )
    except TrainingDivergedError as exc:
        print(f"market-eq solve: training diverged: {exc}", file=sys.stderr)
        return 3
    if args.json:
        keys = [k for k in result if k not in ("trajectories", "benchmark_metrics")]
        print(json.dumps({k: result[k] for k in keys}))
    else:
        print(_format(result))
    return 0


def _any_schedule_option(args: argparse.Namespace) -> bool:
    return args.quick or any(getattr(args, arg) is not None for arg in SCHEDULE_ARGS)
