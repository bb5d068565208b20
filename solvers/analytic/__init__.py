"""The analytic benchmarks, kept under their old name: they live in
:mod:`market_env.reference` (beside the simulator, which uses them as default opponents)."""

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
