"""Independent learners: traders (and the market agent) trained with Stable-Baselines3 on the
one batched market, judged by :func:`solvers.evaluate` like every solver.

Each trader maximises its own utility ``J_n`` (episode return = ``Σ_k r_n,k``, MODEL.md §2)
as an independent learner; nobody is told the equilibrium conditions. Two flavours:

* ``"shared"`` — simultaneous learning with one parameter-shared model over all traders:
  B paths × N traders are the B·N sub-environments of :class:`market_env.MarketSB3VecEnv`
  (``agent="shared"``); the observation carries ``γ_n``, ``ξ_n`` and the one-hot index, so
  one network can act differently for each trader.
* ``"ibr"`` — iterated best response: one model per trader, each trained on
  ``MarketSB3VecEnv(agent=n)`` while the others play their current models frozen, cycling
  ``n = 0..N−1`` for ``rounds`` rounds (Gauss–Seidel order).

Two price mechanisms (DESIGN.md):

* ``"clearing"`` — the endogenous clearing drift ``μ = (1/N)Σ_n γ_n σ(σφ_n + ξ_n W)`` with
  ``σ = α`` (MODEL.md §4); the learners' own ``S_0`` is estimated after training with the
  martingale control variate of MODEL.md §2 on calibration paths (never the evaluation
  paths), so ``S_K ≈ 𝔖`` on average.
* ``"market"`` — the market agent learned by SB3 as well (the adversarial game of the paper
  without its reinforcement link): rounds alternate between the traders (shared model)
  against the frozen market agent (:class:`~solvers.rl.envs.MarketAgentPrice`) and the
  market agent (:class:`~solvers.rl.envs.MarketAgentVecEnv`) against the frozen traders. The
  market agent is rewarded for clearing (``−imbalance²``) and for ``S_K = 𝔖``.

The result, :class:`LearnerSolution`, is a :class:`~solvers.base.Solution`: ``policy(state)``
builds the environment's observations from the state (same layout and scaling) and runs the
SB3 policy networks deterministically, batched over paths. It saves the networks'
``state_dict``s (``weights.pt``, loaded with ``weights_only=True``) and JSON parameters.

    from solvers.rl import train_learners
    sol = train_learners(get_preset("power-2"), "ppo-shared", timesteps=300_000, seed=0)
    evaluate(sol)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from gymnasium import spaces
from torch import Tensor, nn

from market_env import (
    ClearingDrift,
    MarketConfig,
    MarketState,
    PriceMechanism,
    S0_control_variate,
)
from market_env.observation import agent_features, observation_size, trader_observations

from ..base import Solution, register_solution, simulate
from ..threads import with_threads
from .envs import (
    MarketActor,
    MarketAgentPrice,
    MarketAgentVecEnv,
    RLScaling,
    ScaledTraderVecEnv,
    TraderActor,
    check_observation_length,
)

__all__ = [
    "ALGOS",
    "FLAVOURS",
    "PRICES",
    "METHODS",
    "LearnerMethod",
    "LearnerSolution",
    "default_algo_kwargs",
    "default_n_paths",
    "default_policy_kwargs",
    "resolve_device",
    "train_learners",
]

#: Stable-Baselines3 algorithms with a continuous (Box) action the learners can use.
ALGOS = ("ppo", "a2c", "sac", "td3")
ON_POLICY = ("ppo", "a2c")
FLAVOURS = ("shared", "ibr")
PRICES = ("clearing", "market")
_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}
#: Offsets of the seeds of the separate models and of the S_0 calibration paths.
_MARKET_SEED = 7919
_CALIBRATION_SEED = 104729


@dataclass(frozen=True)
class LearnerMethod:
    """A named learner: algorithm, flavour and price mechanism."""

    algo: str
    flavour: str
    price: str


#: The independent learners of the comparison (:mod:`solvers.compare`), by name.
METHODS: dict[str, LearnerMethod] = {
    "ppo-shared": LearnerMethod("ppo", "shared", "clearing"),
    "ppo-ibr": LearnerMethod("ppo", "ibr", "clearing"),
    "sac-shared": LearnerMethod("sac", "shared", "clearing"),
    "sac-ibr": LearnerMethod("sac", "ibr", "clearing"),
    "market-game": LearnerMethod("ppo", "shared", "market"),
    "sac-market-game": LearnerMethod("sac", "shared", "market"),
}


def _algo_class(algo: str) -> type:
    if algo not in ALGOS:
        raise ValueError(f"algo must be one of {list(ALGOS)}, got {algo!r}")
    import stable_baselines3 as sb3

    return {"ppo": sb3.PPO, "a2c": sb3.A2C, "sac": sb3.SAC, "td3": sb3.TD3}[algo]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def default_n_paths(config: MarketConfig, algo: str, flavour: str) -> int:
    """Paths B per environment: ``320/N`` (shared, on-policy), ``64/N`` (shared,
    off-policy), 64 (IBR, on-policy) or 16 (IBR, off-policy); at least 1."""
    N = config.n_agents
    if flavour == "shared":
        total = 320 if algo in ON_POLICY else 64
        return max(1, total // N)
    return 64 if algo in ON_POLICY else 16


def default_policy_kwargs(algo: str) -> dict[str, Any]:
    """JSON-ready network options: two hidden layers of 64, tanh (on-policy, with
    ``log_std_init = −1``: exploration noise of ``e^{−1}·rate_scale``) or ReLU (off-policy)."""
    if algo in ON_POLICY:
        return {"net_arch": [64, 64], "activation_fn": "tanh", "log_std_init": -1.0}
    return {"net_arch": [64, 64], "activation_fn": "relu"}


def default_algo_kwargs(algo: str, num_envs: int, n_steps: int) -> dict[str, Any]:
    """Hyperparameters for ``algo`` on ``num_envs`` sub-environments with episodes of
    ``n_steps`` (= K) steps. Undiscounted (``gamma = 1``: the episode return is ``J_n``).

    PPO: one episode per rollout (``n_steps = K``), 8 mini-batches, 5 epochs, lr 1e-3.
    A2C: ``n_steps = K``, lr 1e-3. SAC/TD3: replay buffer of 2·10⁵, one episode of random
    actions first, batch 512, 4 gradient steps per vector step, lr 1e-3, τ = 0.01.
    """
    if algo == "ppo":
        batch = num_envs * n_steps
        minibatches = next(m for m in range(8, 0, -1) if batch % m == 0)
        return dict(
            n_steps=n_steps,
            batch_size=max(2, batch // minibatches),
            n_epochs=5,
            learning_rate=1e-3,
            gamma=1.0,
            gae_lambda=0.95,
            clip_range=0.2,
            ent_coef=0.0,
            max_grad_norm=0.5,
        )
    if algo == "a2c":
        return dict(n_steps=n_steps, learning_rate=1e-3, gamma=1.0, gae_lambda=0.95)
    return dict(
        buffer_size=200_000,
        learning_starts=num_envs * n_steps,
        batch_size=512,
        tau=0.01,
        gamma=1.0,
        train_freq=1,
        gradient_steps=4,
        learning_rate=1e-3,
    )


def _policy_kwargs_obj(policy_kwargs: dict[str, Any]) -> dict[str, Any]:
    kw = dict(policy_kwargs)
    act = kw.get("activation_fn")
    if isinstance(act, str):
        if act not in _ACTIVATIONS:
            raise ValueError(f"activation_fn must be one of {sorted(_ACTIVATIONS)}, got {act!r}")
        kw["activation_fn"] = _ACTIVATIONS[act]
    if "net_arch" in kw and isinstance(kw["net_arch"], (list, tuple)):
        kw["net_arch"] = [int(h) for h in kw["net_arch"]]
    return kw


def _build_policy(
    algo: str,
    observation_space: spaces.Box,
    action_space: spaces.Box,
    policy_kwargs: dict[str, Any],
    device: torch.device,
) -> Any:
    """A fresh SB3 policy of ``algo``'s ``MlpPolicy`` class (weights to be loaded)."""
    cls = _algo_class(algo).policy_aliases["MlpPolicy"]
    policy = cls(
        observation_space, action_space, lambda _: 1e-4, **_policy_kwargs_obj(policy_kwargs)
    )
    policy.set_training_mode(False)
    return policy.to(device)


