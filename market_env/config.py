"""Market parameters (MODEL.md §1, §6): a validated dataclass, presets and JSON I/O."""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

from .jsonio import read_json_file, short_path, short_repr

__all__ = ["MarketConfig", "PRESETS", "get_preset", "load_config"]

#: Hard limits of :class:`MarketConfig` (see its docstring for why).
MAX_AGENTS = 1000
MAX_STEPS = 100_000
MAX_HORIZON = 1e3
MIN_POSITIVE = 1e-6
MAX_MAGNITUDE = 1e6
#: Relative tolerance of ``Σξ = 0`` (:attr:`MarketConfig.xi_balanced`).
XI_BALANCE_RTOL = 1e-9

_POSITIVE = ("lam", "alpha", "supply")  # with gamma and horizon: must be > 0
_SEQUENCES = ("gamma", "xi", "initial_holdings")


def _describe(value: Any) -> str:
    """A value for an error message: plain numbers as they are, anything else with its type."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return short_repr(value)
    return f"{type(value).__name__} {short_repr(value)}"


def _scalar_item(value: Any) -> Any:
    """A 0-d numpy array or torch tensor as its Python number; anything else unchanged."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        try:
            return value.item()
        except Exception:
            return value
    return value


def _real(name: str, value: Any) -> float:
    """``value`` as a finite float, or one ``ValueError`` naming ``name``."""
    item = _scalar_item(value)
    if isinstance(item, bool) or not isinstance(item, numbers.Real):
        raise ValueError(f"{name} must be a finite number, got {_describe(value)}")
    try:
        x = float(item)
    except (OverflowError, ValueError, TypeError):
        x = math.inf
    if not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {_describe(value)}")
    return x


def _check_range(name: str, x: float, positive: bool, upper: float = MAX_MAGNITUDE) -> None:
    if positive:
        if not x > 0:
            raise ValueError(f"{name} must be > 0, got {short_repr(x)}")
        if not MIN_POSITIVE <= x <= upper:
            raise ValueError(
                f"{name} must be in [{MIN_POSITIVE:g}, {upper:g}] (the range MarketConfig "
                f"accepts), got {short_repr(x)}"
            )
    elif not abs(x) <= MAX_MAGNITUDE:
        raise ValueError(
            f"{name} must be in [{-MAX_MAGNITUDE:g}, {MAX_MAGNITUDE:g}] (the range "
            f"MarketConfig accepts), got {short_repr(x)}"
        )


def _agent_values(name: str, value: Any) -> tuple[float, ...]:
    """One finite float per agent from a list/tuple (or a 1-d array/tensor) of numbers."""
    rule = "a list or tuple of numbers, one per agent"
    if value is None:
        raise ValueError(f"{name} is required: {rule}, got None")
    ndim = getattr(value, "ndim", None)
    if isinstance(value, (list, tuple)):
        items: Any = value
    elif isinstance(ndim, int) and hasattr(value, "tolist") and not isinstance(value, str):
        if ndim != 1:
            shape = tuple(getattr(value, "shape", ()))
            raise ValueError(f"{name} must be {rule} (1-d), got an array of shape {shape}")
        items = value
    else:
        hint = ""
        if isinstance(value, (set, frozenset)):
            hint = " (a set has no order, so the agents would not line up with the other fields)"
        elif isinstance(value, dict):
            hint = " (a mapping, not a list)"
        raise ValueError(f"{name} must be {rule}, got {_describe(value)}{hint}")
    n = len(items)
    if n > MAX_AGENTS:
        raise ValueError(
            f"{name} has {n} entries; at most {MAX_AGENTS} agents are allowed "
            "(MarketConfig.MAX_AGENTS)"
        )
    if not isinstance(items, (list, tuple)):
        items = items.tolist()
    return tuple(_real(f"{name}[{i}]", v) for i, v in enumerate(items))


