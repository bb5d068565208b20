"""The RLlib learners' result as a :class:`~market_env.solution.Solution` (kind
``"rllib-learners"``): the actor of a trained RLlib PPO ``RLModule`` (its actor encoder and
the mean half of its policy head), played deterministically on the market's own observations
(MODEL.md §2), batched over paths, at the clearing drift with the learners' own ``S_0``
(MODEL.md §4, §2).

Nothing here imports Ray: the actor is a plain ``torch.nn.Sequential`` rebuilt from the
saved ``state_dict`` (``weights.pt``, ``weights_only=True``) and JSON parameters, so a saved
run loads where RLlib is not installed. The scalings are the SB3 learners'
(:class:`~solvers.rl.envs.RLScaling`), and the action map is RLlib's own: the mean ``a`` of
the Gaussian is unsquashed to the wrapper's ``Box(−1, 1)`` as ``−1 + (a + 1)`` clipped to
``[−1, 1]`` (float32, exactly as RLlib's ``unsquash_action``), then multiplied by
``rate_scale`` — the same numbers the training environment received.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from market_env import MarketConfig, MarketState
from market_env.device import resolve_device
from market_env.observation import observation_size
from market_env.solution import register_solution

from .solution import TraderLearnerSolution

__all__ = ["ACTIVATIONS", "RLlibLearnerSolution", "build_actor", "unsquash"]

#: RLlib's ``fcnet_activation`` names and their torch modules.
ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}


def build_actor(n_inputs: int, hiddens: list[int], activation: str) -> nn.Sequential:
    """The actor as RLlib's default PPO module computes it: ``hiddens`` layers with
    ``activation`` (its actor encoder), then a linear head to the mean action."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    layers: list[nn.Module] = []
    width = n_inputs
    for h in hiddens:
        layers += [nn.Linear(width, int(h)), ACTIVATIONS[activation]()]
        width = int(h)
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def unsquash(a: Tensor) -> Tensor:
    """RLlib's ``unsquash_action`` onto ``Box(−1, 1)``: ``clip(−1 + (a + 1)·1, −1, 1)``,
    in the dtype of ``a`` (float32 in training)."""
    return (-1.0 + (a + 1.0) * 1.0).clamp(-1.0, 1.0)


@register_solution
class RLlibLearnerSolution(TraderLearnerSolution):
    """Parameter-shared traders trained by RLlib PPO (module docstring; MODEL.md §1–§2).

    Build it with :func:`solvers.rl.train_learners` (``backend="rllib"``);
    :func:`solvers.load_solution` restores it.

    Args:
        config: the market.
        method: display name (e.g. ``"ppo-shared"``).
        hiddens: the actor's hidden layer widths (RLlib ``fcnet_hiddens``).
        activation: ``"tanh"``, ``"relu"`` or ``"elu"`` (RLlib ``fcnet_activation``).
        scaling: :class:`~solvers.rl.envs.RLScaling` as a dict (default from the config).
        S0: initial price of the clearing drift (default the frictionless ``(β − γ̄α²s)T``).
        clearing: quantity-clearing rule of training and rollouts (default ``"project"``).
        training: a JSON record of how it was trained (backend, budgets, seed, wall time).
        device: where the network lives (``"auto"``: CUDA when available).
    """

    kind = "rllib-learners"

    def __init__(
        self,
        config: MarketConfig,
        *,
        method: str = "ppo-shared",
        hiddens: list[int] | tuple[int, ...] = (64, 64),
        activation: str = "tanh",
        scaling: dict[str, Any] | None = None,
        S0: float | None = None,
        clearing: str = "project",
        training: dict[str, Any] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(
            config, scaling=scaling, S0=S0, clearing=clearing, training=training, device=device
        )
        self.method = method
        self.hiddens = [int(h) for h in hiddens]
        self.activation = activation
        self.actor = build_actor(observation_size(config.n_agents), self.hiddens, activation)
        self.actor.to(self.device).eval()
        self._shift = torch.tensor(self.scaling.obs_shift, dtype=torch.float32)
        self._scale = torch.tensor(self.scaling.obs_scale, dtype=torch.float32)

    @property
    def label(self) -> str:
        return self.method

    # ----- policy -------------------------------------------------------------------------
    def unit_actions(self, scaled_obs: Tensor) -> Tensor:
        """The actions ``(M,)`` in ``[−1, 1]`` the training environment received for
        scaled observations ``(M, 2N+5)`` (float32; the deterministic mean, unsquashed)."""
        with torch.no_grad():
            mean = self.actor(scaled_obs.to(device=self.device, dtype=torch.float32))[:, 0]
        return unsquash(mean)

    def act(self, obs: Tensor) -> Tensor:
        """Rates ``(...)`` for raw observations ``(..., 2N+5)``: an agent policy
        (:data:`market_env.AgentPolicy`)."""
        flat = obs.reshape(-1, obs.shape[-1]).to(device=self.device, dtype=torch.float32)
        x = (flat - self._shift.to(self.device)) / self._scale.to(self.device)
        rates = self.unit_actions(x).to(torch.float64) * self.scaling.rate_scale
        return rates.to(device=obs.device, dtype=obs.dtype).reshape(obs.shape[:-1])

    def policy(self, state: MarketState) -> Tensor:
        """Rates ``(B, N)``: the shared actor on every trader's observation."""
        return self.act(self.observations(state))

    def agent_policies(self) -> list[Any]:
        """The one shared actor as an agent policy."""
        return [self.act]

    # ----- persistence ---------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "hiddens": self.hiddens,
            "activation": self.activation,
            **self.common_params(),
        }

    def state_dict(self) -> dict[str, Tensor]:
        """``actor.<i>.weight`` / ``actor.<i>.bias`` of the ``nn.Sequential`` actor."""
        return {f"actor.{k}": v.detach().cpu().clone() for k, v in self.actor.state_dict().items()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        inner = {k.partition(".")[2]: v for k, v in state.items() if k.startswith("actor.")}
        if len(inner) != len(state):
            raise ValueError(f"{self.kind} weights hold keys outside 'actor.': {sorted(state)}")
        self.actor.load_state_dict(inner)

    def to(self, device: str | torch.device) -> RLlibLearnerSolution:
        """Move the network (``"auto"``: CUDA when available)."""
        self.device = resolve_device(device)
        self.actor.to(self.device)
        return self

    def __repr__(self) -> str:
        return (
            f"RLlibLearnerSolution({self.method}: hiddens={self.hiddens}, "
            f"activation={self.activation}, N={self.config.n_agents})"
        )
