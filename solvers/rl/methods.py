"""What a learner run is: the named methods, their defaults, and the one validation of a
request (:func:`resolve_plan`), so a bad option fails before any training starts.

A method is an SB3 algorithm (:data:`ALGOS`), a flavour (:data:`FLAVOURS`: one
parameter-shared model, or iterated best response with one model per trader) and a price
mechanism (:data:`PRICES`: the clearing drift of MODEL.md §4, or a market agent learned as
well). Every trader maximises its own ``J_n`` (episode return ``Σ_k r_n,k``, MODEL.md §2),
so the defaults are undiscounted (``gamma = 1``).

A backend (:data:`BACKENDS`) trains it: Stable-Baselines3 on one process (every method), or
Ray RLlib PPO over ``num_env_runners`` env runners, each holding one batched ``VectorEnv``
(:mod:`solvers.rl.rllib`; ``ppo-shared`` at the clearing drift only, :data:`RLLIB_METHOD`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from market_env import MarketConfig, get_clearing_rule
from market_env.device import resolve_device

__all__ = [
    "ALGOS",
    "BACKENDS",
    "FLAVOURS",
    "METHODS",
    "ON_POLICY",
    "PRICES",
    "RLLIB_METHOD",
    "LearnerMethod",
    "LearnerPlan",
    "algo_class",
    "default_algo_kwargs",
    "default_n_paths",
    "default_policy_kwargs",
    "resolve_plan",
    "sb3_policy_kwargs",
]

#: Stable-Baselines3 algorithms with a continuous (Box) action the learners can use.
ALGOS = ("ppo", "a2c", "sac", "td3")
#: The on-policy ones (rollouts of whole episodes; the others keep a replay buffer).
ON_POLICY = ("ppo", "a2c")
FLAVOURS = ("shared", "ibr")
PRICES = ("clearing", "market")
#: Who trains: Stable-Baselines3 (one process) or Ray RLlib (env runners over the VectorEnv).
BACKENDS = ("sb3", "rllib")
_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}


def _check_choice(name: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")


@dataclass(frozen=True)
class LearnerMethod:
    """A learner: algorithm, flavour and price mechanism (checked on construction; the
    market-agent game trains one shared trader model, so ``price="market"`` needs
    ``flavour="shared"``)."""

    algo: str
    flavour: str
    price: str

    def __post_init__(self) -> None:
        _check_choice("algo", self.algo, ALGOS)
        _check_choice("flavour", self.flavour, FLAVOURS)
        _check_choice("price", self.price, PRICES)
        if self.price == "market" and self.flavour != "shared":
            raise ValueError("price='market' (the market-agent game) needs flavour='shared'")

    @property
    def on_policy(self) -> bool:
        return self.algo in ON_POLICY

    @property
    def default_name(self) -> str:
        """``"<algo>-<flavour>"`` at the clearing drift, ``"<algo>-market-game"`` otherwise."""
        if self.price == "clearing":
            return f"{self.algo}-{self.flavour}"
        return f"{self.algo}-market-game"


#: The independent learners of the comparison (:mod:`solvers.compare`), by name.
METHODS: dict[str, LearnerMethod] = {
    "ppo-shared": LearnerMethod("ppo", "shared", "clearing"),
    "ppo-ibr": LearnerMethod("ppo", "ibr", "clearing"),
    "sac-shared": LearnerMethod("sac", "shared", "clearing"),
    "sac-ibr": LearnerMethod("sac", "ibr", "clearing"),
    "market-game": LearnerMethod("ppo", "shared", "market"),
    "sac-market-game": LearnerMethod("sac", "shared", "market"),
}


#: The one method the RLlib backend trains: PPO, one parameter-shared model, clearing drift.
RLLIB_METHOD = LearnerMethod("ppo", "shared", "clearing")


def algo_class(algo: str) -> type:
    """The Stable-Baselines3 class of ``algo`` (imports SB3 on first use)."""
    _check_choice("algo", algo, ALGOS)
    import stable_baselines3 as sb3

    return {"ppo": sb3.PPO, "a2c": sb3.A2C, "sac": sb3.SAC, "td3": sb3.TD3}[algo]


# ----- defaults -------------------------------------------------------------------------------
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


def sb3_policy_kwargs(policy_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of the network options as SB3 takes them: the activation by class,
    ``net_arch`` as integers."""
    kw = dict(policy_kwargs)
    act = kw.get("activation_fn")
    if isinstance(act, str):
        if act not in _ACTIVATIONS:
            raise ValueError(f"activation_fn must be one of {sorted(_ACTIVATIONS)}, got {act!r}")
        kw["activation_fn"] = _ACTIVATIONS[act]
    if "net_arch" in kw and isinstance(kw["net_arch"], (list, tuple)):
        kw["net_arch"] = [int(h) for h in kw["net_arch"]]
    return kw


