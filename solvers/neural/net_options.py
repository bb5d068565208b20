"""The network options of a neural equilibrium (MODEL.md §8) as one object.

:class:`NetOptions` holds everything :class:`~solvers.neural.model.EquilibriumNets` builds
from. It travels unchanged ``solve → make_trainer → trainer → NeuralSolution →
EquilibriumNets``; callers may give it as an object (``net_options=NetOptions(...)``) or as
flat keywords (``width=8``), and a keyword no network consumes is a one-line
``ValueError`` naming it and listing the allowed ones. Imports no torch, so a command line
can take its choices from here cheaply.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

__all__ = [
    "ACTIVATION_NAMES",
    "GENERATORS",
    "LAST_RATES",
    "MAX_DEPTH",
    "MAX_WIDTH",
    "MU_MODES",
    "NET_SHAPES",
    "PRICE_NETS",
    "NetOptions",
]

MU_MODES = ("learned", "clearing")
GENERATORS = ("all", "residual")
NET_SHAPES = ("shared", "per-step", "hybrid")
PRICE_NETS = ("separate", "joint")
LAST_RATES = ("zero", "learned")
#: The hidden-layer activations (:data:`solvers.neural.networks.ACTIVATIONS` implements them).
ACTIVATION_NAMES = ("tanh", "relu", "silu")
#: Bounds of the network options (beyond them a typo, not a network).
MAX_WIDTH, MAX_DEPTH = 4096, 16


@dataclass(frozen=True)
class NetOptions:
    """The networks of a neural solution (MODEL.md §8), checked on construction.

    Attributes:
        mu: ``"learned"`` (a network) or ``"clearing"`` (the clearing drift of MODEL.md §4,
            exact for q = 2 only).
        generator: ``"residual"`` (N−1 rates, the last agent clears: the clearing error is
            zero by construction and the last agent's optimality is enforced through the
            price by the reinforcement link) or ``"all"`` (rates of every agent, fills as
            ordered: the clearing error measures how far the price is from clearing).
        width, depth: hidden units and hidden layers of every MLP
            (:class:`~solvers.neural.networks.StackedMLP`).
        net_shape: ``"hybrid"`` (default: one MLP with time as input plus a linear map per
            time step), ``"shared"`` (the MLP only) or ``"per-step"`` (one MLP per step, the
            paper's shape).
        skip: the per-step linear skip maps of the hybrid shape (and a skip in the others).
        activation: one of :data:`ACTIVATION_NAMES`.
        price_net: ``"joint"`` (default: one MLP with the two outputs ``σ`` and ``μ``, half
            the price network's cost) or ``"separate"`` (one MLP for each, the paper's).
        last_rate: ``"zero"`` (default: no trade at the last step, optimal in any price, as
            in the exact K-step equilibrium) or ``"learned"`` (the generator's output there
            too, the paper's; runs saved before this option had it).

    The field order is the order of a saved run's ``params`` (``solution.json``).
    """

    mu: str = "learned"
    generator: str = "residual"
    width: int = 50
    depth: int = 3
    net_shape: str = "hybrid"
    skip: bool = True
    activation: str = "tanh"
    price_net: str = "joint"
    last_rate: str = "zero"

    def __post_init__(self) -> None:
        for name, allowed in (
            ("mu", MU_MODES),
            ("generator", GENERATORS),
            ("net_shape", NET_SHAPES),
            ("price_net", PRICE_NETS),
            ("last_rate", LAST_RATES),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
        for name, top in (("width", MAX_WIDTH), ("depth", MAX_DEPTH)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise ValueError(f"{name} must be an integer in [1, {top}], got {value!r}")
        if not isinstance(self.skip, bool):
            raise ValueError(f"skip must be true or false, got {self.skip!r}")
        if self.activation not in ACTIVATION_NAMES:
            raise ValueError(
                f"activation must be one of {list(ACTIVATION_NAMES)}, got {self.activation!r}"
            )

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in field order."""
        return tuple(f.name for f in fields(cls))

    def with_options(self, where: str = "network options", **changes: Any) -> NetOptions:
        """A copy with ``changes``; a name that is no network option is a one-line
        ``ValueError`` naming it (``where``: who was given it) and listing the allowed."""
        check_option_names(changes, where)
        return replace(self, **changes) if changes else self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_option_names(options: dict[str, Any], where: str) -> None:
    """Refuse, in one line, any key of ``options`` that is no :class:`NetOptions` field."""
    allowed = NetOptions.names()
    unknown = [name for name in options if name not in allowed]
    if unknown:
        raise ValueError(
            f"{where}: unknown option {unknown[0]!r} (no network consumes it); allowed "
            f"network options: {list(allowed)}"
        )


def resolve_net_options(
    net_options: NetOptions | None,
    options: dict[str, Any],
    defaults: NetOptions,
    where: str,
) -> NetOptions:
    """The one :class:`NetOptions` of a call given an object, flat keywords, or neither
    (then ``defaults``: the solver's). Giving both is refused (which would win?)."""
    if net_options is not None:
        if not isinstance(net_options, NetOptions):
            raise ValueError(
                f"{where}: net_options must be a NetOptions, got {type(net_options).__name__}"
            )
        check_option_names(options, where)
        if options:
            raise ValueError(
                f"{where}: give the network options as net_options=NetOptions(...) or as "
                f"keywords, not both (got net_options and {sorted(options)})"
            )
        return net_options
    return defaults.with_options(where, **options)
