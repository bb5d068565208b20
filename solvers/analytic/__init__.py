"""The known answers under their former name (DESIGN.md allows it): they live in
:mod:`market_env.reference` (MODEL.md §3–§5), beside the simulator, whose environments face
them by default. Re-exported here for ``solvers.cli``, ``tests/test_convergence.py`` and
``benchmarks/solver_speed.py``; new code imports from :mod:`market_env.reference` (or the
lazy ``solvers`` package)."""

from market_env.reference import (
    DiscreteRiccatiSolution,
    FrictionlessSolution,
    LeadingOrderSolution,
    RiccatiCoefficients,
    RiccatiSolution,
    discrete_riccati_coefficients,
    riccati_coefficients,
)

__all__ = [
    "DiscreteRiccatiSolution",
    "discrete_riccati_coefficients",
    "FrictionlessSolution",
    "LeadingOrderSolution",
    "RiccatiCoefficients",
    "RiccatiSolution",
    "riccati_coefficients",
]
