"""``market-eq sweep`` and :mod:`solvers.sweep`: the spec's checks, the cells and their stable
ids, a 2-cell sweep on local Ray with 2 CPUs, resume, failed cells kept as rows, the serial
path, the message without Ray, ``--help`` without torch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from solvers.cli import main
from solvers.sweep import executor as sweep_executor
from solvers.sweep import expand_cells, load_spec, parse_spec, quick_spec, run_sweep

ROOT = Path(__file__).resolve().parent.parent
#: The quick schedule shrunk further (a smoke test of the plumbing, not of convergence).
TINY = {"from": "quick", "rounds": 2, "gen_epochs": 1, "disc_epochs": 1, "batch_size": 32}


def _spec(**changes):
    data = {
        "preset": "power-2",
        "grid": {"lam": [0.003, 0.01]},
        "seeds": [0],
        "solvers": [{"solver": "reinforced-gan", "schedule": TINY}],
        "eval": {"paths": 100, "seed": 0},
    }
    data.update(changes)
    return data


def _write(tmp_path, data, name="spec.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


# ----- the spec ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "changes, words",
    [
        ({"grids": {}}, ["(top level)", "grids"]),
        ({"grid": {"lamb": [0.1]}}, ["grid", "lamb"]),
        ({"grid": {"cost_power": [2.0, 0.5]}}, ["grid.cost_power", "0.5", "cost_power"]),
        ({"grid": {"lam": []}}, ["grid.lam", "non-empty"]),
        ({"grid": {"lam": 0.1}}, ["grid.lam", "list"]),
        ({"grid": {"lam": [0.1, 0.1]}}, ["grid.lam", "repeat"]),
        ({"seeds": [0, "1"]}, ["seeds", "'1'"]),
        ({"solvers": ["reinforced-gun"]}, ["solvers[0].solver", "reinforced-gun"]),
        ({"solvers": [{"solver": "combo", "schedule": "slow"}]}, ["solvers[0].schedule", "slow"]),
        (
            {"solvers": [{"solver": "riccati", "options": {"a": 1}}]},
            ["solvers[0].options", "riccati"],
        ),
        ({"solvers": ["riccati", "riccati"]}, ["solvers", "label"]),
        ({"preset": "power-3"}, ["preset", "power-3"]),
        ({"eval": {"paths": 0}}, ["eval.paths", "0"]),
    ],
)
def test_spec_errors_are_one_line_naming_the_key(changes, words):
    with pytest.raises(ValueError) as info:
        parse_spec(_spec(**changes))
    text = str(info.value)
    assert "\n" not in text
    for word in words:
        assert word in text


def test_cells_count_and_ids_stable():
    data = _spec(
        grid={"lam": [0.003, 0.01, 0.03], "cost_power": [1.5, 2.0]},
        seeds=[0, 1],
        solvers=[{"solver": "reinforced-gan", "schedule": TINY}, "leading-order"],
    )
    cells = expand_cells(parse_spec(data))
    assert len(cells) == 3 * 2 * 2 * 2
    ids = [c.id for c in cells]
    assert len(set(ids)) == len(ids)
    assert ids == [c.id for c in expand_cells(parse_spec(json.loads(json.dumps(data))))]
    # the id is the content's, not the position's: a cell keeps its id when the grid grows
    data["grid"]["lam"].insert(0, 0.001)
    assert set(ids) < {c.id for c in expand_cells(parse_spec(data))}
    first = cells[0]
    assert first.values == {"lam": 0.003, "cost_power": 1.5}
    assert first.config["lam"] == 0.003 and first.config["gamma"] == [1.0, 2.0]


def test_examples_parse():
    for name in ("sweep_lam_power.json", "sweep_quick.json"):
        spec = load_spec(ROOT / "examples" / name)
        assert expand_cells(spec)
    assert len(expand_cells(load_spec(ROOT / "examples" / "sweep_lam_power.json"))) == 8


# ----- running cells -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_session():
    """One local Ray of 2 CPUs for the module's Ray tests (the sweep reuses a running one)."""
    ray = pytest.importorskip("ray")
    env = {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level="WARNING",
        log_to_driver=False,
        runtime_env={"env_vars": env},
    )
    yield ray
    ray.shutdown()


