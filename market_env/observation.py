"""What an RL agent sees and does in the market: observation layout, action bounds, and the
batched driver every RL interface shares (MODEL.md §2, DESIGN.md).

Every interface (PettingZoo, Gymnasium single env, Gymnasium ``VectorEnv``, SB3 ``VecEnv``)
is a thin view of one :class:`~market_env.market.BatchedMarket`; :class:`MarketView` is the
one place that turns agent actions into a :meth:`BatchedMarket.step` call and its result into
observations and rewards. Nothing here simulates: dynamics, rewards, clearing and metrics
all come from the market.

Trader observation (one row per agent ``n``, ``float32`` in the spaces), length ``2N + 5``::

    [ t_k, W_k, S_k, φ_1,k, …, φ_N,k, γ_n, ξ_n, e_n ]        e_n = one-hot of n (length N)

i.e. the Markov state ``(t, W, S, φ)`` of MODEL.md §2 followed by the agent's own
parameters and index, so one network can be shared by all traders.

Market-maker observation, length ``N + 3``: ``[t_k, W_k, S_k, φ_1,k, …, φ_N,k]``.

Trader action: the submitted trading rate ``φ̇_n,k`` (holdings per unit time), a ``Box`` of
shape ``(1,)`` on ``[−max_rate, max_rate]`` with, by default (:func:`default_max_rate`),
``max_rate = 10·(max_n |ξ_n|/α + s)/√Δt``: ten standard deviations of the frictionless
one-step re-hedge, so equilibrium and frictionless rates are never near it. Out-of-range
rates are clipped to the bound (``clip_actions=True``, default) or rejected with a
``ValueError`` (``clip_actions=False``); NaN/inf rates always raise ``ValueError``. The
clearing rule (``"project"`` default) then turns orders into fills (DESIGN.md).

Market-maker action (``price="market"``), a ``Box`` of shape ``(3,)``: ``(μ_k, u_k, S_0)``
with ``σ_k = α·exp(u_k)`` (so σ stays positive; ``u = 0`` gives ``σ = α``). The third entry
is read only at ``k = 0`` where it sets ``S_0`` (the ``S`` shown at reset is a placeholder:
the frictionless ``(β − γ̄α²s)T``). Bounds in :class:`MarketMakerSpec`.

Rewards: trader ``n`` gets ``r_n,k`` of MODEL.md §2 exactly as :class:`BatchedMarket`
computes it. The market maker gets ``−w_clear·|Σ_n rate_n,k/N|²/K`` each step and
additionally ``−w_terminal·|S_K − 𝔖|²`` at the last step, so its episode return is
``−w_clear·(path clearing error) − w_terminal·(path terminal error)`` (MODEL.md §2 metrics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from .config import MarketConfig
from .market import BatchedMarket, StepResult
from .price import ClearingDrift, PriceMechanism

__all__ = [
    "MarketMakerSpec",
    "MarketView",
    "ViewStep",
    "agent_features",
    "default_max_rate",
    "market_action_space",
    "market_observation",
    "market_observation_space",
    "observation_size",
    "rate_action_space",
    "step_info",
    "trader_observation_space",
    "trader_observations",
]


# ----- layout --------------------------------------------------------------------------------
def observation_size(n_agents: int) -> int:
    """Length of a trader observation, ``2N + 5``."""
    return 2 * n_agents + 5


def agent_features(config: MarketConfig, dtype=torch.float32, device="cpu") -> Tensor:
    """Per-agent features ``[γ_n, ξ_n, e_n]``, shape ``(N, N + 2)``."""
    n = config.n_agents
    feats = torch.zeros(n, n + 2, dtype=dtype, device=device)
    feats[:, 0] = torch.tensor(config.gamma, dtype=dtype, device=device)
    feats[:, 1] = torch.tensor(config.xi, dtype=dtype, device=device)
    feats[:, 2:] = torch.eye(n, dtype=dtype, device=device)
    return feats


def market_observation(state) -> Tensor:
    """``[t, W, S, φ_1..φ_N]`` per path, shape ``(B, N + 3)`` (the Markov state)."""
    W = state.W
    t = torch.full_like(W, state.t)
    return torch.cat([torch.stack([t, W, state.S], -1), state.phi], -1)


def trader_observations(state, features: Tensor, agent: int | None = None) -> Tensor:
    """Trader observations from a :class:`MarketState`.

    Args:
        state: the market state (``B`` paths).
        features: :func:`agent_features`, shape ``(N, N + 2)``.
        agent: one agent's index, or ``None`` for all agents.

    Returns:
        ``(B, N, 2N + 5)`` for all agents, ``(B, 2N + 5)`` for one.
    """
    common = market_observation(state)
    B = common.shape[0]
    features = features.to(common)
    if agent is not None:
        return torch.cat([common, features[agent].expand(B, -1)], -1)
    N = features.shape[0]
    return torch.cat(
        [common.unsqueeze(1).expand(B, N, -1), features.unsqueeze(0).expand(B, N, -1)], -1
    )


def _state_bounds(config: MarketConfig) -> tuple[list[float], list[float]]:
    # t ∈ [0, T] (with float slack); W, S and φ are unbounded.
    n = config.n_agents
    low = [0.0] + [-np.inf] * (2 + n)
    high = [config.horizon * (1 + 1e-6)] + [np.inf] * (2 + n)
    return low, high


def trader_observation_space(config: MarketConfig) -> spaces.Box:
    """``Box((2N + 5,), float32)``: ``t ∈ [0, T]``; ``W``, ``S``, ``φ`` unbounded (±inf);
    ``γ_n``, ``ξ_n`` within the config's range; the one-hot index in ``[0, 1]``."""
    low, high = _state_bounds(config)
    low += [min(config.gamma), min(config.xi)] + [0.0] * config.n_agents
    high += [max(config.gamma), max(config.xi)] + [1.0] * config.n_agents
    return spaces.Box(np.array(low, np.float32), np.array(high, np.float32), dtype=np.float32)


