"""The run-folder side of every neural trainer (MODEL.md §8, DESIGN.md persistence):
:class:`TrainerRunFolder`, the part of :class:`~solvers.neural.trainer.NeuralTrainer` that
writes a run (``solution.json``, ``weights.pt``, ``training.pt``, ``history.json``) and
resumes one. ``training.pt`` holds every optimiser's state under its name (``opt_gen``,
``opt_disc``), the round, the training time and the run id."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import torch

from .convergence import Verdict
from .model import NeuralSolution
from .schedule import GANSchedule

__all__ = ["HISTORY_FILE", "TRAINING_FILE", "TrainerRunFolder"]

TRAINING_FILE = "training.pt"
HISTORY_FILE = "history.json"

T = TypeVar("T", bound="TrainerRunFolder")


class TrainerRunFolder:
    """Save, :meth:`training_state` / :meth:`load_training_state` and :meth:`resume` of a
    trainer (a base of :class:`~solvers.neural.trainer.NeuralTrainer`, which sets the
    attributes below)."""

    name: str
    schedule: GANSchedule
    seed: int
    solution: NeuralSolution
    optimizers: dict[str, torch.optim.Optimizer]
    round: int
    train_seconds: float
    history: dict[str, Any]
    verdict: Verdict | None
    run_id: str | None = None

    def training_state(self) -> dict[str, Any]:
        """What ``training.pt`` holds: every optimiser's state under its name, the round
        reached, the training time so far and the run id (tying it to its
        ``solution.json``)."""
        return {
            **{name: opt.state_dict() for name, opt in self.optimizers.items()},
            "round": self.round,
            "train_seconds": self.train_seconds,
            "run_id": self.run_id,
        }

    def load_training_state(self, state: dict[str, Any], label: str = TRAINING_FILE) -> None:
        """Restore a :meth:`training_state` read from ``label``. Refuses, with one-line
        ``ValueError``, anything else: not a dict, a missing entry, a round or time that is
        not a count, optimiser states that do not fit the networks (group and parameter
        counts, the shape of every moment:
        :func:`market_env.run_folder.check_optimizer_state`). Entries of no optimiser of
        this trainer are ignored (a Combo run saved an unused ``opt_disc``). Nothing is
        changed unless all of it fits."""
        from market_env.jsonio import short_repr
        from market_env.run_folder import check_optimizer_state, one_line

        if not isinstance(state, dict):
            raise ValueError(f"{label} does not hold a training state (got {type(state).__name__})")
        needed = (*self.optimizers, "round", "train_seconds")
        missing = [k for k in needed if k not in state]
        if missing:
            raise ValueError(f"{label} does not hold a training state (no {missing})")
        rounds, seconds = state["round"], state["train_seconds"]
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
            raise ValueError(f"{label}: round must be an integer >= 0, got {short_repr(rounds)}")
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise ValueError(
                f"{label}: train_seconds must be a finite number >= 0, got {short_repr(seconds)}"
            )
        for name, opt in self.optimizers.items():
            check_optimizer_state(opt, state[name], f"{label} ({name})")
        for name, opt in self.optimizers.items():
            try:
                opt.load_state_dict(state[name])
            except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as exc:
                raise ValueError(
                    f"{label} ({name}) does not fit the networks: {one_line(exc)}"
                ) from None
        self.round = rounds
        self.train_seconds = float(seconds)

    def save(self, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write the run folder: ``solution.json`` (config, options, and ``training``:
        solver, run id, schedule, seed, rounds done, training time, the verdict of the last
        :meth:`train`, ``extra``), ``weights.pt``, ``training.pt`` (optimiser state) and
        ``history.json``.

        Crash-safe (:func:`market_env.run_folder.save_run`): a kill at any moment leaves the
        folder's previous complete state or the new one, ``solution.json`` naming the size
        and SHA-256 of every other file. The run id is drawn at the first save and kept by
        :meth:`resume`; ``training.pt`` and ``history.json`` carry it too, so files of
        another run are never mistaken for this one's.
        """
        from market_env.run_folder import json_bytes, new_run_id, torch_bytes

        if self.run_id is None:
            self.run_id = new_run_id()
        info = {
            "solver": self.name,
            "run_id": self.run_id,
            "schedule": asdict(self.schedule),
            "seed": self.seed,
            "rounds_done": self.round,
            "train_seconds": self.train_seconds,
            **(extra or {}),
        }
        if self.verdict is not None:  # what `market-eq evaluate` of the run repeats
            info["verdict"] = self.verdict.to_dict()
        self.history["run_id"] = self.run_id
        files = {
            TRAINING_FILE: torch_bytes(self.training_state()),
            HISTORY_FILE: json_bytes(self.history, indent=None),
        }
        return self.solution.save(directory, extra={"training": info}, files=files)

    @classmethod
    def resume(
        cls: type[T],
        directory: str | Path,
        schedule: GANSchedule | None = None,
        *,
        device: str | torch.device = "cpu",
        progress: bool = True,
    ) -> T:
        """Rebuild a trainer from a run folder written by :meth:`save` (same run id; the
        next :meth:`save` continues the run's files).

        Refused with one-line ``ValueError``: whatever :func:`~solvers.loading.load_solution`
        refuses; a folder without a neural solution; a bad ``training`` section (schedule,
        seed); in a trainer's run, ``training.pt`` or ``history.json`` missing or unreadable;
        either one carrying another run id than ``solution.json`` ("belongs to another
        run"); ``training.pt`` at another round than ``solution.json``; optimiser states
        that do not fit the networks (:meth:`load_training_state`). Folders saved before
        run ids existed resume as before.
        """
        from market_env.jsonio import short_repr
        from market_env.run_folder import (
            MAX_HISTORY_BYTES,
            SPEC_FILE,
            RunIncompleteError,
            one_line,
            torch_load_bytes,
        )

        from ..loading import load_saved_run

        directory = Path(directory)
        where = repr(str(directory))
        for attempt in range(3):  # read one state, even while a save commits
            solution, run = load_saved_run(directory, map_location=device)
            if not isinstance(solution, NeuralSolution):
                raise ValueError(f"{where} does not hold a neural solution")
            need = sum(p.numel() * p.element_size() for p in solution.nets.parameters())
            try:
                training_data = run.read(TRAINING_FILE, max_bytes=6 * need + (64 << 20))
                history_data = run.read(HISTORY_FILE, max_bytes=MAX_HISTORY_BYTES)
                break
            except RunIncompleteError:
                if attempt == 2 or not run.changed():
                    raise
        label = run.spec_label
        trained = "training" in run.spec  # a trainer's run, not a bare saved solution
        info = run.spec.get("training", {})
        if schedule is None:
            saved = info.get("schedule", {})
            if not isinstance(saved, dict):
                raise ValueError(f"{label}: training.schedule must be an object")
            if saved:  # runs saved before ``link_sigma_grad`` existed let the link train σ
                saved = {"link_sigma_grad": True, **saved}
            try:
                schedule = GANSchedule.from_dict(saved)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{label}: bad training schedule: {one_line(exc)}") from None
        seed = info.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"{label}: training.seed must be an integer, got {short_repr(seed)}")
        run_id = info.get("run_id")
        if run_id is not None and not isinstance(run_id, str):
            raise ValueError(f"{label}: training.run_id must be a string")
        trainer = cls(  # type: ignore[call-arg]
            solution.config,
            schedule,
            device=device,
            seed=seed,
            solution=solution,
            progress=progress,
        )

        def other_run(name: str, found: Any) -> ValueError:
            return ValueError(
                f"{name} in {where} belongs to another run (run_id {short_repr(found)}, "
                f"{SPEC_FILE} has {run_id!r}); rerun or resume from a complete copy"
            )

        for name, data in ((TRAINING_FILE, training_data), (HISTORY_FILE, history_data)):
            if data is None and trained:
                raise ValueError(f"cannot resume the run in {where}: {name} is missing")
        if training_data is not None:
            tlabel = f"{TRAINING_FILE} in {where}"
            state = torch_load_bytes(training_data, tlabel, device)
            found = state.get("run_id") if isinstance(state, dict) else None
            if run_id is not None and found != run_id:
                raise other_run(TRAINING_FILE, found)
            trainer.load_training_state(state, tlabel)
            done = info.get("rounds_done")
            if isinstance(done, int) and not isinstance(done, bool) and done != trainer.round:
                raise ValueError(
                    f"{tlabel} is at round {trainer.round} but {SPEC_FILE} at round {done}: "
                    "they are not one state; rerun or resume from a complete copy"
                )
        if history_data is not None:
            hlabel = f"{HISTORY_FILE} in {where}"
            try:
                history = json.loads(history_data.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                raise ValueError(f"{hlabel} is not valid JSON: {one_line(exc, 120)}") from None
            keys = ("generator", "discriminator", "rounds")
            if not isinstance(history, dict) or not all(
                isinstance(history.get(k), list) for k in keys
            ):
                raise ValueError(
                    f"{hlabel} is not a training history (an object with the lists {list(keys)})"
                )
            if run_id is not None and history.get("run_id") != run_id:
                raise other_run(HISTORY_FILE, history.get("run_id"))
            trainer.history = history
        trainer.run_id = run_id
        return trainer
