"""Transitional re-export for the layout merge: run folders live in
:mod:`market_env.run_folder` (the :class:`~market_env.solution.Solution` base saves into
them). Kept only while ``solvers.cli`` and ``solvers.neural`` (api, reinforced_gan) still
import from here; it re-exports ``market_env.run_folder.__all__``."""

from market_env.run_folder import *  # noqa: F403
from market_env.run_folder import __all__ as __all__  # noqa: F401
