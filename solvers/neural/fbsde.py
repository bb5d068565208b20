"""The Deep FBSDE baseline (MODEL.md §8, Han–Jentzen–E style).

Each agent's marginal value ``Y_n,t = E_t ∫_t^T (μ − γ_n σ(σφ_n + ξ_n W)) du`` solves the
backward equation ``dY_n = −(μ − γ_n σ(σφ_n + ξ_n W)) dt + Z_n dW``, ``Y_n,T = 0``; the agent
trades at the rate its marginal cost equals ``Y`` (:func:`~solvers.neural.model.implied_rate`).
The solver learns ``Y_0`` (one number per agent), the ``Z`` process (a network of
``(φ_t, W_t, t)``), ``σ``, ``μ`` and ``S_0``, simulating ``Y`` forward with the market
(through :meth:`BatchedMarket.step`) and penalising ``|Y_K|²``, ``|S_K − 𝔖|²`` and the
clearing imbalance, all jointly.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from market_env import BatchedMarket, MarketConfig, MarketState
from market_env.solution import register_solution

from .joint import JointTrainer
from .model import NeuralSolution, implied_rate
from .net_options import NetOptions

__all__ = ["FBSDESolution", "DeepFBSDE"]


@register_solution
class FBSDESolution(NeuralSolution):
    """A Deep-FBSDE equilibrium: the generator network gives ``Z`` (scaled), ``Y0`` is a
    parameter, and the policy integrates ``Y`` along the path (it is stateful: steps must
    be called in order from ``k = 0``, as :func:`market_env.rollout` does)."""

    kind = "deep-fbsde"

    #: Fixed for this solution: every agent's rate is implied by its Y, the last included.
    net_defaults: ClassVar[NetOptions] = NetOptions(generator="all", last_rate="learned")
    #: Options it does not save in ``params`` (fixed above, or always ``"fbsde"``).
    FIXED = ("solver", "generator", "last_rate")

    def __init__(
        self,
        config: MarketConfig,
        solver: str = "fbsde",
        net_options: NetOptions | None = None,
        **options: Any,
    ) -> None:
        if solver != "fbsde":
            raise ValueError(f"solver must be 'fbsde' for a Deep-FBSDE solution, got {solver!r}")
        super().__init__(config, solver, net_options, **options)
        self.nets.register_parameter("Y0", nn.Parameter(torch.zeros(config.n_agents)))
        self.y_scale = config.mu_bar * config.horizon
        self.z_scale = self.y_scale / math.sqrt(config.horizon)
        self._helpers: dict[tuple[Any, Any], BatchedMarket] = {}
        self._memory: dict[str, Any] = {}

    @classmethod
    def check_net_options(cls, config: MarketConfig, net: NetOptions) -> None:
        super().check_net_options(config, net)
        if net.last_rate != "learned":
            raise ValueError(
                f"last_rate must be 'learned' for fbsde (its rate is implied by Y at every "
                f"step), got {net.last_rate!r}"
            )
        if net.generator != "all":
            raise ValueError(
                f"generator must be 'all' for fbsde (every agent's rate is implied by its Y), "
                f"got {net.generator!r}"
            )

    @classmethod
    def from_spec(cls, config: MarketConfig, params: dict[str, Any]) -> FBSDESolution:
        # ``params`` never held the fixed options; a value found there was always overridden
        kept = {k: v for k, v in params.items() if k not in cls.FIXED}
        return cls(config, **{"price_net": "separate", **kept})

    def _helper(self, like: Tensor) -> BatchedMarket:
        """A one-path market on ``like``'s device/dtype, for its formulas (γ, ξ, clearing)."""
        key = (like.device, like.dtype)
        if key not in self._helpers:
            self._helpers[key] = BatchedMarket(
                self.config, 1, device=like.device, dtype=like.dtype, validate=False
            )
        return self._helpers[key]

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in self.options.items() if k not in self.FIXED}

    def Z(self, x: Tensor, k: int, bound: list | None = None) -> Tensor:
        return self.nets.generator.forward_step(x, k, bound)[0] * self.z_scale

    def policy(self, state: MarketState) -> Tensor:
        self._check_steps(state)
        nets = self.nets
        p = next(nets.parameters())
        phi, W = state.phi.to(p), state.W.to(p)
        x = nets.features(phi, W, nets.time_feature(state.k))
        mem = self._memory
        if state.k == 0:
            Y = nets.Y0.expand_as(phi)
        else:
            if mem.get("k") != state.k - 1:
                raise RuntimeError("the Deep-FBSDE policy must be called at k = 0, 1, 2, ...")
            m = self._helper(p).marginal_utility(mem["phi"], mem["W"], mem["mu"], mem["sigma"])
            Y = mem["Y"] - m * self.config.dt + mem["Z"] * (W - mem["W"]).unsqueeze(-1)
        mu, sigma = nets.price_step(x, state.k, phi, W, self._helper(p))
        self._memory = {
            "k": state.k,
            "Y": Y,
            "phi": phi,
            "W": W,
            "mu": mu,
            "sigma": sigma,
            "Z": self.Z(x, state.k),
        }
        return implied_rate(Y, self.config.lam, self.config.cost_power).to(state.W)


