"""Which known answer a computed equilibrium is judged against, and why (MODEL.md §3–§5).

One rule, used by ``solve``, ``compare`` and ``evaluate``:

- ``q = 2`` and ``Σξ = 0``: the **exact equilibrium of the K-step market** the simulator
  steps (:class:`market_env.reference.DiscreteRiccatiSolution`, MODEL.md §2 with §4), which the
  continuous-time Riccati equilibrium of MODEL.md §4 approaches as ``Δt → 0`` (the two differ
  by ``O(Δt)``, which can be large in relative terms for a small ``S_0``); for more than
  :data:`~market_env.reference.discrete_riccati.MAX_AGENTS` agents the continuous one;
- ``N = 2``, ``q < 2`` and ``Σξ = 0``: the **leading-order** equilibrium (MODEL.md §5), an
  expansion in small ``λ``, not a truth (its discrete-time strategy caps each step at the
  current gap, see :class:`market_env.reference.LeadingOrderSolution`);
- otherwise **no benchmark exists** (N > 2 with q < 2, Σξ ≠ 0): the frictionless
  equilibrium (MODEL.md §3) is shown as a labelled *reference* only, and the exploitability
  certificate (``market-eq exploit``) is the judge.

A benchmark that cannot be built on the config (it refuses the parameters) or whose own
rollout is not finite is reported as failed, in one line, never used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..config import MarketConfig
from ..solution import Solution

__all__ = [
    "BenchmarkChoice",
    "choose_benchmark",
    "finite_metrics",
    "CERTIFY_HINT",
]

#: What a user can run when no benchmark exists.
CERTIFY_HINT = "certify it with `market-eq exploit --solution RUN_DIR` (or solve --certify)"


@dataclass
class BenchmarkChoice:
    """The benchmark of a config.

    Attributes:
        name: ``"riccati-discrete"``, ``"riccati"``, ``"leading-order"`` or ``"none"``.
        solution: the benchmark, or ``None`` when none exists or it failed.
        reference: what tables compare with: the benchmark, else the frictionless
            equilibrium (labelled a reference).
        line: one line for the user: which benchmark and why, or why there is none.
        exact: whether the benchmark is an exact truth (Riccati, discrete or continuous).
    """

    name: str
    solution: Solution | None
    reference: Solution
    line: str
    exact: bool = False

    @property
    def reference_label(self) -> str:
        return self.name if self.solution is not None else "frictionless (reference)"

    def failed(self, why: str) -> BenchmarkChoice:
        """The same config with its benchmark declared failed (e.g. a non-finite rollout)."""
        from .frictionless import FrictionlessSolution

        what = _FAILED_WHAT.get(self.name, self.name)
        return BenchmarkChoice(
            name="none",
            solution=None,
            reference=FrictionlessSolution(self.reference.config),
            line=f"no benchmark: {what} failed on this config ({why}); frictionless shown as a "
            f"reference only — {CERTIFY_HINT}",
        )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "line": self.line, "exact": self.exact}


#: How a failed benchmark is named in the user's line.
_FAILED_WHAT = {
    "riccati-discrete": "the discrete Riccati truth",
    "riccati": "the Riccati truth",
    "leading-order": "the leading order",
}
#: What the continuous-time Riccati benchmark is called in the user's line.
_RICCATI_WHAT = "the continuous-time Riccati truth"


def choose_benchmark(config: MarketConfig) -> BenchmarkChoice:
    """The benchmark of ``config`` by the rule of the module docstring."""
    from .discrete_riccati import MAX_AGENTS as DISCRETE_MAX_AGENTS
    from .discrete_riccati import DiscreteRiccatiSolution
    from .frictionless import FrictionlessSolution
    from .leading_order import LeadingOrderSolution
    from .riccati import RiccatiSolution

    N, q = config.n_agents, config.cost_power
    if not config.xi_balanced or (q < 2.0 and N > 2):
        reasons = []
        if not config.xi_balanced:
            reasons.append(f"Σξ = {config.xi_sum:.3g} ≠ 0")
        if q < 2.0 and N > 2:
            reasons.append(f"N = {N} > 2 with q = {q:g} < 2")
        return BenchmarkChoice(
            name="none",
            solution=None,
            reference=FrictionlessSolution(config),
            line=f"no benchmark: no known equilibrium exists for this market "
            f"({', '.join(reasons)}); frictionless shown as a reference only — {CERTIFY_HINT}",
        )
    if q < 2.0:  # N = 2 (cost_power is in (1, 2])
        name, build, what = "leading-order", LeadingOrderSolution, "the leading order"
        why = "N = 2, q < 2: an expansion in small λ, MODEL.md §5, not an exact truth"
    elif N > DISCRETE_MAX_AGENTS:
        name, build, what = "riccati", RiccatiSolution, _RICCATI_WHAT
        why = (
            f"N = {N} > {DISCRETE_MAX_AGENTS}, too many for the discrete one; it differs from "
            "this market's equilibrium by O(Δt), MODEL.md §4"
        )
    else:
        try:
            solution = DiscreteRiccatiSolution(config)
        except ValueError as exc:  # unstable at this K: the continuous truth, said so
            name, build, what = "riccati", RiccatiSolution, _RICCATI_WHAT
            why = (
                f"the {config.n_steps}-step market's own equilibrium is refused here: "
                f"{str(exc).split(':')[0]}; it differs from the continuous one by O(Δt), "
                "MODEL.md §4"
            )
        else:
            what = f"the exact equilibrium of this {config.n_steps}-step market"
            why = "discrete Riccati, quadratic costs, Σξ = 0, MODEL.md §2, §4"
            return BenchmarkChoice(
                name="riccati-discrete",
                solution=solution,
                reference=solution,
                line=f"benchmark: {what} ({why})",
                exact=True,
            )
    try:
        solution = build(config)
    except (ValueError, RuntimeError, FloatingPointError, ArithmeticError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        choice = BenchmarkChoice(name, None, FrictionlessSolution(config), "")
        return choice.failed(first)
    return BenchmarkChoice(
        name=name,
        solution=solution,
        reference=solution,
        line=f"benchmark: {what} ({why})",
        exact=name == "riccati",
    )


def finite_metrics(metrics: dict[str, Any]) -> bool:
    """Whether the scalar metrics of a rollout are all finite."""
    keys = ("S0", "mu0", "sigma0", "utility_sum", "terminal_error", "clearing_error")
    return all(isinstance(metrics.get(k), (int, float)) and math.isfinite(metrics[k]) for k in keys)


def equilibrium_solution(config: MarketConfig) -> Solution:
    """The best known equilibrium of ``config`` by the rule of the module docstring: the
    benchmark where one exists, else the frictionless equilibrium (MODEL.md §3–§5). This is
    what the environments' ``others="equilibrium"`` and ``price="equilibrium"`` follow."""
    return choose_benchmark(config).reference