# ----- one request, checked once ------------------------------------------------------------
@dataclass(frozen=True)
class LearnerPlan:
    """A checked learner run (built by :func:`resolve_plan`; the arguments of
    :func:`solvers.rl.train_learners`, with every default filled in).

    Attributes:
        config: the market.
        name: display name of the result (the method's, or :attr:`LearnerMethod.default_name`).
        method: algorithm, flavour and price mechanism.
        timesteps: total SB3 timesteps over all models.
        n_paths: paths B per environment.
        rounds: IBR cycles over the traders / market-game alternations.
        market_fraction: the market agent's share of ``timesteps`` in the market game.
        clearing: quantity-clearing rule of training and rollouts.
        seed: seeds everything.
        device: the market's and the networks' device during training.
        policy_kwargs: SB3 ``MlpPolicy`` options (JSON form).
        algo_kwargs: the caller's overrides of :func:`default_algo_kwargs`.
        calibration_paths: paths of the ``S_0`` estimate at the clearing drift.
        progress: print one line per training phase to stderr.
        backend: ``"sb3"`` or ``"rllib"`` (:data:`BACKENDS`).
        num_env_runners: RLlib env runners (processes; 0 = sample in the driver).
        train_batch_size: RLlib environment steps per PPO iteration (``None``: one episode
            of every sub-environment of every runner).
    """

    config: MarketConfig
    name: str
    method: LearnerMethod
    timesteps: int
    n_paths: int
    rounds: int
    market_fraction: float
    clearing: str
    seed: int
    device: torch.device
    policy_kwargs: dict[str, Any]
    algo_kwargs: dict[str, Any]
    calibration_paths: int
    progress: bool
    backend: str = "sb3"
    num_env_runners: int = 0
    train_batch_size: int | None = None

    @property
    def uses_rounds(self) -> bool:
        """Whether :attr:`rounds` means anything (IBR or the market game)."""
        return self.method.flavour == "ibr" or self.method.price == "market"

    @property
    def trader_num_envs(self) -> int:
        """Sub-environments of a trader model: ``B·N`` (shared) or ``B`` (one trader)."""
        if self.method.flavour == "shared":
            return self.n_paths * self.config.n_agents
        return self.n_paths

    def algo_kwargs_for(self, num_envs: int) -> dict[str, Any]:
        """:func:`default_algo_kwargs` on ``num_envs`` sub-environments, then the overrides."""
        kw = default_algo_kwargs(self.method.algo, num_envs, self.config.n_steps)
        kw.update(self.algo_kwargs)
        return kw


