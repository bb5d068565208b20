"""Transitional re-export for the layout merge: the :class:`Solution` base, :func:`simulate`,
:func:`evaluate` and :func:`register_solution` live in :mod:`market_env.solution` (floor 2 of
DESIGN.md, so the environments can use the known answers without ``solvers``), loading in
:mod:`solvers.loading`. Kept only while ``solvers.cli``, ``solvers.compare``,
``solvers.neural`` (model, fbsde, api, reinforced_gan), ``solvers.rl.learners`` and
``benchmarks/solver_speed.py`` still import from here."""

from market_env.solution import Solution, evaluate, register_solution, simulate

from .loading import load_saved_run, load_solution

__all__ = [
    "Solution",
    "evaluate",
    "load_saved_run",
    "load_solution",
    "register_solution",
    "simulate",
]
