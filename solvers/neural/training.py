"""Shared training machinery of the neural solvers: the NaN/explosion guard, progress bars,
learning-rate schedules, noise banks, and the two differentiable rollouts (the generator's
and the discriminator's), both through :meth:`market_env.BatchedMarket.step` (MODEL.md §2, §8).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from market_env import BatchedMarket

from .model import EquilibriumNets, implied_rate
from .schedule import LINK_FORMS

__all__ = [
    "TrainingDivergedError",
    "LossGuard",
    "Progress",
    "PathPool",
    "draw_noise",
    "generator_rollout",
    "simulate_pool",
    "discriminator_losses",
    "set_lr",
]


class TrainingDivergedError(RuntimeError):
    """A training loss became NaN/inf or exploded; the message says where and what to try."""


class LossGuard:
    """Checks every logged loss: not finite, or ``|value| > explode × max(1, |first value|)``
    raises :class:`TrainingDivergedError` naming the solver, round, phase, epoch and loss."""

    def __init__(self, solver: str, explode: float = 1e8) -> None:
        self.solver = solver
        self.explode = explode
        self.reference: dict[str, float] = {}

    def check(
        self, losses: dict[str, float], *, round_: int, phase: str, epoch: int, hint: str
    ) -> None:
        for name, value in losses.items():
            if name not in self.reference and math.isfinite(value):
                self.reference[name] = abs(value)
            ref = self.reference.get(name)
            exploded = (
                ref is not None
                and math.isfinite(value)
                and abs(value) > self.explode * max(1.0, ref)
            )
            if not math.isfinite(value) or exploded:
                what = f"is {value}" if not exploded else f"exploded to {value:.3e}"
                first = f"first value {ref:.3e}" if ref is not None else "no finite value before"
                raise TrainingDivergedError(
                    f"{self.solver} diverged in round {round_}, {phase} epoch {epoch}: loss "
                    f"{name!r} {what} ({first}). Hint: {hint}"
                )


class Progress:
    """A tqdm bar over epochs with the live losses as postfix (to stderr; off if disabled)."""

    def __init__(self, total: int, desc: str, enabled: bool = True, initial: int = 0) -> None:
        self.bar = tqdm(
            total=total,
            initial=initial,
            desc=desc,
            disable=not enabled,
            file=sys.stderr,
            dynamic_ncols=True,
            mininterval=0.5,
        )

    def update(self, **postfix: Any) -> None:
        self.bar.set_postfix(
            {k: (f"{v:.3e}" if isinstance(v, float) else v) for k, v in postfix.items()},
            refresh=False,
        )
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def set_lr(optimizer: torch.optim.Optimizer, lrs: Iterable[float]) -> None:
    """Set the learning rate of each parameter group."""
    for group, lr in zip(optimizer.param_groups, lrs):
        group["lr"] = lr


def decayed(lr: float, final_factor: float, progress: float) -> float:
    """Exponential decay from ``lr`` (progress 0) to ``lr·final_factor`` (progress 1)."""
    return lr * final_factor ** min(max(progress, 0.0), 1.0)


def draw_noise(
    market: BatchedMarket, n_batches: int, seed: int, device: torch.device | str
) -> Tensor:
    """A bank of Brownian increments ``(n_batches, B, K)`` drawn by the market's own sampler
    (CPU float64 from ``seed``, then moved): training batches need no per-epoch sampling."""
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed))
    return torch.stack([market.sample_noise(gen) for _ in range(n_batches)])


@dataclass
class PathPool:
    """Paths of a frozen generator (no gradient): submitted rates, holdings and ``W`` at the
    left points ``k = 0..K−1`` and the noise, for discriminator epochs."""

    noise: Tensor  # (P, B, K)
    rates: Tensor  # (P, B, K, N)
    phi: Tensor  # (P, B, K, N)
    W: Tensor  # (P, B, K)

    def __len__(self) -> int:
        return self.noise.shape[0]


def generator_rollout(
    nets: EquilibriumNets,
    market: BatchedMarket,
    noise: Tensor,
    *,
    price_grad: bool = False,
    record: bool = False,
) -> dict[str, Any]:
    """Play the generator against the price networks through ``market.step``.

    With ``price_grad=False`` (Reinforced-GAN) the agents are price takers: ``μ, σ`` are
    evaluated without gradient and ``S_0`` is detached. Returns the summed rewards
    ``(B, N)``, the summed squared imbalance ``(B,)``, and with ``record`` the paths
    (``rates``, ``phi``, ``W`` at left points, ``mu``, ``sigma``) and ``S_K``, ``payoff``.
    """
    S0 = nets.S0 if price_grad else nets.S0.detach()
    state = market.reset(noise=noise, S0=S0)
    util = torch.zeros_like(state.phi)
    imb2 = torch.zeros_like(state.W)
    rec: dict[str, list[Tensor]] = {"rates": [], "phi": [], "W": [], "mu": [], "sigma": []}
    gen_params = nets.generator.bind()
    with torch.set_grad_enabled(price_grad and torch.is_grad_enabled()):
        price_params = nets.price_net.bind()
    for k in range(market.n_steps):
        phi, W = state.phi, state.W
        x = nets.features(phi, W, nets.time_feature(k))
        rates = nets.rates_step(x, k, gen_params)
        if price_grad:
            mu, sigma = nets.price_step(x, k, phi, W, market, price_params)
        else:
            with torch.no_grad():
                mu, sigma = nets.price_step(x.detach(), k, phi.detach(), W, market, price_params)
        res = market.step(rates, mu, sigma)
        util = util + res.reward
        imb2 = torch.addcmul(imb2, res.imbalance, res.imbalance)
        if record:
            for key, val in (
                ("rates", rates),
                ("phi", phi),
                ("W", W),
                ("mu", mu),
                ("sigma", sigma),
            ):
                rec[key].append(val)
        state = res.state
    out: dict[str, Any] = {"utility": util, "imbalance_sq": imb2, "S_K": state.S}
    out["payoff"] = market.terminal_payoff(state.W)
    if record:
        for key, vals in rec.items():
            out[key] = torch.stack(vals, 1)
    return out


@torch.no_grad()
def simulate_pool(nets: EquilibriumNets, market: BatchedMarket, noise: Tensor) -> PathPool:
    """Roll the (frozen) generator out on each noise batch ``(P, B, K)``, without gradient."""
    rates, phi, W = [], [], []
    for b in range(noise.shape[0]):
        out = generator_rollout(nets, market, noise[b], record=True)
        rates.append(out["rates"])
        phi.append(out["phi"])
        W.append(out["W"])
    return PathPool(noise=noise, rates=torch.stack(rates), phi=torch.stack(phi), W=torch.stack(W))


def link_loss(
    market: BatchedMarket,
    phi: Tensor,
    W: Tensor,
    mu: Tensor,
    sigma: Tensor,
    form: str = "increment",
) -> Tensor:
    """The reinforcement-link clearing loss of MODEL.md §8 (dimensionless).

    ``Y_n,k = Σ_{j≥k} (μ_j − γ_n σ_j(σ_j φ_n,j + ξ_n W_j)) Δt`` is agent n's marginal value
    of one more unit held from ``t_k`` on (from :meth:`BatchedMarket.marginal_utility`);
    ``ρ(Y) = sign(Y)|Y/(λq/2)|^(1/(q−1))`` is the rate at which an optimal agent trades given
    ``Y``, and clearing asks ``Σ_n ρ(Y_n,k) = 0`` at every step. Two forms, both zero
    exactly when the implied rates clear at every step (for q = 2: when ``μ`` is the
    clearing drift):

    - ``"cumulative"`` (the paper's): ``Y`` normalised by the time left ``T − t_k``, loss
      ``mean_{paths,k} (Σ_n ρ_n,k / N)²`` in units of ``ρ(μ̄)``, ``μ̄ = γ̄α²s``. Its
      gradient for ``μ_k`` mixes every later step's mismatch (ill-conditioned: early ``μ``
      absorb later errors).
    - ``"increment"`` (default): the same clearing condition written step by step,
      ``G_k = Σ_n ρ(Y_n,k)/N`` (``Y`` not normalised, ``G_K = 0``), loss
      ``mean_{paths,k} (K (G_k − G_{k+1}))²`` in units of ``ρ(μ̄T)``. It vanishes iff every
      ``G_k`` does; for q = 2 each term is the mismatch of ``μ_k`` alone.
    """
    cfg = market.config
    K = mu.shape[-1]
    m = market.marginal_utility(phi, W, mu, sigma)  # (B, K, N)
    tail = m + (m.sum(1, keepdim=True) - m.cumsum(1))  # Σ_{j≥k} m_j, without flips
    mu_bar = cfg.mu_bar
    if form == "cumulative":
        steps_left = torch.arange(K, 0, -1, dtype=m.dtype, device=m.device).unsqueeze(-1)
        ref = _implied_scalar(mu_bar, cfg)
        rho = implied_rate(tail / steps_left, cfg.lam, cfg.cost_power).mean(-1) / ref
        return (rho * rho).mean()
    if form != "increment":
        raise ValueError(f"link form must be one of {list(LINK_FORMS)}, got {form!r}")
    ref = _implied_scalar(mu_bar * cfg.horizon, cfg)
    G = implied_rate(tail * cfg.dt, cfg.lam, cfg.cost_power).mean(-1) / ref  # (B, K)
    d = torch.cat([G[:, :-1] - G[:, 1:], G[:, -1:]], dim=1) * K
    return (d * d).mean()


def _implied_scalar(y: float, cfg) -> float:
    return float(implied_rate(torch.tensor(y, dtype=torch.float64), cfg.lam, cfg.cost_power))


def discriminator_losses(
    nets: EquilibriumNets,
    market: BatchedMarket,
    noise: Tensor,
    rates: Tensor,
    phi: Tensor,
    W: Tensor,
    link_form: str = "increment",
    *,
    link_sigma_grad: bool = True,
) -> dict[str, Tensor]:
    """Terminal and link losses of the price networks on fixed generator paths.

    ``μ, σ`` are evaluated at every step in one batched call (the holdings do not depend on
    them), then the market is stepped with the recorded rates to get ``S_K``.
    Terminal loss: ``mean |S_K − 𝔖|² / (α²T)``.
    """
    mu, sigma = nets.price_all(phi, W, market)
    state = market.reset(noise=noise, S0=nets.S0)
    # unbind: one backward node for all steps (indexing mu[:, k] would add K zero-filled
    # (B, K) gradients in the backward pass)
    mus, sigmas, step_rates = mu.unbind(1), sigma.unbind(1), rates.unbind(1)
    for k in range(market.n_steps):
        state = market.step(step_rates[k], mus[k], sigmas[k]).state
    cfg = market.config
    terminal = (state.S - market.terminal_payoff(state.W)).square().mean()
    link_sigma = sigma if link_sigma_grad else sigma.detach()
    link = link_loss(market, phi, W, mu, link_sigma, link_form)
    return {"terminal": terminal / (cfg.alpha**2 * cfg.horizon), "link": link}
