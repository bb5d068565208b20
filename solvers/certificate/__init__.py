"""The two-sided equilibrium certificate of MODEL.md §9: ``L_n ≤ G_n ≤ U_n`` per agent.

- :mod:`.qp`: the per-path inner problems (tridiagonal solve for q = 2, Newton for q < 2);
- :mod:`.penalty`: the exogenous state's features and their Gauss–Hermite expectations;
- :mod:`.value`: the approximate value functions ``h`` (backward regression);
- :mod:`.bounds`: :func:`certify` and :class:`Certificate`.
"""

from __future__ import annotations

from .bounds import Certificate, certify

__all__ = ["Certificate", "certify"]
