"""The known answers of MODEL.md, beside the simulator they judge: the frictionless
equilibrium (§3), the Riccati equilibrium for quadratic costs (§4, continuous time, and the
exact equilibrium of the K-step market of §2), the leading order for power costs (§5), and the
one rule that picks which of them judges a config (:func:`choose_benchmark`).

Modules load on first use (the leading order needs scipy)::

    from market_env.reference import RiccatiSolution, choose_benchmark
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "BenchmarkChoice": "benchmark",
    "CERTIFY_HINT": "benchmark",
    "choose_benchmark": "benchmark",
    "equilibrium_solution": "benchmark",
    "DiscreteRiccatiSolution": "discrete_riccati",
    "discrete_riccati_coefficients": "discrete_riccati",
    "FrictionlessSolution": "frictionless",
    "LeadingOrderSolution": "leading_order",
    "RiccatiCoefficients": "riccati",
    "RiccatiSolution": "riccati",
    "riccati_coefficients": "riccati",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
