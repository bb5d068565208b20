"""Loading a saved run folder back into its :class:`~market_env.solution.Solution`: every kind
this library defines is known here and imported on first use (MODEL.md §2, DESIGN.md run
folders)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import torch

from market_env import MarketConfig
from market_env.run_folder import (
    WEIGHTS_FILE,
    RunIncompleteError,
    SavedRun,
    check_state_dict,
    one_line,
    read_spec,
    torch_load_bytes,
)
from market_env.solution import Solution, registered_kinds, solution_class

__all__ = ["KIND_MODULES", "kind_class", "known_kinds", "load_saved_run", "load_solution"]

#: The module that registers each built-in kind (imported when a run of that kind is loaded).
KIND_MODULES = {
    "frictionless": "market_env.reference.frictionless",
    "riccati": "market_env.reference.riccati",
    "riccati-discrete": "market_env.reference.discrete_riccati",
    "leading-order": "market_env.reference.leading_order",
    "neural": "solvers.neural.model",
    "deep-fbsde": "solvers.neural.fbsde",
    "sb3-learners": "solvers.rl.solution",
    "rllib-learners": "solvers.rl.rllib_solution",
}


def load_solution(directory: str | Path, map_location: str | torch.device = "cpu") -> Solution:
    """Load a solution saved by :meth:`Solution.save` (weights with ``weights_only=True``).

    Everything read is checked, and every refusal is one line ``ValueError`` naming the
    file: ``solution.json`` (:func:`market_env.run_folder.read_spec`: bounded strict JSON, the
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
    """:func:`load_solution`, also returning the :class:`~market_env.run_folder.SavedRun` it
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


def kind_class(name: str) -> type[Solution] | None:
    """The class of kind ``name``, importing the module that registers it; None if unknown."""
    if solution_class(name) is None and name in KIND_MODULES:
        importlib.import_module(KIND_MODULES[name])
    return solution_class(name)


def known_kinds() -> list[str]:
    """Every kind :func:`load_solution` can load (the built-in ones and any registered)."""
    return sorted(set(KIND_MODULES) | set(registered_kinds()))


def _solution_from_run(run: SavedRun, map_location: str | torch.device) -> Solution:
    spec, label = run.spec, run.spec_label
    kind = spec["kind"]
    cls = kind_class(kind)
    if cls is None:
        raise ValueError(
            f"unknown solution kind {kind[:60]!r} in {label}; known kinds: {known_kinds()}"
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