def test_ray_sweep_then_resume_skips_done_cells(ray_session, tmp_path, monkeypatch):
    spec = parse_spec(_spec())
    result = run_sweep(spec, tmp_path, workers=2, progress=False)
    rows = result["rows"]
    assert [r["cfg.lam"] for r in rows] == [0.003, 0.01]
    assert all(r["status"] in ("ok", "not-converged") for r in rows)  # a tiny schedule
    for r in rows:
        assert r["worker"]["pid"] != os.getpid()  # ran in a Ray worker ...
        assert r["worker"]["omp_num_threads"] == "1"  # ... with one OpenMP thread
        assert r["benchmark"] == "leading-order" and r["benchmark_exists"]
        assert r["S0"] is not None and r["benchmark_S0"] is not None
        assert (tmp_path / "cells" / r["id"] / "run" / "solution.json").is_file()
    assert result["provenance"]["executor"] == "ray"
    for name in ("sweep.csv", "sweep.md", "sweep.json", "sweep_lam.png"):
        assert (tmp_path / name).is_file()
    table = json.loads((tmp_path / "sweep.json").read_text())
    assert [r["id"] for r in table["rows"]] == [r["id"] for r in rows]
    assert table["provenance"]["cells"] == 2
    csv_head = (tmp_path / "sweep.csv").read_text().splitlines()[0].split(",")
    for column in ("cfg.lam", "S0", "mu0", "sigma0", "benchmark_S0", "train_seconds", "reason"):
        assert column in csv_head
    # resume: nothing runs again (the runner would raise), the results are untouched
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.glob("cells/*/cell.json")}

    def must_not_run(*args, **kwargs):
        raise AssertionError("a done cell ran again")

    monkeypatch.setattr(sweep_executor, "run_cell", must_not_run)
    again = run_sweep(spec, tmp_path, workers=2, progress=False)
    assert again["ran"] == [] and len(again["skipped"]) == 2
    assert [r["S0"] for r in again["rows"]] == [r["S0"] for r in rows]
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("cells/*/cell.json")} == mtimes


def test_failed_cells_stay_rows_with_reason(tmp_path):
    data = _spec(
        grid={"cost_power": [2.0, 1.5]},
        solvers=[
            "riccati",
            {"solver": "reinforced-gan", "schedule": TINY, "options": {"bogus_option": 1}},
        ],
    )
    result = run_sweep(parse_spec(data), tmp_path, serial=True, progress=False, plots=False)
    rows = {(r["solver"], r["cfg.cost_power"]): r for r in result["rows"]}
    assert len(rows) == 4
    assert rows["riccati", 2.0]["status"] == "ok"
    assert rows["riccati", 2.0]["benchmark"] == "riccati-discrete"
    refused = rows["riccati", 1.5]
    assert refused["status"] == "failed" and "cost_power" in refused["reason"]
    for q in (2.0, 1.5):
        bad = rows["reinforced-gan", q]
        assert bad["status"] == "failed" and "bogus_option" in bad["reason"]
    md = (tmp_path / "sweep.md").read_text()
    assert refused["id"] in md and "cost_power" in md.split("did not converge")[1]
    # a failed cell is done too: a resumed sweep keeps its row without running it
    again = run_sweep(parse_spec(data), tmp_path, serial=True, progress=False, plots=False)
    assert again["ran"] == [] and [r["status"] for r in again["rows"]] == [
        r["status"] for r in result["rows"]
    ]


