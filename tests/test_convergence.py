"""The convergence verdict, stop reasons, interruptions, the schedule's checks, the thread
policy and the benchmark rule (solvers.neural.convergence, solvers.threads,
market_env.reference.benchmark)."""

import math
import os
import signal
from dataclasses import replace

import pytest
import torch

from market_env import MarketConfig, get_preset
from market_env.reference import FrictionlessSolution
from market_env.reference.benchmark import choose_benchmark
from solvers.neural import SCHEDULES, GANSchedule, ReinforcedGAN, compare, make_trainer
from solvers.neural.convergence import ConvergenceTolerances, convergence_verdict
from solvers.threads import resolve_threads, torch_threads

SMALL = get_preset("quadratic-10").with_(n_steps=10)
QUICK = SCHEDULES["quick"]


def _round(r, S0, first=-10.0, last=-10.0, terminal=1e-6, link=1e-3):
    return dict(
        round=r, S0=S0, objective_first=first, objective_last=last, terminal=terminal, link=link
    )


def test_verdict_converged_when_the_last_round_is_quiet():
    rounds = [_round(1, 0.30, -12, -10.5), _round(2, 0.3601), _round(3, 0.3602)]
    v = convergence_verdict(rounds, rounds_scheduled=3, stop_reason="completed", scale_S0=0.1)
    assert v.converged and v.message == "converged"
    assert {c["name"] for c in v.checks} == {
        "terminal",
        "objective_change",
        "S0_change",
        "link_growth",
    }


@pytest.mark.parametrize(
    "last, failing",
    [
        (_round(3, 0.3800), "S0_change"),  # S_0 still drifting: 5% in one round
        (_round(3, 0.3602, terminal=1e-2), "terminal"),
        (_round(3, 0.3602, first=-10.0, last=-9.5), "objective_change"),
        (_round(3, 0.3602, link=1e-1), "link_growth"),
    ],
)
def test_verdict_names_the_failing_check(last, failing):
    rounds = [_round(1, 0.35), _round(2, 0.3601), last]
    v = convergence_verdict(rounds, rounds_scheduled=3, stop_reason="completed", scale_S0=0.1)
    assert not v.converged
    assert v.message.startswith("NOT CONVERGED") and failing in v.message
    assert [c["name"] for c in v.checks if not c["ok"]] == [failing]


def test_verdict_of_an_early_stop():
    v = convergence_verdict(
        [],
        rounds_scheduled=6,
        stop_reason="time-limit",
        stop_where={"round": 1, "phase": "generator"},
        scale_S0=0.1,
        price_trained=False,
    )
    assert not v.converged
    assert v.message == (
        "NOT CONVERGED: stopped by the time limit in round 1 of 6, generator phase — the "
        "price was never trained"
    )
    short = convergence_verdict(
        [_round(1, 0.3)], rounds_scheduled=6, stop_reason="completed", scale_S0=0.1
    )
    assert not short.converged and "only 1 of 6 rounds" in short.message
    with pytest.raises(ValueError, match="stop_reason"):
        convergence_verdict([], rounds_scheduled=1, stop_reason="tired", scale_S0=0.1)
    with pytest.raises(ValueError, match="terminal"):
        ConvergenceTolerances(terminal=-1.0)


@pytest.mark.parametrize("solver", ["reinforced-gan", "combo", "fbsde"])
def test_every_solver_reports_a_verdict(solver):
    tr = make_trainer(SMALL, solver, schedule=QUICK, progress=False)
    tr.train()
    v = tr.verdict
    assert v.stop_reason == "completed" and v.rounds_done == QUICK.rounds
    assert not v.converged  # a smoke-test schedule does not converge, and says so
    assert tr.history["verdict"]["message"] == v.message
    assert all(set(r) >= {"S0", "terminal"} for r in tr.history["rounds"])


def test_time_limit_is_a_stop_reason_and_the_untrained_price_is_named():
    schedule = replace(QUICK, gen_epochs=40, max_seconds=1e-6)
    tr = ReinforcedGAN(SMALL, schedule, progress=False)
    tr.train()
    assert tr.verdict.stop_reason == "time-limit"
    assert "generator phase" in tr.verdict.message
    assert tr.verdict.message.endswith("the price was never trained")


