"""The known answers on the whole documented range: built and finite, or refused in one line.

Range (MODEL.md §1–§2 parameters; the discrete Riccati benchmark on the Riccati points): ``λ ∈ [1e-4, 1]``, ``γ_n ∈ [0.01, 100]``,
``|ξ_n| ∈ [0.1, 50]``, ``T ∈ [0.05, 5]``, ``K ∈ [10, 2000]``; Riccati (MODEL.md §4, q = 2)
for ``N ∈ [2, 100]``, leading order (MODEL.md §5, N = 2) for ``q ∈ {1.1, 1.5, 1.9}``. On a
coarse grid of corners and a few interior points, constructing the benchmark and evaluating
it on a few seeded paths either succeeds with finite metrics or raises a ``ValueError`` whose
one-line message names the parameter — never another exception. The stationary-feedback
identity of MODEL.md §5 at several ``(q, λ)`` is in ``tests/test_leading_order_numerics.py``.
"""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
import torch

from market_env import MarketConfig
from market_env.reference import DiscreteRiccatiSolution, LeadingOrderSolution, RiccatiSolution
from market_env.reference.riccati import riccati_coefficients
from market_env.solution import evaluate

PARAMETERS = ("n_steps", "horizon", "lam", "gamma", "xi", "cost_power", "n_agents")
SCALARS = ("S0", "mu0", "sigma0", "utility_sum", "utility_sum_se", "terminal_error")


def _gammas(kind: str, n: int) -> tuple[float, ...]:
    return {
        "up": tuple(np.geomspace(0.01, 100.0, n)),
        "down": tuple(np.geomspace(100.0, 0.01, n)),
        "low": (0.01,) * n,
        "high": (100.0,) * n,
    }[kind]


def _xis(size: float, n: int) -> tuple[float, ...]:
    return tuple(size * (1.0 if i % 2 == 0 else -1.0) for i in range(n))


def _build_or_refusal(cls, config: MarketConfig):
    """The benchmark, or the message of its ``ValueError``; any other exception fails."""
    try:
        return cls(config), None
    except ValueError as exc:
        return None, str(exc)
    except Exception as exc:  # pragma: no cover - the point of the test
        pytest.fail(f"{cls.__name__} raised {type(exc).__name__} on {config}: {exc}")


def _check_refusal(message: str) -> str:
    assert "\n" not in message, message
    named = [p for p in PARAMETERS if re.search(rf"\b{p}\b", message)]
    assert named, f"the refusal names no parameter: {message}"
    return named[0]


def _check_finite(metrics: dict) -> None:
    for key in SCALARS:
        assert math.isfinite(metrics[key]), (key, metrics[key])
    assert all(math.isfinite(u) for u in metrics["utility_per_agent"])
    assert math.isfinite(metrics["clearing_error"])


def _riccati_configs():
    """The corners of the documented Riccati range, then a few interior points."""
    corners = itertools.product(
        (1e-4, 1.0), ("up", "down", "low", "high"), (0.1, 50.0), (0.05, 5.0), (2, 100)
    )
    cases = [(lam, gammas, xi, T, 10, N) for lam, gammas, xi, T, N in corners]
    cases += [
        (1e-4, "up", 50.0, 0.05, 2000, 100),  # K = 2000, the stiffest corner
        (1.0, "down", 0.1, 5.0, 2000, 2),
        (1e-2, "up", 5.0, 1.0, 200, 2),  # interior points
        (1e-2, "down", 5.0, 1.0, 200, 10),
        (3e-3, "up", 1.0, 0.5, 400, 100),
    ]
    for lam, gammas, xi, T, K, N in cases:
        yield MarketConfig(gamma=_gammas(gammas, N), xi=_xis(xi, N), lam=lam, horizon=T, n_steps=K)


def _on_the_range(cls, check) -> tuple[int, list[tuple[MarketConfig, str]]]:
    """Build ``cls`` on every Riccati-range config: ``check(config, solution)`` each one
    built; every refusal must name ``n_steps``. Returns the count built and the refusals."""
    built, refusals = 0, []
    for config in _riccati_configs():
        sol, message = _build_or_refusal(cls, config)
        if sol is None:
            assert _check_refusal(message) == "n_steps", message
            refusals.append((config, message))
            continue
        check(config, sol)
        built += 1
    return built, refusals


