"""The one shape of every neural trainer (MODEL.md §8): :class:`NeuralTrainer`.

A template method in the style of Stable-Baselines3's ``BaseAlgorithm.learn``: the base owns
the round loop (:meth:`NeuralTrainer.train`), the time budget, the noise bank, the loss
guard, the progress bar, the history, SIGINT/SIGTERM handling, the convergence verdict,
and (from :class:`~solvers.neural.run_state.TrainerRunFolder`) ``save``,
``training_state`` / ``load_training_state`` and ``resume``. A trainer implements only

- :attr:`~NeuralTrainer.name` and :attr:`~NeuralTrainer.solution_class`;
- :meth:`~NeuralTrainer._param_groups`: its optimisers, as ``{name: [(parameters, lr), ...]}``
  (the base builds one Adam per name, decays every group's rate over the rounds and saves
  each optimiser under its name in ``training.pt``);
- :meth:`~NeuralTrainer._train_round`: the epochs of one round, calling
  :meth:`~NeuralTrainer._after_epoch` after each and returning when it says stop;
- :meth:`~NeuralTrainer._round_summary`: the losses the verdict reads from a finished round;
- optionally :attr:`~NeuralTrainer.epochs_per_round`, :meth:`~NeuralTrainer._price_trained`
  and :meth:`~NeuralTrainer._end_round` (a per-round end hook; call ``super()``).
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from typing import Any, ClassVar

import torch

from market_env import BatchedMarket, MarketConfig
from market_env.device import resolve_device

from .convergence import ConvergenceTolerances, Verdict, convergence_verdict
from .model import NeuralSolution, implied_rate
from .net_options import NetOptions, resolve_net_options
from .run_state import TrainerRunFolder
from .schedule import GANSchedule
from .training import LossGuard, Progress, decayed, draw_noise, set_lr

__all__ = ["NeuralTrainer"]


class NeuralTrainer(TrainerRunFolder):
    """Train a :class:`NeuralSolution` round by round (MODEL.md §8); subclasses give the
    optimisers and the round (module docstring).

    Args:
        config: the market (any N ≥ 2, q ∈ (1, 2]).
        schedule: a :class:`~solvers.neural.schedule.GANSchedule` (default: its defaults).
        device: ``"cpu"``, ``"cuda[:i]"`` or ``"auto"`` (:func:`market_env.device.resolve_device`).
        seed: seeds the network initialisation and the training noise.
        solution: continue training this solution (resume) instead of a fresh one; no
            network options may be given with it.
        progress: show tqdm progress bars.
        threads: intra-op torch threads while training (default 1, ``0``: all cores;
            :mod:`solvers.threads` says why).
        tolerances: of the convergence verdict (:class:`ConvergenceTolerances`).
        net_options: the networks, a :class:`~solvers.neural.net_options.NetOptions`; or
        **options: the same as flat keywords (``mu``, ``generator``, ``width``, ...), turned
            into one :class:`NetOptions` here (a name no network consumes is a ``ValueError``).

    ``train()`` runs the remaining rounds and returns the solution; ``save(dir)`` writes the
    run folder (solution, weights, optimiser state, history) that :meth:`resume` reads.
    """

    #: The solver's name (``training.solver`` in ``solution.json``).
    name: ClassVar[str] = ""
    #: The solution class it trains (its ``net_defaults`` are the solver's defaults).
    solution_class: ClassVar[type[NeuralSolution]] = NeuralSolution

    def __init__(
        self,
        config: MarketConfig,
        schedule: GANSchedule | None = None,
        *,
        device: str | torch.device = "cpu",
        seed: int = 0,
        solution: NeuralSolution | None = None,
        progress: bool = True,
        threads: int | None = None,
        tolerances: ConvergenceTolerances | None = None,
        net_options: NetOptions | None = None,
        **options: Any,
    ) -> None:
        from ..threads import resolve_threads

        self.config = config
        self.threads = resolve_threads(threads)
        self.tolerances = tolerances or ConvergenceTolerances()
        self.verdict: Verdict | None = None
        self._stop: tuple[str, str | None] | None = None
        self._interrupted: str | None = None
        self.schedule = schedule or GANSchedule()
        self.device = resolve_device(device)
        self.seed = int(seed)
        self.progress = progress
        if solution is None:
            net = self.net_options_from(net_options, options, type(self).__name__)
            torch.manual_seed(self.seed)
            solution = self._new_solution(net)
        elif net_options is not None or options:
            given = sorted(options) + (["net_options"] if net_options is not None else [])
            raise ValueError(
                f"{type(self).__name__}: network options {given} cannot be given with a "
                "solution to continue (its networks are built already)"
            )
        self.solution = solution.to(self.device)
        self.nets = solution.nets
        self.market = self._market(self.schedule.batch_size)
        self.disc_market = self._market(self.schedule.disc_batch_size or self.schedule.batch_size)
        self.guard = LossGuard(self.name)
        self.terminal_weight = self.schedule.terminal_weight
        # agents in the generator loss: all, or N−1 when the last one clears (residual)
        self.n_loss_agents = config.n_agents - (solution.clearing == "residual")
        mu_bar = torch.tensor(config.mu_bar, dtype=torch.float64)
        self.rate_ref = float(implied_rate(mu_bar, config.lam, config.cost_power))
        self._make_optimizers()
        self.round = 0
        self.train_seconds = 0.0
        self.history: dict[str, Any] = {"generator": [], "discriminator": [], "rounds": []}
        self._bar: Progress | None = None
        self._start = 0.0

    @classmethod
    def net_options_from(
        cls, net_options: NetOptions | None, options: dict[str, Any], where: str
    ) -> NetOptions:
        """The one :class:`NetOptions` of this solver from an object, flat keywords or
        neither (then the solver's defaults, ``solution_class.net_defaults``)."""
        defaults = cls.solution_class.net_defaults
        return resolve_net_options(net_options, options, defaults, where)

    # ----- hooks -------------------------------------------------------------------------
    def _new_solution(self, net: NetOptions) -> NeuralSolution:
        """A fresh solution with the networks ``net`` (the global torch seed is set)."""
        return self.solution_class(self.config, solver=self.name, net_options=net)

    def _param_groups(self) -> dict[str, list[tuple[list[torch.nn.Parameter], float]]]:
        """``{optimiser name: [(parameters, round-1 learning rate), ...]}``; every rate is
        decayed by ``lr_final_factor`` over the rounds. The names are the keys of
        ``training.pt``."""
        raise NotImplementedError

    def _train_round(self, r: int) -> None:
        """Run the epochs of round ``r``; after each, ``if self._after_epoch(...): return``."""
        raise NotImplementedError

    def _round_summary(self, r: int) -> dict[str, float | None]:
        """``objective_first``, ``objective_last``, ``terminal``, ``link`` of round ``r``
        (:func:`~solvers.neural.convergence.convergence_verdict` reads them)."""
        raise NotImplementedError

    @property
    def epochs_per_round(self) -> int:
        """Epochs of one round (the progress bar counts them)."""
        return self.schedule.gen_epochs

    def _price_trained(self) -> bool:
        """Whether the price networks have had a training epoch yet (for the verdict)."""
        return True

    def _end_round(self, r: int, S0_start: float) -> None:
        """Close round ``r``: its summary in ``history["rounds"]``. A subclass may extend it
        (call ``super()`` first)."""
        self.round = r
        self.history["rounds"].append(
            {
                "round": r,
                "S0": self.solution.S0,
                "S0_start": S0_start,
                **self._round_summary(r),
                "seconds": time.perf_counter() - self._start,
            }
        )

    # ----- the pieces every trainer shares ------------------------------------------------
    def _market(self, batch: int) -> BatchedMarket:
        return BatchedMarket(
            self.config,
            batch,
            clearing=self.solution.clearing,
            device=self.device,
            dtype=torch.float32,
            validate=False,
        )

    def _make_optimizers(self) -> None:
        self._base_lrs: dict[str, list[float]] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        for name, groups in self._param_groups().items():
            self.optimizers[name] = torch.optim.Adam(
                [{"params": list(params), "lr": lr} for params, lr in groups]
            )
            self._base_lrs[name] = [lr for _, lr in groups]
            setattr(self, name, self.optimizers[name])

    def _set_round_lr(self) -> None:
        s = self.schedule
        p = self.round / max(s.rounds - 1, 1)
        for name, opt in self.optimizers.items():
            set_lr(opt, [decayed(lr, s.lr_final_factor, p) for lr in self._base_lrs[name]])

    def _noise(
        self, n_batches: int, salt: int, market: BatchedMarket | None = None
    ) -> torch.Tensor:
        """The noise bank: ``n_batches`` batches, seeded by (seed, round, ``salt``)."""
        seed = (self.seed * 1_000_003 + self.round * 101 + salt) % (2**62)
        return draw_noise(market or self.market, n_batches, seed, self.device)

    @staticmethod
    def _fifths(values: list[float]) -> tuple[float | None, float | None]:
        """Means of the first and the last fifth of ``values`` (``None`` when empty; the
        first is ``None`` too for a single value: no change can be measured)."""
        if not values:
            return None, None
        if len(values) < 2:
            return None, values[-1]
        n = max(1, len(values) // 5)
        return sum(values[:n]) / n, sum(values[-n:]) / n

    def _summary(
        self, objective: list[float], terminal: list[float], link: list[float]
    ) -> dict[str, float | None]:
        """A round's summary from its epochs' losses: the objective's first and last fifth,
        the last fifth of the terminal and link losses."""
        first, last = self._fifths(objective)
        return {
            "objective_first": first,
            "objective_last": last,
            "terminal": self._fifths(terminal)[1],
            "link": self._fifths(link)[1],
        }

    def _after_epoch(
        self,
        r: int,
        epoch: int,
        losses: dict[str, float],
        *,
        phase: str,
        keys: tuple[str, ...],
        hint: str,
        table: str = "generator",
        bar_phase: str | None = None,
    ) -> bool:
        """After each epoch: the loss guard, the history row ``[r, epoch, *losses[keys]]``
        in ``history[table]``, the progress bar; ``True`` when training must stop now."""
        self.guard.check(losses, round_=r, phase=phase, epoch=epoch, hint=hint)
        shown = {key: losses[key] for key in keys}
        self.history[table].append([r, epoch, *shown.values()])
        assert self._bar is not None
        self._bar.update(round=r, **({"phase": bar_phase} if bar_phase else {}), **shown)
        return self._stop_now(phase)

    # ----- the loop ----------------------------------------------------------------------
    def _stop_now(self, phase: str, factor: float = 1.1) -> bool:
        """After each epoch: stop on SIGINT/SIGTERM, or (a last resort, it leaves generator
        and price out of step) once ``factor × max_seconds`` have passed. Records why."""
        if self._interrupted is not None:
            self._stop = ("interrupted", phase)
            return True
        limit = self.schedule.max_seconds
        elapsed = self.train_seconds + time.perf_counter() - self._start
        if limit is not None and elapsed > factor * limit:
            self._stop = ("time-limit", phase)
            return True
        return False

    def _no_time_for_round(self, rounds_run: int) -> bool:
        """Stop at a round boundary when the next round, as long as the mean round so far,
        would end after ``max_seconds`` (so the generator and the price stay in step)."""
        limit = self.schedule.max_seconds
        if limit is None or rounds_run == 0:  # inside the first round the epoch check stops
            return False
        now = time.perf_counter() - self._start
        mean_round = now / rounds_run
        return self.train_seconds + now + mean_round > limit

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self._interrupted is not None:  # a second signal: stop at once
            raise KeyboardInterrupt
        self._interrupted = signal.Signals(signum).name
        print(
            f"\n{self.name}: {self._interrupted} received, stopping after this epoch "
            "(send it again to abort without saving)",
            file=sys.stderr,
            flush=True,
        )

    def _run_round(self) -> None:
        self._set_round_lr()
        r = self.round + 1
        S0_start = self.solution.S0
        self._train_round(r)
        if self._stop is None:
            self._end_round(r, S0_start)

    def train(self, rounds: int | None = None) -> NeuralSolution:
        """Run rounds ``self.round + 1 .. rounds`` (default: the schedule's) and return the
        solution; :attr:`verdict` then says whether it converged
        (:mod:`solvers.neural.convergence`).

        Training uses ``threads`` intra-op torch threads (:mod:`solvers.threads`). In the
        main thread, SIGINT and SIGTERM stop training after the current epoch (the solution
        is returned and :attr:`verdict` says ``interrupted``); a second signal raises
        ``KeyboardInterrupt``. Raises :class:`TrainingDivergedError` on a NaN/exploding loss.
        """
        from ..threads import torch_threads

        rounds = self.schedule.rounds if rounds is None else rounds
        per_round = self.epochs_per_round
        desc = f"{self.name} rounds {rounds}"
        self._bar = Progress(per_round * rounds, desc, self.progress, self.round * per_round)
        self._start = time.perf_counter()
        self._stop = None
        self._interrupted = None
        rounds_run = 0
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                handlers[sig] = signal.signal(sig, self._on_signal)
        try:
            with torch_threads(self.threads):
                while self.round < rounds and self._stop is None:
                    if self._no_time_for_round(rounds_run):
                        self._stop = ("time-limit", "round boundary")
                        break
                    self._run_round()
                    rounds_run += 1
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            self._bar.close()
            self.train_seconds += time.perf_counter() - self._start
        reason, phase = self._stop or ("completed", None)
        stop_where = None
        if phase == "round boundary":
            stop_where = {"round": self.round + 1, "phase": "at the start of the round, generator"}
        elif phase is not None:
            stop_where = {"round": min(self.round + 1, rounds), "phase": phase}
        self.history["stopped_early"] = reason != "completed"
        self.history["stop"] = {"reason": reason, "where": stop_where}
        cfg = self.config
        self.verdict = convergence_verdict(
            self.history["rounds"],
            rounds_scheduled=rounds,
            stop_reason=reason,
            stop_where=stop_where,
            scale_S0=0.1 * cfg.alpha * math.sqrt(cfg.horizon),
            price_trained=self._price_trained(),
            tolerances=self.tolerances,
        )
        self.history["verdict"] = self.verdict.to_dict()
        return self.solution
