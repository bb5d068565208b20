"""Gymnasium registration of the market environments (importing ``market_env`` runs it).

``market_env/FrictionalMarket-v0``: ``gymnasium.make`` gives
:class:`~market_env.envs.gym.FrictionalMarketEnv` (one learning trader), and
``gymnasium.make_vec(..., num_envs=B)`` gives :class:`~market_env.envs.vector.MarketVectorEnv`
(its ``vector_entry_point``: B batched paths, or B×N with ``agent="shared"``). The entry points
are strings, so registering imports neither torch nor the environments.

Processes that never import ``market_env`` (Ray RLlib's remote env runners, any
``gymnasium.make`` in a fresh worker) do not know :data:`ENV_ID`: the bare id fails there with
``NamespaceNotFound: Namespace market_env not found`` (RLlib surfaces it as a bare
``IndexError``). Give them :data:`ENV_ID_FOR_WORKERS`, ``"market_env:" + ENV_ID``: gymnasium
imports the module named before the colon, which registers the id, before the lookup.
"""

from __future__ import annotations

import gymnasium

__all__ = ["ENTRY_POINT", "ENV_ID", "ENV_ID_FOR_WORKERS", "VECTOR_ENTRY_POINT", "register_envs"]

#: The id of the single-agent (and vector) market environment.
ENV_ID = "market_env/FrictionalMarket-v0"
#: :data:`ENV_ID` with its module prefix: works in processes that never imported
#: ``market_env`` (Ray workers); the id to give RLlib's ``config.environment(...)``.
ENV_ID_FOR_WORKERS = "market_env:" + ENV_ID
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
