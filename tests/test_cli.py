import json
import subprocess
import sys

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
