"""Market parameters (MODEL.md §1, §6): a validated dataclass, presets and JSON I/O."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["MarketConfig", "PRESETS", "get_preset", "load_config"]


def _is_bad_number(x: Any) -> bool:
    return not isinstance(x, (int, float)) or isinstance(x, bool) or not math.isfinite(x)


@dataclass(frozen=True)
class MarketConfig:
    """Parameters of the economy of MODEL.md §1, discretised as in §2.

    Attributes:
        gamma: risk aversions ``γ_n > 0``, one per agent (N ≥ 2 agents).
        xi: endowment exposures ``ξ_n`` (same length as ``gamma``).
        lam: trading-cost level ``λ > 0`` (cost ``(λ/2)|φ̇|^q``).
        cost_power: the cost power ``q ∈ (1, 2]``.
        horizon: ``T > 0``.
        n_steps: number of time steps ``K ≥ 1`` (``Δt = T/K``).
        alpha: volatility of the terminal payoff ``𝔖 = βT + αW_T`` (``α > 0``).
        beta: drift of the terminal payoff.
        supply: total supply ``s > 0``.
        initial_holdings: optional ``φ_n,0``; default ``s·γ̄/γ_n`` (MODEL.md §1).
    """

    gamma: tuple[float, ...]
    xi: tuple[float, ...]
    lam: float = 1e-2
    cost_power: float = 2.0
    horizon: float = 1.0
    n_steps: int = 100
    alpha: float = 1.0
    beta: float = 2.0
    supply: float = 1.0
    initial_holdings: tuple[float, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        for name in ("gamma", "xi", "initial_holdings"):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                value = tuple(float(v) for v in value)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a sequence of numbers, got {value!r}") from None
            object.__setattr__(self, name, value)
        n = len(self.gamma)
        if n < 2:
            raise ValueError(f"gamma must list at least 2 agents (N >= 2), got N = {n}")
        for name in ("gamma", "xi", "initial_holdings"):
            value = getattr(self, name)
            if value is None:
                continue
            if len(value) != n:
                raise ValueError(
                    f"{name} must have one entry per agent (len(gamma) = {n}), "
                    f"got length {len(value)}"
                )
            for i, v in enumerate(value):
                if not math.isfinite(v):
                    raise ValueError(f"{name}[{i}] must be finite, got {v}")
        for i, g in enumerate(self.gamma):
            if g <= 0:
                raise ValueError(f"gamma[{i}] must be > 0, got {g}")
        for name in ("lam", "cost_power", "horizon", "alpha", "beta", "supply"):
            value = getattr(self, name)
            if _is_bad_number(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("lam", "horizon", "alpha", "supply"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 1.0 < self.cost_power <= 2.0:
            raise ValueError(f"cost_power must be in (1, 2], got {self.cost_power}")
        if (
            not isinstance(self.n_steps, (int, float))
            or isinstance(self.n_steps, bool)
            or self.n_steps != int(self.n_steps)
            or self.n_steps < 1
        ):
            raise ValueError(f"n_steps must be an integer >= 1, got {self.n_steps!r}")
        object.__setattr__(self, "n_steps", int(self.n_steps))

    # ----- derived quantities -------------------------------------------------------------
    @property
    def n_agents(self) -> int:
        """N, the number of agents."""
        return len(self.gamma)

    @property
    def dt(self) -> float:
        """Δt = T/K."""
        return self.horizon / self.n_steps

    @property
    def gamma_bar(self) -> float:
        """γ̄ = (Σ_n 1/γ_n)^(-1)."""
        return 1.0 / sum(1.0 / g for g in self.gamma)

    @property
    def phi0(self) -> tuple[float, ...]:
        """Initial holdings φ_n,0 (default s·γ̄/γ_n)."""
        if self.initial_holdings is not None:
            return self.initial_holdings
        return tuple(self.supply * self.gamma_bar / g for g in self.gamma)

    @property
    def mu_bar(self) -> float:
        """Frictionless drift ``μ̄ = γ̄α²s`` (MODEL.md §3)."""
        return self.gamma_bar * self.alpha**2 * self.supply

    @property
    def frictionless_S0(self) -> float:
        """Frictionless initial price ``S_0 = (β − γ̄α²s)T`` (MODEL.md §3)."""
        return (self.beta - self.mu_bar) * self.horizon

    @property
    def xi_sum(self) -> float:
        """Σ_n ξ_n (zero for every preset)."""
        return math.fsum(self.xi)

    # ----- I/O -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready dict with exactly the dataclass keys."""
        d = asdict(self)
        for key in ("gamma", "xi", "initial_holdings"):
            if d[key] is not None:
                d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MarketConfig:
        """Build a config from a dict; unknown or missing required keys raise ``ValueError``."""
        if not isinstance(data, dict):
            raise ValueError(f"a market config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}; allowed keys: {sorted(known)}")
        missing = [k for k in ("gamma", "xi") if k not in data]
        if missing:
            raise ValueError(f"config is missing required key(s) {missing}")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        """Write the config as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def with_(self, **changes: Any) -> MarketConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


_GAMMA_10 = tuple(round(1.0 + 0.1 * i, 10) for i in range(10))
_XI_10 = (28.9, 14.9, 11.8, -14.0, -19.1, -27.0, 22.2, 31.5, -26.3, -22.9)

#: The presets of MODEL.md §6 (α = 1, β = 2, s = 1, K = 100).
PRESETS: dict[str, MarketConfig] = {
    "quadratic-10": MarketConfig(
        gamma=_GAMMA_10, xi=_XI_10, lam=1e-2, cost_power=2.0, horizon=0.2, n_steps=100
    ),
    "power-2": MarketConfig(
        gamma=(1.0, 2.0), xi=(3.0, -3.0), lam=1e-2, cost_power=1.5, horizon=0.4, n_steps=100
    ),
    "power-10": MarketConfig(
        gamma=_GAMMA_10, xi=_XI_10, lam=1e-2, cost_power=1.5, horizon=0.2, n_steps=100
    ),
}


def get_preset(name: str) -> MarketConfig:
    """Return the preset ``name`` (MODEL.md §6); unknown names raise ``ValueError``."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; available presets: {sorted(PRESETS)}") from None


def load_config(path: str | Path) -> MarketConfig:
    """Load a config JSON file written by :meth:`MarketConfig.save` (or by hand)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read config file {str(path)!r}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"config file {str(path)!r} is not valid JSON: {exc}") from None
    return MarketConfig.from_dict(data)
