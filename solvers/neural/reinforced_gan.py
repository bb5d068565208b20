"""The Reinforced-GAN solver (MODEL.md §8).

Generator: the agents' trading rates; trained with the price frozen (price takers) to
maximise the agents' summed utility. Discriminator: ``σ``, ``μ`` and ``S_0``; trained with
the generator frozen to make ``S_K = 𝔖`` and to clear the market through the reinforcement
link (the rates optimal agents would trade at this price must sum to zero). Rounds alternate.
Both phases roll the market out through :meth:`market_env.BatchedMarket.step`; the loop,
persistence and verdict are :class:`~solvers.neural.trainer.NeuralTrainer`'s.
"""

from __future__ import annotations

import torch

from .trainer import NeuralTrainer
from .training import PathPool, discriminator_losses, generator_rollout, simulate_pool

__all__ = ["ReinforcedGAN"]

GEN_KEYS = ("utility", "clearing")
DISC_KEYS = ("terminal", "link")


class ReinforcedGAN(NeuralTrainer):
    """Train a :class:`~solvers.neural.model.NeuralSolution` by the Reinforced-GAN of
    MODEL.md §8: each round ``gen_epochs`` generator epochs (price frozen), then
    ``disc_epochs`` discriminator epochs (generator frozen). Arguments: those of
    :class:`~solvers.neural.trainer.NeuralTrainer`."""

    name = "reinforced-gan"
    opt_gen: torch.optim.Optimizer
    opt_disc: torch.optim.Optimizer

    # ----- hooks -------------------------------------------------------------------------
    def _param_groups(self) -> dict[str, list[tuple[list[torch.nn.Parameter], float]]]:
        s, nets = self.schedule, self.nets
        return {
            "opt_gen": [(list(nets.generator.parameters()), s.lr_gen)],
            "opt_disc": [
                (list(nets.price_net.parameters()), s.lr_disc),
                ([nets.S0_offset], s.lr_S0),
            ],
        }

    @property
    def epochs_per_round(self) -> int:
        return self.schedule.gen_epochs + self.schedule.disc_epochs

    def _price_trained(self) -> bool:
        return bool(self.history["discriminator"])

    def _round_summary(self, r: int) -> dict[str, float | None]:
        gen = [row[2] for row in self.history["generator"] if row[0] == r]
        disc = [row for row in self.history["discriminator"] if row[0] == r]
        return self._summary(gen, [row[2] for row in disc], [row[3] for row in disc])

    def _train_round(self, r: int) -> None:
        s = self.schedule
        hint_gen = "lower lr_gen (--lr-gen) or check the config's scales (lam, xi)"
        hint_disc = "lower lr_disc/lr_S0 (--lr-disc) or the link weight"
        noise = self._noise(s.noise_batches, 0)
        try:
            self.nets.price_net.requires_grad_(False)
            for e in range(s.gen_epochs):
                losses = self.generator_epoch(noise[e % len(noise)])
                stop = self._after_epoch(
                    r,
                    e + 1,
                    losses,
                    phase="generator",
                    keys=GEN_KEYS,
                    hint=hint_gen,
                    bar_phase="gen",
                )
                if stop:
                    return
            self.nets.price_net.requires_grad_(True)
            self.nets.generator.requires_grad_(False)
            pool = None
            for e in range(s.disc_epochs):
                if e % s.pool_batches == 0:  # fresh generator paths, pool_batches at a time
                    noise = self._noise(s.pool_batches, 1 + e // s.pool_batches, self.disc_market)
                    pool = simulate_pool(self.nets, self.disc_market, noise)
                losses = self.discriminator_epoch(pool, e % s.pool_batches)
                if self._after_epoch(
                    r,
                    e + 1,
                    losses,
                    phase="discriminator",
                    keys=DISC_KEYS,
                    hint=hint_disc,
                    table="discriminator",
                    bar_phase="disc",
                ):
                    return
        finally:
            self.nets.price_net.requires_grad_(True)
            self.nets.generator.requires_grad_(True)

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

    def discriminator_epoch(self, pool: PathPool, b: int) -> dict[str, float]:
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