def market_observation_space(config: MarketConfig) -> spaces.Box:
    """``Box((N + 3,), float32)``: ``t ∈ [0, T]``; ``W``, ``S``, ``φ`` unbounded."""
    low, high = _state_bounds(config)
    return spaces.Box(np.array(low, np.float32), np.array(high, np.float32), dtype=np.float32)


def default_max_rate(config: MarketConfig) -> float:
    """``10·(max_n |ξ_n|/α + s)/√Δt``: the default bound on submitted trading rates."""
    xi_max = max(abs(x) for x in config.xi)
    return 10.0 * (xi_max / config.alpha + config.supply) / math.sqrt(config.dt)


def rate_action_space(max_rate: float) -> spaces.Box:
    """``Box(−max_rate, max_rate, (1,), float32)``: one agent's trading rate."""
    return spaces.Box(-max_rate, max_rate, shape=(1,), dtype=np.float32)


def step_info(res: StepResult, path: int = 0) -> dict:
    """The per-step info every single-path interface reports for path ``path``: step index,
    time, the price (``mu``, ``sigma``, ``S``) and the submitted ``imbalance``."""
    return {
        "k": res.state.k,
        "t": res.state.t,
        "mu": float(res.mu[path]),
        "sigma": float(res.sigma[path]),
        "S": float(res.state.S[path]),
        "imbalance": float(res.imbalance[path]),
    }


