"""Gymnasium registration of the market environments (importing ``market_env`` runs it).

``market_env/FrictionalMarket-v0``: ``gymnasium.make`` gives
:class:`~market_env.envs.gym.FrictionalMarketEnv` (one learning trader), and
``gymnasium.make_vec(..., num_envs=B)`` gives :class:`~market_env.envs.vector.MarketVectorEnv`
(its ``vector_entry_point``: B batched paths, or B×N with ``agent="shared"``). The entry points
are strings, so registering imports neither torch nor the environments.
"""

from __future__ import annotations

import gymnasium

__all__ = ["ENTRY_POINT", "ENV_ID", "VECTOR_ENTRY_POINT", "register_envs"]

#: The id of the single-agent (and vector) market environment.
ENV_ID = "market_env/FrictionalMarket-v0"
#: ``gymnasium.make``'s entry point of :data:`ENV_ID`.
ENTRY_POINT = "market_env.envs.gym:FrictionalMarketEnv"
#: ``gymnasium.make_vec``'s entry point of :data:`ENV_ID`.
VECTOR_ENTRY_POINT = "market_env.envs.vector:MarketVectorEnv"


def register_envs() -> None:
    """Register :data:`ENV_ID` with gymnasium; calling it again does nothing."""
    if ENV_ID in gymnasium.registry:
        return
    gymnasium.register(
        id=ENV_ID,
        entry_point=ENTRY_POINT,
        vector_entry_point=VECTOR_ENTRY_POINT,
    )
