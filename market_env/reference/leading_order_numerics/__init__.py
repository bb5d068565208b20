"""Pure numerics of the power-cost leading-order benchmark (MODEL.md §5).

Everything here is numpy/scipy, float64, and independent of the market simulator:

- :mod:`.profile`: the boundary value problem for ``g`` (:func:`solve_g`, :class:`GProfile`);
- :mod:`.coefficients`: the constants ``c``, rate and σ prefactors
  (:func:`leading_order_coefficients`), agent 1's rate (:func:`lo_rate`, and the discrete
  benchmark's rate capped at the gap, :func:`lo_rate_discrete`) and ``σ_LO``
  (:func:`lo_sigma`);
- :mod:`.law`: the law of the discrete-time deviation chain and ``E[σ_k²]``
  (:func:`expected_sigma_squared_path`), which gives ``S_0,LO = βT − γ̄ s Σ_k E[σ_k²] Δt``;
- :mod:`.checks`: the argument checks they share.

Range: ``q ∈ [Q_MIN, 2]`` (:data:`Q_MIN` = 1.05; the BVP for ``g`` is out of reach nearer 1).
``paper_variant=True`` reproduces the paper's two errors (MODEL.md §5) for the side-by-side
table only.
"""

from __future__ import annotations

from .coefficients import (
    LeadingOrderCoefficients,
    leading_order_coefficients,
    lo_rate,
    lo_rate_discrete,
    lo_sigma,
)
from .law import MAX_FINE_NODES, MAX_LAW_WORK, expected_sigma_squared_path
from .profile import G_PRIME_TOL, Q_MIN, GProfile, boundary_constants, solve_g

__all__ = [
    "G_PRIME_TOL",
    "GProfile",
    "LeadingOrderCoefficients",
    "MAX_FINE_NODES",
    "MAX_LAW_WORK",
    "Q_MIN",
    "boundary_constants",
    "expected_sigma_squared_path",
    "leading_order_coefficients",
    "lo_rate",
    "lo_rate_discrete",
    "lo_sigma",
    "solve_g",
]
