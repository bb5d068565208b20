"""Reinforced-GAN and baselines (MODEL.md §8): small, seeded, deterministic checks."""

import json
import math

import pytest
import torch

from market_env import BatchedMarket, MarketConfig, clearing_drift, rollout
from solvers import RiccatiSolution, evaluate, load_solution
from solvers.neural import (
    Combo,
    DeepFBSDE,
    GANSchedule,
    NeuralSolution,
    ReinforcedGAN,
    TrainingDivergedError,
    compare,
    link_loss,
    make_trainer,
    solve,
)

# A small 2-agent quadratic market: few steps, so a solve takes seconds.
SMALL = MarketConfig(
    gamma=(1.0, 2.0), xi=(2.0, -2.0), lam=0.1, cost_power=2.0, horizon=0.5, n_steps=20
)
TINY = GANSchedule(
    rounds=2,
    gen_epochs=3,
    disc_epochs=3,
    batch_size=32,
    disc_batch_size=32,
    noise_batches=2,
    pool_batches=2,
)


def _riccati_paths(config, n=64, seed=0):
    truth = RiccatiSolution(config)
    market = BatchedMarket(config, n, price=truth.price(), clearing="none", seed=seed)
    return market, rollout(market, truth.policy)


@pytest.mark.parametrize("form", ["increment", "cumulative"])
@pytest.mark.parametrize("config", [SMALL, SMALL.with_(n_steps=7, lam=0.01)])
def test_link_loss_vanishes_at_clearing_drift_and_grows_when_perturbed(config, form):
    market, traj = _riccati_paths(config)
    phi, W, sigma = traj.phi[:, :-1], traj.W[:, :-1], traj.sigma
    from market_env import MarketState

    duck = MarketState(k=-1, t=0.0, W=W, S=W, phi=phi)
    mu = clearing_drift(sigma, duck, market)
    base = float(link_loss(market, phi, W, mu, sigma, form))
    assert base < 1e-10
    losses = [float(link_loss(market, phi, W, mu + eps, sigma, form)) for eps in (0.01, 0.1)]
    assert losses[0] > 1e-5 and losses[1] == pytest.approx(100 * losses[0], rel=1e-3)
    # a perturbation of the state dependence (not a constant shift) is detected too
    assert float(link_loss(market, phi, W, mu * (1 + 0.1 * W), sigma, form)) > 1e-6


def test_small_quadratic_reaches_riccati_truth():
    """2 agents, K = 20: in ~30 s of training the equilibrium is close to the Riccati truth."""
    schedule = GANSchedule(
        rounds=6,
        gen_epochs=40,
        disc_epochs=60,
        batch_size=256,
        disc_batch_size=128,
        lr_gen=1e-2,
        lr_disc=1e-2,
        lr_S0=1e-2,
        noise_batches=4,
        pool_batches=10,
    )
    trainer = ReinforcedGAN(SMALL, schedule, seed=0, progress=False)
    sol = trainer.train()
    res = compare(sol, RiccatiSolution(SMALL), n_paths=1000, seed=1)
    truth = res["benchmark_metrics"]
    # Stated tolerances for this small budget (reached on the reference CPU: S0 0.9%,
    # sigma0 0.7%, sigma/mu/rate paths 1.3%/2.6%/13%, utility 1.9%, terminal 2.8e-6).
    assert res["S0"] == pytest.approx(truth["S0"], rel=0.02)
    assert res["sigma0"] == pytest.approx(truth["sigma0"], rel=0.03)
    assert res["sigma_path_rel_err"] < 0.03
    assert res["mu_path_rel_err"] < 0.06
    assert res["rate_path_rel_err"] < 0.20
    assert res["utility_sum"] == pytest.approx(truth["utility_sum"], rel=0.04)
    assert res["terminal_error"] < 2e-5  # the K = 20 Riccati truth itself has 1e-4
    assert res["clearing_error"] < 1e-10


def test_training_is_deterministic():
    a = ReinforcedGAN(SMALL, TINY, seed=3, progress=False).train()
    b = ReinforcedGAN(SMALL, TINY, seed=3, progress=False).train()
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(v, w), k