def _trader_spaces(config: MarketConfig) -> tuple[spaces.Box, spaces.Box]:
    import numpy as np

    D = observation_size(config.n_agents)
    return (
        spaces.Box(-np.inf, np.inf, (D,), np.float32),
        spaces.Box(-1.0, 1.0, (1,), np.float32),
    )


def _market_spaces(config: MarketConfig) -> tuple[spaces.Box, spaces.Box]:
    import numpy as np

    return (
        spaces.Box(-np.inf, np.inf, (config.n_agents + 3,), np.float32),
        spaces.Box(-1.0, 1.0, (3,), np.float32),
    )


# ----- the solution ---------------------------------------------------------------------------
@register_solution
class LearnerSolution(Solution):
    """Traders (and possibly a market agent) trained by Stable-Baselines3, as a
    :class:`~solvers.base.Solution` (module docstring; MODEL.md §1–§2).

    Build it with :func:`train_learners`; :func:`solvers.load_solution` restores it.

    Args:
        config: the market.
        method: display name (e.g. ``"ppo-shared"``).
        algo: SB3 algorithm (:data:`ALGOS`).
        flavour: ``"shared"`` (one trader model) or ``"ibr"`` (one per trader).
        price: ``"clearing"`` (clearing drift, ``σ = α``) or ``"market"`` (the market agent).
        policy_kwargs: the SB3 ``MlpPolicy`` options (JSON form: activation by name).
        scaling: :class:`~solvers.rl.envs.RLScaling` as a dict (default from the config).
        S0: initial price for ``price="clearing"`` (default the frictionless ``(β − γ̄α²s)T``).
        clearing: quantity-clearing rule of training and rollouts (default ``"project"``, the
            environments' default: fills clear and the supply is conserved; the clearing
            error then measures the submitted orders' common imbalance, which costs the
            traders nothing). With ``"none"`` fills are orders and the supply drifts.
        training: a JSON record of how it was trained (budgets, seed, wall time).
        device: where the networks live (``"auto"``: CUDA when available).
    """

    kind = "sb3-learners"

    def __init__(
        self,
        config: MarketConfig,
        *,
        method: str,
        algo: str,
        flavour: str,
        price: str,
        policy_kwargs: dict[str, Any] | None = None,
        scaling: dict[str, Any] | None = None,
        S0: float | None = None,
        clearing: str = "project",
        training: dict[str, Any] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(config)
        from market_env import get_clearing_rule

        get_clearing_rule(clearing)
        self.clearing = clearing
        _algo_class(algo)
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {list(FLAVOURS)}, got {flavour!r}")
        if price not in PRICES:
            raise ValueError(f"price must be one of {list(PRICES)}, got {price!r}")
        self.method = method
        self.algo = algo
        self.flavour = flavour
        self.price_mode = price
        self.policy_kwargs = dict(
            default_policy_kwargs(algo) if policy_kwargs is None else policy_kwargs
        )
        self.scaling = (
            RLScaling.from_config(config) if scaling is None else RLScaling.from_dict(scaling)
        )
        check_observation_length(config, self.scaling)
        self._S0 = None if S0 is None else float(S0)
        self.training = dict(training or {})
        self.device = resolve_device(device)
        obs_space, act_space = _trader_spaces(config)
        n_models = 1 if flavour == "shared" else config.n_agents
        self.trader_policies = [
            _build_policy(algo, obs_space, act_space, self.policy_kwargs, self.device)
            for _ in range(n_models)
        ]
        self._traders = [TraderActor(self.scaling, p) for p in self.trader_policies]
        self.market_policy = None
        self._market_price: MarketAgentPrice | None = None
        if price == "market":
            m_obs, m_act = _market_spaces(config)
            self.market_policy = _build_policy(algo, m_obs, m_act, self.policy_kwargs, self.device)
            actor = MarketActor(self.scaling, self.scaling.market_maker(config), self.market_policy)
            self._market_price = MarketAgentPrice(actor, config)
        self._features: dict[tuple[Any, Any], Tensor] = {}

    @property
    def label(self) -> str:
        return self.method

    # ----- price and policy ----------------------------------------------------------------
    @property
    def S0(self) -> float:
        if self._market_price is not None:
            return self._market_price.S0
        if self._S0 is None:
            return self.config.frictionless_S0
        return self._S0

    def price(self) -> PriceMechanism:
        """Clearing drift with ``σ = α`` and the learners' ``S_0``, or the market agent."""
        if self._market_price is not None:
            return self._market_price
        return ClearingDrift(S0=self.S0)

    def policy(self, state: MarketState) -> Tensor:
        """Rates ``(B, N)``: each trader's deterministic SB3 action on its observation
        ``[t, W, S, φ, γ_n, ξ_n, e_n]`` (batched over paths; one call per model)."""
        key = (state.W.device, state.W.dtype)
        if key not in self._features:
            self._features[key] = agent_features(self.config, state.W.dtype, state.W.device)
        obs = trader_observations(state, self._features[key])
        if self.flavour == "shared":
            return self._traders[0](obs)
        return torch.stack([actor(obs[:, n]) for n, actor in enumerate(self._traders)], -1)

    def agent_policies(self) -> list[TraderActor]:
        """The trader actors (one, or one per trader) as agent policies."""
        return list(self._traders)

    # ----- persistence ---------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "algo": self.algo,
            "flavour": self.flavour,
            "price": self.price_mode,
            "policy_kwargs": self.policy_kwargs,
            "scaling": self.scaling.to_dict(),
            "S0": self._S0,
            "clearing": self.clearing,
            "training": self.training,
        }

    def state_dict(self) -> dict[str, Tensor]:
        """``trader{n}.<SB3 policy key>`` (``n = 0`` only when shared) and ``market.<key>``."""
        out: dict[str, Tensor] = {}
        for n, p in enumerate(self.trader_policies):
            for k, v in p.state_dict().items():
                out[f"trader{n}.{k}"] = v.detach().cpu().clone()
        if self.market_policy is not None:
            for k, v in self.market_policy.state_dict().items():
                out[f"market.{k}"] = v.detach().cpu().clone()
        return out

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        groups: dict[str, dict[str, Tensor]] = {}
        for key, value in state.items():
            head, _, rest = key.partition(".")
            groups.setdefault(head, {})[rest] = value
        expected = {f"trader{n}" for n in range(len(self.trader_policies))}
        if self.market_policy is not None:
            expected.add("market")
        if set(groups) != expected:
            raise ValueError(
                f"{self.kind} weights hold {sorted(groups)}, expected {sorted(expected)}"
            )
        for n, p in enumerate(self.trader_policies):
            p.load_state_dict(groups[f"trader{n}"])
        if self.market_policy is not None:
            self.market_policy.load_state_dict(groups["market"])

    def load_from_models(self, traders: Sequence[Any], market: Any = None) -> None:
        """Copy the weights of trained SB3 models (their ``.policy``)."""
        if len(traders) != len(self.trader_policies):
            raise ValueError(
                f"expected {len(self.trader_policies)} trader models, got {len(traders)}"
            )
        for p, m in zip(self.trader_policies, traders):
            p.load_state_dict(m.policy.state_dict())
        if self.market_policy is not None:
            if market is None:
                raise ValueError("a market-agent solution needs the market model")
            self.market_policy.load_state_dict(market.policy.state_dict())

    def to(self, device: str | torch.device) -> LearnerSolution:
        """Move the networks (``"auto"``: CUDA when available)."""
        self.device = resolve_device(device)
        for p in self.trader_policies:
            p.to(self.device)
        if self.market_policy is not None:
            self.market_policy.to(self.device)
        return self

    def __repr__(self) -> str:
        return (
            f"LearnerSolution({self.method}: algo={self.algo}, flavour={self.flavour}, "
            f"price={self.price_mode}, N={self.config.n_agents})"
        )