def resolve_plan(
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
    backend: str = "sb3",
    num_env_runners: int | None = None,
    train_batch_size: int | None = None,
) -> LearnerPlan:
    """Check a learner request and fill in its defaults: the one place the options of
    :func:`solvers.rl.train_learners` are documented and checked. Anything a user can get
    wrong raises ``ValueError`` naming the option, its value and what is allowed, before any
    training starts.

    Args:
        config: the market.
        method: a name of :data:`METHODS` (``"ppo-shared"``, ``"ppo-ibr"``, ``"sac-shared"``,
            ``"sac-ibr"``, ``"market-game"``, ``"sac-market-game"``); or give ``algo``,
            ``flavour``, ``price`` (these also override the method's; without a method they
            default to ``"ppo"``, ``"shared"``, ``"clearing"``).
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
        clearing: quantity-clearing rule (default ``"project"``, see
            :class:`~solvers.rl.solution.LearnerSolution`).
        seed: seeds everything (networks, SB3 sampling, market paths): same seed, same result
            (on the same device, single-threaded CPU or deterministic CUDA kernels).
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``: the market and
            the networks (:func:`market_env.device.resolve_device`). The trained solution
            lives on the CPU.
        policy_kwargs: SB3 ``MlpPolicy`` options (default :func:`default_policy_kwargs`).
        algo_kwargs: overrides of :func:`default_algo_kwargs`.
        calibration_paths: paths (seed ``seed + 104729``) of the ``S_0`` estimate for the
            clearing price (MODEL.md §2 control variate).
        progress: print one line per training phase to stderr.
        backend: ``"sb3"`` (default) or ``"rllib"``: Ray RLlib PPO over ``num_env_runners``
            env runners, each holding one ``VectorEnv`` of ``n_paths × N`` parameter-shared
            sub-environments (``n_paths`` is then per runner, default the SB3 default split
            over the runners, so a PPO iteration has SB3's batch); only
            :data:`RLLIB_METHOD` (``ppo-shared``) and ``policy_kwargs`` keys ``net_arch``,
            ``activation_fn``, ``log_std_init``; ``algo_kwargs`` override RLlib's
            ``PPOConfig.training`` options (:func:`solvers.rl.rllib.default_rllib_training`).
        num_env_runners: RLlib env runners (default 2; 0 samples in the driver process).
        train_batch_size: RLlib environment steps per PPO iteration (default: one episode of
            every sub-environment of every runner, ``max(1, runners)·n_paths·N·K``).
    """
    _check_choice("backend", backend, BACKENDS)
    if method is not None:
        _check_choice("method", method, sorted(METHODS))
        spec = METHODS[method]
        algo = spec.algo if algo is None else algo
        flavour = spec.flavour if flavour is None else flavour
        price = spec.price if price is None else price
    chosen = LearnerMethod(
        "ppo" if algo is None else algo,
        "shared" if flavour is None else flavour,
        "clearing" if price is None else price,
    )
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps must be an integer >= 1, got {timesteps!r}")
    if not 0.0 < market_fraction < 1.0:
        raise ValueError(f"market_fraction must be in (0, 1), got {market_fraction}")
    B = default_n_paths(config, chosen.algo, chosen.flavour) if n_paths is None else int(n_paths)
    if B < 1:
        raise ValueError(f"n_paths must be >= 1, got {n_paths}")
    n_rounds = (3 if chosen.flavour == "ibr" else 4) if rounds is None else int(rounds)
    if n_rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if int(calibration_paths) < 1:
        raise ValueError(f"calibration_paths must be >= 1, got {calibration_paths}")
    get_clearing_rule(clearing)
    pk = default_policy_kwargs(chosen.algo) if policy_kwargs is None else dict(policy_kwargs)
    sb3_policy_kwargs(pk)  # an unknown activation fails here, not after a round of training
    runners = _check_backend(backend, chosen, pk, num_env_runners, train_batch_size)
    if n_paths is None and runners > 0:
        B = max(1, B // runners)  # the SB3 default split over the runners: SB3's batch per update
    return LearnerPlan(
        config=config,
        name=chosen.default_name if method is None else method,
        method=chosen,
        timesteps=timesteps,
        n_paths=B,
        rounds=n_rounds,
        market_fraction=market_fraction,
        clearing=clearing,
        seed=seed,
        device=resolve_device(device),
        policy_kwargs=pk,
        algo_kwargs=dict(algo_kwargs or {}),
        calibration_paths=int(calibration_paths),
        progress=progress,
        backend=backend,
        num_env_runners=runners,
        train_batch_size=None if train_batch_size is None else int(train_batch_size),
    )


def _check_backend(
    backend: str,
    method: LearnerMethod,
    policy_kwargs: dict[str, Any],
    num_env_runners: int | None,
    train_batch_size: int | None,
) -> int:
    """Check the backend's own options; returns the number of RLlib env runners (0 for SB3)."""
    if backend == "sb3":
        given = [
            name
            for name, value in (
                ("num_env_runners", num_env_runners),
                ("train_batch_size", train_batch_size),
            )
            if value is not None
        ]
        if given:
            raise ValueError(f"{given} apply to backend='rllib' only, got backend='sb3'")
        return 0
    if method != RLLIB_METHOD:
        raise ValueError(
            f"backend='rllib' supports algo='ppo', flavour='shared', price='clearing' "
            f"(method 'ppo-shared'), got algo={method.algo!r}, flavour={method.flavour!r}, "
            f"price={method.price!r}"
        )
    extra = sorted(set(policy_kwargs) - {"net_arch", "activation_fn", "log_std_init"})
    if extra:
        raise ValueError(
            f"policy_kwargs {extra} are not supported with backend='rllib'; allowed: "
            "['activation_fn', 'log_std_init', 'net_arch']"
        )
    runners = 2 if num_env_runners is None else num_env_runners
    if isinstance(runners, bool) or not isinstance(runners, int) or runners < 0:
        raise ValueError(f"num_env_runners must be an integer >= 0, got {num_env_runners!r}")
    if train_batch_size is not None and (
        isinstance(train_batch_size, bool)
        or not isinstance(train_batch_size, int)
        or train_batch_size < 2
    ):
        raise ValueError(f"train_batch_size must be an integer >= 2, got {train_batch_size!r}")
    return runners
