"""Every bad input to ``market-eq`` is one clear line on stderr and exit status 2, never a
traceback; the markets where no benchmark exists say so in one line (README "Solving for the
equilibrium"). The library-level refusals are in ``tests/test_inputs.py`` and
``tests/test_run_folder.py``; here the same inputs go through the command line."""

from __future__ import annotations

import hashlib
import json
import os
import socket

import pytest
import torch

from market_env.run_folder import LOCK_FILE
from solvers.cli import main
from solvers.neural import GANSchedule, ReinforcedGAN

# A tiny, fast schedule for solves whose training is not what is tested.
TINY_ARGS = [
    "--rounds",
    "1",
    "--epochs",
    "1",
    "--batch",
    "16",
    "--paths",
    "40",
    "--no-plots",
    "--no-progress",
]
TWO = {"gamma": [1, 2], "xi": [1, -1], "lam": 0.1, "horizon": 0.5, "n_steps": 10}
# The config of the trust report: small λ, q = 1.25, where the discrete leading-order
# strategy used to overshoot its target and its law lost mass.
SMALL_LAMBDA_LO = {
    "gamma": [1, 2],
    "xi": [2, -2],
    "lam": 0.001,
    "cost_power": 1.25,
    "horizon": 0.4,
    "n_steps": 100,
    "alpha": 1,
    "beta": 2,
    "supply": 1,
}


def run(capsys, argv):
    """Exit status and (stdout, stderr) of ``market-eq argv`` run in this process."""
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def refused(capsys, argv, *words):
    rc, out, err = run(capsys, argv)
    assert rc == 2, (argv, rc, out, err)
    assert "Traceback" not in err + out
    last = err.strip().splitlines()[-1]
    assert last.startswith("market-eq"), err
    for w in words:
        assert w in last, (w, last)
    return last


def config_file(tmp_path, text, name="c.json"):
    path = tmp_path / name
    path.write_text(text if isinstance(text, str) else json.dumps(text))
    return str(path)


@pytest.mark.parametrize(
    "text, words",
    [
        ({**TWO, "lam": None}, ["lam"]),
        ({**TWO, "lam": [0.1]}, ["lam"]),
        ({**TWO, "lam": "0.1"}, ["lam"]),
        ({**TWO, "gamma": None}, ["gamma"]),
        ({**TWO, "gamma": "12"}, ["gamma"]),
        ({**TWO, "n_steps": True}, ["n_steps"]),
        ({**TWO, "horizon": 1e6}, ["horizon"]),
        (json.dumps(TWO)[:-1] + ', "n_steps": 1e400}', ["n_steps"]),
        ('{"gamma": [1, 2], "xi": [1, -1], "lam": NaN}', ["NaN"]),
        ("[" * 5000 + "]" * 5000, ["nest"]),
        ('{"gamma": [1, 2], "xi": [1, -1], "xi": [2, -2]}', ["xi"]),
        ("", ["c.json"]),
    ],
)
def test_bad_config_files_are_one_line(tmp_path, capsys, text, words):
    path = config_file(tmp_path, text)
    refused(capsys, ["evaluate", "--solution", "frictionless", "--config", path], *words)


def test_unreadable_config_paths_are_one_line(tmp_path, capsys):
    refused(capsys, ["evaluate", "--solution", "frictionless", "--config", "/dev/zero"])
    refused(capsys, ["evaluate", "--solution", "frictionless", "--config", str(tmp_path)])
    missing = str(tmp_path / "missing.json")
    refused(capsys, ["evaluate", "--solution", "frictionless", "--config", missing])


def test_a_huge_number_is_not_echoed(tmp_path, capsys):
    path = config_file(tmp_path, json.dumps({**TWO, "lam": 10**4000})[:-1] + "}")
    last = refused(capsys, ["evaluate", "--solution", "frictionless", "--config", path])
    assert len(last) < 400


@pytest.mark.parametrize(
    "option, value, words",
    [
        ("--lr-disc", "-0.01", ["lr_disc"]),
        ("--lr-gen", "nan", ["lr_gen"]),
        ("--terminal-weight", "-100", ["terminal_weight"]),
        ("--time-limit", "0", ["max_seconds"]),
        ("--time-limit", "nan", ["max_seconds"]),
        ("--time-limit", "inf", ["max_seconds"]),
        ("--epochs", "0", ["--epochs"]),
        ("--threads", "-1", ["--threads"]),
    ],
)
def test_bad_schedule_options_are_refused_before_training(tmp_path, capsys, option, value, words):
    out = tmp_path / "run"
    refused(capsys, ["solve", "--preset", "quadratic-10", "--out", str(out), option, value], *words)
    assert not (out / "solution.json").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_unwritable_out_is_refused_before_training(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        refused(capsys, ["solve", "--config", config_file(tmp_path, TWO), "--out", str(ro / "r")])
    finally:
        ro.chmod(0o700)


def test_out_that_is_a_file_is_refused_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    refused(
        capsys,
        ["solve", "--config", config_file(tmp_path, TWO), "--out", str(blocker / "r")],
        "cannot create the run folder",
    )


def test_out_on_a_read_only_file_system_is_refused_before_training(tmp_path, capsys):
    # /proc refuses new folders even to root
    refused(capsys, ["solve", "--config", config_file(tmp_path, TWO), "--out", "/proc/mq-run"])


def test_a_folder_in_use_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    # held by another live process (this test's parent)
    (out / LOCK_FILE).write_text(f"{os.getppid()} {socket.gethostname()} abc\n")
    refused(
        capsys,
        ["solve", "--config", config_file(tmp_path, TWO), "--out", str(out), *TINY_ARGS],
        "in use",
    )
    assert not (out / "solution.json").exists()


@pytest.fixture
def saved_run(tmp_path):
    config = json.loads(json.dumps(TWO))
    from market_env import MarketConfig

    schedule = GANSchedule(
        rounds=1,
        gen_epochs=1,
        disc_epochs=1,
        batch_size=16,
        disc_batch_size=16,
        noise_batches=1,
        pool_batches=1,
    )
    trainer = ReinforcedGAN(
        MarketConfig.from_dict(config), schedule, progress=False, width=8, depth=1
    )
    trainer.train()
    trainer.save(tmp_path / "run")
    return tmp_path / "run"


def _evaluate(run_dir):
    return ["evaluate", "--solution", str(run_dir), "--paths", "20"]


def test_saved_run_evaluates_with_its_verdict(saved_run, capsys):
    rc, out, _ = run(capsys, [*_evaluate(saved_run), "--json"])
    assert rc == 0
    result = json.loads(out)
    assert result["converged"] is False and result["stop_reason"] == "completed"


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda d: (d / "weights.pt").unlink(), ["weights.pt"]),
        (lambda d: (d / "weights.pt").write_bytes(b""), ["weights.pt"]),
        (lambda d: (d / "weights.pt").write_bytes(b"not a zip file"), ["weights.pt"]),
        (lambda d: (d / "solution.json").write_text("{"), ["solution.json"]),
        (lambda d: (d / "solution.json").unlink(), ["solution.json"]),
    ],
)
def test_damaged_runs_are_one_line(saved_run, capsys, damage, words):
    damage(saved_run)
    refused(capsys, _evaluate(saved_run), *words)
    refused(capsys, ["solve", "--resume", str(saved_run), *TINY_ARGS], *words)


