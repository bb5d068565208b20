"""Custom agents as a :class:`~market_env.solution.Solution`, so
:func:`~market_env.solution.evaluate` judges them like every solver (MODEL.md §2; protocol in
:mod:`market_env.policy`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from market_env import MarketConfig, MarketState, PriceMechanism
from market_env.policy import AgentPolicy, as_state_policy, resolve_price
from market_env.solution import Solution

__all__ = ["PolicySolution"]


class PolicySolution(Solution):
    """A custom agent policy (a torch callable ``obs (..., 2N+5) -> rates``, the
    :data:`~market_env.policy.AgentPolicy` protocol) played by all traders, at a given price.

    Example::

        net = torch.nn.Sequential(torch.nn.Linear(2 * N + 5, 64), torch.nn.Tanh(),
                                  torch.nn.Linear(64, 1)).double()
        metrics = evaluate(PolicySolution(config, net, price="clearing"), n_paths=1000)

    Args:
        config: the market.
        policy: one agent policy for all traders, or a list of N (one per trader).
        price: ``"clearing"`` (default), ``"frictionless"``, ``"equilibrium"``, a
            ``PriceMechanism`` or a ``Solution`` (its price); see
            :func:`market_env.policy.resolve_price`.
        clearing: quantity-clearing rule of the rollouts.
        dtype: dtype of the evaluation (the policy gets observations in it).

    Not persistable (:meth:`save` writes no policy): save your network yourself.
    """

    kind = "custom-policy"

    def __init__(
        self,
        config: MarketConfig,
        policy: AgentPolicy | Sequence[AgentPolicy],
        price: Any = "clearing",
        clearing: str = "project",
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__(config)
        if isinstance(price, str) and price == "market":
            raise ValueError("PolicySolution needs a price mechanism, not the market agent")
        self._price = resolve_price(price, config)
        self.agent_policy = policy
        self._state_policy = as_state_policy(policy, config)
        self.clearing = clearing
        self.dtype = dtype

    @property
    def S0(self) -> float:
        S0 = getattr(self._price, "S0", None)
        if S0 is None:
            return self.config.frictionless_S0
        return float(S0)

    def price(self) -> PriceMechanism:
        return self._price

    def policy(self, state: MarketState) -> Tensor:
        return self._state_policy(state)
