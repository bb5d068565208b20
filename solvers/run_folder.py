"""Transitional re-exports (to be removed): run folders live in market_env.run_folder."""

from market_env import run_folder as _moved

globals().update({k: v for k, v in vars(_moved).items() if not k.startswith("__")})