def _n_steps(value: Any) -> int:
    rule = f"an integer >= 1 and <= {MAX_STEPS} (MarketConfig.MAX_STEPS)"
    item = _scalar_item(value)
    k: int | None = None
    if isinstance(item, bool):
        k = None
    elif isinstance(item, numbers.Integral):
        k = int(item)
    elif isinstance(item, numbers.Real):
        x = float(item)
        if math.isfinite(x) and x.is_integer():
            k = int(x)
    if k is None or not 1 <= k <= MAX_STEPS:
        raise ValueError(f"n_steps must be {rule}, got {_describe(value)}")
    return k


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

    Every field is checked on construction (and again by :meth:`with_`); a bad value raises
    one ``ValueError`` naming the field, the value and what is allowed. ``gamma``, ``xi``
    and ``initial_holdings`` take a list or tuple (or a 1-d numpy array / torch tensor) of
    real numbers; sets and mappings (no agent order), strings, bools, ``None`` (except
    ``initial_holdings=None``, the default) and nested lists are refused. Scalars take real
    numbers, numpy/torch scalars included; ``n_steps`` an integer (an integral float such
    as ``100.0`` is accepted).

    Hard limits, checked before anything is allocated; they bound the work and memory of
    everything built from a config and are far wider than the presets of MODEL.md §6
    (N ≤ 10, K = 100, T ≤ 0.4, parameters of order 1e-2 to 30):

    - ``N ≤ MAX_AGENTS = 1000`` agents and ``K ≤ MAX_STEPS = 100_000`` steps: a rollout of
      ``B`` paths holds ``(B, K, N)`` tensors, the Riccati truth (MODEL.md §4) an
      ``(N−1)×(N−1)`` matrix per step.
    - ``T ≤ MAX_HORIZON = 1e3``: the Riccati truth (MODEL.md §4) integrates its ODEs over
      ``[0, T]`` with an explicit method whose steps are bounded by the trading time scale
      ``~√(λ/γ)``, so its work grows with ``T`` (``T = 1e6`` does not finish, ``T = 1e3``
      takes seconds); Brownian paths (``W_T ~ √T``) also stay moderate. The range where
      the analytic benchmarks are accurate is narrower; they check it themselves.
    - Every real parameter lies in ``[−MAX_MAGNITUDE, MAX_MAGNITUDE] = [−1e6, 1e6]``, and
      the positive ones (``gamma``, ``lam``, ``alpha``, ``supply``, ``horizon``) are at
      least ``MIN_POSITIVE = 1e-6``: the parameters, and their products in the rewards of
      MODEL.md §2 at the initial holdings (``≲ 1e33``), are then representable in float32,
      and ``Δt = T/K ≥ 1e-11`` never underflows. (Holdings a policy trades to later are
      its own business; the solvers' benchmarks have narrower ranges of their own.)
    """

    MAX_AGENTS: ClassVar[int] = MAX_AGENTS
    MAX_STEPS: ClassVar[int] = MAX_STEPS
    MAX_HORIZON: ClassVar[float] = MAX_HORIZON
    MIN_POSITIVE: ClassVar[float] = MIN_POSITIVE
    MAX_MAGNITUDE: ClassVar[float] = MAX_MAGNITUDE

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
        gamma = _agent_values("gamma", self.gamma)
        n = len(gamma)
        if n < 2:
            raise ValueError(f"gamma must list at least 2 agents (N >= 2), got N = {n}")
        values: dict[str, Any] = {"gamma": gamma}
        for name in ("xi", "initial_holdings"):
            value = getattr(self, name)
            if value is None and name == "initial_holdings":
                values[name] = None
                continue
            value = _agent_values(name, value)
            if len(value) != n:
                raise ValueError(
                    f"{name} must have one entry per agent (len(gamma) = {n}), "
                    f"got length {len(value)}"
                )
            values[name] = value
        for name in _SEQUENCES:
            if values[name] is None:
                continue
            for i, v in enumerate(values[name]):
                _check_range(f"{name}[{i}]", v, positive=name == "gamma")
        for name in ("lam", "cost_power", "horizon", "alpha", "beta", "supply"):
            values[name] = _real(name, getattr(self, name))
        for name in _POSITIVE:
            _check_range(name, values[name], positive=True)
        _check_range("beta", values["beta"], positive=False)
        _check_range("horizon", values["horizon"], positive=True, upper=MAX_HORIZON)
        if not 1.0 < values["cost_power"] <= 2.0:
            raise ValueError(
                f"cost_power must be in (1, 2], got {short_repr(values['cost_power'])}"
            )
        values["n_steps"] = _n_steps(self.n_steps)
        for name, value in values.items():
            object.__setattr__(self, name, value)

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

    @property
    def xi_balanced(self) -> bool:
        """``Σ_n ξ_n = 0`` up to rounding (relative to the largest ``|ξ_n|``): the case
        with known equilibria (MODEL.md §1, §4, §5)."""
        scale = max(1.0, max(abs(x) for x in self.xi))
        return abs(self.xi_sum) <= XI_BALANCE_RTOL * scale

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
        """Build a config from a dict; unknown or missing required keys raise ``ValueError``.

        ``null`` (``None``) is refused for every key except ``initial_holdings``.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a market config must be a JSON object, got {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = [k for k in data if k not in known]
        if unknown:
            shown = ", ".join(short_repr(k) for k in unknown[:5])
            more = f", … ({len(unknown)} in all)" if len(unknown) > 5 else ""
            raise ValueError(
                f"unknown config key(s) [{shown}{more}]; allowed keys: {sorted(known)}"
            )
        missing = [k for k in ("gamma", "xi") if k not in data]
        if missing:
            raise ValueError(f"config is missing required key(s) {missing}")
        for key, value in data.items():
            if value is None and key != "initial_holdings":
                raise ValueError(
                    f"{key} must not be null (only initial_holdings may be null, meaning "
                    "the default)"
                )
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
    """Load a config JSON file written by :meth:`MarketConfig.save` (or by hand).

    The file is read with :func:`market_env.jsonio.read_json_file` (at most 1 MiB, a
    regular file, UTF-8, strict JSON without NaN/Infinity); every problem, with the file or
    with a value in it, is one ``ValueError`` that names the file.
    """
    data = read_json_file(path, what="config file")
    try:
        return MarketConfig.from_dict(data)
    except ValueError as exc:
        raise ValueError(f"config file {short_path(path)}: {exc}") from None
