"""The Reinforced-GAN solver (MODEL.md §8) and the Combo baseline.

Generator: the agents' trading rates; trained with the price frozen (price takers) to
maximise the agents' summed utility. Discriminator: ``σ``, ``μ`` and ``S_0``; trained with
the generator frozen to make ``S_K = 𝔖`` and to clear the market through the reinforcement
link (the rates optimal agents would trade at this price must sum to zero). Rounds alternate.
Both phases roll the market out through :meth:`market_env.BatchedMarket.step`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from market_env import BatchedMarket, MarketConfig

from .model import NeuralSolution, implied_rate
from .training import (
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
        max_seconds: stop training (after the current epoch) once this much time has passed
            (default 540 s, so a default solve with evaluation fits in 10 minutes).
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
    max_seconds: float | None = 540.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GANSchedule:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown schedule key(s) {unknown}; allowed: {sorted(known)}")
        return cls(**data)


#: Named schedules: ``default`` (reaches the issue-5 targets on ``quadratic-10`` in about 4
#: rounds, stops after 540 s at most); ``quick`` is a smoke test (seconds).
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
        **net_options: Any,
    ) -> None:
        self.config = config
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
        mu_bar = config.gamma_bar * config.alpha**2 * config.supply
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
    def _out_of_time(self, start: float, factor: float = 1.1) -> bool:
        """Hard stop inside a round (a last resort: it leaves generator and price out of
        step) once ``factor × max_seconds`` have passed."""
        limit = self.schedule.max_seconds
        elapsed = self.train_seconds + time.perf_counter() - start
        return limit is not None and elapsed > factor * limit

    def _no_time_for_round(self, start: float, rounds_run: int) -> bool:
        """Stop at a round boundary when the next round, as long as the mean round so far,
        would end after ``max_seconds`` (so the generator and the price stay in step)."""
        limit = self.schedule.max_seconds
        if limit is None:
            return False
        now = time.perf_counter() - start
        mean_round = now / rounds_run if rounds_run else 0.0
        return self.train_seconds + now + mean_round > limit

    def train(self, rounds: int | None = None) -> NeuralSolution:
        """Run rounds ``self.round + 1 .. rounds`` (default: the schedule's) and return the
        solution. Raises :class:`TrainingDivergedError` on a NaN/exploding loss."""
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
        stopped = False
        rounds_run = 0
        try:
            while self.round < rounds and not stopped:
                if self._no_time_for_round(start, rounds_run):
                    stopped = True
                    break
                stopped = self._train_round(bar, start)
                rounds_run += 1
        finally:
            bar.close()
            self.train_seconds += time.perf_counter() - start
        self.history["stopped_early"] = stopped
        return self.solution

    def _train_round(self, bar: Progress, start: float) -> bool:
        s = self.schedule
        self._set_round_lr()
        r = self.round + 1
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
                if self._out_of_time(start):
                    return True
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
                if self._out_of_time(start):
                    return True
        finally:
            self.nets.price_net.requires_grad_(True)
            self.nets.generator.requires_grad_(True)
        self.round = r
        self.history["rounds"].append(
            {"round": r, "S0": self.solution.S0, "seconds": time.perf_counter() - start}
        )
        return False

    # ----- persistence / resume ------------------------------------------------------------
    def training_state(self) -> dict[str, Any]:
        return {
            "opt_gen": self.opt_gen.state_dict(),
            "opt_disc": self.opt_disc.state_dict(),
            "round": self.round,
            "train_seconds": self.train_seconds,
        }

    def load_training_state(self, state: dict[str, Any]) -> None:
        self.opt_gen.load_state_dict(state["opt_gen"])
        self.opt_disc.load_state_dict(state["opt_disc"])
        self.round = int(state["round"])
        self.train_seconds = float(state["train_seconds"])

    def save(self, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write the artefact folder: ``solution.json`` (config, options, schedule, seed,
        ``extra``), ``weights.pt``, ``training.pt`` (optimiser state) and ``history.json``."""
        directory = Path(directory)
        info = {
            "solver": self.name,
            "schedule": asdict(self.schedule),
            "seed": self.seed,
            "rounds_done": self.round,
            "train_seconds": self.train_seconds,
            **(extra or {}),
        }
        self.solution.save(directory, extra={"training": info})
        torch.save(self.training_state(), directory / TRAINING_FILE)
        (directory / HISTORY_FILE).write_text(json.dumps(self.history) + "\n")
        return directory

    @classmethod
    def resume(
        cls,
        directory: str | Path,
        schedule: GANSchedule | None = None,
        *,
        device: str | torch.device = "cpu",
        progress: bool = True,
    ) -> ReinforcedGAN:
        """Rebuild a trainer from an artefact folder written by :meth:`save`."""
        from ..base import SPEC_FILE, load_solution

        directory = Path(directory)
        solution = load_solution(directory, map_location=device)
        if not isinstance(solution, NeuralSolution):
            raise ValueError(f"{str(directory)!r} does not hold a neural solution")
        spec = json.loads((directory / SPEC_FILE).read_text())
        info = spec.get("training", {})
        if schedule is None:
            saved = info.get("schedule", {})
            if saved:  # runs saved before ``link_sigma_grad`` existed let the link train σ
                saved = {"link_sigma_grad": True, **saved}
            schedule = GANSchedule.from_dict(saved)
        trainer = cls(
            solution.config,
            schedule,
            device=device,
            seed=int(info.get("seed", 0)),
            solution=solution,
            progress=progress,
        )
        path = directory / TRAINING_FILE
        if path.is_file():
            trainer.load_training_state(torch.load(path, map_location=device, weights_only=True))
        hist = directory / HISTORY_FILE
        if hist.is_file():
            trainer.history = json.loads(hist.read_text())
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

    def _train_round(self, bar: Progress, start: float) -> bool:
        s = self.schedule
        self._set_round_lr()
        r = self.round + 1
        noise = self._noise(s.noise_batches, 0)
        for e in range(s.gen_epochs):
            losses = self.joint_epoch(noise[e % len(noise)])
            self.guard.check(
                losses, round_=r, phase="joint", epoch=e + 1, hint=self.divergence_hint
            )
            shown = {key: losses[key] for key in self.joint_loss_keys}
            self.history["generator"].append([r, e + 1, *shown.values()])
            bar.update(round=r, **shown)
            if self._out_of_time(start):
                return True
        bar.bar.update(s.disc_epochs)
        self.round = r
        self.history["rounds"].append(
            {"round": r, "S0": self.solution.S0, "seconds": time.perf_counter() - start}
        )
        return False
