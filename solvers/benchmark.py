"""Transitional re-export for the layout merge: the benchmark rule ("Riccati, else leading
order, else frictionless", MODEL.md §3–§5) is written once, in
:mod:`market_env.reference.benchmark`. Kept only while ``solvers.compare``,
``solvers.neural.api`` and ``tests/test_convergence.py`` still import from here."""

from market_env.reference.benchmark import (
    CERTIFY_HINT,
    BenchmarkChoice,
    choose_benchmark,
    equilibrium_solution,
    finite_metrics,
)

__all__ = [
    "CERTIFY_HINT",
    "BenchmarkChoice",
    "choose_benchmark",
    "equilibrium_solution",
    "finite_metrics",
]
