"""The two-sided certificate of MODEL.md §9: exact inner solves, an exact penalty for the
Riccati truth, and brackets that hold where the answer is known."""

import json
import math
import re

import pytest
import torch

from market_env import MarketConfig
from market_env.reference import (
    DiscreteRiccatiSolution,
    FrictionlessSolution,
    LeadingOrderSolution,
    RiccatiSolution,
)
from market_env.solution import simulate
from solvers.certificate import certify
from solvers.certificate.bounds import inner_maximum, path_terms
from solvers.certificate.penalty import hermite_nodes, quadrature_check
from solvers.certificate.qp import maximise_quadratic, objective
from solvers.certificate.value import fit_value
from solvers.cli import main

QUAD = MarketConfig(
    gamma=(1.0, 2.0), xi=(3.0, -3.0), lam=1e-2, cost_power=2.0, horizon=0.2, n_steps=20
)
POWER = MarketConfig(
    gamma=(1.0, 2.0), xi=(3.0, -3.0), lam=1e-2, cost_power=1.5, horizon=0.4, n_steps=20
)
SMALL = dict(n_paths=400, fit_paths=400, validation_paths=200)


def test_inner_qp_matches_a_dense_solve():
    solution = DiscreteRiccatiSolution(QUAD)
    value = fit_value(solution, 200, seed=1)
    terms = path_terms(solution, simulate(solution, 8, seed=2), value, nodes=10)
    K, dt, lam = QUAD.n_steps, QUAD.dt, QUAD.lam
    d = terms.quad[:, 1:K].permute(0, 2, 1)
    g = (terms.lin[:, 1:K] - terms.dB).permute(0, 2, 1)
    x0 = terms.phi[:, 0]
    res = maximise_quadratic(d, g, x0, lam, dt)
    # brute force: the dense Hessian of f and one linear solve per path
    M, L = K - 1, lam / dt
    lap = (
        2 * torch.eye(M, dtype=torch.float64)
        - torch.diag(torch.ones(M - 1, dtype=torch.float64), 1)
        - torch.diag(torch.ones(M - 1, dtype=torch.float64), -1)
    )
    lap[-1, -1] = 1.0
    H = torch.diag_embed(d) + L * lap
    rhs = g.clone()
    rhs[..., 0] += L * x0
    dense = torch.linalg.solve(H, rhs.unsqueeze(-1)).squeeze(-1)
    assert (res.x - dense).abs().max() < 1e-8 * dense.abs().max()
    assert res.residual.max() < 1e-10 and bool(res.concave.all())
    # and it is the maximum: any perturbation lowers f
    f0 = objective(res.x, d, g, x0, lam, 2.0, dt)[0]
    f1 = objective(res.x + 1e-3 * torch.randn_like(res.x), d, g, x0, lam, 2.0, dt)[0]
    assert bool((f1 < f0).all())


def test_exact_h_of_the_discrete_truth_closes_the_bracket():
    cert = certify(DiscreteRiccatiSolution(QUAD), **SMALL)
    for up, se, std, lo, pf, pf_se, u in zip(
        cert.upper_gain_per_agent,
        cert.upper_gain_se_per_agent,
        cert.upper_std_per_path_per_agent,
        cert.lower_raw_gain_per_agent,
        cert.perfect_foresight_gain_per_agent,
        cert.perfect_foresight_gain_se_per_agent,
        cert.utility_per_agent,
    ):
        assert abs(up) <= 3 * se + 1e-14
        assert std < 1e-12 * abs(u)  # the exact h: per-path values are constant
        assert abs(lo) < 1e-12
        # perfect foresight alone is a loose bound: what the penalty buys
        assert pf > 10 * pf_se and pf > 1e-2 * abs(u)
    assert cert.value_fit["max_relative_fit_residual"] < 1e-10
    assert cert.epsilon < 1e-12


def test_continuous_truth_in_the_discrete_market_has_a_tight_positive_bracket():
    """σ and the rates of the continuous equilibrium sampled on 20 steps miss the discrete
    optimum by O(Δt): the greedy policy of the exact h finds that gain, and the upper bound
    meets it."""
    cert = certify(RiccatiSolution(QUAD), **SMALL)
    for lo, lo_se, up in zip(
        cert.lower_gain_per_agent, cert.lower_gain_se_per_agent, cert.upper_gain_per_agent
    ):
        assert lo > 10 * lo_se
        assert abs(up - lo) < 1e-10 * max(1.0, abs(up))


def test_frictionless_strategy_in_a_costly_market_is_exploitable():
    cert = certify(FrictionlessSolution(QUAD), **SMALL)
    for lo, lo_se, up in zip(
        cert.lower_gain_per_agent, cert.lower_gain_se_per_agent, cert.upper_gain_per_agent
    ):
        assert lo > 5 * lo_se > 0
        assert up >= lo - 1e-12


