"""solvers: equilibrium solvers for the market of MODEL.md, all judged by one `evaluate`.

Names load on first use, so ``import solvers`` is cheap::

    from solvers import RiccatiSolution, evaluate, load_solution
    from solvers.neural import ReinforcedGAN, solve
    from solvers.rl import train_learners
"""

from __future__ import annotations

from market_env.lazy import lazy_exports

_EXPORTS = {
    "Solution": "market_env.solution",
    "evaluate": "market_env.solution",
    "register_solution": "market_env.solution",
    "simulate": "market_env.solution",
    "FrictionlessSolution": "market_env.reference",
    "LeadingOrderSolution": "market_env.reference",
    "RiccatiSolution": "market_env.reference",
    "DiscreteRiccatiSolution": "market_env.reference",
    "load_solution": "solvers.loading",
    "PolicySolution": "solvers.custom",
    "DeepFBSDE": "solvers.neural",
    "FBSDESolution": "solvers.neural",
    "NeuralSolution": "solvers.neural",
    "ReinforcedGAN": "solvers.neural",
    "exploitability": "solvers.exploitability",
    "certify": "solvers.certificate",
    "Certificate": "solvers.certificate",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
