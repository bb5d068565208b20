"""``market-eq solve``: train a neural solver (MODEL.md §8), save the run, compare it with the
benchmark on common paths and print the convergence verdict.

The option choices are constant tuples here, so ``market-eq solve --help`` needs no torch;
``tests/test_cli.py`` checks that they agree with the library's (``solvers.neural``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from .common import (
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    EXIT_NOT_CONVERGED,
    CLIError,
    add_json_argument,
    add_market_arguments,
    add_threads_argument,
    market_from_args,
    positive_int,
    print_json,
)

__all__ = ["SCHEDULE_ARGS", "add_parser", "any_schedule_option", "run", "schedule_from_args"]

DEFAULT_PRESET = "quadratic-10"

#: ``--solver`` (``solvers.neural.api.SOLVERS``).
SOLVERS = ("reinforced-gan", "combo", "fbsde")
#: ``--mu``, ``--generator``, ``--net-shape``, ``--price-net``, ``--last-rate``: the network
#: options of the neural solvers (``MU_MODES`` … ``LAST_RATES`` in ``solvers.neural``), in the
#: order the help lists them.
MU_MODES = ("learned", "clearing")
GENERATORS = ("all", "residual")
NET_SHAPES = ("hybrid", "shared", "per-step")
PRICE_NETS = ("separate", "joint")
LAST_RATES = ("zero", "learned")
#: ``--link-form`` (``LINK_FORMS`` of the Reinforced-GAN training).
LINK_FORMS = ("increment", "cumulative")

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


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``market-eq solve`` on the ``market-eq`` sub-parsers ``sub``."""
    p = sub.add_parser(
        "solve",
        help="compute an equilibrium with a neural solver (Reinforced-GAN, Combo, Deep FBSDE)",
        description="Train a neural equilibrium solver (MODEL.md §8), save the run (config, "
        "weights, history) to --out as soon as training ends, then compare it with the "
        "benchmark on common paths (Riccati truth for q = 2 and sum(xi) = 0, leading order "
        "for N = 2, q < 2; otherwise none exists and frictionless is shown as a labelled "
        "reference) and add the evaluation and PNG figures. Every solve ends with a "
        "convergence verdict computed from the run. With no options: quadratic-10, "
        "Reinforced-GAN, CPU, one thread, about 6 minutes on an idle 2-core machine.",
        epilog="Exit status: 0 converged; 2 a bad input (one line, nothing trained); 3 training "
        "diverged (NaN/explosion); 4 NOT CONVERGED (time limit, too few rounds, or a "
        "convergence check failed; the run is saved; --allow-unconverged makes this 0); "
        "130 interrupted by SIGINT/SIGTERM (the run is saved, resumable with --resume).",
    )
    add_market_arguments(p, default_preset=DEFAULT_PRESET)
    p.add_argument("--solver", default="reinforced-gan", choices=SOLVERS)
    p.add_argument(
        "--mu",
        default="learned",
        choices=MU_MODES,
        help="drift network, or the clearing drift (exact for q = 2 only)",
    )
    p.add_argument(
        "--generator",
        default="residual",
        choices=GENERATORS,
        help="rates of N-1 agents with the last clearing (default), or of all agents (the "
        "clearing error then measures the price)",
    )
    p.add_argument(
        "--net-shape",
        default="hybrid",
        choices=NET_SHAPES,
        help="shared MLP with time input + per-step linear maps (default), shared only, or "
        "one network per step (the paper's)",
    )
    p.add_argument(
        "--price-net",
        default=None,
        choices=PRICE_NETS,
        help="separate sigma and mu networks (the paper's), or one network with both outputs "
        "(half the cost); default: the solver's",
    )
    p.add_argument(
        "--last-rate",
        default=None,
        choices=LAST_RATES,
        help="no trade at the last step (default; optimal in any price) or the generator's "
        "rate there too (the paper's)",
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation and training")
    p.add_argument(
        "--out", default=None, help="artefact folder (default runs/<preset>-<solver>-s<seed>)"
    )
    p.add_argument("--resume", default=None, help="continue training the run in this folder")
    add_json_argument(p)
    p.add_argument("--quick", action="store_true", help="tiny schedule (a smoke test, seconds)")
    p.add_argument("--rounds", type=positive_int, default=None, help="alternating rounds")
    p.add_argument("--epochs", type=positive_int, default=None, help="epochs per phase and round")
    p.add_argument("--batch", type=positive_int, default=None, help="paths per epoch")
    p.add_argument("--lr-gen", type=float, default=None, help="generator learning rate")
    p.add_argument("--lr-disc", type=float, default=None, help="discriminator learning rate")
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="optional training time budget in seconds (default none: the schedule is defined "
        "by epochs, so a seed reproduces on any machine); hitting it is a stop reason and "
        "the run is NOT CONVERGED",
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
        choices=LINK_FORMS,
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
    p.add_argument("--paths", type=positive_int, default=3000, help="evaluation paths")
    p.add_argument("--eval-seed", type=int, default=0, help="seed of the evaluation paths")
    p.add_argument("--no-plots", action="store_true", help="do not write PNG figures")
    add_threads_argument(p)
    p.add_argument(
        "--allow-unconverged",
        action="store_true",
        help="exit 0 even when the verdict is NOT CONVERGED (it is still printed and saved)",
    )
    p.add_argument(
        "--certify",
        action="store_true",
        help="also run the exploitability certificate (a best response per agent; minutes)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=run)
    return p


def schedule_from_args(args: argparse.Namespace) -> Any:
    """The ``GANSchedule`` of ``--quick`` (else the solver's default) with each schedule
    option given applied; a refused value names the option the user typed."""
    from solvers.neural import SCHEDULES, default_schedule

    schedule = SCHEDULES["quick"] if args.quick else default_schedule(args.solver)
    changes: dict[str, Any] = {}
    flags: dict[str, str] = {}
    for arg, fields_ in SCHEDULE_ARGS.items():
        value = getattr(args, arg)
        if value is not None:
            changes.update(dict.fromkeys(fields_, value))
            flags.update(dict.fromkeys(fields_, "--" + arg.replace("_", "-")))
    try:
        return replace(schedule, **changes)
    except ValueError as exc:  # name the option the user typed, not the schedule field
        text = str(exc)
        field = text.split(" ", 1)[0]
        if field in flags:
            text = f"{flags[field]}: {text}"
        raise ValueError(text) from None


def any_schedule_option(args: argparse.Namespace) -> bool:
    """Whether ``--quick`` or any option of :data:`SCHEDULE_ARGS` was given."""
    return args.quick or any(getattr(args, arg) is not None for arg in SCHEDULE_ARGS)


def run(args: argparse.Namespace) -> int:
    """Train, save, evaluate; print the comparison; exit status by the verdict (epilog)."""
    import torch

    from solvers.neural import TrainingDivergedError, solve
    from solvers.neural.api import format_comparison

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise CLIError("--device cuda requested but no CUDA device is available")
    config = None if args.resume else market_from_args(args)
    schedule = schedule_from_args(args) if not args.resume or any_schedule_option(args) else None
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
            **({"last_rate": args.last_rate} if args.last_rate else {}),
            device=args.device,
            seed=args.seed,
            out=out,
            resume=args.resume,
            n_eval_paths=args.paths,
            eval_seed=args.eval_seed,
            progress=not args.no_progress,
            plots=not args.no_plots,
            threads=args.threads,
            certify=args.certify,
        )
    except TrainingDivergedError as exc:
        print(f"market-eq solve: training diverged: {exc}", file=sys.stderr)
        return EXIT_DIVERGED
    if args.json:
        print_json(dict(result))
    else:
        print(format_comparison(result))
    if result["stop_reason"] == "interrupted":
        return EXIT_INTERRUPTED
    if not result["converged"] and not args.allow_unconverged:
        return EXIT_NOT_CONVERGED
    return 0
