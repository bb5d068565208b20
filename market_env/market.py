"""The batched market simulator: B paths × N agents in torch (MODEL.md §2, DESIGN.md).

This module holds the market's dynamics and rewards, once. Solvers train by backpropagating
through :meth:`BatchedMarket.step`; the RL interfaces are thin views of it.
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .clearing import get_clearing_rule
from .config import MarketConfig
from .cost import TradingCost
from .jsonio import short_repr
from .price import ClearingDrift, PriceMechanism
from .state import MarketState

__all__ = ["BatchedMarket", "StepResult"]

#: Largest ``batch_size × n_steps × n_agents`` of one :class:`BatchedMarket` (2**27, about
#: 1.3e8 elements: one ``(B, K, N)`` float64 tensor is then 1 GiB, and a recorded rollout,
#: which keeps four or five of them, stays within the memory of a laptop or a CI machine).
MAX_ELEMENTS = 1 << 27


def _check_seed(seed: Any) -> int | None:
    if seed is None:
        return None
    try:
        if isinstance(seed, bool):
            raise TypeError
        value = operator.index(seed)
    except TypeError:
        raise ValueError(f"seed must be an integer or None, got {short_repr(seed)}") from None
    if not -(1 << 63) <= value < 1 << 64:
        raise ValueError(f"seed must be in [-2**63, 2**64), got {short_repr(value)}")
    return value


@dataclass(frozen=True)
class StepResult:
    """What one call of :meth:`BatchedMarket.step` returns.

    Attributes:
        state: the state after the step (at ``t_{k+1}``).
        reward: utility increments ``r_n,k`` of MODEL.md §2, shape ``(B, N)``.
        mu, sigma: the drift and volatility used over the step, shape ``(B,)``.
        fills: executed rates ``φ̇_k`` after the clearing rule, shape ``(B, N)``.
        imbalance: submitted imbalance ``Σ_n rate_n / N``, shape ``(B,)``.
        done: ``True`` once ``k = K``.
    """

    state: MarketState
    reward: Tensor
    mu: Tensor
    sigma: Tensor
    fills: Tensor
    imbalance: Tensor
    done: bool


class BatchedMarket:
    """B independent paths of the N-agent market of MODEL.md §1, discretised as in §2.

    Per step k, with ``(μ_k, σ_k)`` from the price mechanism (or passed to :meth:`step`)
    and fills ``φ̇_k`` from the submitted rates by the clearing rule::

        r_n,k   = (μ_k φ_n,k − (γ_n/2)(σ_k φ_n,k + ξ_n W_k)² − (λ/2)|φ̇_n,k|^q) Δt
        S_{k+1} = S_k + μ_k Δt + σ_k ΔW_k,  φ_{k+1} = φ_k + φ̇_k Δt,  W_{k+1} = W_k + ΔW_k

    Every operation is out of place, so a whole rollout is differentiable with respect to
    the rates and the price inputs. Only time is looped over, by the caller. The market is
    assembled from small components: the price mechanism (:mod:`market_env.price`), the
    clearing rule (:mod:`market_env.clearing`) and the cost term (:attr:`cost`, a
    :class:`~market_env.cost.TradingCost`); the market maker's decoding and reward are in
    :mod:`market_env.market_maker`.

    Args:
        config: the market parameters.
        batch_size: number of paths B.
        price: the price mechanism (default :class:`ClearingDrift` with ``σ = α``).
        clearing: quantity-clearing rule, ``"project"`` (default), ``"residual"`` or ``"none"``.
        device: torch device of every tensor (``"cpu"``, ``"cuda"``, …).
        dtype: floating dtype (``torch.float32`` default; ``torch.float64`` for truths).
        seed: seed of the market's own generator; ``reset(seed=...)`` overrides it.
        validate: check the inputs of :meth:`step` and :meth:`reset`: the shape and
            finiteness of the submitted rates and of ``mu``/``sigma``/``noise``/``S0`` when
            they are passed (one reduction and one device sync per checked tensor; switch
            off in tight training loops, where nothing is checked).

    ``batch_size × n_steps × n_agents`` may be at most :data:`MAX_ELEMENTS` (2**27), checked
    before anything is allocated.
    """

    MAX_ELEMENTS = MAX_ELEMENTS

    def __init__(
        self,
        config: MarketConfig,
        batch_size: int,
        *,
        price: PriceMechanism | None = None,
        clearing: str = "project",
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        seed: int | None = 0,
        validate: bool = True,
    ) -> None:
        if not isinstance(config, MarketConfig):
            raise ValueError(f"config must be a MarketConfig, got {type(config).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
            raise ValueError(f"batch_size must be an integer >= 1, got {short_repr(batch_size)}")
        batch_size = int(batch_size)
        if batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {short_repr(batch_size)}")
        elements = batch_size * config.n_steps * config.n_agents
        if elements > MAX_ELEMENTS:
            most = MAX_ELEMENTS // (config.n_steps * config.n_agents)
            total = f"{float(elements):.3g}" if elements < 1e300 else short_repr(elements)
            raise ValueError(
                f"batch_size × n_steps × n_agents = {short_repr(batch_size)} × {config.n_steps}"
                f" × {config.n_agents} = {total} exceeds the limit {MAX_ELEMENTS} "
                f"(BatchedMarket.MAX_ELEMENTS); use batch_size <= {most} for this market"
            )
        if dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            raise ValueError(f"dtype must be a floating torch dtype, got {short_repr(dtype)}")
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError, ValueError):
            raise ValueError(
                f"device must be a torch device such as 'cpu' or 'cuda', got {short_repr(device)}"
            ) from None
        seed = _check_seed(seed)
        self.config = config
        self.batch_size = batch_size
        self.price = ClearingDrift() if price is None else price
        self.clearing = clearing
        self._clear = get_clearing_rule(clearing)
        self.device = device
        self.dtype = dtype
        self.validate = validate
        self.n_agents = config.n_agents
        self.n_steps = config.n_steps
        self.dt = config.dt
        self.gamma = torch.tensor(config.gamma, dtype=dtype, device=self.device)
        self.xi = torch.tensor(config.xi, dtype=dtype, device=self.device)
        self.phi0 = torch.tensor(config.phi0, dtype=dtype, device=self.device)
        self._half_gamma_dt = self.gamma * (0.5 * self.dt)
        #: the trading-cost component ``(λΔt/2)|φ̇|^q`` (:class:`~market_env.cost.TradingCost`)
        self.cost = TradingCost.from_config(config)
        self._mean_weights = torch.full(
            (self.n_agents,), 1.0 / self.n_agents, dtype=dtype, device=self.device
        )
        self.gamma_xi = float(sum(g * x for g, x in zip(config.gamma, config.xi)))
        self._seed = seed
        self._generator = self._make_generator(seed)
        self.noise: Tensor | None = None
        self.state: MarketState | None = None
        self.S0: Tensor | None = None

    # ----- setup ---------------------------------------------------------------------------
    def _make_generator(self, seed: int | None) -> torch.Generator:
        gen = torch.Generator(device="cpu")
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(seed)
        return gen

    def sample_noise(self, generator: torch.Generator | None = None) -> Tensor:
        """Brownian increments ``ΔW`` of shape ``(B, K)``.

        Drawn on the CPU in float64 from the generator, then moved, so a seed gives the same
        paths on every device and dtype (to the dtype's precision).
        """
        gen = self._generator if generator is None else generator
        z = torch.randn(self.batch_size, self.n_steps, generator=gen, dtype=torch.float64)
        return (z * math.sqrt(self.dt)).to(device=self.device, dtype=self.dtype)

    def reset(
        self,
        seed: int | None = None,
        noise: Tensor | None = None,
        S0: float | Tensor | None = None,
    ) -> MarketState:
        """Start new paths at ``t = 0``: ``W = 0``, ``S = S_0``, ``φ = φ_0``.

        Args:
            seed: reseed the market's generator before drawing the noise.
            noise: use these increments ``ΔW`` (shape ``(B, K)``) instead of drawing.
            S0: initial price (a float, 0-d or ``(B,)`` tensor); default the price
                mechanism's ``S0``, else the frictionless ``(β − γ̄α²s)T`` (MODEL.md §3).

        With ``validate`` on, a non-finite ``noise`` or ``S0``, or an ``S0`` of another
        shape, raises ``ValueError``.
        """
        if seed is not None:
            self._generator = self._make_generator(_check_seed(seed))
        if noise is None:
            noise = self.sample_noise()
        else:
            expected = (self.batch_size, self.n_steps)
            if not isinstance(noise, Tensor):
                raise ValueError(
                    f"noise must be a torch.Tensor of shape {expected}, got {type(noise).__name__}"
                )
            if tuple(noise.shape) != expected:
                raise ValueError(f"noise must have shape {expected}, got {tuple(noise.shape)}")
            if self.validate:
                self._check_finite("noise", noise, ("path", "step"))
            noise = noise.to(device=self.device, dtype=self.dtype)
        self.noise = noise
        if S0 is None:
            S0 = getattr(self.price, "S0", None)
        elif self.validate:
            self._check_price_input("S0", S0)
        if S0 is None:
            S0 = self.config.frictionless_S0
        S0 = torch.as_tensor(S0, dtype=self.dtype, device=self.device)
        self.S0 = S0
        B = self.batch_size
        zeros = torch.zeros(B, dtype=self.dtype, device=self.device)
        self.state = MarketState(
            k=0,
            t=0.0,
            W=zeros,
            S=zeros + S0,
            phi=self.phi0.expand(B, self.n_agents),
        )
        return self.state

    # ----- dynamics ------------------------------------------------------------------------
    def _check_rates(self, rates: Tensor) -> None:
        expected = (self.batch_size, self.n_agents)
        if not isinstance(rates, Tensor):
            raise ValueError(
                f"rates must be a torch.Tensor of shape {expected}, got {type(rates).__name__}"
            )
        if tuple(rates.shape) != expected:
            raise ValueError(f"rates must have shape {expected} (B, N), got {tuple(rates.shape)}")
        if rates.dtype != self.dtype:
            raise ValueError(f"rates must have the market's dtype {self.dtype}, got {rates.dtype}")
        self._check_finite("rates", rates, ("path", "agent"))

    @staticmethod
    def _check_finite(name: str, x: Tensor, axes: tuple[str, ...]) -> None:
        """One reduction (and device sync); on failure, name the first bad entry."""
        if x.dtype == torch.bool or x.is_complex():
            raise ValueError(f"{name} must be a real tensor, got dtype {x.dtype}")
        finite = torch.isfinite(x)
        if not bool(finite.all()):
            bad = (~finite).nonzero()[0].tolist()
            where = ", ".join(f"{a} {i}" for a, i in zip(axes, bad))
            value = x[tuple(bad)].item()
            raise ValueError(
                f"{name} must be finite, got {value}" + (f" at {where}" if where else "")
            )

    def _check_price_input(self, name: str, value: Any) -> None:
        """``mu``, ``sigma`` or ``S0``: a finite real number, or a tensor of shape ``()``,
        ``(1,)`` or ``(B,)`` (one per path) with finite entries."""
        B = self.batch_size
        rule = f"a finite number or a tensor of shape () or ({B},) (one per path)"
        if isinstance(value, bool):
            raise ValueError(f"{name} must be {rule}, got bool {value}")
        if isinstance(value, numbers.Real):
            try:
                finite = math.isfinite(value)
            except OverflowError:
                finite = False
            if not finite:
                raise ValueError(f"{name} must be {rule}, got {short_repr(value)}")
            return
        if not isinstance(value, Tensor):
            try:  # numpy arrays, lists: what torch.as_tensor takes
                value = torch.as_tensor(value)
            except (TypeError, ValueError, RuntimeError, OverflowError):
                raise ValueError(
                    f"{name} must be {rule}, got {type(value).__name__} {short_repr(value)}"
                ) from None
        if tuple(value.shape) not in ((), (1,), (B,)):
            raise ValueError(f"{name} must be {rule}, got shape {tuple(value.shape)}")
        self._check_finite(name, value, ("path",) if value.dim() else ())

    def step(
        self, rates: Tensor, mu: Tensor | None = None, sigma: Tensor | None = None
    ) -> StepResult:
        """Advance every path by one step.

        Args:
            rates: submitted trading rates, shape ``(B, N)``.
            mu, sigma: the price over this step, shape ``(B,)`` (or scalars); if omitted,
                the price mechanism sets them from the current state.

        With ``validate`` on, rates of another shape or with NaN/inf raise ``ValueError``,
        and so do ``mu``/``sigma`` when passed (see :meth:`reset` for ``S0``).
        """
        state = self.state
        if state is None:
            raise RuntimeError("call reset() before step()")
        k = state.k
        if k >= self.n_steps:
            raise RuntimeError(
                f"the episode is over (k = K = {self.n_steps}); call reset() to start again"
            )
        if self.validate:
            self._check_rates(rates)
            if mu is not None:
                self._check_price_input("mu", mu)
            if sigma is not None:
                self._check_price_input("sigma", sigma)
        if mu is None or sigma is None:
            p_mu, p_sigma = self.price(state, self)
            mu = p_mu if mu is None else mu
            sigma = p_sigma if sigma is None else sigma
        W, S, phi = state.W, state.S, state.phi
        mu = torch.as_tensor(mu, dtype=self.dtype, device=self.device).expand_as(W)
        sigma = torch.as_tensor(sigma, dtype=self.dtype, device=self.device).expand_as(W)

        imbalance = rates @ self._mean_weights  # Σ_n rate_n / N, as one matrix-vector product
        fills = self._clear(rates, imbalance)
        exposure = torch.addcmul(self.xi * W.unsqueeze(-1), sigma.unsqueeze(-1), phi)
        mu_dt = mu * self.dt
        # reward = μΔt φ − (γΔt/2) exposure² − (λΔt/2)|φ̇|^q, fused into few kernels
        reward = torch.addcmul(
            phi * mu_dt.unsqueeze(-1), exposure * self._half_gamma_dt, exposure, value=-1.0
        )
        reward = self.cost.subtract_from(reward, fills)
        dW = self.noise[:, k]
        next_state = MarketState(
            k=k + 1,
            t=(k + 1) * self.dt,
            W=W + dW,
            S=torch.addcmul(S + mu_dt, sigma, dW),
            phi=torch.add(phi, fills, alpha=self.dt),
        )
        self.state = next_state
        return StepResult(
            state=next_state,
            reward=reward,
            mu=mu,
            sigma=sigma,
            fills=fills,
            imbalance=imbalance,
            done=next_state.k == self.n_steps,
        )

    def marginal_utility(self, phi: Tensor, W: Tensor, mu: Tensor, sigma: Tensor) -> Tensor:
        """``∂r_n,k/∂φ_n,k / Δt = μ − γ_n σ (σ φ_n + ξ_n W)``: the marginal utility rate of
        holding one more unit (MODEL.md §8, the agents' optimality condition).

        Broadcasts over leading dimensions: ``phi`` has shape ``(..., N)``, ``W``, ``mu`` and
        ``sigma`` have shape ``(...)`` (e.g. ``(B,)`` per step or ``(B, K)`` per path).
        """
        sigma_ = sigma.unsqueeze(-1)
        exposure = torch.addcmul(self.xi * W.unsqueeze(-1), sigma_, phi)
        return mu.unsqueeze(-1) - self.gamma * sigma_ * exposure

    def terminal_payoff(self, W: Tensor | None = None) -> Tensor:
        """``𝔖 = βT + αW_T`` per path (MODEL.md §1); default from the current state."""
        if W is None:
            if self.state is None:
                raise RuntimeError("call reset() first")
            W = self.state.W
        return self.config.beta * self.config.horizon + self.config.alpha * W

    def __repr__(self) -> str:
        return (
            f"BatchedMarket(N={self.n_agents}, B={self.batch_size}, K={self.n_steps}, "
            f"clearing={self.clearing!r}, device={self.device}, dtype={self.dtype})"
        )