# ----- training -------------------------------------------------------------------------------
def _make_model(
    algo: str,
    env: Any,
    seed: int,
    device: torch.device,
    policy_kwargs: dict[str, Any],
    algo_kwargs: dict[str, Any],
) -> Any:
    from stable_baselines3.common.logger import Logger

    cls = _algo_class(algo)
    model = cls(
        "MlpPolicy",
        env,
        seed=seed,
        device=device,
        policy_kwargs=_policy_kwargs_obj(policy_kwargs),
        verbose=0,
        **algo_kwargs,
    )
    # SB3's default logger creates an empty folder in the temp directory on every learn()
    model.set_logger(Logger(folder=None, output_formats=[]))
    return model


def _learn(model: Any, timesteps: int) -> None:
    """Train ``timesteps`` more steps, starting from a fresh episode (the other side may
    have changed since the last call)."""
    model._last_obs = None  # SB3 then resets the env in _setup_learn
    model.learn(int(timesteps), reset_num_timesteps=False)


class _OthersPolicy:
    """The non-learning traders of IBR: every trader's current (frozen) actor, as an agent
    policy ``obs (B, N, D) -> rates (B, N)`` (the learner's own column is zero and unused)."""

    def __init__(self, actors: list[TraderActor], learner: int) -> None:
        self.actors = actors
        self.learner = learner

    def __call__(self, obs: Tensor) -> Tensor:
        cols = [
            torch.zeros(obs.shape[0], dtype=obs.dtype, device=obs.device)
            if m == self.learner
            else actor(obs[:, m])
            for m, actor in enumerate(self.actors)
        ]
        return torch.stack(cols, -1)


