"""The learned equilibrium: trading-rate networks (generator) and price networks
(discriminator: ``σ``, ``μ`` and ``S_0``) as one :class:`~market_env.solution.Solution`
(MODEL.md §8, DESIGN.md).

Every network sees the same features of the Markov state ``(φ_t, W_t, t)``:
``2t/T − 1``, ``W_t/(α√T)`` and each agent's gap to the frictionless target,
``(φ_n,t − φ̄_n,t)/scale_n`` with ``φ̄_n,t = φ_n,0 − (ξ_n/α)W_t`` (MODEL.md §3). Outputs are
added to a baseline (no trading; the frictionless ``σ = α``, ``μ̄ = γ̄α²s``, ``S_0``) and the
last layers start at zero, so training starts from the frictionless price.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from market_env import BatchedMarket, MarketConfig, MarketState, clearing_drift
from market_env.solution import Solution, register_solution

from .net_options import NetOptions, resolve_net_options
from .networks import StackedMLP

__all__ = ["NeuralSolution", "EquilibriumNets", "NeuralPrice", "implied_rate"]

#: The trainers a neural solution may record as its maker.
SOLVERS = ("reinforced-gan", "combo", "fbsde")


def implied_rate(Y: Tensor, lam: float, cost_power: float) -> Tensor:
    """The trading rate at which an agent's marginal cost equals ``Y`` (MODEL.md §8):
    ``(λq/2)|φ̇|^(q−1) sign φ̇ = Y``, i.e. ``φ̇ = sign(Y)|Y/(λq/2)|^(1/(q−1))``."""
    c = 0.5 * lam * cost_power
    if cost_power == 2.0:
        return Y / c
    # |Y|^(1/(q-1)) has an infinite-slope-free gradient for q <= 2 (exponent >= 1).
    return torch.sign(Y) * (Y.abs() / c).pow(1.0 / (cost_power - 1.0))


class EquilibriumNets(nn.Module):
    """Generator and discriminator networks with the feature and output scalings, built
    from one :class:`~solvers.neural.net_options.NetOptions` (default: its defaults).

    Attributes:
        options: the :class:`NetOptions` they were built from.
        generator: :class:`StackedMLP` giving the rates of all N agents (or N−1).
        price_net: :class:`StackedMLP` with heads ``σ`` (and ``μ`` when learned).
        S0_offset: learnable ``S_0`` minus the frictionless ``S_0``.
    """

    def __init__(self, config: MarketConfig, options: NetOptions | None = None) -> None:
        super().__init__()
        o = options or NetOptions()
        c = config
        N = c.n_agents
        self.options = o
        self.n_agents, self.n_steps, self.horizon = N, c.n_steps, c.horizon
        self.mu_mode, self.generator_mode = o.mu, o.generator
        self.last_rate = o.last_rate
        steps = c.n_steps if o.net_shape == "per-step" else None
        skip_steps = c.n_steps if o.net_shape == "hybrid" and o.skip else None
        d_in = N + 2
        n_out = N if o.generator == "all" else N - 1
        self.generator = StackedMLP(
            d_in,
            n_out,
            width=o.width,
            depth=o.depth,
            n_steps=steps,
            skip=o.skip,
            skip_steps=skip_steps,
            activation=o.activation,
        )
        n_price = 2 if o.mu == "learned" else 1
        joint = o.price_net == "joint"
        # (head, output) of σ and μ in the price network's output
        self._sigma_at, self._mu_at = (0, 0), ((0, 1) if joint else (1, 0))
        self.price_net = StackedMLP(
            d_in,
            n_price if joint else 1,
            width=o.width,
            depth=o.depth,
            heads=1 if joint else n_price,
            n_steps=steps,
            skip=o.skip,
            skip_steps=skip_steps,
            activation=o.activation,
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
        net_options: the networks (:class:`~solvers.neural.net_options.NetOptions`), or
            give them as flat keywords (``mu``, ``generator``, ``width``, ``depth``,
            ``net_shape``, ``skip``, ``activation``, ``price_net``, ``last_rate``: see
            :class:`NetOptions`); neither: :attr:`net_defaults`.

    Attributes:
        net_options: the :class:`NetOptions` of :attr:`nets`.
        options: ``solver`` and the network options as a dict (the saved ``params``).
    """

    kind = "neural"
    dtype = torch.float32
    #: The network options when none are given (a subclass may fix some of them).
    net_defaults: ClassVar[NetOptions] = NetOptions()

    def __init__(
        self,
        config: MarketConfig,
        solver: str = "reinforced-gan",
        net_options: NetOptions | None = None,
        **options: Any,
    ) -> None:
        super().__init__(config)
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {list(SOLVERS)}, got {solver!r}")
        net = resolve_net_options(net_options, options, self.net_defaults, type(self).__name__)
        self.check_net_options(config, net)
        self.net_options = net
        self.options: dict[str, Any] = {"solver": solver, **net.to_dict()}
        self.clearing = "residual" if net.generator == "residual" else "none"
        self.nets = EquilibriumNets(config, net)

    @classmethod
    def check_net_options(cls, config: MarketConfig, net: NetOptions) -> None:
        """Refuse options these networks cannot have on ``config`` (one-line ``ValueError``)."""
        if net.mu == "clearing" and config.cost_power != 2.0:
            raise ValueError(
                f"mu='clearing' is exact only for quadratic costs (cost_power = 2), got "
                f"cost_power = {config.cost_power}; use mu='learned'"
            )

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
