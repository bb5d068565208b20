"""The examples run (with tiny settings)."""

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    "script, args",
    [
        ("pettingzoo_loop.py", []),
        ("gym_sb3_ppo.py", ["--timesteps", "400"]),
        ("vecenv_sb3_ppo.py", ["--paths", "4", "--timesteps", "800"]),
        ("custom_torch_agent.py", ["--iterations", "3"]),
    ],
)
def test_example_runs(script, args, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [script, *args])
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    assert capsys.readouterr().out.strip()
