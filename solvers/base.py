"""The common face of every solver's output: a :class:`Solution` (price + policy), its
persistence, and the single :func:`evaluate` that every method is judged by (MODEL.md §2)."""

from __future__ import annotations

import importlib
import os
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

from .run_folder import (
    SPEC_FILE,  # noqa: F401  (re-exported: callers import it from here)
    WEIGHTS_FILE,
    RunIncompleteError,
    SavedRun,
    check_state_dict,
    one_line,
    read_spec,
    save_run,
    torch_bytes,
    torch_load_bytes,
)

__all__ = [
    "Solution",
    "evaluate",
    "simulate",
    "load_solution",
    "load_saved_run",
    "register_solution",
]

_REGISTRY: dict[str, type[Solution]] = {}
#: Kinds registered by modules slow to import (Stable-Baselines3), imported on first load.
_LAZY_KINDS = {"sb3-learners": "solvers.rl.learners"}


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

        The save is crash-safe (:func:`solvers.run_folder.save_run`): a kill at any moment
        leaves the folder's previous complete state or the new one, and the folder is
        locked (:class:`~solvers.run_folder.RunLock`) while it is written.
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


def load_solution(directory: str | Path, map_location: str | torch.device = "cpu") -> Solution:
    """Load a solution saved by :meth:`Solution.save` (weights with ``weights_only=True``).

    Everything read is checked, and every refusal is one line ``ValueError`` naming the
    file: ``solution.json`` (:func:`solvers.run_folder.read_spec`: bounded strict JSON, the
    fields' types, a known kind, a valid config, params its kind accepts); the weights of a
    kind that has some (missing, empty, not a zip archive, truncated, a pickle of other
    objects than tensors, keys or shapes that do not fit the networks its params build,
    non-finite values); and, for folders with a manifest, that every file is the one
    ``solution.json`` names (else "the run in DIR is incomplete"). Folders saved before
    manifests still load; only their files' digests cannot be checked.
    """
    return load_saved_run(directory, map_location)[0]


def load_saved_run(
    directory: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[Solution, SavedRun]:
    """:func:`load_solution`, also returning the :class:`~solvers.run_folder.SavedRun` it
    read, so a trainer's :meth:`resume` reads its other files from the same state.

    A save that commits while the folder is read (``solution.json`` changed under the
    reader) is retried, so a reader sees one state or the other.
    """
    for attempt in range(3):
        run = read_spec(directory)
        try:
            return _solution_from_run(run, map_location), run
        except RunIncompleteError:
            if attempt == 2 or not run.changed():
                raise
    raise AssertionError("unreachable")


def _solution_class(name: str) -> type[Solution] | None:
    """The registered class of kind ``name`` (importing lazily registered kinds), or None."""
    if name not in _REGISTRY and name in _LAZY_KINDS:
        importlib.import_module(_LAZY_KINDS[name])
    return _REGISTRY.get(name)


def _solution_from_run(run: SavedRun, map_location: str | torch.device) -> Solution:
    spec, label = run.spec, run.spec_label
    kind = spec["kind"]
    cls = _solution_class(kind)
    if cls is None:
        raise ValueError(
            f"unknown solution kind {kind[:60]!r} in {label}; known kinds: {sorted(_REGISTRY)}"
        )
    try:
        config = MarketConfig.from_dict(spec["config"])
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{label}: bad config: {one_line(exc)}") from None
    try:
        solution = cls.from_spec(config, spec["params"])
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{label}: params do not fit kind {kind!r}: {one_line(exc)}") from None
    expected = solution.state_dict()
    if not expected and not run.has(WEIGHTS_FILE):
        return solution
    if expected and not run.has(WEIGHTS_FILE):
        raise ValueError(
            f"{os.fspath(run.directory)!r} holds a {kind} solution without its weights "
            f"({WEIGHTS_FILE} missing): refused rather than scoring untrained networks"
        )
    # a weights file is a little larger than its tensors; far larger is not one of ours
    need = sum(t.numel() * t.element_size() for t in expected.values())
    data = run.read(WEIGHTS_FILE, max_bytes=4 * need + (64 << 20))
    wlabel = f"{WEIGHTS_FILE} in {os.fspath(run.directory)!r}"
    state = torch_load_bytes(data, wlabel, map_location)
    if expected:
        state = check_state_dict(state, expected, wlabel, f"{kind} solution")
    try:
        solution.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{wlabel} does not fit this {kind} solution: {one_line(exc)}") from None
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
