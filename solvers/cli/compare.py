"""``market-eq compare``: train every method on one market and judge them in one table
(:func:`solvers.compare.run_comparison`; MODEL.md §2 metrics and the exploitability of §9).

The method names of the help are constants here, so ``market-eq compare --help`` needs no
torch; ``tests/test_cli.py`` checks that they agree with :mod:`solvers.compare`.
"""

from __future__ import annotations

import argparse
from typing import Any

from .common import (
    CLIError,
    add_json_argument,
    add_market_arguments,
    add_threads_argument,
    market_from_args,
    positive_int,
    print_json,
)

__all__ = [
    "ALL_METHODS",
    "MORE_METHODS",
    "add_parser",
    "budgets_from_args",
    "methods_from_args",
    "run",
]

#: The table's methods, in order (``solvers.compare.ALL_METHODS``).
ALL_METHODS = (
    "benchmark",
    "reinforced-gan",
    "combo",
    "deep-fbsde",
    "ppo-shared",
    "ppo-ibr",
    "sac-shared",
    "market-game",
)
#: The other methods ``--methods`` accepts (the rest of ``solvers.rl.METHODS``).
MORE_METHODS = ("sac-ibr", "sac-market-game")


def add_parser(sub: Any) -> None:
    """Register ``market-eq compare`` on the ``market-eq`` sub-parsers ``sub``."""
    cp = sub.add_parser(
        "compare",
        help="train every method on one market and compare them in one table",
        description="Train the benchmark, the neural solvers and the independent SB3 learners "
        "on one market; evaluate all on common seeded paths (utility, clearing and terminal "
        "errors, S0, mu0, sigma0, path errors against the benchmark), certify them by "
        "exploitability, and print one table. Methods whose solver is unavailable are "
        "listed with a note.",
    )
    add_market_arguments(cp, default_preset=None)
    cp.add_argument(
        "--methods",
        nargs="+",
        default=None,
        help=f"methods (space or comma separated; default all of {list(ALL_METHODS)}; "
        f"also {', '.join(MORE_METHODS)})",
    )
    cp.add_argument("--quick", action="store_true", help="tiny budgets: a smoke test")
    add_json_argument(cp)
    cp.add_argument("--out", default=None, help="folder for compare.json/.md and figures")
    cp.add_argument("--no-figures", action="store_true", help="write no PNG figures")
    cp.add_argument("--paths", type=positive_int, default=None, help="evaluation paths")
    cp.add_argument("--seed", type=int, default=None, help="seed of the evaluation paths (0)")
    cp.add_argument("--train-seed", type=int, default=None, help="seed of training (1)")
    cp.add_argument("--timesteps", type=positive_int, default=None, help="PPO timesteps")
    cp.add_argument("--sac-timesteps", type=positive_int, default=None, help="SAC timesteps")
    cp.add_argument(
        "--neural-seconds", type=float, default=None, help="wall-clock cap per neural solver"
    )
    cp.add_argument(
        "--neural-epoch-fraction",
        type=float,
        default=None,
        help="scale of the neural default schedule's epochs per round (0.15)",
    )
    cp.add_argument("--exploit-iterations", type=int, default=None, help="best-response Adam steps")
    cp.add_argument("--exploit-train-paths", type=positive_int, default=None, help="paths per step")
    cp.add_argument(
        "--bound",
        action="store_true",
        help="also bracket each method's best-response gains from above (information "
        "relaxation, MODEL.md §9; as market-eq exploit --bound): columns eps/|J_n| and width",
    )
    cp.add_argument(
        "--backend",
        choices=("sb3", "rllib"),
        default="sb3",
        help="who trains the learners: Stable-Baselines3 (default) or Ray RLlib (ppo-shared "
        "over env runners, each holding the batched VectorEnv; needs ray[rllib])",
    )
    cp.add_argument(
        "--num-env-runners",
        type=int,
        default=None,
        help="RLlib env runners (processes) with --backend rllib (default 2)",
    )
    cp.add_argument("--device", default="auto", help="training device: auto, cpu or cuda")
    add_threads_argument(cp)
    cp.set_defaults(func=run)


def methods_from_args(args: argparse.Namespace) -> list[str]:
    """``--methods`` (space or comma separated), or every method of :data:`ALL_METHODS`."""
    if not args.methods:
        return list(ALL_METHODS)
    return [m for value in args.methods for m in value.split(",") if m]


def budgets_from_args(args: argparse.Namespace) -> Any:
    """The ``CompareBudgets`` of the options: ``--quick`` picks the smoke-test budgets, and
    each budget option given overrides its default."""
    from solvers.compare import CompareBudgets

    return CompareBudgets.from_options(
        quick=args.quick,
        timesteps=args.timesteps,
        sac_timesteps=args.sac_timesteps,
        neural_seconds=args.neural_seconds,
        neural_epoch_fraction=args.neural_epoch_fraction,
        exploit_iterations=args.exploit_iterations,
        exploit_train_paths=args.exploit_train_paths,
        n_paths=args.paths,
        seed=args.seed,
        train_seed=args.train_seed,
        backend=args.backend,
        num_env_runners=args.num_env_runners,
        bound=args.bound,
    )


def run(args: argparse.Namespace) -> int:
    """Run the comparison; print the Markdown table or one JSON object (progress on stderr)."""
    from solvers.compare import format_markdown, run_comparison

    config = market_from_args(args)
    if config is None:
        raise CLIError("give --preset NAME or --config FILE.json")
    if args.num_env_runners is not None and args.backend != "rllib":
        raise CLIError("--num-env-runners needs --backend rllib")
    result = run_comparison(
        config,
        methods_from_args(args),
        budgets=budgets_from_args(args),
        device=args.device,
        out=args.out,
        figures=not args.no_figures,
        progress=True,  # on stderr, also with --json
        preset=args.preset,
    )
    if args.json:
        print_json(result)
    else:
        print(format_markdown(result))
    return 0
