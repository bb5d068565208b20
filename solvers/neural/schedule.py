"""The training schedule of the neural solvers (MODEL.md §8): :class:`GANSchedule`, the
named :data:`SCHEDULES` and :func:`default_schedule`. One schedule drives every trainer
(Reinforced-GAN: alternating phases; Combo and Deep FBSDE: joint epochs). Imports no torch,
so a command line can build its parser from it cheaply."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = ["LINK_FORMS", "MAX_COUNT", "SCHEDULES", "GANSchedule", "default_schedule"]

#: The forms of the reinforcement link loss (:func:`~solvers.neural.training.link_loss`).
LINK_FORMS = ("increment", "cumulative")


@dataclass
class GANSchedule:
    """Training schedule of the neural trainers (MODEL.md §8): the Reinforced-GAN runs
    ``gen_epochs`` generator and ``disc_epochs`` discriminator epochs a round; Combo and
    Deep FBSDE run ``gen_epochs`` joint epochs a round (``disc_epochs`` unused there).

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
    """The default schedule of ``solver`` (a copy, safe to modify; one for every solver)."""
    return replace(SCHEDULES["default"])
