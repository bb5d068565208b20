import ast
import dataclasses
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from solvers.cli import main

REQUIRED = {
    "S0",
    "mu0",
    "sigma0",
    "utility_sum",
    "utility_per_agent",
    "clearing_error",
    "terminal_error",
    "n_paths",
    "seed",
}


def test_evaluate_json(capsys):
    assert (
        main(
            [
                "evaluate",
                "--solution",
                "riccati",
                "--preset",
                "quadratic-10",
                "--paths",
                "200",
                "--seed",
                "3",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert REQUIRED <= set(out)
    assert out["n_paths"] == 200 and out["seed"] == 3
    assert out["sigma0"] == pytest.approx(1.245434, abs=1e-6)


def test_evaluate_table(capsys):
    assert (
        main(["evaluate", "--solution", "frictionless", "--preset", "power-2", "--paths", "50"])
        == 0
    )
    out = capsys.readouterr().out
    assert "clearing error" in out and "sigma0" in out


def test_evaluate_config_file(tmp_path, capsys):
    from market_env import get_preset

    path = tmp_path / "c.json"
    get_preset("quadratic-10").with_(n_steps=20).save(path)
    assert (
        main(
            ["evaluate", "--solution", "riccati", "--config", str(path), "--paths", "20", "--json"]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["n_paths"] == 20


def test_bad_config_exits_nonzero_without_traceback(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"gamma": [1.0, 2.0], "xi": [1.0, -1.0], "cost_power": 3}))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "solvers.cli",
            "evaluate",
            "--solution",
            "frictionless",
            "--config",
            str(path),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "cost_power must be in (1, 2], got 3" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_solution_and_preset(capsys):
    assert main(["evaluate", "--solution", "magic", "--preset", "power-2"]) == 2
    assert "--solution must be one of" in capsys.readouterr().err
    assert main(["evaluate", "--solution", "riccati", "--preset", "nope"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err
    assert main(["evaluate", "--solution", "riccati", "--preset", "power-2"]) == 2
    assert "cost_power = 2" in capsys.readouterr().err


# ----- the CLI package: its constants agree with the library, its help needs no torch -------
CLI_DIR = Path(__file__).resolve().parents[1] / "solvers" / "cli"


def library_constant(name):
    """``name`` from whichever module of ``solvers.neural`` holds it (they may move)."""
    for module in (
        "solvers.neural",
        "solvers.neural.api",
        "solvers.neural.net_options",
        "solvers.neural.model",
        "solvers.neural.schedule",
        "solvers.neural.training",
    ):
        try:
            found = getattr(importlib.import_module(module), name, None)
        except ModuleNotFoundError:
            continue
        if found is not None:
            return found
    raise AssertionError(f"no module of solvers.neural defines {name}")


@pytest.mark.parametrize(
    "name", ["SOLVERS", "MU_MODES", "GENERATORS", "NET_SHAPES", "PRICE_NETS", "LAST_RATES"]
)
def test_solve_choices_match_the_library(name):
    from solvers.cli import solve

    assert sorted(getattr(solve, name)) == sorted(library_constant(name))


def test_link_forms_match_the_library():
    from solvers.cli import solve

    assert sorted(solve.LINK_FORMS) == sorted(library_constant("LINK_FORMS"))


def test_schedule_options_name_schedule_fields():
    from solvers.cli.solve import SCHEDULE_ARGS
    from solvers.neural import GANSchedule

    fields = {f.name for f in dataclasses.fields(GANSchedule)}
    missing = {f for names in SCHEDULE_ARGS.values() for f in names} - fields
    assert not missing


def test_compare_methods_match_the_library():
    from solvers import compare as library
    from solvers.cli import compare

    assert compare.ALL_METHODS == library.ALL_METHODS
    assert sorted(compare.ALL_METHODS + compare.MORE_METHODS) == sorted(library.known_methods())


@pytest.mark.parametrize(
    "name, preset",
    [
        ("frictionless", "quadratic-10"),
        ("riccati", "quadratic-10"),
        ("riccati-discrete", "quadratic-10"),
        ("leading-order", "power-2"),
        ("leading-order-paper", "power-2"),
    ],
)
def test_every_named_solution_builds(name, preset):
    from market_env import get_preset
    from market_env.solution import Solution
    from solvers.cli.common import NAMED_SOLUTIONS, build_named_solution

    assert name in NAMED_SOLUTIONS
    solution = build_named_solution(name, get_preset(preset))
    assert isinstance(solution, Solution) and solution.label == name


def test_cli_modules_import_only_stdlib_and_config_at_module_level():
    """What ``market-eq --help`` loads: heavy imports belong inside the command functions."""
    allowed = set(sys.stdlib_module_names) | {"__future__"}
    bad = []
    for path in sorted(CLI_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        for node in nodes:
            if isinstance(node, ast.ImportFrom):
                if node.level or node.module == "market_env.config":
                    continue
                names = [node.module or ""]
            else:
                names = [alias.name for alias in node.names]
            bad += [f"{path.name}: {n}" for n in names if n.split(".")[0] not in allowed]
    assert not bad, bad


def test_compare_budgets_from_options():
    from solvers.cli import build_parser
    from solvers.cli.compare import budgets_from_args
    from solvers.compare import CompareBudgets

    parse = build_parser().parse_args
    quick = budgets_from_args(parse(["compare", "--quick", "--paths", "50"]))
    assert quick == CompareBudgets.quick(n_paths=50)
    assert quick.timesteps == CompareBudgets.quick().timesteps  # not the full default
    full = budgets_from_args(parse(["compare", "--train-seed", "7"]))
    assert full == CompareBudgets(train_seed=7)
    assert CompareBudgets.from_options(quick=False, seed=None) == CompareBudgets()


def test_interrupt_is_one_line_and_exit_130(monkeypatch, capsys):
    from solvers.cli import evaluate

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluate, "run", interrupted)
    argv = ["evaluate", "--solution", "riccati", "--preset", "quadratic-10"]
    assert main(argv) == 130
    assert capsys.readouterr().err.strip() == "market-eq evaluate: interrupted"
