"""The options of every RL interface, declared once with one set of defaults (DESIGN.md
floor 3). :class:`EnvOptions` is what :func:`market_env.make` and each interface take; the
keyword arguments of the interfaces are turned into one ``EnvOptions`` by :func:`resolve`.

Defaults, and why:

* ``dtype="float32"``: the spaces are float32 (what RL libraries expect) and the batched
  interfaces and learners simulate in float32 (DESIGN.md "Conventions"); pass
  ``dtype="float64"`` to compare with a float64 truth to ~1e-12.
* ``seed=None``: an unseeded environment draws fresh entropy, as gymnasium environments do;
  ``reset(seed=s)`` (or ``seed=s`` here) gives the same paths as
  ``solvers.evaluate(..., seed=s)``.
* ``price=None``: ``"equilibrium"`` when one trader learns against ``others`` (it then faces
  the best known equilibrium), ``"clearing"`` when every trader learns (PettingZoo,
  ``agent="shared"``) or the market maker learns (``agent="market"``).

Importing this module loads no torch (a torch dtype is accepted and stored by name), so
:func:`market_env.make`'s documentation reads without it.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = [
    "AUTORESET_MODES",
    "DTYPES",
    "INTERFACE_OPTIONS",
    "INTERFACES",
    "RENDER_MODES",
    "EnvOptions",
    "resolve",
]

#: The interfaces of :func:`market_env.make`.
INTERFACES = ("parallel", "gym", "vector", "sb3")
#: Simulation dtypes of the interfaces.
DTYPES = ("float32", "float64")
#: Autoreset modes of the ``VectorEnv`` (gymnasium's names).
AUTORESET_MODES = ("next_step", "same_step")

_COMMON = ("price", "clearing", "max_rate", "clip_actions", "dtype", "device", "seed")
#: The options each interface takes (the others do not apply to it).
INTERFACE_OPTIONS: dict[str, tuple[str, ...]] = {
    "parallel": (*_COMMON, "market_maker", "render_mode"),
    "gym": (*_COMMON, "agent", "others", "render_mode"),
    "vector": (*_COMMON, "agent", "others", "market_maker", "autoreset_mode", "render_mode"),
    "sb3": (*_COMMON, "agent", "others", "market_maker", "render_mode"),
}
#: The render modes of the single-path interfaces (the batched ones draw path 0, as an image).
RENDER_MODES = ("human", "rgb_array")
_RENDER_MODES = {
    "parallel": RENDER_MODES,
    "gym": RENDER_MODES,
    "vector": ("rgb_array",),
    "sb3": ("rgb_array",),
}


@dataclass(frozen=True)
class EnvOptions:
    """How an RL interface drives the market (one documented default each; module docstring).

    Attributes:
        price: ``"clearing"`` (clearing drift, ``σ = α``), ``"frictionless"`` (MODEL.md §3),
            ``"equilibrium"`` (the best known equilibrium's price, or that of ``others`` when
            it is a ``Solution``), ``"market"`` (a market-maker agent sets ``μ_k``, ``σ_k``,
            ``S_0``; PettingZoo only, or ``agent="market"``), a ``PriceMechanism`` or a
            ``Solution``; ``None`` (default): the interface's rule in the module docstring.
        clearing: quantity clearing, ``"project"`` (default), ``"residual"`` or ``"none"``.
        max_rate: bound of the trading-rate action; ``None`` (default):
            :func:`~market_env.observation.default_max_rate`.
        clip_actions: clip out-of-range actions to their bounds (default) or raise
            ``ValueError``; NaN/inf always raise.
        dtype: simulation dtype, ``"float32"`` (default) or ``"float64"`` (or the torch dtype).
        device: torch device of the simulation, ``"cpu"`` (default), ``"cuda[:i]"`` or
            ``"auto"`` (:func:`market_env.device.resolve_device`).
        seed: initial seed of the market's generator; ``None`` (default) = fresh entropy.
        agent: the learner: a trader index or ``"trader_n"`` (default 0), ``"shared"`` (every
            trader of every path, vector/SB3) or ``"market"`` (the market maker, vector/SB3).
        others: the non-learning traders: ``"equilibrium"`` (default), ``"frictionless"``,
            ``"zero"``, a ``Solution``, an SB3 model or an agent policy (obs → rates).
        market_maker: bounds and reward weights of the market maker
            (:class:`~market_env.market_maker.MarketMakerSpec`); ``None`` = its defaults.
        autoreset_mode: ``"next_step"`` (default) or ``"same_step"`` (vector; SB3 uses
            ``"same_step"``).
        render_mode: ``None`` (default), ``"rgb_array"`` or ``"human"`` (single-path only).
    """

    price: Any = None
    clearing: str = "project"
    max_rate: float | None = None
    clip_actions: bool = True
    dtype: Any = "float32"
    device: Any = "cpu"
    seed: int | None = None
    agent: int | str = 0
    others: Any = "equilibrium"
    market_maker: Any = None
    autoreset_mode: str = "next_step"
    render_mode: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", _dtype_name(self.dtype))
        from ..clearing import get_clearing_rule  # raises naming the allowed rules

        get_clearing_rule(self.clearing)
        m = self.max_rate
        if m is not None and not (
            isinstance(m, numbers.Real) and not isinstance(m, bool) and math.isfinite(m) and m > 0
        ):
            raise ValueError(f"max_rate must be None or a finite number > 0, got {m!r}")
        if not isinstance(self.clip_actions, bool):
            raise ValueError(f"clip_actions must be True or False, got {self.clip_actions!r}")
        s = self.seed
        if s is not None and (isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0):
            raise ValueError(f"seed must be None or an integer >= 0, got {s!r}")
        if not isinstance(self.device, str) and type(self.device).__name__ != "device":
            raise ValueError(
                f"device must be 'cpu', 'cuda[:i]', 'auto' or a torch.device, got {self.device!r}"
            )
        if self.autoreset_mode not in AUTORESET_MODES:
            raise ValueError(
                f"autoreset_mode must be one of {list(AUTORESET_MODES)}, "
                f"got {self.autoreset_mode!r}"
            )
        if self.render_mode is not None and self.render_mode not in RENDER_MODES:
            raise ValueError(
                f"render_mode must be None, 'rgb_array' or 'human', got {self.render_mode!r}"
            )

    @property
    def torch_dtype(self) -> Any:
        """:attr:`dtype` as a ``torch.dtype``."""
        import torch

        return getattr(torch, self.dtype)

    def price_for(self, learner: str) -> Any:
        """:attr:`price`, or its default when ``None``: ``"equilibrium"`` for one trader
        learning against ``others`` (``learner="one"``), else ``"clearing"``."""
        if self.price is not None:
            return self.price
        return "equilibrium" if learner == "one" else "clearing"

    def check_interface(self, interface: str, given: tuple[str, ...] = ()) -> None:
        """``ValueError`` when an option that ``interface`` does not take was set (passed
        in ``given``, or different from its default), or a render mode it cannot draw."""
        allowed = INTERFACE_OPTIONS[interface]
        defaults = EnvOptions()
        for f in fields(self):
            name = f.name
            if name in allowed:
                continue
            value, default = getattr(self, name), getattr(defaults, name)
            same = value is default or (type(value) is type(default) and value == default)
            if name in given or not same:
                takes = [i for i, names in INTERFACE_OPTIONS.items() if name in names]
                raise ValueError(
                    f"option {name!r} does not apply to interface {interface!r} (only to "
                    f"{takes}); its options are {sorted(allowed)}"
                )
        modes = _RENDER_MODES[interface]
        if self.render_mode is not None and self.render_mode not in modes:
            raise ValueError(
                f"render_mode must be None or one of {list(modes)} for interface "
                f"{interface!r}, got {self.render_mode!r}"
            )


def _dtype_name(dtype: Any) -> str:
    name = dtype if isinstance(dtype, str) else str(dtype).removeprefix("torch.")
    name = {"float": "float32", "double": "float64"}.get(name, name)
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)} (or the torch dtype), got {dtype!r}")
    return name


def resolve(interface: str, options: EnvOptions | None = None, **kwargs: Any) -> EnvOptions:
    """One :class:`EnvOptions` for ``interface`` from ``options`` and/or keyword arguments
    (the keywords override ``options``); unknown or inapplicable options raise
    ``ValueError`` listing the allowed ones."""
    if interface not in INTERFACES:
        raise ValueError(f"interface must be one of {list(INTERFACES)}, got {interface!r}")
    allowed = INTERFACE_OPTIONS[interface]
    unknown = sorted(k for k in kwargs if k not in allowed)
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for interface {interface!r}; allowed: {sorted(allowed)}"
        )
    if options is None:
        options = EnvOptions(**kwargs)
    elif not isinstance(options, EnvOptions):
        raise ValueError(f"options must be an EnvOptions, got {type(options).__name__}")
    elif kwargs:
        options = replace(options, **kwargs)
    options.check_interface(interface, tuple(kwargs))
    return options
