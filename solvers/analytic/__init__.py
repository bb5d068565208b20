"""Analytic benchmarks: frictionless (MODEL.md §3), Riccati (§4), leading order (§5)."""

from .frictionless import FrictionlessSolution
from .leading_order import LeadingOrderSolution
from .riccati import RiccatiCoefficients, RiccatiSolution, riccati_coefficients

__all__ = [
    "FrictionlessSolution",
    "LeadingOrderSolution",
    "RiccatiCoefficients",
    "RiccatiSolution",
    "riccati_coefficients",
]