def test_checkpoint_round_trip_and_resume(tmp_path):
    trainer = ReinforcedGAN(SMALL, TINY, seed=1, progress=False)
    trainer.train()
    trainer.save(tmp_path / "run")
    loaded = load_solution(tmp_path / "run")
    assert isinstance(loaded, NeuralSolution)
    for (k, v), w in zip(trainer.solution.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(v, w), k
    m1 = evaluate(trainer.solution, n_paths=50, seed=2)
    m2 = evaluate(loaded, n_paths=50, seed=2)
    for key in ("S0", "mu0", "sigma0", "utility_sum", "clearing_error", "terminal_error"):
        assert m1[key] == m2[key]
    # resume: two rounds + two more equals four rounds in one go
    resumed = ReinforcedGAN.resume(tmp_path / "run", progress=False)
    assert resumed.round == 2
    resumed.train(rounds=4)
    straight = ReinforcedGAN(SMALL, TINY, seed=1, progress=False)
    straight.train(rounds=4)
    for (k, v), w in zip(
        resumed.solution.state_dict().items(), straight.solution.state_dict().values()
    ):
        torch.testing.assert_close(v, w, rtol=1e-5, atol=1e-6, msg=k)
    assert len(resumed.history["rounds"]) == 4


def test_nan_detection_names_round_epoch_and_loss():
    trainer = ReinforcedGAN(SMALL, TINY, seed=0, progress=False)
    with torch.no_grad():
        trainer.nets.generator.weights[0][0, 0, 0, 0] = math.nan
    with pytest.raises(
        TrainingDivergedError, match=r"round 1, generator epoch 1: loss '\w+' is nan"
    ):
        trainer.train()
    trainer = ReinforcedGAN(SMALL, TINY, seed=0, progress=False)
    with torch.no_grad():
        trainer.nets.S0_offset.fill_(math.inf)
    with pytest.raises(TrainingDivergedError, match="discriminator epoch 1.*Hint"):
        trainer.train()


@pytest.mark.parametrize("cls", [Combo, DeepFBSDE])
def test_baselines_run_and_round_trip(cls, tmp_path):
    trainer = cls(SMALL, TINY, seed=0, progress=False)
    sol = trainer.train()
    m = evaluate(sol, n_paths=20, seed=0)
    assert math.isfinite(m["utility_sum"]) and math.isfinite(m["terminal_error"])
    trainer.save(tmp_path / "b")
    m2 = evaluate(load_solution(tmp_path / "b"), n_paths=20, seed=0)
    assert m2["utility_sum"] == m["utility_sum"]


def test_power_cost_and_residual_and_clearing_options():
    power = SMALL.with_(cost_power=1.5)
    sol = ReinforcedGAN(power, TINY, generator="residual", progress=False).train()
    m = evaluate(sol, n_paths=20, seed=0)
    assert m["clearing_error"] < 1e-10  # the last agent clears
    sol = ReinforcedGAN(SMALL, TINY, mu="clearing", progress=False).train()
    assert math.isfinite(evaluate(sol, n_paths=20)["utility_sum"])
    with pytest.raises(ValueError, match="cost_power = 2"):
        ReinforcedGAN(power, TINY, mu="clearing")


def test_cli_solve_json_and_evaluate(tmp_path, capsys):
    from solvers.cli import main

    cfg = tmp_path / "c.json"
    SMALL.save(cfg)
    out = tmp_path / "run"
    args = ["solve", "--config", str(cfg), "--quick", "--paths", "40", "--out", str(out)]
    # a smoke-test schedule does not converge: exit status 4, the run is saved all the same
    assert main(args + ["--json", "--no-progress"]) == 4
    res = json.loads(capsys.readouterr().out)
    assert res["converged"] is False and res["stop_reason"] == "completed"
    assert res["verdict"]["message"].startswith("NOT CONVERGED")
    for key in (
        "S0",
        "mu0",
        "sigma0",
        "utility_sum",
        "utility_per_agent",
        "clearing_error",
        "terminal_error",
        "n_paths",
        "seed",
        "sigma_path_rel_err",
        "mu_path_rel_err",
        "rate_path_rel_err",
        "train_seconds",
    ):
        assert key in res, key
    assert res["n_paths"] == 40
    for name in (
        "solution.json",
        "weights.pt",
        "training.pt",
        "history.json",
        "evaluation.json",
        "rates.png",
        "holdings.png",
        "sigma.png",
        "mu.png",
    ):
        assert (out / name).is_file(), name
    assert main(["evaluate", "--solution", str(out), "--paths", "40", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["utility_sum"] == pytest.approx(res["utility_sum"], rel=1e-6)
    # resume one more round from the folder
    assert (
        main(
            [
                "solve",
                "--resume",
                str(out),
                "--rounds",
                "3",
                "--quick",
                "--paths",
                "40",
                "--json",
                "--no-progress",
                "--no-plots",
            ]
        )
        == 4
    )
    assert json.loads(capsys.readouterr().out)["rounds_done"] == 3


def test_all_agents_generator_reports_real_clearing_error():
    sol = ReinforcedGAN(SMALL, TINY, generator="all", progress=False).train()
    assert sol.clearing == "none"
    m = evaluate(sol, n_paths=20, seed=0)
    assert m["clearing_error"] > 0.0  # each agent orders for itself; the price must clear


def test_fbsde_on_power_costs_fails_with_a_clear_error():
    """The forward-simulated Y of Deep FBSDE blows up for q < 2 (rate ∝ Y|Y| at q = 1.5):
    the guard reports it (the paper saw NaN too), never a bare assert."""
    from market_env import get_preset

    trainer = DeepFBSDE(get_preset("power-2"), TINY, progress=False)
    with pytest.raises(TrainingDivergedError, match="fbsde diverged in round 1, joint epoch 1"):
        trainer.train()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_quick_solve_matches_cpu_shapes():
    trainer = ReinforcedGAN(SMALL, TINY, device="cuda", progress=False)
    sol = trainer.train()
    m = evaluate(sol, n_paths=20, seed=0, device="cuda")
    assert math.isfinite(m["utility_sum"])


def test_loss_guard_catches_explosion():
    from solvers.neural.training import LossGuard

    guard = LossGuard("reinforced-gan", explode=1e6)
    guard.check({"utility": -40.0}, round_=1, phase="generator", epoch=1, hint="h")
    with pytest.raises(
        TrainingDivergedError, match="round 2, generator epoch 7: loss 'utility' exploded"
    ):
        guard.check({"utility": -4e9}, round_=2, phase="generator", epoch=7, hint="h")


def _pool_losses(trainer, link_sigma_grad):
    from solvers.neural.training import discriminator_losses, simulate_pool

    market = trainer.disc_market
    pool = simulate_pool(trainer.nets, market, trainer._noise(1, 1, market))
    trainer.nets.zero_grad(set_to_none=True)
    losses = discriminator_losses(
        trainer.nets,
        market,
        pool.noise[0],
        pool.rates[0],
        pool.phi[0],
        pool.W[0],
        link_sigma_grad=link_sigma_grad,
    )
    return losses


@pytest.mark.parametrize("price_net", ["separate", "joint"])
def test_link_loss_trains_mu_only_unless_asked(price_net):
    """With ``link_sigma_grad=False`` (default) the link loss sends no gradient to σ's own
    weights (σ answers to the terminal loss only); with True it does. Same loss value."""
    trainer = ReinforcedGAN(
        SMALL.with_(cost_power=1.5), TINY, seed=0, progress=False, price_net=price_net
    )
    with torch.no_grad():  # move away from the zero-initialised last layers
        for w in trainer.nets.price_net.weights:
            w.normal_(0.0, 0.3)
    values = []
    for flag in (False, True):
        losses = _pool_losses(trainer, flag)
        losses["link"].backward()
        last = trainer.nets.price_net.weights[-1].grad[0]  # (heads, width, outputs)
        # σ: head 0 (separate) or output 0 (joint); μ: head 1 or output 1
        sigma_grad = last[0, :, 0]
        mu_grad = last[1, :, 0] if price_net == "separate" else last[0, :, 1]
        assert mu_grad.abs().max() > 0
        assert (sigma_grad.abs().max() > 0) == flag
        values.append(float(losses["link"].detach()))
    assert values[0] == values[1]
    assert GANSchedule().link_sigma_grad is False


def test_joint_price_net_matches_separate_layout_and_round_trips(tmp_path):
    trainer = ReinforcedGAN(SMALL, TINY, seed=0, progress=False, price_net="joint")
    nets = trainer.nets
    assert nets.price_net.heads == 1 and nets.price_net.d_out == 2
    sol = trainer.train()
    m = evaluate(sol, n_paths=20, seed=0)
    trainer.save(tmp_path / "j")
    loaded = load_solution(tmp_path / "j")
    assert loaded.options["price_net"] == "joint"
    assert evaluate(loaded, n_paths=20, seed=0)["utility_sum"] == m["utility_sum"]
    # a run saved before the option existed (no "price_net" in its params) loads as separate
    spec_path = tmp_path / "j" / "solution.json"
    spec = json.loads(spec_path.read_text())
    spec["params"].pop("price_net")
    spec_path.write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="weights.pt .* does not fit this neural solution"):
        load_solution(tmp_path / "j")
    with pytest.raises(ValueError, match="price_net must be one of"):
        NeuralSolution(SMALL, price_net="shared")


def test_price_heads_without_grad_equal_the_autograd_path():
    """The fast no-grad evaluation of several heads (the frozen price in a generator
    rollout) gives the same numbers as the batched autograd path."""
    from solvers.neural.networks import StackedMLP

    torch.manual_seed(0)
    net = StackedMLP(5, 1, heads=2, skip_steps=4)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.5)
    x = torch.randn(16, 5)
    bound = net.bind()
    with torch.enable_grad():
        ref = net.forward_step(x, 2, bound)
    with torch.no_grad():
        fast = net.forward_step(x, 2, bound)
    torch.testing.assert_close(fast, ref.detach(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_chunked_mlp_matches_autograd(activation):
    """``forward_all`` on many rows (chunked forward, recomputing backward) gives the plain
    autograd values and gradients, also when the chunks do not divide the rows."""
    from solvers.neural.networks import ACTIVATIONS, ChunkedMLP

    torch.manual_seed(0)
    dims = [5, 7, 7, 3]
    ws = [
        torch.randn(a, b, dtype=torch.float64, requires_grad=True) for a, b in zip(dims, dims[1:])
    ]
    bs = [torch.randn(b, dtype=torch.float64, requires_grad=True) for b in dims[1:]]
    x = torch.randn(23, 5, dtype=torch.float64, requires_grad=True)
    out = ChunkedMLP.apply(x, activation, 4, *ws, *bs)
    h = x
    for i, (w, b) in enumerate(zip(ws, bs)):
        h = h @ w + b
        if i < len(ws) - 1:
            h = ACTIVATIONS[activation](h)
    torch.testing.assert_close(out, h)
    g = torch.randn_like(out)
    got = torch.autograd.grad(out, [x, *ws, *bs], g)
    want = torch.autograd.grad(h, [x, *ws, *bs], g)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)
    assert torch.autograd.gradcheck(
        lambda x_, *p: ChunkedMLP.apply(x_, activation, 4, *p), (x, *ws, *bs)
    )


def _cli_quick_solve(tmp_path, capsys, *extra):
    """``market-eq solve --quick`` of SMALL into ``tmp_path/run`` with ``extra`` flags; the
    base arguments and the run folder."""
    from solvers.cli import main

    cfg = tmp_path / "c.json"
    SMALL.save(cfg)
    out = tmp_path / "run"
    args = ["solve", "--config", str(cfg), "--quick", "--paths", "20", "--out", str(out)]
    flags = ["--no-plots", "--json", "--no-progress", "--allow-unconverged"]
    assert main(args + list(extra) + flags) == 0
    capsys.readouterr()
    return args, out


def test_cli_solve_network_and_link_options_are_recorded(tmp_path, capsys):
    from solvers.cli import main

    extra = ["--price-net", "separate", "--link-sigma-grad", "--threads", "1"]
    args, out = _cli_quick_solve(tmp_path, capsys, *extra)
    spec = json.loads((out / "solution.json").read_text())
    assert spec["params"]["price_net"] == "separate"
    assert spec["training"]["schedule"]["link_sigma_grad"] is True
    with pytest.raises(SystemExit) as refused:
        main(args + ["--threads", "-1", "--no-progress"])
    assert refused.value.code == 2
    assert "--threads: must be an integer >= 0" in capsys.readouterr().err


def test_resume_keeps_the_saved_link_setting(tmp_path):
    trainer = ReinforcedGAN(SMALL, TINY, seed=0, progress=False)
    trainer.train(rounds=1)
    trainer.save(tmp_path / "r")
    assert ReinforcedGAN.resume(tmp_path / "r", progress=False).schedule.link_sigma_grad is False
    # a run saved before the option existed trained the link on σ too, and resumes so
    spec_path = tmp_path / "r" / "solution.json"
    spec = json.loads(spec_path.read_text())
    spec["training"]["schedule"].pop("link_sigma_grad")
    spec_path.write_text(json.dumps(spec))
    assert ReinforcedGAN.resume(tmp_path / "r", progress=False).schedule.link_sigma_grad is True


def _perturbed(solution, seed=1):
    """The solution with random generator weights (an untrained generator trades at every
    step, the last one included)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in solution.nets.generator.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
    return solution


@pytest.mark.parametrize("generator", ["residual", "all"])
def test_no_trade_at_the_last_step_by_default_and_it_never_costs_utility(generator):
    # MODEL.md §2: the step reward uses the left-point holdings, so a trade at k = K−1 is
    # pure cost in any price; the default generator does not trade there.
    learned = _perturbed(NeuralSolution(SMALL, generator=generator, last_rate="learned"))
    zero = NeuralSolution(SMALL, generator=generator)
    zero.nets.load_state_dict(learned.nets.state_dict())
    assert zero.options["last_rate"] == "zero"
    market = BatchedMarket(SMALL, 64, price=zero.price(), clearing=zero.clearing, seed=3)
    traj = rollout(market, zero.policy)
    assert torch.all(traj.fills[:, -1] == 0)
    assert torch.all(traj.fills[:, -2].abs().amax(0) > 0)  # the step before still trades
    a, b = evaluate(learned, n_paths=256, seed=0), evaluate(zero, n_paths=256, seed=0)
    gain = [z - u for z, u in zip(b["utility_per_agent"], a["utility_per_agent"])]
    # same paths and price; only the last, costly trade is gone: every agent gains
    assert all(g > 0 for g in gain), gain
    assert a["S0"] == b["S0"]


def test_last_rate_is_recorded_and_older_runs_keep_their_learned_last_rate(tmp_path):
    trainer = ReinforcedGAN(SMALL, TINY, seed=0, progress=False)
    trainer.train(rounds=1)
    trainer.save(tmp_path / "r")
    spec_path = tmp_path / "r" / "solution.json"
    spec = json.loads(spec_path.read_text())
    assert spec["params"]["last_rate"] == "zero"
    assert load_solution(tmp_path / "r").options["last_rate"] == "zero"
    spec["params"].pop("last_rate")  # as written before the option existed
    spec_path.write_text(json.dumps(spec))
    assert load_solution(tmp_path / "r").options["last_rate"] == "learned"
    with pytest.raises(ValueError, match="last_rate must be one of"):
        NeuralSolution(SMALL, last_rate="none")


def test_fbsde_keeps_price_net_and_refuses_a_zero_last_rate():
    fbsde = DeepFBSDE(SMALL, TINY, seed=0, progress=False, price_net="joint")
    assert fbsde.solution.options["price_net"] == "joint"
    assert fbsde.nets.price_net.d_out == 2
    assert "last_rate" not in fbsde.solution.params()
    with pytest.raises(ValueError, match="last_rate must be 'learned' for fbsde"):
        DeepFBSDE(SMALL, TINY, seed=0, progress=False, last_rate="zero")


def test_cli_fbsde_keeps_a_separate_price_net(tmp_path, capsys):
    # the CLI passes every network flag (and a generator fbsde does not use) as keywords
    _, out = _cli_quick_solve(tmp_path, capsys, "--solver", "fbsde", "--price-net", "separate")
    spec = json.loads((out / "solution.json").read_text())
    assert spec["params"]["price_net"] == "separate"
    assert "generator" not in spec["params"] and "last_rate" not in spec["params"]
    loaded = load_solution(out)
    assert loaded.kind == "deep-fbsde" and loaded.options["price_net"] == "separate"
    assert loaded.nets.price_net.heads == 2  # one MLP for σ, one for μ


def test_net_options_travel_as_one_object_and_flat_keywords_become_one():
    from solvers.neural import NetOptions

    opts = NetOptions(width=8, depth=2, price_net="separate")
    for solver in ("reinforced-gan", "combo"):
        trainer = make_trainer(SMALL, solver, schedule=TINY, net_options=opts, progress=False)
        assert trainer.solution.net_options is opts and trainer.nets.options is opts
    flat = make_trainer(SMALL, "combo", schedule=TINY, width=8, depth=2, price_net="separate")
    assert flat.solution.net_options == opts
    fbsde = make_trainer(SMALL, "fbsde", schedule=TINY, generator="residual", width=8)
    assert fbsde.solution.net_options == NetOptions(width=8, generator="all", last_rate="learned")
    with pytest.raises(ValueError, match="not both"):
        make_trainer(SMALL, "combo", net_options=opts, width=8)
    with pytest.raises(ValueError, match="cannot be given with a solution"):
        ReinforcedGAN(SMALL, TINY, solution=NeuralSolution(SMALL), width=8)


@pytest.mark.parametrize(
    "build",
    [
        lambda: ReinforcedGAN(SMALL, TINY, widht=8),
        lambda: Combo(SMALL, TINY, net_options=None, widht=8),
        lambda: NeuralSolution(SMALL, widht=8),
        lambda: make_trainer(SMALL, "fbsde", widht=8),
        lambda: solve(SMALL, schedule=TINY, widht=8),
    ],
)
def test_a_keyword_no_network_consumes_is_one_line_naming_it(build):
    with pytest.raises(ValueError) as err:
        build()
    text = str(err.value)
    assert "\n" not in text and "'widht'" in text and "'width'" in text and "'price_net'" in text


def test_fbsde_refuses_a_residual_generator_given_to_it():
    with pytest.raises(ValueError, match="generator must be 'all' for fbsde"):
        DeepFBSDE(SMALL, TINY, generator="residual")


def test_combo_has_one_optimiser_over_every_parameter_and_resumes_older_runs():
    trainer = Combo(SMALL, TINY, seed=0, progress=False)
    assert list(trainer.optimizers) == ["opt_gen"] and not hasattr(trainer, "opt_disc")
    in_groups = [id(p) for g in trainer.opt_gen.param_groups for p in g["params"]]
    assert sorted(in_groups) == sorted(id(p) for p in trainer.nets.parameters())
    trainer.train(rounds=1)
    state = trainer.training_state()
    assert set(state) == {"opt_gen", "round", "train_seconds", "run_id"}
    # runs saved before carried an unused optimiser ``opt_disc``: it is ignored
    unused = torch.optim.Adam([torch.nn.Parameter(torch.zeros(()))]).state_dict()
    fresh = Combo(SMALL, TINY, seed=0, progress=False)
    fresh.load_training_state({**state, "opt_disc": unused})
    assert fresh.round == 1
    missing = {k: v for k, v in state.items() if k != "opt_gen"}
    with pytest.raises(ValueError, match=r"no \['opt_gen'\]"):
        fresh.load_training_state(missing)


def test_options_and_schedule_modules_load_no_torch_and_name_every_activation():
    import subprocess
    import sys

    from solvers.neural import ACTIVATION_NAMES
    from solvers.neural.networks import ACTIVATIONS

    assert tuple(ACTIVATIONS) == ACTIVATION_NAMES
    code = (
        "import sys; from solvers.neural import SCHEDULES, NetOptions, NET_SHAPES; "
        "NetOptions(width=4); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
