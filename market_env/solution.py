"""The common face of every equilibrium candidate: a :class:`Solution` (price + policy), its
registry of kinds, its save, and the single :func:`evaluate` that every method is judged by
(MODEL.md §2). Loading a saved run is ``solvers.load_solution``, which knows every kind."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from .config import MarketConfig
from .market import BatchedMarket
from .metrics import compute_metrics
from .price import PriceMechanism
from .rollout import Trajectory, rollout
from .run_folder import WEIGHTS_FILE, save_run, torch_bytes
from .state import MarketState

__all__ = [
    "Solution",
    "evaluate",
    "registered_kinds",
    "register_solution",
    "simulate",
    "solution_class",
]

_REGISTRY: dict[str, type[Solution]] = {}


def register_solution(cls: type[Solution]) -> type[Solution]:
    """Class decorator: make ``cls`` loadable from a run folder under ``cls.kind``
    (``solvers.load_solution``)."""
    _REGISTRY[cls.kind] = cls
    return cls


def solution_class(kind: str) -> type[Solution] | None:
    """The class registered under ``kind``, or None (modules register on import)."""
    return _REGISTRY.get(kind)


def registered_kinds() -> list[str]:
    """The kinds registered so far, sorted."""
    return sorted(_REGISTRY)


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

    def save(
        self,
        directory: str | Path,
        extra: dict[str, Any] | None = None,
        *,
        files: dict[str, bytes] | None = None,
    ) -> Path:
        """Save the solution into the run folder ``directory``: ``solution.json`` (kind,
        config, params, ``extra``, and the manifest of the other files) and, for learned
        solutions, ``weights.pt``; ``files`` adds members written by a trainer
        (``training.pt``, ``history.json``, as bytes).

        The save is crash-safe (:func:`market_env.run_folder.save_run`): a kill at any moment
        leaves the folder's previous complete state or the new one, and the folder is
        locked (:class:`~market_env.run_folder.RunLock`) while it is written.
        """
        spec = {
            "kind": self.kind,
            "config": self.config.to_dict(),
            "params": self.params(),
            **(extra or {}),
        }
        members = {}
        weights = self.state_dict()
        if weights:
            members[WEIGHTS_FILE] = torch_bytes(weights)
        members.update(files or {})
        return save_run(directory, spec, members)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(N={self.config.n_agents}, q={self.config.cost_power})"


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
