"""The one view every RL interface stands on: B paths of
:class:`~market_env.market.BatchedMarket` as RL agents see them (MODEL.md §2, DESIGN.md
floor 3).

:class:`MarketView` is the only place that turns agent actions into a
:meth:`BatchedMarket.step` call and its result into observations and rewards. Nothing here
simulates: the dynamics, trader rewards, clearing and cost come from the market, the market
maker's decoding, S_0 and reward from :class:`~market_env.market_maker.MarketMaker`.

Who acts is the view's ``learner``:

* ``"all"``: every trader (and the market maker when ``price="market"``): PettingZoo;
* ``n`` (a trader index): trader ``n``; the others follow ``options.others``;
* ``"shared"``: every trader of every path, actions from the caller (parameter sharing);
* ``"market"``: the market maker; the traders follow ``options.others``. At ``k = 0`` its
  ``S_0`` is set before the traders observe, so they see the price it chose.

Trader action: the submitted rate ``φ̇_n,k``, bounded by ``±max_rate``: out-of-range rates are
clipped (``clip_actions=True``) or raise ``ValueError``; NaN/inf always raise. The rates of
the non-learning traders are used as they come (NaN/inf raise). Market-maker action
``(μ_k, u_k, S_0)``: :mod:`market_env.market_maker`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..config import MarketConfig
from ..device import resolve_device
from ..market import BatchedMarket, StepResult
from ..market_maker import MarketMaker
from ..observation import (
    agent_features,
    default_max_rate,
    market_observation,
    trader_observations,
)
from ..policy import resolve_others, resolve_price
from ..price import ClearingDrift
from ..state import MarketState
from .common import MARKET_AGENT, SHARED, check_can_step, resolve_agent, trader_name
from .options import EnvOptions

__all__ = ["ALL", "MarketView", "ViewStep"]

#: ``learner=ALL``: every trader (and the market maker with ``price="market"``) acts.
ALL = "all"


@dataclass(frozen=True)
class ViewStep:
    """One step seen through :class:`MarketView`.

    Attributes:
        result: the market's own :class:`StepResult` (rewards ``r_n,k``, μ, σ, fills, …).
        orders: the learners' checked rates, ``(B, M)`` (``M = 0`` when the market learns).
        market_reward: the market maker's reward ``(B,)`` (``None`` without one).
    """

    result: StepResult
    orders: Tensor
    market_reward: Tensor | None

    @property
    def done(self) -> bool:
        """``True`` at ``k = K``."""
        return self.result.done


class MarketView:
    """B paths of the market as RL agents see them (module docstring).

    Args:
        config: the market.
        n_paths: B.
        options: the interface's :class:`~market_env.envs.options.EnvOptions`.
        learner: ``"all"``, a trader index or name, ``"shared"`` or ``"market"``.
        record: keep path 0's history (for rendering).
    """

    def __init__(
        self,
        config: MarketConfig,
        n_paths: int,
        options: EnvOptions,
        *,
        learner: int | str = ALL,
        record: bool = False,
    ) -> None:
        self.config = config
        self.options = options
        N = config.n_agents
        self.agent: int | None = None
        #: the non-learning traders' state policy (``None`` when every trader learns)
        self.others = None
        #: the ``Solution`` the other traders follow (``None`` for a custom policy or none)
        self.others_solution = None
        if learner in (ALL, SHARED):
            price = options.price_for(ALL)
            self.learner_names = [trader_name(n) for n in range(N)]
        elif learner == MARKET_AGENT:
            price = "market" if options.price is None else options.price
            if not (isinstance(price, str) and price == "market"):
                raise ValueError(f"agent='market' sets the price itself; got price={price!r}")
            self.others, self.others_solution = resolve_others(options.others, config)
            self.learner_names = []
        else:
            self.agent = resolve_agent(learner, N)
            price = options.price_for("one")
            self.others, self.others_solution = resolve_others(options.others, config)
            self.learner_names = [trader_name(self.agent)]
        self.learner = learner
        mechanism = resolve_price(price, config, solution=self.others_solution)
        if mechanism is None and learner not in (ALL, MARKET_AGENT):
            raise ValueError(
                "price='market' needs the market maker to act: use "
                "market_env.parallel_env(price='market'), or agent='market' for the vector "
                "and SB3 interfaces"
            )
        self.dtype = options.torch_dtype
        self.market = BatchedMarket(
            config,
            n_paths,
            price=ClearingDrift() if mechanism is None else mechanism,
            clearing=options.clearing,
            device=resolve_device(options.device),
            dtype=self.dtype,
            seed=options.seed,
            validate=False,  # the view validates with agent names instead
        )
        #: the market maker (``None`` unless it acts)
        self.maker = MarketMaker(config, options.market_maker) if mechanism is None else None
        max_rate = options.max_rate
        self.max_rate = float(default_max_rate(config) if max_rate is None else max_rate)
        self.clip_actions = options.clip_actions
        self.features = agent_features(config, dtype=self.dtype, device=self.market.device)
        self.record = record
        self.history: dict[str, list] = {}

    # ----- state -----------------------------------------------------------------------------
    @property
    def has_market_agent(self) -> bool:
        """Whether the market maker acts (``price="market"``)."""
        return self.maker is not None

    @property
    def n_paths(self) -> int:
        return self.market.batch_size

    @property
    def state(self) -> MarketState:
        if self.market.state is None:
            raise RuntimeError("call reset() before step()")
        return self.market.state

    @property
    def done(self) -> bool:
        return self.market.state is not None and self.market.state.k >= self.config.n_steps

    def reset(self, seed: int | None = None) -> None:
        """Reset the market (``seed`` reseeds its generator; ``None`` draws on)."""
        self.market.reset(seed=seed)
        if self.record:
            s = self.market.state
            self.history = {"t": [0.0], "S": [float(s.S[0])], "phi": [_row(s.phi)]}
            self.history.update(mu=[], sigma=[])

    def trader_obs(self, agent: int | None = None) -> Tensor:
        """Trader observations, ``(B, N, 2N+5)`` or ``(B, 2N+5)`` for one agent."""
        return trader_observations(self.state, self.features, agent)

    def market_obs(self) -> Tensor:
        """The market maker's observation ``(B, N + 3)`` (:meth:`MarketMaker.observe`)."""
        if self.maker is None:
            return market_observation(self.state)
        return self.maker.observe(self.state)

    # ----- actions -----------------------------------------------------------------------------
    def as_tensor(self, actions: Any) -> Tensor:
        """Actions (numpy or torch) as a tensor of the simulation's dtype and device."""
        return torch.as_tensor(np.asarray(actions), dtype=self.dtype, device=self.market.device)

    def check_rates(self, rates: Tensor) -> Tensor:
        """Validate the learners' rates ``(B, M)`` (column ``m`` is ``learner_names[m]``):
        NaN/inf raise ``ValueError``; beyond ``±max_rate`` clipped or ``ValueError``."""
        names = self.learner_names
        finite = torch.isfinite(rates)
        if not bool(finite.all()):
            b, n = (~finite).nonzero()[0].tolist()
            where = f" (sub-environment/path {b})" if rates.shape[0] > 1 else ""
            raise ValueError(
                f"action of {names[n]} must be finite, got {rates[b, n].item()}{where}"
            )
        if self.clip_actions:
            return rates.clamp(-self.max_rate, self.max_rate)
        over = rates.abs() > self.max_rate
        if bool(over.any()):
            b, n = over.nonzero()[0].tolist()
            raise ValueError(
                f"action of {names[n]} must lie in [-{self.max_rate:.6g}, {self.max_rate:.6g}] "
                f"(max_rate; pass clip_actions=True to clip), got {rates[b, n].item()}"
            )
        return rates

    def _others_rates(self) -> Tensor:
        with torch.no_grad():
            rates = self.others(self.state).to(self.dtype)
        if not bool(torch.isfinite(rates).all()):
            raise ValueError(f"the others' policy returned non-finite rates {rates.tolist()}")
        return rates

    # ----- step ----------------------------------------------------------------------------------
    def step(self, actions: Tensor, market_action: Tensor | None = None) -> ViewStep:
        """One market step: ``actions`` ``(B, M)`` are the learning traders' rates (``M = N``
        for ``"all"``/``"shared"``, 1 for one trader, 0 for ``"market"``), ``market_action``
        ``(B, 3)`` the market maker's when it acts. Both are checked here."""
        check_can_step(self)
        market = self.market
        orders = self.check_rates(actions) if self.learner_names else actions
        maker = self.maker
        if maker is not None:
            if market_action is None:
                raise ValueError(f"the {MARKET_AGENT} agent must act (price='market')")
            market_action = maker.spec.check(
                market_action, self.n_paths, clip=self.clip_actions, name=MARKET_AGENT
            )
            if market.state.k == 0:  # S_0 first: the others then see the chosen price
                maker.set_S0(market, market_action)
        if self.others is None:
            rates = orders
        else:
            rates = self._others_rates()
            if self.agent is not None:
                n = self.agent
                rates = torch.cat([rates[:, :n], orders, rates[:, n + 1 :]], 1)
        if maker is None:
            result = market.step(rates)
            market_reward = None
        else:
            mu, sigma = maker.decode(market_action)
            result = market.step(rates, mu=mu, sigma=sigma)
            market_reward = maker.reward(result, market)
        if self.record:
            self._record(result)
        return ViewStep(result=result, orders=orders, market_reward=market_reward)

    def _record(self, res: StepResult) -> None:
        h = self.history
        if res.state.k == 1 and self.maker is not None:
            h["S"][0] = float(self.market.S0.reshape(-1)[0])
        h["t"].append(res.state.t)
        h["S"].append(float(res.state.S[0]))
        h["phi"].append(_row(res.state.phi))
        h["mu"].append(float(res.mu[0]))
        h["sigma"].append(float(res.sigma[0]))

    def __repr__(self) -> str:
        return f"MarketView(B={self.n_paths}, N={self.config.n_agents}, learner={self.learner!r})"


def _row(x: Tensor) -> np.ndarray:
    return x[0].detach().cpu().double().numpy().copy()