class DeepFBSDE(JointTrainer):
    """Train an :class:`FBSDESolution` jointly on ``|Y_K|²``, ``|S_K − 𝔖|²`` and clearing
    (Combo's joint training with ``Y_0`` and ``Z`` in place of the rate network).

    Uses :class:`~solvers.neural.schedule.GANSchedule`: ``rounds × gen_epochs`` joint
    epochs; ``lr_gen`` for ``Z`` and ``Y0``, ``lr_disc`` for ``σ, μ``, ``lr_S0`` for ``S_0``;
    ``link_weight`` weighs the clearing penalty. Network options as for every trainer, with
    ``generator="all"`` and ``last_rate="learned"`` fixed (:class:`FBSDESolution`).
    """

    name = "fbsde"
    solution_class = FBSDESolution
    joint_loss_keys = ("Y_T", "terminal", "clearing")
    divergence_hint = "Deep FBSDE is unstable for power costs (q < 2): lower the learning rates"

    def _joint_generator_params(self) -> list[torch.nn.Parameter]:
        return [*self.nets.generator.parameters(), self.nets.Y0]

    def joint_epoch(self, noise: Tensor) -> dict[str, float]:
        s, cfg, sol, nets, market = (
            self.schedule,
            self.config,
            self.solution,
            self.nets,
            self.market,
        )
        self.opt_gen.zero_grad(set_to_none=True)
        state = market.reset(noise=noise, S0=nets.S0)
        Y = nets.Y0.expand_as(state.phi)
        imb2 = torch.zeros_like(state.W)
        gen_params = nets.generator.bind()
        price_params = nets.price_net.bind()
        for k in range(market.n_steps):
            phi, W = state.phi, state.W
            x = nets.features(phi, W, nets.time_feature(k))
            Z = sol.Z(x, k, gen_params)
            mu, sigma = nets.price_step(x, k, phi, W, market, price_params)
            rates = implied_rate(Y, cfg.lam, cfg.cost_power)
            res = market.step(rates, mu, sigma)
            m = market.marginal_utility(phi, W, mu, sigma)
            Y = Y - m * cfg.dt + Z * noise[:, k].unsqueeze(-1)
            imb2 = torch.addcmul(imb2, res.imbalance, res.imbalance)
            state = res.state
        y_terminal = Y.square().mean() / sol.y_scale**2
        terminal = (state.S - market.terminal_payoff(state.W)).square().mean()
        terminal = terminal / (cfg.alpha**2 * cfg.horizon)
        clearing = imb2.mean() / (cfg.n_steps * self.rate_ref**2)
        loss = y_terminal + self.terminal_weight * terminal + s.link_weight * clearing
        loss.backward()
        self.opt_gen.step()
        return {
            "loss": float(loss.detach()),
            "Y_T": float(y_terminal.detach()),
            "terminal": float(terminal.detach()),
            "clearing": float(clearing.detach()),
        }