def test_power_costs_inner_solver_is_optimal_and_the_bracket_holds():
    solution = LeadingOrderSolution(POWER)
    cert = certify(solution, n_paths=200, fit_paths=300, validation_paths=100)
    # stated tolerances: gradient of the (C¹) objective below 1e-6, certified slack
    # |∇f|²/(2m) added to the bound below 1e-10
    assert cert.inner["max_residual"] < 1e-6
    assert cert.inner["max_slack"] < 1e-10
    assert cert.inner["concave_fraction"] == 1.0
    for lo, up, pf in zip(
        cert.lower_raw_gain_per_agent,
        cert.upper_gain_per_agent,
        cert.perfect_foresight_gain_per_agent,
    ):
        assert up >= lo - 1e-12
        assert pf > up  # the fitted h tightens the perfect-foresight bound
    # the anticipative maximum beats the penalised value of the adapted greedy path on
    # every path (up to the inner solver's tolerance)
    traj = simulate(solution, 50, seed=3)
    value = fit_value(solution, 300, seed=4)
    terms = path_terms(solution, traj, value, nodes=10)
    from solvers.certificate.bounds import greedy_path, penalised_value

    phi, u = greedy_path(terms, POWER)
    inner, _ = inner_maximum(terms, POWER)
    assert bool((inner >= penalised_value(terms, phi, u, POWER) - 1e-12).all())


def test_gauss_hermite_quadrature():
    z, w = hermite_nodes(10)
    for p, exact in ((0, 1), (2, 1), (4, 3), (6, 15), (8, 105), (3, 0)):
        assert abs(float((w * z**p).sum()) - exact) < 1e-11
    assert quadrature_check(10) < 1e-6
    assert quadrature_check(20) < 1e-14
    with pytest.raises(ValueError, match="nodes"):
        hermite_nodes(1)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="penalty"):
        certify(FrictionlessSolution(QUAD), penalty="exact")
    with pytest.raises(ValueError, match="fit_paths"):
        certify(FrictionlessSolution(QUAD), fit_paths=1)


def test_exploit_bound_cli_json(capsys):
    args = ["exploit", "--solution", "frictionless", "--config"]
    path = None
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(QUAD.to_dict(), fh)
        path = fh.name
    assert (
        main(
            [
                *args,
                path,
                "--bound",
                "--paths",
                "50",
                "--iterations",
                "2",
                "--train-paths",
                "16",
                "--fit-paths",
                "64",
                "--nodes",
                "6",
                "--json",
                "--no-progress",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    keys = {
        "upper_gain_per_agent",
        "upper_gain_se_per_agent",
        "penalty",
        "inner",
        "verdict",
        "lower_gain_per_agent",
        "gain_per_agent",
        "perfect_foresight_gain_per_agent",
        "best_response",
    }
    assert keys <= set(out)
    assert out["penalty"] == "value" and len(out["upper_gain_per_agent"]) == 2
    assert all(math.isfinite(x) for x in out["upper_gain_per_agent"])
    assert "train_gain_per_step" in out["best_response"]
    assert (
        main(
            [
                *args,
                path,
                "--bound",
                "--paths",
                "20",
                "--iterations",
                "0",
                "--penalty",
                "zero",
                "--fit-paths",
                "8",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "ε-equilibrium with ε =" in text and "upper/|J|" in text


def test_node_expectations_are_the_same_in_chunks(monkeypatch):
    from solvers.certificate import penalty

    solution = LeadingOrderSolution(POWER)
    traj = simulate(solution, 30, seed=5)
    whole = penalty.NodeExpectation(solution, traj, 6).expected(4)
    monkeypatch.setattr(penalty, "CHUNK", 7)
    chunked = penalty.NodeExpectation(solution, traj, 6)
    assert chunked.chunk == 7
    assert torch.allclose(chunked.expected(4), whole, rtol=1e-13, atol=1e-15)


def test_compare_shows_the_bracket_as_columns():
    from solvers.compare import CompareBudgets, bracket_row, format_markdown, run_comparison

    budgets = CompareBudgets.quick(bound=True, n_paths=300, exploit_iterations=0)
    result = run_comparison(QUAD, ["benchmark"], budgets=budgets, device="cpu")
    (truth,) = result["rows"]
    # the exact K-step truth: the bracket closes at 0
    assert abs(truth["bracket_max_relative_upper"]) < 1e-10
    table = format_markdown(result)
    assert "ε / \\|J_n\\| (upper)" in table and "width / \\|J_n\\|" in table
    cells = [len(re.split(r"(?<!\\)\|", line)) for line in table.splitlines()[-3:]]
    assert cells[0] == cells[2] == 17  # header and row: 15 columns each
    # the frictionless strategy pays costs it need not: a clearly positive bracket
    fric = bracket_row(FrictionlessSolution(QUAD), budgets)
    assert fric["bracket_max_relative_upper"] > 1e-3
    for lo, up in zip(fric["bracket_lower_per_agent"], fric["bracket_upper_per_agent"]):
        assert up >= lo
