"""The learned equilibrium: trading-rate networks (generator) and price networks
(discriminator: ``σ``, ``μ`` and ``S_0``) as one :class:`~solvers.base.Solution`
(MODEL.md §8, DESIGN.md).

Every network sees the same features of the Markov state ``(φ_t, W_t, t)``:
``2t/T − 1``, ``W_t/(α√T)`` and each agent's gap to the frictionless target,
``(φ_n,t − φ̄_n,t)/scale_n`` with ``φ̄_n,t = φ_n,0 − (ξ_n/α)W_t`` (MODEL.md §3). Outputs are
added to a baseline (no trading; the frictionless ``σ = α``, ``μ̄ = γ̄α²s``, ``S_0``) and the
last layers start at zero, so training starts from the frictionless price.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from market_env import BatchedMarket, MarketConfig, MarketState, clearing_drift

from ..base import Solution, register_solution
from .networks import ACTIVATIONS, StackedMLP

__all__ = ["NeuralSolution", "EquilibriumNets", "NeuralPrice", "implied_rate"]

MU_MODES = ("learned", "clearing")
GENERATORS = ("all", "residual")
NET_SHAPES = ("shared", "per-step", "hybrid")
PRICE_NETS = ("separate", "joint")
LAST_RATES = ("zero", "learned")
SOLVERS = ("reinforced-gan", "combo", "fbsde")
#: Bounds of the network options (beyond them a typo, not a network).
MAX_WIDTH, MAX_DEPTH = 4096, 16


def implied_rate(Y: Tensor, lam: float, cost_power: float) -> Tensor:
    """The trading rate at which an agent's marginal cost equals ``Y`` (MODEL.md §8):
    ``(λq/2)|φ̇|^(q−1) sign φ̇ = Y``, i.e. ``φ̇ = sign(Y)|Y/(λq/2)|^(1/(q−1))``."""
    c = 0.5 * lam * cost_power
    if cost_power == 2.0:
        return Y / c
    # |Y|^(1/(q-1)) has an infinite-slope-free gradient for q <= 2 (exponent >= 1).
    return torch.sign(Y) * (Y.abs() / c).pow(1.0 / (cost_power - 1.0))


class EquilibriumNets(nn.Module):
    """Generator and discriminator networks with the feature and output scalings.

    Attributes:
        generator: :class:`StackedMLP` giving the rates of all N agents (or N−1).
        price_net: :class:`StackedMLP` with heads ``σ`` (and ``μ`` when learned).
        S0_offset: learnable ``S_0`` minus the frictionless ``S_0``.
    """

    def __init__(
        self,
        config: MarketConfig,
        *,
        mu: str = "learned",
        generator: str = "residual",
        width: int = 50,
        depth: int = 3,
        net_shape: str = "hybrid",
        skip: bool = True,
        activation: str = "tanh",
        price_width: int | None = None,
        price_depth: int | None = None,
        price_net: str = "joint",
        last_rate: str = "zero",
    ) -> None:
        super().__init__()
        c = config
        N = c.n_agents
        self.n_agents, self.n_steps, self.horizon = N, c.n_steps, c.horizon
        self.mu_mode, self.generator_mode = mu, generator
        self.last_rate = last_rate
        steps = c.n_steps if net_shape == "per-step" else None
        skip_steps = c.n_steps if net_shape == "hybrid" and skip else None
        d_in = N + 2
        n_out = N if generator == "all" else N - 1
        self.generator = StackedMLP(
            d_in,
            n_out,
            width=width,
            depth=depth,
            n_steps=steps,
            skip=skip,
            skip_steps=skip_steps,
            activation=activation,
        )
        n_price = 2 if mu == "learned" else 1
        joint = price_net == "joint"
        # (head, output) of σ and μ in the price network's output
        self._sigma_at, self._mu_at = (0, 0), ((0, 1) if joint else (1, 0))
        self.price_net = StackedMLP(
            d_in,
            n_price if joint else 1,
            width=price_width or width,
            depth=price_depth or depth,
            heads=1 if joint else n_price,
            n_steps=steps,
            skip=skip,
            skip_steps=skip_steps,
            activation=activation,
        )
        self.S0_offset = nn.Parameter(torch.zeros(()))
        # ---- fixed scalings (derived from the config, not saved) -----------------------
        T, alpha = c.horizon, c.alpha
        xi = torch.tensor(c.xi)
        gamma = torch.tensor(c.gamma)
        phi0 = torch.tensor(c.phi0)
        gap_scale = 0.5 * xi.abs() * math.sqrt(T) / alpha + c.supply / N
        # rate of a frictional tracker: gap / relaxation time (√(λ/γα²) for q = 2)
        relax = torch.clamp(torch.sqrt(c.lam / (gamma * alpha**2)), max=T)
        mu_bar = c.mu_bar
        mu_scale = mu_bar + alpha**2 * abs(float((gamma * xi).sum())) * math.sqrt(T) / N
        self.register_buffer("phi0", phi0, persistent=False)
        self.register_buffer("xi_over_alpha", xi / alpha, persistent=False)
        self.register_buffer("inv_gap_scale", 1.0 / gap_scale, persistent=False)
        self.register_buffer("rate_scale", (gap_scale / relax)[:n_out], persistent=False)
        self.inv_W_scale = 1.0 / (alpha * math.sqrt(T))
        self.sigma_base, self.sigma_scale = alpha, 0.5 * alpha
        self.mu_base, self.mu_scale = mu_bar, mu_scale
        self.S0_base = (c.beta - mu_bar) * T

    # ----- features ----------------------------------------------------------------------
    def features(self, phi: Tensor, W: Tensor, time_feature: Tensor | float) -> Tensor:
        """``(..., N+2)`` features from ``phi (..., N)``, ``W (...)`` and ``2t/T − 1``."""
        gap = (phi - self.phi0 + self.xi_over_alpha * W.unsqueeze(-1)) * self.inv_gap_scale
        w = (W * self.inv_W_scale).unsqueeze(-1)
        tf = torch.as_tensor(time_feature, dtype=W.dtype, device=W.device).expand_as(W)
        return torch.cat([tf.unsqueeze(-1), w, gap], dim=-1)

    def time_feature(self, k: int) -> float:
        return 2.0 * k / self.n_steps - 1.0

    def time_features_all(self, like: Tensor) -> Tensor:
        """``(K,)`` time features of every step."""
        k = torch.arange(self.n_steps, dtype=like.dtype, device=like.device)
        return 2.0 * k / self.n_steps - 1.0

    @property
    def S0(self) -> Tensor:
        return self.S0_offset + self.S0_base

    # ----- generator ---------------------------------------------------------------------
    def rates_step(self, x: Tensor, k: int, bound: list | None = None) -> Tensor:
        """Submitted rates ``(B, N)`` at step ``k`` (residual: last = −Σ of the others).

        With ``last_rate="zero"`` the rates of the last step ``k = K−1`` are zero: holdings
        after it earn nothing before ``T`` (the step reward of MODEL.md §2 uses the holdings
        at the left point), so any trade there is pure cost, whatever the price and ``q``.
        ``bound``: ``self.generator.bind()``, computed once per rollout (faster)."""
        if self.last_rate == "zero" and k == self.n_steps - 1:
            return x.new_zeros(x.shape[:-1] + (self.n_agents,))
        head = self.generator.forward_step(x, k, bound)[0] * self.rate_scale
        if self.generator_mode == "residual":
            return torch.cat([head, -head.sum(-1, keepdim=True)], dim=-1)
        return head

    # ----- discriminator -----------------------------------------------------------------
    def _price_from_out(
        self, out: Tensor, phi: Tensor, W: Tensor, market: BatchedMarket
    ) -> tuple[Tensor, Tensor]:
        (hs, os_), (hm, om) = self._sigma_at, self._mu_at
        sigma = out[hs, ..., os_] * self.sigma_scale + self.sigma_base
        if self.mu_mode == "learned":
            mu = out[hm, ..., om] * self.mu_scale + self.mu_base
        else:  # the clearing drift of MODEL.md §4 (exact for q = 2)
            duck = MarketState(k=-1, t=0.0, W=W, S=W, phi=phi)
            mu = clearing_drift(sigma, duck, market)
        return mu, sigma

    def price_step(
        self,
        x: Tensor,
        k: int,
        phi: Tensor,
        W: Tensor,
        market: BatchedMarket,
        bound: list | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``(μ_k, σ_k)``, each ``(B,)``; ``bound``: ``self.price_net.bind()``."""
        return self._price_from_out(self.price_net.forward_step(x, k, bound), phi, W, market)

    def price_all(self, phi: Tensor, W: Tensor, market: BatchedMarket) -> tuple[Tensor, Tensor]:
        """``(μ, σ)`` at every step from ``phi (B, K, N)`` and ``W (B, K)``, each ``(B, K)``."""
        tf = self.time_features_all(W).unsqueeze(-1)  # (K, 1)
        x = self.features(phi.transpose(0, 1), W.transpose(0, 1), tf)  # (K, B, d)
        out = self.price_net.forward_all(x).transpose(1, 2)  # (H, B, K, 1)
        return self._price_from_out(out, phi, W, market)


