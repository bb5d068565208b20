"""The two-sided equilibrium certificate of MODEL.md §9: ``L_n ≤ G_n ≤ U_n`` per agent.

- :mod:`.qp`: the per-path inner problems (tridiagonal solve for q = 2, Newton for q < 2);
- :mod:`.penalty`: the exogenous state's features and their Gauss–Hermite expectations;
- :mod:`.value`: the approximate value functions ``h`` (backward regression);
- :mod:`.bounds`: :func:`certify` and :class:`Certificate`.

Usage (the CLI is ``market-eq exploit --bound``)::

    from market_env import get_preset
    from market_env.reference import DiscreteRiccatiSolution
    from solvers.certificate import certify

    cert = certify(DiscreteRiccatiSolution(get_preset("quadratic-10")), n_paths=3000)
    cert.lower_gain_per_agent, cert.upper_gain_per_agent, cert.verdict
"""

from __future__ import annotations

from .bounds import Certificate, certify

__all__ = ["Certificate", "certify"]
