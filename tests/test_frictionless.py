"""The frictionless equilibrium rolled out in the market (MODEL.md §3)."""

import pytest
import torch

from market_env import get_preset
from market_env.reference import FrictionlessSolution
from market_env.solution import evaluate


@pytest.mark.parametrize("preset", ["quadratic-10", "power-2"])
def test_frictionless_rollout(preset):
    c = get_preset(preset)
    sol = FrictionlessSolution(c)
    metrics, traj = evaluate(sol, n_paths=256, seed=0, return_trajectory=True)
    assert metrics["clearing_error"] < 1e-20
    assert metrics["S0"] == pytest.approx(c.frictionless_S0)
    assert metrics["sigma0"] == c.alpha
    assert metrics["mu0"] == pytest.approx(c.mu_bar)
    # holdings track φ̄ one step behind: φ_{k+1} = φ̄(W_k)
    torch.testing.assert_close(
        traj.phi[:, 1:], sol.target(traj.W[:, :-1].reshape(-1)).reshape(traj.phi[:, 1:].shape)
    )
    torch.testing.assert_close(traj.phi.sum(-1), torch.full_like(traj.phi.sum(-1), c.supply))
    # S_t = βT + αW_t − μ̄(T − t) exactly, so the terminal condition holds exactly
    assert metrics["terminal_error"] < 1e-24


def test_quadratic10_frictionless_S0():
    assert FrictionlessSolution(get_preset("quadratic-10")).S0 == pytest.approx(0.372175, abs=1e-6)