def _fix_manifest(run_dir):
    """Make solution.json's manifest match the files now in the folder, as a complete save
    of them would, so that the refusal tested is the file's own, not the digest's."""
    path = run_dir / "solution.json"
    spec = json.loads(path.read_text())
    for entry in spec["files"].values():
        data = (run_dir / entry["path"]).read_bytes()
        entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    path.write_text(json.dumps(spec))


def _rewrite_spec(run_dir, change):
    """Edit solution.json as a hostile or careless hand would (the manifest still matches the
    other files, so the refusal is the field's own)."""
    path = run_dir / "solution.json"
    spec = json.loads(path.read_text())
    change(spec)
    path.write_text(json.dumps(spec))


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda s: s["config"].update(lam=None), ["lam"]),
        (lambda s: s["config"].update(gamma=[1, 2, 3], xi=[1, -1, 0]), []),
        (lambda s: s["config"].update(n_steps="10"), ["n_steps"]),
        (lambda s: s.update(kind=["neural"]), ["kind"]),
    ],
)
def test_bad_solution_json_fields_are_one_line(saved_run, capsys, change, words):
    _rewrite_spec(saved_run, change)
    refused(capsys, _evaluate(saved_run), *words)


def test_weights_with_missing_or_extra_keys_are_one_line(saved_run, capsys):
    weights = saved_run / "weights.pt"
    state = torch.load(weights, weights_only=True)
    for change in ("missing", "extra"):
        edited = dict(state)
        if change == "missing":
            edited.pop(next(iter(edited)))
        else:
            edited["unexpected.weight"] = torch.zeros(2)
        torch.save(edited, weights)
        _fix_manifest(saved_run)
        last = refused(capsys, _evaluate(saved_run), "weights.pt")
        assert "manifest" not in last and "sha" not in last.lower(), last


def test_riccati_out_of_its_range_is_refused_not_printed(tmp_path, capsys):
    path = config_file(tmp_path, {**TWO, "horizon": 100.0, "n_steps": 100})
    refused(capsys, ["evaluate", "--solution", "riccati", "--config", path], "n_steps")


def test_leading_order_on_a_small_lambda_power_config_evaluates(tmp_path, capsys):
    path = config_file(tmp_path, SMALL_LAMBDA_LO)
    rc, out, err = run(
        capsys, ["evaluate", "--solution", "leading-order", "--config", path, "--json"]
    )
    assert rc == 0, err
    metrics = json.loads(out)
    assert all(
        isinstance(metrics[k], float) and abs(metrics[k]) < 1e6
        for k in ("S0", "mu0", "sigma0", "utility_sum")
    )


def test_solve_on_a_small_lambda_power_config_names_leading_order_and_saves(tmp_path, capsys):
    out = tmp_path / "run"
    path = config_file(tmp_path, SMALL_LAMBDA_LO)
    rc, stdout, err = run(capsys, ["solve", "--config", path, "--out", str(out), *TINY_ARGS])
    assert rc == 4, err  # one round, one epoch: not converged, and said so
    assert "NOT CONVERGED" in stdout
    assert "benchmark: the leading order" in stdout
    assert (out / "solution.json").exists() and (out / "evaluation.json").exists()


def test_solve_without_a_truth_says_so(tmp_path, capsys):
    three = {"gamma": [1, 2, 3], "xi": [1, -0.5, -0.5], "cost_power": 1.5, "n_steps": 10}
    out = tmp_path / "run"
    argv = ["solve", "--config", config_file(tmp_path, three), "--out", str(out), *TINY_ARGS]
    rc, stdout, _ = run(capsys, [*argv, "--allow-unconverged"])
    assert rc == 0
    lines = [line for line in stdout.splitlines() if line.startswith("no benchmark")]
    assert len(lines) == 1
    assert "no known equilibrium" in lines[0] and "market-eq exploit" in lines[0]
    assert "reference" in stdout  # frictionless is shown, labelled as a reference only
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["benchmark_exists"] is False
