"""Joint training (MODEL.md §8 baselines): :class:`JointTrainer`, the shape shared by Combo
and Deep FBSDE (one optimiser over every network, one loss, no alternation), and
:class:`Combo`, the generator and discriminator losses summed."""

from __future__ import annotations

import torch

from .trainer import NeuralTrainer
from .training import generator_rollout, link_loss

__all__ = ["Combo", "JointTrainer"]


class JointTrainer(NeuralTrainer):
    """A trainer of every network at once: each round runs ``gen_epochs`` joint epochs
    (``disc_epochs`` is not used). One Adam, saved as ``opt_gen`` in ``training.pt`` (the
    name runs have always had), with the groups generator (``lr_gen``), price networks
    (``lr_disc``) and ``S_0`` (``lr_S0``). A subclass gives :meth:`joint_epoch`,
    :attr:`joint_loss_keys` and, if more is trained at ``lr_gen``,
    :meth:`_joint_generator_params`."""

    #: Losses of a joint epoch recorded in the history and shown on the progress bar.
    joint_loss_keys: tuple[str, ...] = ()
    #: Hint of the divergence message.
    divergence_hint: str = "lower the learning rates"
    opt_gen: torch.optim.Optimizer

    def _joint_generator_params(self) -> list[torch.nn.Parameter]:
        """Parameters trained at the generator's learning rate."""
        return list(self.nets.generator.parameters())

    def _param_groups(self) -> dict[str, list[tuple[list[torch.nn.Parameter], float]]]:
        s, nets = self.schedule, self.nets
        groups = [
            (self._joint_generator_params(), s.lr_gen),
            (list(nets.price_net.parameters()), s.lr_disc),
            ([nets.S0_offset], s.lr_S0),
        ]
        return {"opt_gen": groups}

    def joint_epoch(self, noise: torch.Tensor) -> dict[str, float]:
        """One step of the joint optimiser on a batch of ``noise``; the losses as floats."""
        raise NotImplementedError

    def _train_round(self, r: int) -> None:
        keys, hint = self.joint_loss_keys, self.divergence_hint
        noise = self._noise(self.schedule.noise_batches, 0)
        for e in range(self.schedule.gen_epochs):
            losses = self.joint_epoch(noise[e % len(noise)])
            if self._after_epoch(r, e + 1, losses, phase="joint", keys=keys, hint=hint):
                return

    def _round_summary(self, r: int) -> dict[str, float | None]:
        """The objective is the utility where it is a loss key (Combo), else none (Deep
        FBSDE); terminal and link from the joint epochs."""
        rows = [row for row in self.history["generator"] if row[0] == r]
        column = {key: [row[2 + i] for row in rows] for i, key in enumerate(self.joint_loss_keys)}
        return self._summary(
            column.get("utility", []), column.get("terminal", []), column.get("link", [])
        )


class Combo(JointTrainer):
    """Baseline "Combo" (MODEL.md §8): generator and discriminator trained jointly on the sum
    of both losses, gradients flowing into every network (no price taking, no alternation)."""

    name = "combo"
    joint_loss_keys = ("utility", "terminal", "link")

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
