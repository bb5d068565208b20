"""Rolling a policy through :class:`BatchedMarket` and recording the paths (MODEL.md §2)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .market import BatchedMarket
from .state import MarketState

__all__ = ["Policy", "Trajectory", "rollout"]

#: A policy for all agents: ``policy(state) -> rates`` of shape ``(B, N)``. Any torch callable
#: works (an ``nn.Module``, a closure over a solution, a custom agent).
Policy = Callable[[MarketState], Tensor]


@dataclass(frozen=True)
class Trajectory:
    """Recorded paths of one rollout; time is the second axis.

    Shapes: ``W``, ``S``: ``(B, K+1)``; ``phi``: ``(B, K+1, N)``; ``orders`` (submitted),
    ``fills`` (``φ̇`` after clearing), ``reward``: ``(B, K, N)``; ``mu``, ``sigma``,
    ``imbalance``, ``noise`` (``ΔW``): ``(B, K)``; ``S0``: the initial price (0-d or ``(B,)``).
    """

    W: Tensor
    S: Tensor
    phi: Tensor
    orders: Tensor
    fills: Tensor
    reward: Tensor
    mu: Tensor
    sigma: Tensor
    imbalance: Tensor
    noise: Tensor
    S0: Tensor
    terminal_payoff: Tensor

    @property
    def n_paths(self) -> int:
        return self.W.shape[0]

    def detach(self) -> Trajectory:
        """A copy with every tensor detached from the autograd graph."""
        return Trajectory(**{k: v.detach() for k, v in self.__dict__.items()})


def rollout(
    market: BatchedMarket,
    policy: Policy,
    *,
    seed: int | None = None,
    noise: Tensor | None = None,
    S0: float | Tensor | None = None,
) -> Trajectory:
    """Reset ``market`` and play ``policy`` for all K steps, recording every path.

    Differentiable when called with gradients enabled (solvers backpropagate through it).
    ``seed``/``noise``/``S0`` are passed to :meth:`BatchedMarket.reset`.
    """
    state = market.reset(seed=seed, noise=noise, S0=S0)
    W, S, phi = [state.W], [state.S], [state.phi]
    orders, fills, rewards, mus, sigmas, imbalances = [], [], [], [], [], []
    for _ in range(market.n_steps):
        rates = policy(state)
        res = market.step(rates)
        state = res.state
        W.append(state.W)
        S.append(state.S)
        phi.append(state.phi)
        orders.append(rates)
        fills.append(res.fills)
        rewards.append(res.reward)
        mus.append(res.mu)
        sigmas.append(res.sigma)
        imbalances.append(res.imbalance)
    return Trajectory(
        W=torch.stack(W, 1),
        S=torch.stack(S, 1),
        phi=torch.stack(phi, 1),
        orders=torch.stack(orders, 1),
        fills=torch.stack(fills, 1),
        reward=torch.stack(rewards, 1),
        mu=torch.stack(mus, 1),
        sigma=torch.stack(sigmas, 1),
        imbalance=torch.stack(imbalances, 1),
        noise=market.noise,
        S0=market.S0,
        terminal_payoff=market.terminal_payoff(state.W),
    )