def test_riccati_on_the_range():
    def check(config, sol):
        assert sol.coefficients.step_rate <= 1.0
        assert np.all(np.isfinite(sol.coefficients.sigma))
        _check_finite(evaluate(sol, n_paths=4, seed=0))

    built, refusals = _on_the_range(RiccatiSolution, check)
    # the only refusal on this range: too few steps, with the K that works
    for config, message in refusals:
        need = int(re.search(r"use n_steps >= (\d+)", message).group(1))
        assert riccati_coefficients(config.with_(n_steps=need)).step_rate <= 1.0
    assert built >= 30 and len(refusals) >= 10, (built, len(refusals))


def test_discrete_riccati_on_the_range():
    """The exact K-step equilibrium needs no step-size condition: built everywhere on the
    range, finite, and its paths meet the terminal condition to rounding, or refused where
    rounding breaks it at coarse Δt."""

    def check(config, sol):
        metrics = evaluate(sol, n_paths=4, seed=0)
        _check_finite(metrics)
        # exact up to rounding in the size of the price moves (at coarse Δt with tiny λ
        # σ can be thousands: the agents close their whole gap each step)
        scale = float(sol.coefficients.sigma.max()) ** 2 * config.horizon
        assert metrics["terminal_error"] <= 1e-10 * scale, (config, metrics["terminal_error"])

    built, refusals = _on_the_range(DiscreteRiccatiSolution, check)
    assert built >= 40, (built, len(refusals))


def _lo_cases():
    corners = itertools.product(
        (1.1, 1.5, 1.9), (1e-4, 1.0), ("up", "down", "high"), (0.1, 50.0), (0.05, 5.0)
    )
    for q, lam, gammas, xi, T in corners:
        yield (q, lam, gammas, xi, T, 10)
    yield from [
        (1.5, 1e-4, "up", 50.0, 5.0, 2000),
        (1.1, 1e-3, "up", 2.0, 0.4, 100),  # interior points
        (1.5, 1e-2, "down", 3.0, 0.4, 100),
        (1.9, 1e-1, "low", 10.0, 1.0, 100),
    ]


def test_leading_order_on_the_range():
    """Also: the discrete strategy never moves a deviation past its target."""
    built = 0
    for q, lam, gammas, xi, T, K in _lo_cases():
        config = MarketConfig(
            gamma=_gammas(gammas, 2), xi=_xis(xi, 2), lam=lam, cost_power=q, horizon=T, n_steps=K
        )
        sol, message = _build_or_refusal(LeadingOrderSolution, config)
        if sol is None:
            _check_refusal(message)
            continue
        built += 1
        metrics, traj = evaluate(sol, n_paths=4, seed=0, return_trajectory=True)
        _check_finite(metrics)
        c = sol.config
        target = c.supply * c.gamma_bar / c.gamma[0] - (c.xi[0] / c.alpha) * traj.W[:, :-1]
        before, after = traj.phi[:, :-1, 0] - target, traj.phi[:, 1:, 0] - target
        slack = 1e-12 * (1.0 + before.abs())
        assert bool((after.abs() <= before.abs() + slack).all())
        assert bool((torch.sign(before) * after >= -slack).all())
    assert built == len(list(_lo_cases()))  # nothing on this range is refused


def test_out_of_range_refusals_name_the_parameter():
    two = {"gamma": (1.0, 2.0), "xi": (3.0, -3.0)}
    cases = [
        (RiccatiSolution, MarketConfig(**two, lam=1e-2, horizon=100.0, n_steps=100), "n_steps"),
        (RiccatiSolution, MarketConfig(**two, cost_power=1.5), "cost_power"),
        (LeadingOrderSolution, MarketConfig(**two, cost_power=1.02), "cost_power"),
        (
            LeadingOrderSolution,
            MarketConfig(gamma=(1.0, 2.0, 3.0), xi=(1.0, -1.0, 0.0), cost_power=1.5),
            "N",
        ),
    ]
    for cls, config, name in cases:
        with pytest.raises(ValueError, match=rf"\b{name}\b") as info:
            cls(config)
        assert "\n" not in str(info.value)
