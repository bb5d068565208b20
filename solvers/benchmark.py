"""Transitional re-exports (to be removed): the benchmark rule lives in market_env.reference."""

from market_env.reference.benchmark import *  # noqa: F401,F403
from market_env.reference.benchmark import finite_metrics  # noqa: F401
