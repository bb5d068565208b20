"""Gymnasium registration of the market environments (importing ``market_env`` runs it).

``market_env/FrictionalMarket-v0``: ``gymnasium.make`` gives
:class:`~market_env.gym_env.FrictionalMarketEnv` (one learning trader), and
``gymnasium.make_vec(..., num_envs=B)`` gives :class:`~market_env.vector_env.MarketVectorEnv`
(its ``vector_entry_point``: B batched paths, or B×N with ``agent="shared"``).
"""

from __future__ import annotations

import gymnasium

__all__ = ["ENV_ID", "register_envs"]

#: The id of the single-agent (and vector) market environment.
ENV_ID = "market_env/FrictionalMarket-v0"


def register_envs() -> None:
    """Register :data:`ENV_ID` with gymnasium (idempotent)."""
    if ENV_ID in gymnasium.registry:
        return
    gymnasium.register(
        id=ENV_ID,
        entry_point="market_env.gym_env:FrictionalMarketEnv",
        vector_entry_point="market_env.vector_env:MarketVectorEnv",
    )