def _log(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


@with_threads
def train_learners(
    config: MarketConfig,
    method: str | None = None,
    *,
    algo: str | None = None,
    flavour: str | None = None,
    price: str | None = None,
    timesteps: int = 300_000,
    n_paths: int | None = None,
    rounds: int | None = None,
    market_fraction: float = 0.25,
    clearing: str = "project",
    seed: int = 0,
    device: str | torch.device = "auto",
    policy_kwargs: dict[str, Any] | None = None,
    algo_kwargs: dict[str, Any] | None = None,
    calibration_paths: int = 2000,
    progress: bool = False,
) -> LearnerSolution:
    """Train independent SB3 learners on ``config`` and return a :class:`LearnerSolution`.

    Args:
        config: the market.
        method: a name of :data:`METHODS` (``"ppo-shared"``, ``"ppo-ibr"``, ``"sac-shared"``,
            ``"sac-ibr"``, ``"market-game"``, ``"sac-market-game"``); or give ``algo``,
            ``flavour``, ``price`` (these also override the method's).
        algo: ``"ppo"``, ``"a2c"``, ``"sac"`` or ``"td3"``.
        flavour: ``"shared"`` or ``"ibr"``.
        price: ``"clearing"`` or ``"market"`` (with ``flavour="shared"`` only).
        timesteps: total SB3 timesteps (agent-steps) over all models; IBR gives each trader
            ``timesteps/N``; the market game gives ``market_fraction`` of them to the market
            agent. On-policy algorithms round each phase up to whole rollouts (K steps of
            every sub-environment), so ``training["timesteps"]`` may exceed the budget.
        n_paths: paths B per environment (default :func:`default_n_paths`).
        rounds: IBR cycles over the traders / market-game alternations (default 3 / 4).
        market_fraction: the market agent's share of ``timesteps`` in the market game.
        clearing: quantity-clearing rule (default ``"project"``, see :class:`LearnerSolution`).
        seed: seeds everything (networks, SB3 sampling, market paths): same seed, same result
            (on the same device, single-threaded CPU or deterministic CUDA kernels).
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``: the market and
            the networks. The returned solution lives on the CPU.
        policy_kwargs: SB3 ``MlpPolicy`` options (default :func:`default_policy_kwargs`).
        algo_kwargs: overrides of :func:`default_algo_kwargs`.
        calibration_paths: paths (seed ``seed + 104729``) of the ``S_0`` estimate for the
            clearing price (MODEL.md §2 control variate).
        progress: print one line per training phase to stderr.
        threads: torch CPU threads (``None``: one, ``0``: all cores; ``solvers/threads.py``).
    """
    from market_env import MarketSB3VecEnv

    if method is not None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
        spec = METHODS[method]
        algo = spec.algo if algo is None else algo
        flavour = spec.flavour if flavour is None else flavour
        price = spec.price if price is None else price
    algo = "ppo" if algo is None else algo
    flavour = "shared" if flavour is None else flavour
    price = "clearing" if price is None else price
    _algo_class(algo)
    if flavour not in FLAVOURS:
        raise ValueError(f"flavour must be one of {list(FLAVOURS)}, got {flavour!r}")
    if price not in PRICES:
        raise ValueError(f"price must be one of {list(PRICES)}, got {price!r}")
    if price == "market" and flavour != "shared":
        raise ValueError("price='market' (the market-agent game) needs flavour='shared'")
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps must be an integer >= 1, got {timesteps!r}")
    if not 0.0 < market_fraction < 1.0:
        raise ValueError(f"market_fraction must be in (0, 1), got {market_fraction}")
    if method is None:
        method = f"{algo}-{flavour}" if price == "clearing" else f"{algo}-market-game"
    N, K = config.n_agents, config.n_steps
    B = default_n_paths(config, algo, flavour) if n_paths is None else int(n_paths)
    if B < 1:
        raise ValueError(f"n_paths must be >= 1, got {n_paths}")
    rounds = (3 if flavour == "ibr" else 4) if rounds is None else int(rounds)
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    dev = resolve_device(device)
    pk = default_policy_kwargs(algo) if policy_kwargs is None else dict(policy_kwargs)
    scaling = RLScaling.from_config(config)
    torch.manual_seed(seed)
    start = time.perf_counter()

    def kwargs_for(num_envs: int) -> dict[str, Any]:
        kw = default_algo_kwargs(algo, num_envs, K)
        kw.update(algo_kwargs or {})
        return kw

    def trader_env(agent: int | str, env_seed: int, others: Any, price_mech: Any) -> Any:
        num_envs = B * N if agent == "shared" else B
        kw = {} if others is None else {"others": others}
        base = MarketSB3VecEnv(
            num_envs=num_envs,
            config=config,
            agent=agent,
            price=price_mech,
            clearing=clearing,
            device=dev,
            seed=env_seed,
            **kw,
        )
        return ScaledTraderVecEnv(base, scaling)

    market_model = None
    phases: list[dict[str, Any]] = []
    if flavour == "shared" and price == "clearing":
        env = trader_env("shared", seed, None, ClearingDrift())
        model = _make_model(algo, env, seed, dev, pk, kwargs_for(env.num_envs))
        _learn(model, timesteps)
        traders = [model]
        phases.append({"phase": "traders", "timesteps": model.num_timesteps})
        _log(progress, f"[{method}] traders: {model.num_timesteps} timesteps")
    elif flavour == "ibr":
        actors = [TraderActor(scaling) for _ in range(N)]
        traders = []
        for n in range(N):
            env = trader_env(n, seed + 1 + n, _OthersPolicy(actors, n), ClearingDrift())
            model = _make_model(algo, env, seed + 1 + n, dev, pk, kwargs_for(env.num_envs))
            actors[n].policy = model.policy
            traders.append(model)
        per_turn = max(1, timesteps // (rounds * N))
        for r in range(rounds):
            for n, model in enumerate(traders):
                _learn(model, per_turn)
                _log(
                    progress,
                    f"[{method}] round {r + 1}/{rounds} trader {n}: "
                    f"{model.num_timesteps} timesteps",
                )
        phases.append({"phase": "traders", "timesteps": sum(m.num_timesteps for m in traders)})
    else:  # the market-agent game
        spec = scaling.market_maker(config)
        market_actor = MarketActor(scaling, spec)
        trader_actor = TraderActor(scaling)
        env = trader_env("shared", seed, None, MarketAgentPrice(market_actor, config))
        model = _make_model(algo, env, seed, dev, pk, kwargs_for(env.num_envs))
        trader_actor.policy = model.policy
        m_env = MarketAgentVecEnv(
            config,
            B,
            trader_actor,
            scaling,
            clearing=clearing,
            device=dev,
            seed=seed + _MARKET_SEED,
        )
        market_model = _make_model(
            algo, m_env, seed + _MARKET_SEED, dev, pk, kwargs_for(m_env.num_envs)
        )
        market_actor.policy = market_model.policy
        traders = [model]
        t_traders = max(1, int(timesteps * (1 - market_fraction)) // rounds)
        t_market = max(1, int(timesteps * market_fraction) // rounds)
        for r in range(rounds):
            _learn(model, t_traders)
            _learn(market_model, t_market)
            _log(
                progress,
                f"[{method}] round {r + 1}/{rounds}: traders {model.num_timesteps}, "
                f"market {market_model.num_timesteps} timesteps",
            )
        phases.append({"phase": "traders", "timesteps": model.num_timesteps})
        phases.append({"phase": "market", "timesteps": market_model.num_timesteps})
    train_seconds = time.perf_counter() - start
    training = {
        "timesteps_budget": timesteps,
        "timesteps": sum(p["timesteps"] for p in phases),
        "phases": phases,
        "n_paths": B,
        "rounds": rounds if (flavour == "ibr" or price == "market") else None,
        "seed": seed,
        "device": str(dev),
        "algo_kwargs": {
            k: v
            for k, v in kwargs_for(B * N if flavour == "shared" else B).items()
            if isinstance(v, (int, float, str, bool))
        },
        "train_seconds": train_seconds,
    }
    solution = LearnerSolution(
        config,
        method=method,
        algo=algo,
        flavour=flavour,
        price=price,
        policy_kwargs=pk,
        scaling=scaling.to_dict(),
        clearing=clearing,
        training=training,
        device="cpu",
    )
    solution.load_from_models(traders, market_model)
    if price == "clearing":
        traj = simulate(solution, calibration_paths, seed=seed + _CALIBRATION_SEED)
        solution._S0 = float(S0_control_variate(traj))
        solution.training["S0_calibration"] = {
            "paths": calibration_paths,
            "seed": seed + _CALIBRATION_SEED,
        }
    solution.training["total_seconds"] = time.perf_counter() - start
    return solution
