"""The convergence verdict of a neural solve, computed from the run itself (no truth needed).

A solve is ``converged`` when every scheduled round ran (at least :data:`MIN_ROUNDS`) and its
last round is quiet:

- ``terminal``: the mean terminal loss ``|S_K − 𝔖|²/(α²T)`` over the last fifth of the last
  round's price epochs is at most ``terminal`` (the terminal condition of MODEL.md §1 holds);
- ``objective_change``: the generator's objective (the agents' summed utility) moved by at
  most this fraction of its size between the first and the last fifth of the last round's
  generator epochs (the agents have stopped improving against the frozen price);
- ``S0_change``: ``S_0`` moved by at most this fraction of ``max(|S_0|, 0.1·α√T)`` over the
  last round (the price has stopped moving: a run that drifts round after round fails here);
- ``link``: where the solver has a reinforcement link (MODEL.md §8), its last-round loss did
  not grow by more than ``link_growth`` times over the previous round's.

A run of fewer than two rounds, or whose last round had a single generator epoch, cannot be
judged and is never converged. Stopping by the time limit or by an interruption is never
converged; the message says where
training stopped and whether the price was ever trained.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "ConvergenceTolerances",
    "Verdict",
    "convergence_verdict",
    "STOP_REASONS",
    "MIN_ROUNDS",
]

#: Why training ended: every scheduled round ran, the time limit, or SIGINT/SIGTERM.
STOP_REASONS = ("completed", "time-limit", "interrupted")


@dataclass(frozen=True)
class ConvergenceTolerances:
    """Tolerances of :func:`convergence_verdict` (module docstring)."""

    terminal: float = 1e-4
    objective_change: float = 2e-3
    S0_change: float = 5e-3
    link_growth: float = 2.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"convergence tolerance {name} must be > 0, got {value!r}")


@dataclass
class Verdict:
    """The outcome of a solve: ``converged``, why training ended, and each check."""

    converged: bool
    stop_reason: str
    message: str
    rounds_done: int
    rounds_scheduled: int
    checks: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Rounds a run needs before it can be judged converged (the last is compared with the one before).
MIN_ROUNDS = 2


def _check(name: str, value: float | None, tol: float, what: str) -> dict[str, Any]:
    ok = value is not None and math.isfinite(value) and value <= tol
    return {"name": name, "value": value, "tol": tol, "ok": bool(ok), "what": what}


def convergence_verdict(
    rounds: list[dict[str, Any]],
    *,
    rounds_scheduled: int,
    stop_reason: str,
    stop_where: dict[str, Any] | None = None,
    scale_S0: float,
    price_trained: bool = True,
    tolerances: ConvergenceTolerances | None = None,
) -> Verdict:
    """Judge a run from its per-round summaries (``history["rounds"]`` of the trainers).

    Args:
        rounds: one dict per completed round with ``S0`` and, where recorded,
            ``objective_first``/``objective_last`` (means of the first and last fifth of the
            round's generator epochs), ``terminal`` and ``link`` (last-fifth means).
        rounds_scheduled: rounds the schedule asked for.
        stop_reason: one of :data:`STOP_REASONS`.
        stop_where: ``{"round", "phase"}`` where training stopped early.
        scale_S0: ``0.1·α√T``, the floor of the ``S_0`` scale.
        price_trained: whether any price epoch ever ran.
        tolerances: :class:`ConvergenceTolerances` (default the stated ones).
    """
    if stop_reason not in STOP_REASONS:
        raise ValueError(f"stop_reason must be one of {list(STOP_REASONS)}, got {stop_reason!r}")
    tol = tolerances or ConvergenceTolerances()
    done = len(rounds)
    checks: list[dict[str, Any]] = []
    if rounds:
        last = rounds[-1]
        checks.append(
            _check("terminal", last.get("terminal"), tol.terminal, "last-round terminal loss")
        )
        first_obj, last_obj = last.get("objective_first"), last.get("objective_last")
        if last_obj is not None and first_obj is None:  # a single epoch: nothing to compare
            checks.append(
                _check(
                    "objective_change",
                    None,
                    tol.objective_change,
                    "relative change of the generator objective over the last round "
                    "(needs at least 2 epochs)",
                )
            )
        elif first_obj is not None and last_obj is not None:
            change = abs(last_obj - first_obj) / max(abs(last_obj), 1e-12)
            checks.append(
                _check(
                    "objective_change",
                    change,
                    tol.objective_change,
                    "relative change of the generator objective over the last round",
                )
            )
        prev_S0 = rounds[-2]["S0"] if done >= 2 else last.get("S0_start")
        if prev_S0 is not None:
            change = abs(last["S0"] - prev_S0) / max(abs(last["S0"]), scale_S0)
            checks.append(
                _check(
                    "S0_change", change, tol.S0_change, "relative change of S_0 in the last round"
                )
            )
        if done >= 2 and last.get("link") is not None and rounds[-2].get("link"):
            growth = last["link"] / rounds[-2]["link"]
            checks.append(
                _check("link_growth", growth, tol.link_growth, "link loss, last / previous round")
            )
    where = stop_where or {}
    place = (
        f"in round {where.get('round', done + 1)} of {rounds_scheduled}, "
        f"{where.get('phase', 'generator')} phase"
    )
    if stop_reason == "time-limit":
        message = f"NOT CONVERGED: stopped by the time limit {place}"
    elif stop_reason == "interrupted":
        message = f"NOT CONVERGED: interrupted {place} (resume with --resume)"
    elif done < rounds_scheduled:
        message = f"NOT CONVERGED: only {done} of {rounds_scheduled} rounds ran"
    elif done < MIN_ROUNDS:
        message = (
            f"NOT CONVERGED: {done} round cannot show convergence (the verdict compares the "
            f"last round with the one before; run at least {MIN_ROUNDS} with --rounds)"
        )
    else:
        failed = [c for c in checks if not c["ok"]]
        if not checks:
            message = "NOT CONVERGED: no round summary was recorded"
        elif failed:
            parts = [
                f"{c['name']} {c['value']:.2e} > {c['tol']:.0e}"
                if c["value"] is not None
                else f"{c['name']} not recorded"
                for c in failed
            ]
            message = "NOT CONVERGED: " + ", ".join(parts) + " (train longer: more --rounds)"
        else:
            message = "converged"
    if stop_reason != "completed" and not price_trained:
        message += " — the price was never trained"
    return Verdict(
        converged=message == "converged",
        stop_reason=stop_reason,
        message=message,
        rounds_done=done,
        rounds_scheduled=rounds_scheduled,
        checks=checks,
    )