@dataclass(frozen=True)
class MarketMakerSpec:
    """Bounds and reward weights of the market-maker agent (``price="market"``).

    Attributes:
        mu_max: ``|μ_k| ≤ mu_max``.
        log_sigma_max: ``|u_k| ≤ log_sigma_max`` where ``σ_k = α·exp(u_k)``.
        S0_low, S0_high: range of ``S_0``.
        clearing_weight: ``w_clear`` of the per-step reward ``−w_clear·imbalance²/K``.
        terminal_weight: ``w_terminal`` of the final reward ``−w_terminal·|S_K − 𝔖|²``.
    """

    mu_max: float
    log_sigma_max: float
    S0_low: float
    S0_high: float
    clearing_weight: float = 1.0
    terminal_weight: float = 1.0

    @classmethod
    def default(cls, config: MarketConfig, **changes: float) -> MarketMakerSpec:
        """Defaults from the config: ``mu_max = 10α²·max γ·(s + max|ξ|·√T)``,
        ``log_sigma_max = 3``, ``S_0 ∈ βT ± 10(α√T + α²·max γ·s·T)``; weights 1."""
        c = config
        g_max = max(c.gamma)
        xi_max = max(abs(x) for x in c.xi)
        mu_max = 10.0 * c.alpha**2 * g_max * (c.supply + xi_max * math.sqrt(c.horizon))
        half = 10.0 * (c.alpha * math.sqrt(c.horizon) + c.alpha**2 * g_max * c.supply * c.horizon)
        values = dict(
            mu_max=mu_max,
            log_sigma_max=3.0,
            S0_low=c.beta * c.horizon - half,
            S0_high=c.beta * c.horizon + half,
        )
        values.update(changes)
        return cls(**values)

    def action_space(self) -> spaces.Box:
        """``Box([−mu_max, −log_sigma_max, S0_low], [mu_max, log_sigma_max, S0_high])``."""
        low = np.array([-self.mu_max, -self.log_sigma_max, self.S0_low], dtype=np.float32)
        high = np.array([self.mu_max, self.log_sigma_max, self.S0_high], dtype=np.float32)
        return spaces.Box(low, high, dtype=np.float32)


def market_action_space(config: MarketConfig) -> spaces.Box:
    """The market maker's default action space (:meth:`MarketMakerSpec.default`)."""
    return MarketMakerSpec.default(config).action_space()


# ----- the shared driver ----------------------------------------------------------------------
@dataclass(frozen=True)
class ViewStep:
    """One step seen through :class:`MarketView`.

    Attributes:
        result: the market's own :class:`StepResult` (rewards ``r_n,k``, μ, σ, fills, …).
        market_reward: the market maker's reward, shape ``(B,)`` (``None`` without one).
        done: ``True`` at ``k = K``.
    """

    result: StepResult
    market_reward: Tensor | None
    done: bool


