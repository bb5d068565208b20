"""The common face of every solver's output: a :class:`Solution` (price + policy), its
persistence, and the single :func:`evaluate` that every method is judged by (MODEL.md §2)."""

from __future__ import annotations

import importlib
import json
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from market_env import (
    BatchedMarket,
    MarketConfig,
    MarketState,
    PriceMechanism,
    Trajectory,
    compute_metrics,
    rollout,
)

__all__ = ["Solution", "evaluate", "simulate", "load_solution", "register_solution"]

_REGISTRY: dict[str, type[Solution]] = {}
#: Kinds registered by modules slow to import (Stable-Baselines3), imported on first load.
_LAZY_KINDS = {"sb3-learners": "solvers.rl.learners"}

SPEC_FILE = "solution.json"
WEIGHTS_FILE = "weights.pt"


def register_solution(cls: type[Solution]) -> type[Solution]:
    """Class decorator: make ``cls`` loadable by :func:`load_solution` under ``cls.kind``."""
    _REGISTRY[cls.kind] = cls
    return cls


class Solution(ABC):
    """An equilibrium candidate: a price model plus a policy for all agents.

    Subclasses implement :meth:`price` (a price mechanism for :class:`BatchedMarket`,
    carrying ``S0``) and :meth:`policy` (rates of all N agents from the state). Whatever
    produced it (a formula, a GAN, an RL learner), it is rolled out by the one simulator.

    Attributes:
        kind: registry name, written to ``solution.json``.
        config: the market it solves.
        clearing: the quantity-clearing rule its rollouts use.
        dtype: the dtype it is best evaluated in.
    """

    kind: ClassVar[str] = "solution"
    clearing: str = "project"
    dtype: torch.dtype = torch.float64

    def __init__(self, config: MarketConfig) -> None:
        self.config = config

    @property
    def label(self) -> str:
        """Display name in tables and JSON (``kind`` unless a variant says otherwise)."""
        return self.kind

    @property
    @abstractmethod
    def S0(self) -> float:
        """The solution's own initial price ``S_0``."""

    @abstractmethod
    def price(self) -> PriceMechanism:
        """The price mechanism (``μ_k``, ``σ_k`` from the state; ``S0``)."""

    @abstractmethod
    def policy(self, state: MarketState) -> Tensor:
        """Trading rates of all agents at ``state``, shape ``(B, N)``."""

    # ----- persistence ---------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """JSON-ready constructor options beyond the config (override when there are some)."""
        return {}

    def state_dict(self) -> dict[str, Tensor]:
        """Learned tensors (empty for analytic solutions)."""
        return {}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        if state:
            raise ValueError(f"{self.kind} solutions have no weights, got keys {sorted(state)}")

    @classmethod
    def from_spec(cls, config: MarketConfig, params: dict[str, Any]) -> Solution:
        return cls(config, **params)

    def save(self, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write ``solution.json`` (kind, config, params, ``extra``) and ``weights.pt``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        spec = {
            "kind": self.kind,
            "config": self.config.to_dict(),
            "params": self.params(),
            **(extra or {}),
        }
        (directory / SPEC_FILE).write_text(json.dumps(spec, indent=2) + "\n")
        weights = self.state_dict()
        if weights:
            torch.save(weights, directory / WEIGHTS_FILE)
        return directory

    def __repr__(self) -> str:
        return f"{type(self).__name__}(N={self.config.n_agents}, q={self.config.cost_power})"


def load_solution(directory: str | Path, map_location: str | torch.device = "cpu") -> Solution:
    """Load a solution saved by :meth:`Solution.save` (weights with ``weights_only=True``)."""
    directory = Path(directory)
    spec_path = directory / SPEC_FILE
    if not spec_path.is_file():
        raise ValueError(f"{str(directory)!r} holds no saved solution ({SPEC_FILE} missing)")
    spec = json.loads(spec_path.read_text())
    kind = spec.get("kind")
    if kind not in _REGISTRY and kind in _LAZY_KINDS:
        importlib.import_module(_LAZY_KINDS[kind])
    if kind not in _REGISTRY:
        raise ValueError(f"unknown solution kind {kind!r}; known kinds: {sorted(_REGISTRY)}")
    config = MarketConfig.from_dict(spec["config"])
    solution = _REGISTRY[kind].from_spec(config, spec.get("params", {}))
    weights_path = directory / WEIGHTS_FILE
    if weights_path.is_file():
        state = torch.load(weights_path, map_location=map_location, weights_only=True)
        solution.load_state_dict(state)
    return solution


def simulate(
    solution: Solution,
    n_paths: int,
    seed: int = 0,
    *,
    config: MarketConfig | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    noise: Tensor | None = None,
) -> Trajectory:
    """Roll ``solution`` out in :class:`BatchedMarket` (its price, its clearing rule)."""
    config = solution.config if config is None else config
    market = BatchedMarket(
        config,
        n_paths,
        price=solution.price(),
        clearing=solution.clearing,
        device=device,
        dtype=solution.dtype if dtype is None else dtype,
        seed=seed,
    )
    with torch.no_grad():
        return rollout(market, solution.policy, noise=noise)


def evaluate(
    solution: Solution,
    config: MarketConfig | None = None,
    n_paths: int = 3000,
    seed: int = 0,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    return_trajectory: bool = False,
) -> dict[str, Any] | tuple[dict[str, Any], Trajectory]:
    """Roll ``solution`` out on ``n_paths`` seeded paths and return the MODEL.md §2 metrics.

    ``S0`` in the result is the solution's own initial price. The same ``seed`` gives the same
    Brownian paths for every solution, so utilities compare on common paths.
    """
    if isinstance(n_paths, bool) or not isinstance(n_paths, int) or n_paths < 1:
        raise ValueError(f"n_paths must be an integer >= 1, got {n_paths!r}")
    start = time.perf_counter()
    traj = simulate(solution, n_paths, seed, config=config, device=device, dtype=dtype)
    metrics = compute_metrics(traj)
    metrics.update(
        solution=solution.label,
        seed=seed,
        eval_seconds=time.perf_counter() - start,
    )
    return (metrics, traj) if return_trajectory else metrics
