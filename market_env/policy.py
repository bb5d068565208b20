"""The custom-agent policy protocol and the adapters between policies and the market.

Two kinds of policy drive :class:`~market_env.market.BatchedMarket`:

* a **state policy** (:data:`market_env.rollout.Policy`): ``policy(state) -> rates (B, N)``
  for all agents at once, what :func:`~market_env.rollout.rollout` and the solvers use;
* an **agent policy** (:data:`AgentPolicy`, the protocol for custom RL agents): a torch
  callable from trader observations to trading rates, ``policy(obs) -> rates``, with
  ``obs`` of shape ``(..., 2N + 5)`` laid out as in :mod:`market_env.observation`
  (``[t, W, S, φ_1..φ_N, γ_n, ξ_n, one-hot(n)]``) and ``rates`` of shape ``(...)`` or
  ``(..., 1)``. Called on ``(B, N, 2N + 5)`` it acts for every agent of every path at once,
  so an ``nn.Module`` ending in ``Linear(hidden, 1)`` is a parameter-shared policy for all
  traders. A list of N agent policies gives each agent its own (each called on ``(B, 2N+5)``).

:func:`as_state_policy` turns an agent policy into a state policy (for ``rollout``);
``solvers.PolicySolution`` wraps it for ``solvers.evaluate``; :func:`solution_agent_policy`
and :func:`sb3_agent_policy` go the other way, from a solver's ``Solution`` or a trained
Stable-Baselines3 model to an agent policy. The environments accept all of these as
``others``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from .config import MarketConfig
from .observation import agent_features, observation_size, trader_observations
from .price import ClearingDrift, PriceMechanism, frictionless_price
from .rollout import Policy
from .state import MarketState

__all__ = [
    "AgentPolicy",
    "PRICE_CHOICES",
    "OTHERS_CHOICES",
    "apply_agent_policy",
    "as_state_policy",
    "equilibrium_solution",
    "resolve_config",
    "resolve_others",
    "resolve_price",
    "sb3_agent_policy",
    "solution_agent_policy",
]

#: The custom-agent protocol: ``policy(obs (..., 2N+5)) -> rates (...)`` or ``(..., 1)``.
AgentPolicy = Callable[[Tensor], Tensor]

#: Named price mechanisms of the RL interfaces (DESIGN.md "Price mechanisms").
PRICE_CHOICES = ("clearing", "frictionless", "equilibrium", "market")
#: Named policies for the non-learning agents.
OTHERS_CHOICES = ("equilibrium", "frictionless", "zero")


def _is_solution(obj: Any) -> bool:
    return callable(getattr(obj, "policy", None)) and callable(getattr(obj, "price", None))


def _is_sb3_model(obj: Any) -> bool:
    return callable(getattr(obj, "predict", None)) and hasattr(obj, "policy")


def _rates_from(out: Any, shape: tuple[int, ...], who: str) -> Tensor:
    if not isinstance(out, Tensor):
        raise ValueError(f"{who} must return a torch.Tensor of rates, got {type(out).__name__}")
    if tuple(out.shape) == (*shape, 1):
        out = out.squeeze(-1)
    if tuple(out.shape) != shape:
        raise ValueError(
            f"{who} must return rates of shape {shape} or {(*shape, 1)}, got {tuple(out.shape)}"
        )
    return out


def apply_agent_policy(policy: AgentPolicy | Sequence[AgentPolicy], obs: Tensor) -> Tensor:
    """Rates ``(B, N)`` of every agent from observations ``(B, N, 2N+5)``."""
    B, N, _ = obs.shape
    if isinstance(policy, (list, tuple)):
        if len(policy) != N:
            raise ValueError(
                f"a list of agent policies needs one per agent ({N}), got {len(policy)}"
            )
        cols = [_rates_from(p(obs[:, n]), (B,), f"agent policy {n}") for n, p in enumerate(policy)]
        return torch.stack(cols, -1)
    return _rates_from(policy(obs), (B, N), "the agent policy")


def as_state_policy(policy: AgentPolicy | Sequence[AgentPolicy], config: MarketConfig) -> Policy:
    """A state policy (for :func:`~market_env.rollout.rollout`) from an agent policy.

    Example::

        net = torch.nn.Sequential(torch.nn.Linear(2 * N + 5, 64), torch.nn.Tanh(),
                                  torch.nn.Linear(64, 1))
        traj = rollout(BatchedMarket(config, 1000), as_state_policy(net, config))
    """
    cache: dict[tuple[torch.device, torch.dtype], Tensor] = {}

    def state_policy(state: MarketState) -> Tensor:
        key = (state.W.device, state.W.dtype)
        if key not in cache:
            cache[key] = agent_features(config, dtype=state.W.dtype, device=state.W.device)
        obs = trader_observations(state, cache[key])
        return apply_agent_policy(policy, obs).to(state.W.dtype)

    state_policy.agent_policy = policy  # type: ignore[attr-defined]
    return state_policy


class solution_agent_policy:  # noqa: N801 - used like a function
    """The agent policy of a ``Solution`` (its equilibrium rates), read from observations.

    The observation carries the whole Markov state ``(t, W, S, φ)`` and the agent's index, so
    each agent's rate is the solution's rate for that agent, exactly (in the observation's
    dtype). All observations in one call must be at the same time step.
    """

    def __init__(self, solution: Any) -> None:
        if not _is_solution(solution):
            raise ValueError(f"expected a Solution, got {type(solution).__name__}")
        self.solution = solution
        self.config: MarketConfig = solution.config

    def __call__(self, obs: Tensor) -> Tensor:
        c = self.config
        N, D = c.n_agents, observation_size(c.n_agents)
        if obs.shape[-1] != D:
            raise ValueError(f"observations must have length {D} (2N+5), got {obs.shape[-1]}")
        flat = obs.reshape(-1, D)
        k_float = flat[:, 0] / c.dt
        k = int(torch.round(k_float[0]).item())
        if bool(((k_float - k).abs() > 0.25).any()):
            raise ValueError("all observations in one call must be at the same time step")
        state = MarketState(k=k, t=k * c.dt, W=flat[:, 1], S=flat[:, 2], phi=flat[:, 3 : 3 + N])
        rates = self.solution.policy(state)
        index = flat[:, N + 5 :].argmax(-1, keepdim=True)
        return rates.gather(1, index).reshape(obs.shape[:-1])


class sb3_agent_policy:  # noqa: N801 - used like a function
    """The agent policy of a trained Stable-Baselines3 model (Box action of shape ``(1,)``).

    Rates are the model's (deterministic by default) actions clipped to its action space, as
    ``model.predict`` does. Observation normalisation wrappers (``VecNormalize``) are not
    applied: normalise inside the policy, or wrap this callable.
    """

    def __init__(self, model: Any, deterministic: bool = True) -> None:
        self.model = model
        self.deterministic = deterministic
        space = model.action_space
        self.low = torch.as_tensor(space.low, dtype=torch.float32)
        self.high = torch.as_tensor(space.high, dtype=torch.float32)

    def __call__(self, obs: Tensor) -> Tensor:
        flat = obs.reshape(-1, obs.shape[-1]).to(device=self.model.device, dtype=torch.float32)
        with torch.no_grad():
            actions = self.model.policy._predict(flat, deterministic=self.deterministic)
        actions = actions.reshape(flat.shape[0], -1)[:, 0].cpu()
        actions = torch.clamp(actions, self.low[0], self.high[0])
        return actions.to(obs.dtype).reshape(obs.shape[:-1])


def equilibrium_solution(config: MarketConfig) -> Any:
    """The best known equilibrium ``Solution`` for ``config``
    (:func:`market_env.reference.equilibrium_solution`, MODEL.md §3–§5)."""
    from .reference.benchmark import equilibrium_solution as best_known

    return best_known(config)


def resolve_price(
    price: str | PriceMechanism | Any, config: MarketConfig, solution: Any = None
) -> PriceMechanism | None:
    """A price mechanism from a name, a ``PriceMechanism`` or a ``Solution``.

    Names (DESIGN.md): ``"clearing"`` (clearing drift with ``σ = α``), ``"frictionless"``
    (MODEL.md §3), ``"equilibrium"`` (the price of :func:`equilibrium_solution`, or of
    ``solution`` when given), ``"market"`` (the market-maker agent: returns ``None``).
    """
    if isinstance(price, str):
        if price == "clearing":
            return ClearingDrift()
        if price == "frictionless":
            return frictionless_price(config)
        if price == "equilibrium":
            sol = equilibrium_solution(config) if solution is None else solution
            return sol.price()
        if price == "market":
            return None
        raise ValueError(
            f"price must be one of {list(PRICE_CHOICES)}, a PriceMechanism or a Solution, "
            f"got {price!r}"
        )
    if _is_solution(price):
        return price.price()
    if callable(price) and hasattr(price, "S0"):
        return price
    raise ValueError(
        f"price must be one of {list(PRICE_CHOICES)}, a PriceMechanism or a Solution, "
        f"got {type(price).__name__}"
    )


def resolve_others(others: Any, config: MarketConfig) -> tuple[Policy, Any]:
    """A state policy for the non-learning agents, and the ``Solution`` behind it (or None).

    ``others`` may be ``"equilibrium"`` (:func:`equilibrium_solution`), ``"frictionless"``,
    ``"zero"`` (no trading), a ``Solution``, a trained SB3 model, an :data:`AgentPolicy`
    or a list of N agent policies.
    """
    if isinstance(others, str):
        if others == "equilibrium":
            sol = equilibrium_solution(config)
            return sol.policy, sol
        if others == "frictionless":
            from .reference.frictionless import FrictionlessSolution

            sol = FrictionlessSolution(config)
            return sol.policy, sol
        if others == "zero":
            return (lambda state: torch.zeros_like(state.phi)), None
        raise ValueError(
            f"others must be one of {list(OTHERS_CHOICES)}, a Solution, an SB3 model or an "
            f"agent policy (obs -> rates), got {others!r}"
        )
    if _is_solution(others):
        if others.config.n_agents != config.n_agents:
            raise ValueError(
                f"others solves a market with N = {others.config.n_agents} agents, "
                f"this market has N = {config.n_agents}"
            )
        return others.policy, others
    if _is_sb3_model(others):
        return as_state_policy(sb3_agent_policy(others), config), None
    if callable(others) or isinstance(others, (list, tuple)):
        return as_state_policy(others, config), None
    raise ValueError(
        f"others must be one of {list(OTHERS_CHOICES)}, a Solution, an SB3 model or an "
        f"agent policy (obs -> rates), got {type(others).__name__}"
    )


def resolve_config(preset: str | None = None, config: Any = None) -> MarketConfig:
    """The market of an environment: ``preset`` (a name of MODEL.md §6) or ``config`` (a
    :class:`MarketConfig`, a dict or a JSON file path); default ``"quadratic-10"``."""
    from .config import get_preset, load_config

    if preset is not None and config is not None:
        raise ValueError("pass either preset= or config=, not both")
    if config is None:
        name = "quadratic-10" if preset is None else preset
        if not isinstance(name, str):
            raise ValueError(f"preset must be a preset name (str), got {type(name).__name__}")
        return get_preset(name)
    if isinstance(config, MarketConfig):
        return config
    if isinstance(config, dict):
        return MarketConfig.from_dict(config)
    if isinstance(config, str) or hasattr(config, "__fspath__"):
        return load_config(config)
    raise ValueError(
        f"config must be a MarketConfig, a dict or a JSON file path, got {type(config).__name__}"
    )