class MarketView:
    """B paths of :class:`BatchedMarket` as RL agents see them (module docstring).

    Args:
        config: the market.
        n_paths: B.
        price: a price mechanism, or ``None`` for the market-maker agent (``μ``, ``σ``,
            ``S_0`` come from :meth:`step`'s ``market_action``).
        clearing: quantity-clearing rule (DESIGN.md).
        max_rate: bound on submitted rates (default :func:`default_max_rate`).
        clip_actions: clip out-of-range actions to their bounds (``True``) or raise.
        market_maker: bounds and weights of the market maker (default
            :meth:`MarketMakerSpec.default`); used only when ``price is None``.
        dtype, device, seed: passed to :class:`BatchedMarket`.
        record: keep path 0's history (for rendering).
    """

    def __init__(
        self,
        config: MarketConfig,
        n_paths: int,
        *,
        price: PriceMechanism | None,
        clearing: str = "project",
        max_rate: float | None = None,
        clip_actions: bool = True,
        market_maker: MarketMakerSpec | None = None,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
        seed: int | None = None,
        record: bool = False,
    ) -> None:
        self.config = config
        self.has_market_agent = price is None
        self.market = BatchedMarket(
            config,
            n_paths,
            price=ClearingDrift() if price is None else price,
            clearing=clearing,
            device=device,
            dtype=dtype,
            seed=seed,
            validate=False,  # the view validates with agent names instead
        )
        if max_rate is None:
            max_rate = default_max_rate(config)
        if not (isinstance(max_rate, (int, float)) and math.isfinite(max_rate) and max_rate > 0):
            raise ValueError(f"max_rate must be a finite number > 0, got {max_rate!r}")
        self.max_rate = float(max_rate)
        self.clip_actions = bool(clip_actions)
        self.market_maker = (
            MarketMakerSpec.default(config) if market_maker is None else market_maker
        )
        mm = self.market_maker
        self._mm_low = torch.tensor([-mm.mu_max, -mm.log_sigma_max, mm.S0_low], dtype=dtype)
        self._mm_high = torch.tensor([mm.mu_max, mm.log_sigma_max, mm.S0_high], dtype=dtype)
        self.features = agent_features(config, dtype=dtype, device=self.market.device)
        self.record = record
        self.history: dict[str, list] = {}

    # ----- state ---------------------------------------------------------------------------
    @property
    def n_paths(self) -> int:
        return self.market.batch_size

    @property
    def state(self):
        if self.market.state is None:
            raise RuntimeError("the environment must be reset before it is stepped or observed")
        return self.market.state

    @property
    def k(self) -> int:
        return self.state.k

    @property
    def done(self) -> bool:
        return self.market.state is not None and self.market.state.k >= self.config.n_steps

    def reset(self, seed: int | None = None) -> None:
        """Reset the market (``seed`` reseeds its generator; ``None`` draws on)."""
        self.market.reset(seed=seed)
        if self.record:
            s = self.market.state
            self.history = {
                "t": [0.0],
                "S": [float(s.S[0])],
                "phi": [s.phi[0].detach().cpu().double().numpy().copy()],
                "mu": [],
                "sigma": [],
            }

    def trader_obs(self, agent: int | None = None) -> Tensor:
        """Trader observations, ``(B, N, 2N+5)`` or ``(B, 2N+5)`` for one agent."""
        return trader_observations(self.state, self.features, agent)

    def market_obs(self) -> Tensor:
        """Market-maker observation ``(B, N + 3)``."""
        return market_observation(self.state)

    # ----- actions ---------------------------------------------------------------------------
    def check_rates(self, rates: Tensor, names: list[str] | None = None) -> Tensor:
        """Validate submitted rates ``(B, M)`` (column ``m`` belongs to ``names[m]``).

        NaN/inf raise ``ValueError``; values beyond ``±max_rate`` are clipped
        (``clip_actions=True``) or raise ``ValueError``.
        """
        finite = torch.isfinite(rates)
        if not bool(finite.all()):
            b, n = (~finite).nonzero()[0].tolist()
            who = names[n] if names else f"agent {n}"
            where = f" (sub-environment/path {b})" if rates.shape[0] > 1 else ""
            raise ValueError(f"action of {who} must be finite, got {rates[b, n].item()}{where}")
        if self.clip_actions:
            return rates.clamp(-self.max_rate, self.max_rate)
        over = rates.abs() > self.max_rate
        if bool(over.any()):
            b, n = over.nonzero()[0].tolist()
            who = names[n] if names else f"agent {n}"
            raise ValueError(
                f"action of {who} must lie in [-{self.max_rate:.6g}, {self.max_rate:.6g}] "
                f"(max_rate; pass clip_actions=True to clip), got {rates[b, n].item()}"
            )
        return rates

    def check_market_action(self, action: Tensor, name: str = "market") -> Tensor:
        """Validate a ``(B, 3)`` market-maker action ``(μ, u, S_0)``."""
        B = self.n_paths
        if tuple(action.shape) != (B, 3):
            raise ValueError(
                f"action of {name} must have shape (3,) = (mu, log(sigma/alpha), S0) per path, "
                f"got {tuple(action.shape[1:]) if action.dim() > 1 else tuple(action.shape)}"
            )
        if not bool(torch.isfinite(action).all()):
            raise ValueError(f"action of {name} must be finite, got {action.tolist()}")
        low, high = self._mm_low.to(action), self._mm_high.to(action)
        if self.clip_actions:
            return torch.maximum(torch.minimum(action, high), low)
        if bool(((action < low) | (action > high)).any()):
            raise ValueError(
                f"action of {name} must lie in [{low.tolist()}, {high.tolist()}], got "
                f"{action.tolist()} (pass clip_actions=True to clip)"
            )
        return action

    # ----- step ------------------------------------------------------------------------------
    def step(self, rates: Tensor, market_action: Tensor | None = None) -> ViewStep:
        """One :meth:`BatchedMarket.step` with ``rates`` ``(B, N)`` (checked by the caller
        with :meth:`check_rates`) and the market maker's checked ``(B, 3)`` action when
        there is one."""
        market = self.market
        if market.state is None:
            raise RuntimeError("the environment must be reset before it is stepped")
        if self.done:
            raise RuntimeError(
                f"the episode is over (all K = {self.config.n_steps} steps played); "
                "call reset() to start a new one"
            )
        mu = sigma = None
        if self.has_market_agent:
            if market_action is None:
                raise ValueError("the market agent must act (price='market')")
            if market.state.k == 0:
                # S_0 is the market maker's first decision: restart on the same noise.
                market.reset(noise=market.noise, S0=market_action[:, 2])
            mu = market_action[:, 0]
            sigma = self.config.alpha * torch.exp(market_action[:, 1])
        res = market.step(rates, mu=mu, sigma=sigma)
        market_reward = None
        if self.has_market_agent:
            mm = self.market_maker
            market_reward = (-mm.clearing_weight / self.config.n_steps) * res.imbalance.square()
            if res.done:
                gap = res.state.S - market.terminal_payoff(res.state.W)
                market_reward = market_reward - mm.terminal_weight * gap.square()
        if self.record:
            h = self.history
            if market.state.k == 1 and self.has_market_agent:
                h["S"][0] = float(market.S0.reshape(-1)[0])
            h["t"].append(res.state.t)
            h["S"].append(float(res.state.S[0]))
            h["phi"].append(res.state.phi[0].detach().cpu().double().numpy().copy())
            h["mu"].append(float(res.mu[0]))
            h["sigma"].append(float(res.sigma[0]))
        return ViewStep(result=res, market_reward=market_reward, done=res.done)

    # ----- rendering -------------------------------------------------------------------------
    def render_rgb(self) -> np.ndarray:
        """An RGB image ``(H, W, 3)`` of path 0 so far: price ``S`` and holdings ``φ``."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        h = self.history
        if not h:
            raise RuntimeError("nothing to render: reset the environment first")
        fig = Figure(figsize=(6.4, 4.8), dpi=80)
        ax_s, ax_p = fig.subplots(2, 1, sharex=True)
        ax_s.plot(h["t"], h["S"], color="k")
        ax_s.set_ylabel("price S")
        phi = np.asarray(h["phi"])
        for n in range(phi.shape[1]):
            ax_p.plot(h["t"], phi[:, n], lw=1)
        ax_p.set_ylabel("holdings φ")
        ax_p.set_xlabel("t")
        ax_p.set_xlim(0.0, self.config.horizon)
        fig.tight_layout()
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()

    def render_text(self) -> str:
        """One line describing path 0 now (for ``render_mode="human"``)."""
        h = self.history
        if not h:
            raise RuntimeError("nothing to render: reset the environment first")
        k = len(h["t"]) - 1
        phi = ", ".join(f"{v:.4g}" for v in h["phi"][-1])
        line = f"k={k:3d} t={h['t'][-1]:.4f} S={h['S'][-1]:.6f}"
        if h["mu"]:
            line += f" mu={h['mu'][-1]:.4g} sigma={h['sigma'][-1]:.4g}"
        return line + f" phi=[{phi}]"