def test_cli_serial_status_and_json(tmp_path, capsys):
    ok = _write(tmp_path, _spec(solvers=["leading-order"]), "ok.json")
    assert (
        main(
            [
                "sweep",
                str(ok),
                "--serial",
                "--out",
                str(tmp_path / "a"),
                "--json",
                "--no-progress",
                "--no-plots",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in printed["rows"]] == ["ok", "ok"]
    assert printed["provenance"]["executor"] == "serial"
    bad = _write(tmp_path, _spec(grid={"cost_power": [1.5]}, solvers=["riccati"]), "bad.json")
    assert (
        main(
            [
                "sweep",
                str(bad),
                "--serial",
                "--out",
                str(tmp_path / "b"),
                "--no-progress",
                "--no-plots",
            ]
        )
        == 4
    )
    err = capsys.readouterr().err
    assert "failed" in err and "cost_power" in err
    wrong = _write(tmp_path, _spec(grid={"lam": [-1.0]}), "wrong.json")
    assert main(["sweep", str(wrong), "--serial", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "grid.lam" in err and "-1.0" in err


def test_without_ray_the_install_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    spec = _write(tmp_path, _spec(solvers=["leading-order"]))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and 'pip install -e ".[scale]"' in err and "--serial" in err
    assert not (tmp_path / "o" / "cells").exists()  # nothing ran


def test_sweep_help_loads_no_torch():
    code = (
        "import sys\nfrom solvers.cli import main\n"
        "try:\n    main(['sweep', '--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules and 'ray' not in sys.modules\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert '"grid"' in out.stdout and "SPEC is one JSON object" in out.stdout


def test_incomplete_result_file_reruns_the_cell(tmp_path):
    spec = parse_spec(_spec(solvers=["leading-order"]))
    first = run_sweep(spec, tmp_path, serial=True, progress=False, plots=False)
    broken = tmp_path / "cells" / first["rows"][0]["id"] / "cell.json"
    broken.write_text('{"status": "ok", "S0"')  # what a torn write would leave (never ours)
    again = run_sweep(spec, tmp_path, serial=True, progress=False, plots=False)
    assert again["ran"] == [first["rows"][0]["id"]] and len(again["skipped"]) == 1
    assert json.loads(broken.read_text())["S0"] == first["rows"][0]["S0"]


def test_quick_option_gives_other_cells():
    spec = parse_spec(_spec(solvers=["reinforced-gan", "leading-order"]))
    full, quick = expand_cells(spec), expand_cells(quick_spec(spec))
    assert quick[0].entry.schedule == "quick" and full[0].entry.schedule == "default"
    assert quick[0].id != full[0].id and quick[1].id == full[1].id  # analytic: unchanged


def test_certify_adds_both_sides_of_the_certificate(tmp_path):
    # analytic cells are instant: the exact K-step truth is an ε-equilibrium with ε ≈ 0, the
    # frictionless strategy in a costly market is not (its upper bound is clearly positive)
    data = _spec(
        preset="quadratic-10",
        grid={"lam": [0.1]},
        solvers=["riccati-discrete", "frictionless"],
        eval={"paths": 200, "seed": 0, "certify_iterations": 2},
    )
    result = run_sweep(
        parse_spec(data), tmp_path, serial=True, progress=False, plots=False, certify=True
    )
    rows = {r["solver"]: r for r in result["rows"]}
    assert abs(rows["riccati-discrete"]["epsilon_upper"]) < 1e-10
    assert rows["frictionless"]["epsilon_upper"] > 1e-3
    assert rows["frictionless"]["exploitability"] is not None
    assert "ε upper" in (tmp_path / "sweep.md").read_text()


def test_certify_on_resume_certifies_done_cells_without_training(tmp_path, monkeypatch):
    # the certificate is not part of a cell's id: a later --certify run adds it to done cells
    # from their saved solutions; a cell whose solution is gone keeps its row and says why
    data = _spec(
        preset="quadratic-10",
        grid={"lam": [0.1]},
        solvers=["riccati-discrete", "frictionless"],
        eval={"paths": 200, "seed": 0, "certify_iterations": 2},
    )
    spec = parse_spec(data)
    first = run_sweep(spec, tmp_path, serial=True, progress=False, plots=False)
    assert all(r["exploitability"] is None and not r["certified"] for r in first["rows"])
    fresh = run_sweep(
        spec, tmp_path / "fresh", serial=True, progress=False, plots=False, certify=True
    )

    def must_not_train(*args, **kwargs):
        raise AssertionError("a done cell was trained again")

    monkeypatch.setattr(sweep_executor, "run_cell", must_not_train)
    again = run_sweep(spec, tmp_path, serial=True, progress=False, plots=False, certify=True)
    assert again["ran"] == [] and len(again["certified"]) == 2
    for before, after, ref in zip(first["rows"], again["rows"], fresh["rows"]):
        assert after["certified"] and after["S0"] == before["S0"]
        assert after["exploitability"] == ref["exploitability"]  # same paths, same numbers
        assert after["epsilon_upper"] == ref["epsilon_upper"]
        assert json.loads((tmp_path / "cells" / after["id"] / "cell.json").read_text())["certified"]
    assert "ε upper" in (tmp_path / "sweep.md").read_text()
    # certified cells are done: nothing runs on the next resume
    monkeypatch.setattr(sweep_executor, "certify_cell", must_not_train)
    third = run_sweep(spec, tmp_path, serial=True, progress=False, plots=False, certify=True)
    assert third["certified"] == [] and len(third["skipped"]) == 2


def test_certify_on_resume_without_a_saved_solution_says_why(tmp_path):
    import shutil

    data = _spec(
        preset="quadratic-10",
        grid={"lam": [0.1]},
        solvers=["frictionless"],
        eval={"paths": 200, "seed": 0, "certify_iterations": 2},
    )
    spec = parse_spec(data)
    (row,) = run_sweep(spec, tmp_path, serial=True, progress=False, plots=False)["rows"]
    shutil.rmtree(tmp_path / "cells" / row["id"] / "run")
    (after,) = run_sweep(spec, tmp_path, serial=True, progress=False, plots=False, certify=True)[
        "rows"
    ]
    assert not after["certified"] and after["exploitability"] is None
    assert after["certify_note"].startswith("certificate failed:")
    assert after["S0"] == row["S0"] and after["status"] == row["status"]