class NeuralPrice:
    """The discriminator as a price mechanism of :class:`BatchedMarket` (exogenous ``μ, σ``)."""

    def __init__(self, nets: EquilibriumNets) -> None:
        self.nets = nets

    @property
    def S0(self) -> Tensor:
        return self.nets.S0.detach()

    def __call__(self, state: MarketState, market: BatchedMarket) -> tuple[Tensor, Tensor]:
        p = next(self.nets.parameters())
        phi, W = state.phi.to(p), state.W.to(p)
        x = self.nets.features(phi, W, self.nets.time_feature(state.k))
        mu, sigma = self.nets.price_step(x, state.k, phi, W, market)
        return mu.to(state.W), sigma.to(state.W)


@register_solution
class NeuralSolution(Solution):
    """An equilibrium learned by a neural solver (Reinforced-GAN or Combo, MODEL.md §8).

    Args:
        config: the market.
        solver: which trainer produced it (``"reinforced-gan"``, ``"combo"``), for the record.
        mu: ``"learned"`` (a network) or ``"clearing"`` (the clearing drift, exact for q = 2).
        generator: ``"residual"`` (N−1 rates, the last agent clears: the clearing error is
            zero by construction and the last agent's optimality is enforced through the
            price by the reinforcement link) or ``"all"`` (rates of every agent, fills as
            ordered: the clearing error measures how far the price is from clearing).
        width, depth, skip, activation: network options (:class:`StackedMLP`).
        net_shape: ``"hybrid"`` (default: one MLP with time as input plus a linear map
            per time step), ``"shared"`` (the MLP only) or ``"per-step"`` (one MLP per step,
            the paper's shape).
        price_net: ``"joint"`` (default: one MLP with the two outputs ``σ`` and ``μ``, half
            the price network's cost) or ``"separate"`` (one MLP for each, the paper's).
        last_rate: ``"zero"`` (default: no trade at the last step, optimal in any price,
            as in the exact K-step equilibrium) or ``"learned"`` (the generator's output
            there too, the paper's; runs saved before this option had it).
    """

    kind = "neural"
    dtype = torch.float32

    def __init__(
        self,
        config: MarketConfig,
        solver: str = "reinforced-gan",
        mu: str = "learned",
        generator: str = "residual",
        width: int = 50,
        depth: int = 3,
        net_shape: str = "hybrid",
        skip: bool = True,
        activation: str = "tanh",
        price_net: str = "joint",
        last_rate: str = "zero",
    ) -> None:
        super().__init__(config)
        for name, value, allowed in (
            ("solver", solver, SOLVERS),
            ("mu", mu, MU_MODES),
            ("generator", generator, GENERATORS),
            ("net_shape", net_shape, NET_SHAPES),
            ("price_net", price_net, PRICE_NETS),
            ("last_rate", last_rate, LAST_RATES),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
        for name, value, top in (("width", width, MAX_WIDTH), ("depth", depth, MAX_DEPTH)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise ValueError(f"{name} must be an integer in [1, {top}], got {value!r}")
        if not isinstance(skip, bool):
            raise ValueError(f"skip must be true or false, got {skip!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {list(ACTIVATIONS)}, got {activation!r}")
        if mu == "clearing" and config.cost_power != 2.0:
            raise ValueError(
                f"mu='clearing' is exact only for quadratic costs (cost_power = 2), got "
                f"cost_power = {config.cost_power}; use mu='learned'"
            )
        self.options: dict[str, Any] = dict(
            solver=solver,
            mu=mu,
            generator=generator,
            width=width,
            depth=depth,
            net_shape=net_shape,
            skip=skip,
            activation=activation,
            price_net=price_net,
            last_rate=last_rate,
        )
        self.clearing = "residual" if generator == "residual" else "none"
        net_options = {k: v for k, v in self.options.items() if k != "solver"}
        self.nets = EquilibriumNets(config, **net_options)

    @classmethod
    def from_spec(cls, config: MarketConfig, params: dict[str, Any]) -> NeuralSolution:
        # runs saved before the ``price_net`` and ``last_rate`` options had separate σ and μ
        # networks and a learned last rate
        return cls(config, **{"price_net": "separate", "last_rate": "learned", **params})

    @property
    def S0(self) -> float:
        return float(self.nets.S0.detach())

    def price(self) -> NeuralPrice:
        return NeuralPrice(self.nets)

    def _check_steps(self, state: MarketState) -> None:
        if self.options["net_shape"] != "shared" and state.k >= self.config.n_steps:
            raise ValueError(
                f"per-step/hybrid networks were trained for n_steps = {self.config.n_steps}, got "
                f"step {state.k}"
            )

    def policy(self, state: MarketState) -> Tensor:
        self._check_steps(state)
        p = next(self.nets.parameters())
        x = self.nets.features(state.phi.to(p), state.W.to(p), self.nets.time_feature(state.k))
        return self.nets.rates_step(x, state.k).to(state.W)

    def to(self, device: str | torch.device) -> NeuralSolution:
        self.nets.to(device)
        return self

    # ----- persistence ---------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return dict(self.options)

    def state_dict(self) -> dict[str, Tensor]:
        return {k: v.detach().cpu() for k, v in self.nets.state_dict().items()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.nets.load_state_dict(state)
