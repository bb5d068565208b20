"""Transitional re-exports (to be removed): the Solution base lives in market_env.solution."""

from market_env.run_folder import SPEC_FILE  # noqa: F401
from market_env.solution import Solution, evaluate, register_solution, simulate  # noqa: F401

from .loading import load_saved_run, load_solution  # noqa: F401
