"""Analytic benchmarks: frictionless (MODEL.md §3), Riccati (§4: continuous time, and the exact
equilibrium of the K-step market of §2), leading order (§5)."""

from .discrete_riccati import DiscreteRiccatiSolution, discrete_riccati_coefficients
from .frictionless import FrictionlessSolution
from .leading_order import LeadingOrderSolution
from .riccati import RiccatiCoefficients, RiccatiSolution, riccati_coefficients

__all__ = [
    "DiscreteRiccatiSolution",
    "discrete_riccati_coefficients",
    "FrictionlessSolution",
    "LeadingOrderSolution",
    "RiccatiCoefficients",
    "RiccatiSolution",
    "riccati_coefficients",
]