def test_sigint_stops_after_the_current_epoch():
    tr = ReinforcedGAN(SMALL, replace(QUICK, gen_epochs=10), progress=False)
    calls = []
    epoch = tr.generator_epoch

    def interrupting_epoch(noise):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return epoch(noise)

    tr.generator_epoch = interrupting_epoch
    before = signal.getsignal(signal.SIGINT)
    tr.train()
    assert len(calls) == 2  # the epoch in flight finished, no further epoch ran
    assert tr.verdict.stop_reason == "interrupted" and not tr.verdict.converged
    assert "round 1 of 2, generator phase" in tr.verdict.message
    assert signal.getsignal(signal.SIGINT) is before  # the handler is restored


@pytest.mark.parametrize(
    "field, value",
    [
        ("lr_disc", -0.01),
        ("lr_gen", float("nan")),
        ("terminal_weight", -100.0),
        ("link_weight", 0.0),
        ("max_seconds", 0.0),
        ("max_seconds", float("nan")),
        ("rounds", 0),
        ("batch_size", 2.5),
        ("gen_epochs", True),
        ("lr_final_factor", 2.0),
        ("link_form", "sideways"),
    ],
)
def test_schedule_refuses_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        replace(GANSchedule(), **{field: value})


def test_default_schedule_has_no_time_limit():
    assert GANSchedule().max_seconds is None


def test_thread_policy():
    assert resolve_threads(None) == 1
    assert resolve_threads(3) == 3
    assert resolve_threads(0) >= 1
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="threads"):
            resolve_threads(bad)
    before = torch.get_num_threads()
    with torch_threads(2) as n:
        assert n == 2 and torch.get_num_threads() == 2
    assert torch.get_num_threads() == before


def test_one_thread_policy_in_the_cli_and_the_api(monkeypatch):
    """Every subcommand and the training entry points run at the policy's thread count and
    leave torch's setting as they found it."""
    from solvers.cli import main
    from solvers.exploitability import exploitability

    seen: list[int] = []
    real = torch_threads

    def spy(threads):
        seen.append(resolve_threads(threads))
        return real(threads)

    monkeypatch.setattr("solvers.threads.torch_threads", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        args = ["evaluate", "--solution", "frictionless", "--preset", "quadratic-10"]
        assert main([*args, "--paths", "10", "--json"]) == 0
        assert main([*args, "--paths", "10", "--json", "--threads", "0"]) == 0
        exploitability(FrictionlessSolution(SMALL), n_paths=20, iterations=1, train_paths=16)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == [1, resolve_threads(0), 1]


def test_benchmark_rule_says_which_and_why():
    assert choose_benchmark(get_preset("quadratic-10")).name == "riccati-discrete"
    big = MarketConfig(gamma=(1.0,) * 201, xi=(1.0, -1.0) * 100 + (0.0,))
    assert choose_benchmark(big).name == "riccati" and "O(Δt)" in choose_benchmark(big).line
    assert choose_benchmark(get_preset("power-2")).name == "leading-order"
    three = MarketConfig(gamma=(1.0, 2.0, 3.0), xi=(1.0, -0.5, -0.5), cost_power=1.5)
    none = choose_benchmark(three)
    assert none.name == "none" and none.solution is None
    assert none.line.startswith("no benchmark") and "N = 3 > 2" in none.line
    assert "market-eq exploit" in none.line
    assert none.reference.kind == "frictionless"
    unbalanced = choose_benchmark(MarketConfig(gamma=(1.0, 2.0), xi=(1.0, 0.5)))
    assert unbalanced.name == "none" and "Σξ" in unbalanced.line


def test_compare_prints_a_table_and_keeps_tensors_apart():
    tr = ReinforcedGAN(SMALL, QUICK, progress=False)
    res = compare(tr.train(), n_paths=100, seed=0)
    text = repr(res)
    assert "benchmark: the exact equilibrium of this 10-step market" in text and "S0" in text
    assert len(text) < 2000
    assert not any(isinstance(v, torch.Tensor) for v in res.values())
    assert res.trajectories[0].phi.shape[0] == 100
    assert res["benchmark"] == "riccati-discrete" and res["benchmark_exists"]
    assert math.isfinite(res["rate_path_rel_err"])
