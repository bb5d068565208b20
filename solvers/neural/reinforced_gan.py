"""The Reinforced-GAN solver (MODEL.md §8) and the Combo baseline.

Generator: the agents' trading rates; trained with the price frozen (price takers) to
maximise the agents' summed utility. Discriminator: ``σ``, ``μ`` and ``S_0``; trained with
the generator frozen to make ``S_K = 𝔖`` and to clear the market through the reinforcement
link (the rates optimal agents would trade at this price must sum to zero). Rounds alternate.
Both phases roll the market out through :meth:`market_env.BatchedMarket.step`.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from market_env import BatchedMarket, MarketConfig

from .convergence import ConvergenceTolerances, Verdict, convergence_verdict
from .model import NeuralSolution, implied_rate
from .training import (
    LINK_FORMS,
    LossGuard,
    Progress,
    decayed,
    discriminator_losses,
    draw_noise,
    generator_rollout,
    link_loss,
    set_lr,
    simulate_pool,
)

__all__ = ["GANSchedule", "SCHEDULES", "ReinforcedGAN", "Combo"]

TRAINING_FILE = "training.pt"
HISTORY_FILE = "history.json"


@dataclass
class GANSchedule:
    """Training schedule of the Reinforced-GAN (and Combo: ``gen_epochs`` joint epochs/round).

    Attributes:
        rounds: alternating rounds (generator phase, then discriminator phase).
        gen_epochs, disc_epochs: epochs per phase and round.
        batch_size: paths per generator epoch.
        disc_batch_size: paths per discriminator epoch (default ``batch_size``).
        lr_gen, lr_disc, lr_S0: Adam learning rates at round 1 ...
        lr_final_factor: ... decayed exponentially to ``lr × lr_final_factor`` at the end.
        terminal_weight, link_weight: weights of the discriminator's terminal and link losses.
        link_sigma_grad: let the link loss train ``σ`` too (``True``) or only ``μ`` and the
            networks it shares (``False``, default: ``σ`` then answers to the terminal loss
            alone). For q < 2 the link loss has a noise floor (the implied rate is
            nonlinear in ``Y`` and ``Y`` is the pathwise, not the conditional, marginal
            value) that grows with N and |ξ|; when it may move ``σ`` it fights the terminal
            loss: on ``power-10`` ``True`` leaves a terminal error of 9e-3 at
            ``terminal_weight=100`` and 1.2e-4 at 1e4, ``False`` gives 1.4e-6 at 100
            (``quadratic-10`` and ``power-2`` are unchanged within seed noise).
        gen_clearing_weight: optional clearing penalty in the generator loss.
        link_form: ``"increment"`` or ``"cumulative"`` (the paper's), see
            :func:`~solvers.neural.training.link_loss`.
        noise_batches: noise batches drawn per round for the generator (cycled).
        pool_batches: generator paths for the discriminator are simulated this many batches
            at a time and each batch is used once (fresh paths every discriminator epoch).
        max_seconds: an optional time budget in seconds (default ``None``: none). The
            schedule is defined by its epochs, so a seed gives the same solution on any
            machine; with a budget, training stops at a round boundary when the next round
            would not fit (or, as a last resort, inside a round at 1.1× the budget) and the
            run is reported ``NOT CONVERGED`` with stop reason ``time-limit``.

    Every field is checked on construction: counts are integers ≥ 1, learning rates and
    loss weights finite and > 0 (``gen_clearing_weight`` ≥ 0), ``lr_final_factor`` in
    (0, 1], ``max_seconds`` ``None`` or finite and > 0.
    """

    rounds: int = 6
    gen_epochs: int = 60
    disc_epochs: int = 150
    batch_size: int = 1000
    disc_batch_size: int | None = 200
    lr_gen: float = 3e-3
    lr_disc: float = 3e-3
    lr_S0: float = 3e-3
    lr_final_factor: float = 0.05
    terminal_weight: float = 100.0
    link_weight: float = 1.0
    gen_clearing_weight: float = 0.0
    link_form: str = "increment"
    link_sigma_grad: bool = False
    noise_batches: int = 8
    pool_batches: int = 10
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        counts = ("rounds", "gen_epochs", "disc_epochs", "batch_size")
        for name in (*counts, "noise_batches", "pool_batches"):
            _check_count(name, getattr(self, name))
        if self.disc_batch_size is not None:
            _check_count("disc_batch_size", self.disc_batch_size)
        for name in ("lr_gen", "lr_disc", "lr_S0", "terminal_weight", "link_weight"):
            _check_positive(name, getattr(self, name))
        _check_positive("gen_clearing_weight", self.gen_clearing_weight, allow_zero=True)
        _check_positive("lr_final_factor", self.lr_final_factor)
        if self.lr_final_factor > 1:
            raise ValueError(f"lr_final_factor must be in (0, 1], got {self.lr_final_factor!r}")
        if self.max_seconds is not None:
            _check_positive("max_seconds", self.max_seconds)
        if self.link_form not in LINK_FORMS:
            raise ValueError(f"link_form must be one of {list(LINK_FORMS)}, got {self.link_form!r}")
        if not isinstance(self.link_sigma_grad, bool):
            raise ValueError(f"link_sigma_grad must be true or false, got {self.link_sigma_grad!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GANSchedule:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown schedule key(s) {unknown}; allowed: {sorted(known)}")
        return cls(**data)


#: Largest count a schedule accepts (paths per epoch, epochs, rounds): beyond it a typo, not
#: a schedule; the memory of a batch is bounded separately by :class:`BatchedMarket`.
MAX_COUNT = 10_000_000


def _check_count(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
        raise ValueError(f"{name} must be an integer in [1, {MAX_COUNT:.0e}], got {value!r}")


def _check_positive(name: str, value: Any, allow_zero: bool = False) -> None:
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")


#: Named schedules: ``default`` (6 rounds; meets the README's ``quadratic-10`` targets);
#: ``quick`` is a smoke test (seconds, never converged).
SCHEDULES: dict[str, GANSchedule] = {
    "default": GANSchedule(),
    "quick": GANSchedule(
        rounds=2,
        gen_epochs=3,
        disc_epochs=3,
        batch_size=64,
        disc_batch_size=64,
        noise_batches=2,
        pool_batches=3,
    ),
}


def default_schedule(solver: str = "reinforced-gan") -> GANSchedule:
    """The default schedule of ``solver`` (a copy, safe to modify)."""
    from dataclasses import replace

    return replace(SCHEDULES["default"])


class ReinforcedGAN:
    """Train a :class:`NeuralSolution` by the Reinforced-GAN of MODEL.md §8.

    Args:
        config: the market (any N ≥ 2, q ∈ (1, 2]).
        schedule: a :class:`GANSchedule` (default ``SCHEDULES["default"]``).
        mu: ``"learned"`` or ``"clearing"`` (q = 2 only).
        generator: ``"all"`` or ``"residual"``.
        device: ``"cpu"`` or ``"cuda"``.
        seed: seeds the network initialisation and the training noise.
        solution: continue training this solution (resume) instead of a fresh one.
        progress: show tqdm progress bars.
        threads: intra-op torch threads while training (default 1, ``0``: all cores;
            :mod:`solvers.threads` says why).
        tolerances: of the convergence verdict (:class:`ConvergenceTolerances`).
        net_options: ``width``, ``depth``, ``net_shape``, ``skip``, ``activation``.

    ``train()`` runs the remaining rounds and returns the solution; ``save(dir)`` writes the
    artefact folder (solution, weights, optimiser state, history) that :meth:`resume` reads.
    """

    name = "reinforced-gan"

    def __init__(
        self,
        config: MarketConfig,
        schedule: GANSchedule | None = None,
        *,
        mu: str = "learned",
        generator: str = "residual",
        device: str | torch.device = "cpu",
        seed: int = 0,
        solution: NeuralSolution | None = None,
        progress: bool = True,
        threads: int | None = None,
        tolerances: ConvergenceTolerances | None = None,
        **net_options: Any,
    ) -> None:
        from ..threads import resolve_threads

        self.config = config
        self.threads = resolve_threads(threads)
        self.tolerances = tolerances or ConvergenceTolerances()
        self.verdict: Verdict | None = None
        self._stop: tuple[str, str | None] | None = None
        self._interrupted: str | None = None
        self.schedule = schedule or GANSchedule()
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but torch.cuda.is_available() is False")
        self.seed = int(seed)
        self.progress = progress
        if solution is None:
            torch.manual_seed(self.seed)
            solution = NeuralSolution(
                config, solver=self.name, mu=mu, generator=generator, **net_options
            )
        self.solution = solution.to(self.device)
        self.nets = solution.nets
        self.market = BatchedMarket(
            config,
            self.schedule.batch_size,
            clearing=solution.clearing,
            device=self.device,
            dtype=torch.float32,
            validate=False,
        )
        disc_batch = self.schedule.disc_batch_size or self.schedule.batch_size
        self.disc_market = BatchedMarket(
            config,
            disc_batch,
            clearing=solution.clearing,
            device=self.device,
            dtype=torch.float32,
            validate=False,
        )
        self.guard = LossGuard(self.name)
        self.terminal_weight = self.schedule.terminal_weight
        # agents in the generator loss: all, or N−1 when the last one clears (residual)
        self.n_loss_agents = config.n_agents - (solution.clearing == "residual")
        mu_bar = config.mu_bar
        self.rate_ref = float(
            implied_rate(torch.tensor(mu_bar, dtype=torch.float64), config.lam, config.cost_power)
        )
        self._make_optimizers()
        self.round = 0
        self.train_seconds = 0.0
        self.history: dict[str, Any] = {"generator": [], "discriminator": [], "rounds": []}

    # ----- setup -------------------------------------------------------------------------
    def _make_optimizers(self) -> None:
        s = self.schedule
        self.opt_gen = torch.optim.Adam(self.nets.generator.parameters(), lr=s.lr_gen)
        self.opt_disc = torch.optim.Adam(
            [
                {"params": list(self.nets.price_net.parameters()), "lr": s.lr_disc},
                {"params": [self.nets.S0_offset], "lr": s.lr_S0},
            ]
        )

    def _set_round_lr(self) -> None:
        s = self.schedule
        p = self.round / max(s.rounds - 1, 1)
        set_lr(self.opt_gen, [decayed(s.lr_gen, s.lr_final_factor, p)])
        set_lr(
            self.opt_disc,
            [decayed(s.lr_disc, s.lr_final_factor, p), decayed(s.lr_S0, s.lr_final_factor, p)],
        )

    def _noise(
        self, n_batches: int, salt: int, market: BatchedMarket | None = None
    ) -> torch.Tensor:
        seed = (self.seed * 1_000_003 + self.round * 101 + salt) % (2**62)
        return draw_noise(market or self.market, n_batches, seed, self.device)

    # ----- one epoch of each phase ---------------------------------------------------------
    def generator_loss(self, noise: torch.Tensor) -> dict[str, torch.Tensor]:
        """``−(1/N) Σ_n mean_paths Σ_k r_n,k`` (+ optional clearing penalty), prices frozen."""
        out = generator_rollout(self.nets, self.market, noise)
        utility = out["utility"][:, : self.n_loss_agents].sum(-1).mean()
        clearing = out["imbalance_sq"].mean() / (self.config.n_steps * self.rate_ref**2)
        loss = -utility / self.n_loss_agents + self.schedule.gen_clearing_weight * clearing
        return {"loss": loss, "utility": utility, "clearing": clearing}

    def generator_epoch(self, noise: torch.Tensor) -> dict[str, float]:
        self.opt_gen.zero_grad(set_to_none=True)
        losses = self.generator_loss(noise)
        losses["loss"].backward()
        self.opt_gen.step()
        return {k: float(v.detach()) for k, v in losses.items()}

    def discriminator_epoch(self, pool: Any, b: int) -> dict[str, float]:
        s = self.schedule
        self.opt_disc.zero_grad(set_to_none=True)
        losses = discriminator_losses(
            self.nets,
            self.disc_market,
            pool.noise[b],
            pool.rates[b],
            pool.phi[b],
            pool.W[b],
            s.link_form,
            link_sigma_grad=s.link_sigma_grad,
        )
        loss = self.terminal_weight * losses["terminal"] + s.link_weight * losses["link"]
        loss.backward()
        self.opt_disc.step()
        return {"loss": float(loss.detach()), **{k: float(v.detach()) for k, v in losses.items()}}

    # ----- the loop ----------------------------------------------------------------------
    def _stop_now(self, start: float, phase: str, factor: float = 1.1) -> bool:
        """After each epoch: stop on SIGINT/SIGTERM, or (a last resort, it leaves generator
        and price out of step) once ``factor × max_seconds`` have passed. Records why."""
        if self._interrupted is not None:
            self._stop = ("interrupted", phase)
            return True
        limit = self.schedule.max_seconds
        elapsed = self.train_seconds + time.perf_counter() - start
        if limit is not None and elapsed > factor * limit:
            self._stop = ("time-limit", phase)
            return True
        return False

    def _no_time_for_round(self, start: float, rounds_run: int) -> bool:
        """Stop at a round boundary when the next round, as long as the mean round so far,
        would end after ``max_seconds`` (so the generator and the price stay in step)."""
        limit = self.schedule.max_seconds
        if limit is None or rounds_run == 0:  # inside the first round the epoch check stops
            return False
        now = time.perf_counter() - start
        mean_round = now / rounds_run
        return self.train_seconds + now + mean_round > limit

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self._interrupted is not None:  # a second signal: stop at once
            raise KeyboardInterrupt
        self._interrupted = signal.Signals(signum).name
        self._notice(
            f"{self.name}: {self._interrupted} received, stopping after this epoch "
            "(send it again to abort without saving)"
        )

    def _notice(self, text: str) -> None:
        import sys

        print(f"\n{text}", file=sys.stderr, flush=True)

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

        s = self.schedule
        rounds = s.rounds if rounds is None else rounds
        per_round = s.gen_epochs + s.disc_epochs
        bar = Progress(
            per_round * rounds,
            f"{self.name} rounds {rounds}",
            self.progress,
            self.round * per_round,
        )
        start = time.perf_counter()
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
                    if self._no_time_for_round(start, rounds_run):
                        self._stop = ("time-limit", "round boundary")
                        break
                    self._train_round(bar, start)
                    rounds_run += 1
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            bar.close()
            self.train_seconds += time.perf_counter() - start
        reason, phase = self._stop or ("completed", None)
        stop_where = None
        if phase == "round boundary":
            stop_where = {"round": self.round + 1, "phase": "at the start of the round, generator"}
        elif phase is not None:
            stop_where = {"round": min(self.round + 1, rounds), "phase": phase}
        self.history["stopped_early"] = reason != "completed"
        self.history["stop"] = {"reason": reason, "where": stop_where}
        self.verdict = self._verdict(rounds, reason, stop_where)
        self.history["verdict"] = self.verdict.to_dict()
        return self.solution

    def _verdict(self, rounds: int, reason: str, stop_where: dict | None) -> Verdict:
        cfg = self.config
        return convergence_verdict(
            self.history["rounds"],
            rounds_scheduled=rounds,
            stop_reason=reason,
            stop_where=stop_where,
            scale_S0=0.1 * cfg.alpha * math.sqrt(cfg.horizon),
            price_trained=bool(self.history["discriminator"]) or self.name != "reinforced-gan",
            tolerances=self.tolerances,
        )

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

    def _end_round(self, r: int, start: float, S0_start: float) -> None:
        """Close round ``r``: its summary (:func:`convergence_verdict` reads it)."""
        gen = [row[2] for row in self.history["generator"] if row[0] == r]
        disc = [row for row in self.history["discriminator"] if row[0] == r]
        first, last = self._fifths(gen)
        _, terminal = self._fifths([row[2] for row in disc])
        _, link = self._fifths([row[3] for row in disc])
        self.round = r
        self.history["rounds"].append(
            {
                "round": r,
                "S0": self.solution.S0,
                "S0_start": S0_start,
                "objective_first": first,
                "objective_last": last,
                "terminal": terminal,
                "link": link,
                "seconds": time.perf_counter() - start,
            }
        )

    def _train_round(self, bar: Progress, start: float) -> None:
        s = self.schedule
        self._set_round_lr()
        r = self.round + 1
        S0_start = self.solution.S0
        hint_gen = "lower lr_gen (--lr-gen) or check the config's scales (lam, xi)"
        hint_disc = "lower lr_disc/lr_S0 (--lr-disc) or the link weight"
        noise = self._noise(s.noise_batches, 0)
        try:
            self.nets.price_net.requires_grad_(False)
            for e in range(s.gen_epochs):
                losses = self.generator_epoch(noise[e % len(noise)])
                self.guard.check(losses, round_=r, phase="generator", epoch=e + 1, hint=hint_gen)
                self.history["generator"].append([r, e + 1, losses["utility"], losses["clearing"]])
                bar.update(
                    round=r, phase="gen", utility=losses["utility"], clearing=losses["clearing"]
                )
                if self._stop_now(start, "generator"):
                    return
            self.nets.price_net.requires_grad_(True)
            self.nets.generator.requires_grad_(False)
            pool = None
            for e in range(s.disc_epochs):
                if e % s.pool_batches == 0:  # fresh generator paths, pool_batches at a time
                    noise = self._noise(s.pool_batches, 1 + e // s.pool_batches, self.disc_market)
                    pool = simulate_pool(self.nets, self.disc_market, noise)
                losses = self.discriminator_epoch(pool, e % s.pool_batches)
                self.guard.check(
                    losses, round_=r, phase="discriminator", epoch=e + 1, hint=hint_disc
                )
                self.history["discriminator"].append([r, e + 1, losses["terminal"], losses["link"]])
                bar.update(round=r, phase="disc", terminal=losses["terminal"], link=losses["link"])
                if self._stop_now(start, "discriminator"):
                    return
        finally:
            self.nets.price_net.requires_grad_(True)
            self.nets.generator.requires_grad_(True)
        self._end_round(r, start, S0_start)

    # ----- persistence / resume ------------------------------------------------------------
    def training_state(self) -> dict[str, Any]:
        """What ``training.pt`` holds: both optimisers' state, the round reached, the
        training time so far and the run id (tying it to its ``solution.json``)."""
        return {
            "opt_gen": self.opt_gen.state_dict(),
            "opt_disc": self.opt_disc.state_dict(),
            "round": self.round,
            "train_seconds": self.train_seconds,
            "run_id": getattr(self, "run_id", None),
        }

    def load_training_state(self, state: dict[str, Any], label: str = TRAINING_FILE) -> None:
        """Restore a :meth:`training_state` read from ``label``. Refuses, with one-line
        ``ValueError``, anything else: not a dict, a missing entry, a round or time that is
        not a count, optimiser states that do not fit the networks (group and parameter
        counts, the shape of every moment: :func:`solvers.run_folder.check_optimizer_state`).
        Nothing is changed unless all of it fits."""
        from market_env.jsonio import short_repr

        from ..run_folder import check_optimizer_state, one_line

        if not isinstance(state, dict):
            raise ValueError(f"{label} does not hold a training state (got {type(state).__name__})")
        missing = [k for k in ("opt_gen", "opt_disc", "round", "train_seconds") if k not in state]
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
        optimizers = (("opt_gen", self.opt_gen), ("opt_disc", self.opt_disc))
        for name, opt in optimizers:
            check_optimizer_state(opt, state[name], f"{label} ({name})")
        for name, opt in optimizers:
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
        :meth:`train`, ``extra``),
        ``weights.pt``, ``training.pt`` (optimiser state) and ``history.json``.

        Crash-safe (:func:`solvers.run_folder.save_run`): a kill at any moment leaves the
        folder's previous complete state or the new one, ``solution.json`` naming the size
        and SHA-256 of every other file. The run id is drawn at the first save and kept by
        :meth:`resume`; ``training.pt`` and ``history.json`` carry it too, so files of
        another run are never mistaken for this one's.
        """
        from ..run_folder import json_bytes, new_run_id, torch_bytes

        if getattr(self, "run_id", None) is None:
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
        cls,
        directory: str | Path,
        schedule: GANSchedule | None = None,
        *,
        device: str | torch.device = "cpu",
        progress: bool = True,
    ) -> ReinforcedGAN:
        """Rebuild a trainer from a run folder written by :meth:`save` (same run id; the
        next :meth:`save` continues the run's files).

        Refused with one-line ``ValueError``: whatever :func:`~solvers.base.load_solution`
        refuses; a folder without a neural solution; a bad ``training`` section (schedule,
        seed); in a trainer's run, ``training.pt`` or ``history.json`` missing or unreadable;
        either one carrying another run id than ``solution.json`` ("belongs to another
        run"); ``training.pt`` at another round than ``solution.json``; optimiser states
        that do not fit the networks (:meth:`load_training_state`). Folders saved before
        run ids existed resume as before.
        """
        from market_env.jsonio import short_repr

        from ..base import load_saved_run
        from ..run_folder import (
            MAX_HISTORY_BYTES,
            SPEC_FILE,
            RunIncompleteError,
            one_line,
            torch_load_bytes,
        )

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
        trainer = cls(
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


class Combo(ReinforcedGAN):
    """Baseline "Combo" (MODEL.md §8): generator and discriminator trained jointly on the sum
    of both losses, gradients flowing into every network (no price taking, no alternation).
    Each round runs ``gen_epochs`` joint epochs (``disc_epochs`` is ignored)."""

    #: Losses of a joint epoch recorded in the history and shown on the progress bar.
    joint_loss_keys: tuple[str, ...] = ("utility", "terminal", "link")
    #: Hint of the divergence message.
    divergence_hint: str = "lower the learning rates"

    name = "combo"

    def _joint_generator_params(self) -> list[torch.nn.Parameter]:
        """Parameters trained at the generator's learning rate in the joint optimiser."""
        return list(self.nets.generator.parameters())

    def _make_optimizers(self) -> None:
        s = self.schedule
        self.opt_gen = torch.optim.Adam(
            [
                {"params": self._joint_generator_params(), "lr": s.lr_gen},
                {"params": list(self.nets.price_net.parameters()), "lr": s.lr_disc},
                {"params": [self.nets.S0_offset], "lr": s.lr_S0},
            ]
        )
        self.opt_disc = torch.optim.Adam([torch.nn.Parameter(torch.zeros(()))])  # unused

    def _set_round_lr(self) -> None:
        s = self.schedule
        p = self.round / max(s.rounds - 1, 1)
        set_lr(
            self.opt_gen,
            [decayed(lr, s.lr_final_factor, p) for lr in (s.lr_gen, s.lr_disc, s.lr_S0)],
        )

    def joint_epoch(self, noise: torch.Tensor) -> dict[str, float]:
        s = self.schedule
        cfg = self.config
        self.opt_gen.zero_grad(set_to_none=True)
        out = generator_rollout(self.nets, self.market, noise, price_grad=True, record=True)
        utility = out["utility"][:, : self.n_loss_agents].sum(-1).mean()
        terminal = (out["S_K"] - out["payoff"]).square().mean() / (cfg.alpha**2 * cfg.horizon)
        link = link_loss(self.market, out["phi"], out["W"], out["mu"], out["sigma"], s.link_form)
        loss = (
            -utility / self.n_loss_agents + self.terminal_weight * terminal + s.link_weight * link
        )
        loss.backward()
        self.opt_gen.step()
        return {
            "loss": float(loss.detach()),
            "utility": float(utility.detach()),
            "terminal": float(terminal.detach()),
            "link": float(link.detach()),
        }

    def _train_round(self, bar: Progress, start: float) -> None:
        s = self.schedule
        self._set_round_lr()
        r = self.round + 1
        S0_start = self.solution.S0
        noise = self._noise(s.noise_batches, 0)
        for e in range(s.gen_epochs):
            losses = self.joint_epoch(noise[e % len(noise)])
            self.guard.check(
                losses, round_=r, phase="joint", epoch=e + 1, hint=self.divergence_hint
            )
            shown = {key: losses[key] for key in self.joint_loss_keys}
            self.history["generator"].append([r, e + 1, *shown.values()])
            bar.update(round=r, **shown)
            if self._stop_now(start, "joint"):
                return
        bar.bar.update(s.disc_epochs)
        self._end_round(r, start, S0_start)

    def _end_round(self, r: int, start: float, S0_start: float) -> None:
        """Round summary of a joint solver: the objective is the first loss key where it is
        the utility (Combo), else none (Deep FBSDE); terminal and link from the joint epochs."""
        rows = [row for row in self.history["generator"] if row[0] == r]
        keys = self.joint_loss_keys
        column = {key: [row[2 + i] for row in rows] for i, key in enumerate(keys)}
        first, last = self._fifths(column["utility"]) if "utility" in column else (None, None)
        _, terminal = self._fifths(column.get("terminal", []))
        _, link = self._fifths(column.get("link", []))
        self.round = r
        self.history["rounds"].append(
            {
                "round": r,
                "S0": self.solution.S0,
                "S0_start": S0_start,
                "objective_first": first,
                "objective_last": last,
                "terminal": terminal,
                "link": link,
                "seconds": time.perf_counter() - start,
            }
        )
