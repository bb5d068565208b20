"""What every RL interface shares, written once: agent names, the "reset first" and "episode
over" errors, action conversion, per-step infos and render dispatch (DESIGN.md floor 3).

Nothing here imports an RL framework; the drawing imports matplotlib on first use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..market import StepResult
from .options import RENDER_MODES

__all__ = [
    "MARKET_AGENT",
    "RENDER_MODES",
    "SHARED",
    "action_to_array",
    "check_can_step",
    "render",
    "render_rgb",
    "render_text",
    "resolve_agent",
    "step_info",
    "trader_name",
]

#: Name of the market-maker agent (``price="market"``).
MARKET_AGENT = "market"
#: ``agent=SHARED``: every trader of every path is a sub-environment (parameter sharing).
SHARED = "shared"


# ----- agents ---------------------------------------------------------------------------------
def trader_name(n: int) -> str:
    """``"trader_n"``."""
    return f"trader_{n}"


def resolve_agent(agent: Any, n_agents: int) -> int:
    """An agent index from an int ``0..N−1`` or a name ``"trader_n"``."""
    if isinstance(agent, str) and agent.startswith("trader_") and agent[7:].isdigit():
        index = int(agent[7:])
    elif isinstance(agent, (int, np.integer)) and not isinstance(agent, bool):
        index = int(agent)
    else:
        raise ValueError(
            f"agent must be an index 0..{n_agents - 1} or a name 'trader_n', got {agent!r}"
        )
    if not 0 <= index < n_agents:
        raise ValueError(
            f"unknown agent {agent!r}: this market has N = {n_agents} traders "
            f"(trader_0..trader_{n_agents - 1})"
        )
    return index


# ----- errors and actions ---------------------------------------------------------------------
def check_can_step(view: Any) -> None:
    """Raise ``RuntimeError`` before the first ``reset()`` and after the last step of an
    episode (``view``: a :class:`~market_env.envs.view.MarketView`)."""
    state = view.market.state
    if state is None:
        raise RuntimeError("call reset() before step()")
    if state.k >= view.config.n_steps:
        raise RuntimeError(
            f"the episode is over (all K = {view.config.n_steps} steps played); "
            "call reset() to start a new one"
        )


def action_to_array(action: Any, name: str, size: int) -> np.ndarray:
    """One agent's action as a float64 vector of length ``size`` (shape ``(size,)``; a scalar
    is accepted when ``size == 1``); anything else raises ``ValueError`` naming the agent."""
    try:
        a = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"action of {name} must be a number array of shape ({size},), got {action!r}"
        ) from None
    if a.shape != (size,) and not (size == 1 and a.shape == ()):
        raise ValueError(f"action of {name} must have shape ({size},), got shape {a.shape}")
    return a.reshape(size)


def step_info(res: StepResult, path: int = 0) -> dict[str, Any]:
    """The per-step info of a single-path interface for path ``path``: step index, time, the
    price (``mu``, ``sigma``, ``S`` after the step) and the submitted ``imbalance``."""
    return {
        "k": res.state.k,
        "t": res.state.t,
        "mu": float(res.mu[path]),
        "sigma": float(res.sigma[path]),
        "S": float(res.state.S[path]),
        "imbalance": float(res.imbalance[path]),
    }


# ----- rendering -------------------------------------------------------------------------------
def render(view: Any, render_mode: str | None) -> np.ndarray | None:
    """Dispatch ``render()``: ``None`` → nothing; ``"rgb_array"`` → :func:`render_rgb` of the
    view's history; ``"human"`` → prints :func:`render_text`."""
    if render_mode is None:
        return None
    if render_mode == "rgb_array":
        return render_rgb(view.history, view.config.horizon)
    print(render_text(view.history))
    return None


def render_rgb(history: dict[str, list], horizon: float) -> np.ndarray:
    """An RGB image ``(H, W, 3)`` of a recorded path: price ``S`` and holdings ``φ``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not history:
        raise RuntimeError("nothing to render: reset the environment first")
    fig = Figure(figsize=(6.4, 4.8), dpi=80)
    ax_s, ax_p = fig.subplots(2, 1, sharex=True)
    ax_s.plot(history["t"], history["S"], color="k")
    ax_s.set_ylabel("price S")
    phi = np.asarray(history["phi"])
    for n in range(phi.shape[1]):
        ax_p.plot(history["t"], phi[:, n], lw=1)
    ax_p.set_ylabel("holdings φ")
    ax_p.set_xlabel("t")
    ax_p.set_xlim(0.0, horizon)
    fig.tight_layout()
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def render_text(history: dict[str, list]) -> str:
    """One line describing the recorded path now (``render_mode="human"``)."""
    if not history:
        raise RuntimeError("nothing to render: reset the environment first")
    k = len(history["t"]) - 1
    phi = ", ".join(f"{v:.4g}" for v in history["phi"][-1])
    line = f"k={k:3d} t={history['t'][-1]:.4f} S={history['S'][-1]:.6f}"
    if history["mu"]:
        line += f" mu={history['mu'][-1]:.4g} sigma={history['sigma'][-1]:.4g}"
    return line + f" phi=[{phi}]"
