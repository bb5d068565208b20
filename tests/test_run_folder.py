"""Crash-safe run folders (market_env.run_folder): atomic writes, the folder lock, clearing an
earlier run, refusals of bad files on load and resume, and a kill at every step of a save."""

import hashlib
import json
import os
import pickle
import subprocess
import sys
import textwrap
import threading

import pytest
import torch

from market_env import MarketConfig
from market_env.run_folder import (
    LOCK_FILE,
    RunLock,
    atomic_torch_save,
    atomic_write_json,
    atomic_write_text,
    check_writable,
    clear_stale,
)
from solvers import evaluate, load_solution
from solvers.cli import main
from solvers.neural import GANSchedule, ReinforcedGAN

SMALL = MarketConfig(
    gamma=(1.0, 2.0), xi=(2.0, -2.0), lam=0.1, cost_power=2.0, horizon=0.5, n_steps=10
)
TINY = GANSchedule(
    rounds=3,
    gen_epochs=2,
    disc_epochs=2,
    batch_size=16,
    disc_batch_size=16,
    noise_batches=1,
    pool_batches=1,
)
NETS = {"width": 8, "depth": 1}


def _one_line_error(excinfo, *words):
    text = str(excinfo.value)
    assert "\n" not in text, text
    assert "weights_only" not in text, text
    for word in words:
        assert word in text, (word, text)
    return text


def _leftovers(directory):
    return sorted(n for n in os.listdir(directory) if n.endswith(".tmp"))


# ----- atomic writes -----------------------------------------------------------------------
def test_atomic_writes_replace_whole_files(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "one")
    atomic_write_text(tmp_path / "a.txt", "two")
    assert (tmp_path / "a.txt").read_text() == "two"
    atomic_write_json(tmp_path / "b.json", {"x": [1, 2]})
    assert json.loads((tmp_path / "b.json").read_text()) == {"x": [1, 2]}
    atomic_torch_save({"w": torch.arange(3.0)}, tmp_path / "c.pt")
    assert torch.equal(torch.load(tmp_path / "c.pt", weights_only=True)["w"], torch.arange(3.0))
    assert _leftovers(tmp_path) == []


def test_atomic_write_that_fails_keeps_the_old_file(tmp_path, monkeypatch):
    atomic_write_text(tmp_path / "a.txt", "old")

    def refuse(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        atomic_write_text(tmp_path / "a.txt", "new")
    assert (tmp_path / "a.txt").read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_check_writable(tmp_path):
    assert check_writable(tmp_path / "x" / "y").is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError) as e:
        check_writable(tmp_path / "file")
    _one_line_error(e, "not a folder")
    with pytest.raises(ValueError) as e:
        check_writable(tmp_path / "file" / "sub")
    _one_line_error(e, "cannot create the run folder")
    if os.name == "posix" and os.geteuid() != 0:  # root may write anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(ValueError) as e:
            check_writable(ro)
        _one_line_error(e, "not writable")


# ----- the lock ----------------------------------------------------------------------------
def test_lock_refuses_a_folder_in_use_and_takes_over_a_stale_one(tmp_path):
    lock = tmp_path / LOCK_FILE
    with RunLock(tmp_path):
        assert lock.read_text().split()[0] == str(os.getpid())
        with RunLock(tmp_path):  # re-entrant in the thread that holds it
            pass
        assert lock.exists()
        errors = []

        def other_thread():
            try:
                with RunLock(tmp_path):
                    pass
            except ValueError as exc:
                errors.append(str(exc))

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        assert errors and f"in use by process {os.getpid()}" in errors[0]
    assert not lock.exists()
    # held by another live process: refused, naming it
    import socket

    host = socket.gethostname()
    lock.write_text(f"{os.getppid()} {host} abc\n")
    with pytest.raises(ValueError) as e:
        RunLock(tmp_path).acquire()
    _one_line_error(e, f"in use by process {os.getppid()}", LOCK_FILE)
    # left by a process that died: taken over, and removed on release
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(f"{dead.pid} {host} abc\n")
    with RunLock(tmp_path):
        assert lock.read_text().split()[0] == str(os.getpid())
    assert not lock.exists()
    assert [n for n in os.listdir(tmp_path) if "stale" in n] == []


def test_clear_stale_removes_only_run_files(tmp_path):
    names = [
        "solution.json",
        "weights.pt",
        "training.pt",
        "history.json",
        "evaluation.json",
        "rates.png",
        "mu.png",
        "weights.0123abcd.pt",
        ".solution.json.0123abcd.tmp",
    ]
    for name in names:
        (tmp_path / name).write_text("x")
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "sub").mkdir()
    removed = clear_stale(tmp_path)
    assert sorted(removed) == sorted(names)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt", "sub"]
    assert clear_stale(tmp_path / "missing") == []


# ----- load refusals -----------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    """A saved (untrained) Reinforced-GAN run: weights, optimiser state, history."""
    trainer = ReinforcedGAN(SMALL, TINY, seed=0, progress=False, **NETS)
    trainer.save(tmp_path / "run")
    return tmp_path / "run", trainer


def _spec(d):
    return json.loads((d / "solution.json").read_text())


def _write_spec(d, spec):
    (d / "solution.json").write_text(json.dumps(spec))


def _fix_manifest(d):
    """Make solution.json's manifest match the files now in the folder (as a complete save
    of those files would), so the refusal tested is the file's own, not the digest's."""
    spec = _spec(d)
    for entry in spec["files"].values():
        data = (d / entry["path"]).read_bytes()
        entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    _write_spec(d, spec)


def test_saved_folder_layout_and_round_trip(saved):
    d, trainer = saved
    assert sorted(os.listdir(d)) == ["history.json", "solution.json", "training.pt", "weights.pt"]
    spec = _spec(d)
    assert spec["format"] == 2 and spec["generation"] == 1
    assert sorted(spec["files"]) == ["history.json", "training.pt", "weights.pt"]
    run_id = spec["training"]["run_id"]
    assert len(run_id) == 16
    assert json.loads((d / "history.json").read_text())["run_id"] == run_id
    assert torch.load(d / "training.pt", weights_only=True)["run_id"] == run_id
    loaded = load_solution(d)
    for (k, v), w in zip(trainer.solution.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(v, w), k
    resumed = ReinforcedGAN.resume(d, progress=False)
    assert resumed.run_id == run_id
    resumed.save(d)
    assert _spec(d)["generation"] == 2 and _spec(d)["training"]["run_id"] == run_id
    assert sorted(os.listdir(d)) == ["history.json", "solution.json", "training.pt", "weights.pt"]


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def _bad_weights(good_state):
    state = dict(good_state)
    key = next(iter(state))
    missing = {k: v for k, v in state.items() if k != key}
    extra = {**state, "price_net.extra": torch.zeros(2)}
    wrong = {**state, key: torch.zeros(tuple(state[key].shape) + (2,))}
    nan = {**state, key: torch.full_like(state[key], float("nan"))}
    return {
        "empty": (b"", "is empty"),
        "random bytes": (os.urandom(200), "not a torch weights file"),
        "truncated": (None, "cannot be read"),
        "hostile pickle": (Evil(), "not a weights file written by this library"),
        "object": ([torch.zeros(2)], "does not hold a state_dict"),
        "non-tensor value": ({key: "x"}, "state_dict of tensors"),
        "missing key": (missing, "missing keys"),
        "extra key": (extra, "unexpected keys ['price_net.extra']"),
        "wrong shape": (wrong, f"{key} has shape"),
        "non-finite": (nan, "non-finite"),
    }


def test_bad_weights_are_refused_in_one_line(saved, tmp_path, monkeypatch):
    d, trainer = saved
    good = (d / "weights.pt").read_bytes()
    monkeypatch.chdir(tmp_path)
    for content, words in _bad_weights(trainer.solution.state_dict()).values():
        if content is None:
            data = good[: len(good) // 2]
        elif isinstance(content, bytes):
            data = content
        else:
            atomic_torch_save(content, tmp_path / "w.pt")
            data = (tmp_path / "w.pt").read_bytes()
        (d / "weights.pt").write_bytes(data)
        # with the manifest as it was: the file is not the one solution.json names
        with pytest.raises(ValueError) as e:
            load_solution(d)
        _one_line_error(e, "is incomplete: weights.pt does not match solution.json")
        # a complete save of that file: refused for what it is
        _fix_manifest(d)
        with pytest.raises(ValueError) as e:
            load_solution(d)
        _one_line_error(e, "weights.pt", words)
        (d / "weights.pt").write_bytes(good)
        _fix_manifest(d)
    assert not (tmp_path / "pwned.txt").exists()
    load_solution(d)
    # a folder saved before manifests: the same checks, and a missing weights file
    spec = _spec(d)
    del spec["files"]
    _write_spec(d, spec)
    load_solution(d)
    (d / "weights.pt").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError) as e:
        load_solution(d)
    _one_line_error(e, "not a torch weights file")
    (d / "weights.pt").unlink()
    with pytest.raises(ValueError) as e:
        load_solution(d)
    _one_line_error(e, "without its weights")


def test_bad_solution_json_is_refused_in_one_line(saved):
    d, _ = saved
    spec = _spec(d)
    cases = {
        "not json": ("{", "is not valid JSON"),
        "null": ("null", "must be a JSON object"),
        "a list": ("[1]", "must be a JSON object"),
        "nested": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        "oversized": (" " * (5 << 20) + "{}", "larger than the limit"),
        "NaN": (json.dumps({**spec, "x": float("nan")}), "not a finite number"),
        "no kind": (json.dumps({k: v for k, v in spec.items() if k != "kind"}), "no 'kind'"),
        "null kind": (json.dumps({**spec, "kind": None}), "'kind' must be a string, got null"),
        "null config": (json.dumps({**spec, "config": None}), "'config' must be an object"),
        "null params": (json.dumps({**spec, "params": None}), "'params' must be an object"),
        "no params": (json.dumps({k: v for k, v in spec.items() if k != "params"}), "'params'"),
        "unknown kind": (json.dumps({**spec, "kind": "nope"}), "unknown solution kind 'nope'"),
        "bad config": (json.dumps({**spec, "config": {"gamma": 1}}), "bad config"),
        "bad params": (json.dumps({**spec, "params": {"width": "8"}}), "params do not fit"),
        "null training": (json.dumps({**spec, "training": None}), "'training' must be"),
        "newer format": (json.dumps({**spec, "format": 99}), "newer version"),
        "path escape": (
            json.dumps(
                {**spec, "files": {"weights.pt": {**spec["files"]["weights.pt"], "path": "../x"}}}
            ),
            "must be 'weights.pt' or its staged name",
        ),
    }
    for text, words in cases.values():
        (d / "solution.json").write_text(text)
        with pytest.raises(ValueError) as e:
            load_solution(d)
        _one_line_error(e, words)
    (d / "solution.json").unlink()
    with pytest.raises(ValueError) as e:
        load_solution(d)
    _one_line_error(e, "is incomplete: solution.json is missing")


def test_resume_refuses_files_of_another_run_or_networks(saved, tmp_path):
    d, _ = saved
    other = ReinforcedGAN(SMALL, TINY, seed=1, progress=False, **NETS)
    other.save(tmp_path / "other")
    good = {n: (d / n).read_bytes() for n in ("training.pt", "history.json")}
    for name in ("training.pt", "history.json"):
        (d / name).write_bytes((tmp_path / "other" / name).read_bytes())
        _fix_manifest(d)
        with pytest.raises(ValueError) as e:
            ReinforcedGAN.resume(d, progress=False)
        _one_line_error(e, f"{name} in", "belongs to another run")
        (d / name).write_bytes(good[name])
        _fix_manifest(d)
    ReinforcedGAN.resume(d, progress=False)
    # optimiser state of other networks (wider: moments of other shapes; deeper: more
    # parameters), under this run's id
    for options, words in (({"width": 9}, "has shape"), ({"depth": 2}, "parameters")):
        other = ReinforcedGAN(SMALL, TINY, seed=0, progress=False, **{**NETS, **options})
        for opt in (other.opt_gen, other.opt_disc):  # one step, so Adam has moments
            for group in opt.param_groups:
                for param in group["params"]:
                    param.grad = torch.zeros_like(param)
            opt.step()
        other.run_id = _spec(d)["training"]["run_id"]
        atomic_torch_save(other.training_state(), d / "training.pt")
        _fix_manifest(d)
        with pytest.raises(ValueError) as e:
            ReinforcedGAN.resume(d, progress=False)
        _one_line_error(e, "training.pt in", words, "does not fit the networks")
    # bad history, missing optimiser state
    (d / "history.json").write_text("[" * 100_000)
    (d / "training.pt").write_bytes(good["training.pt"])
    _fix_manifest(d)
    with pytest.raises(ValueError) as e:
        ReinforcedGAN.resume(d, progress=False)
    _one_line_error(e, "history.json in", "not valid JSON")
    (d / "history.json").write_bytes(good["history.json"])
    _fix_manifest(d)
    spec = _spec(d)
    del spec["files"]["training.pt"]
    _write_spec(d, spec)
    with pytest.raises(ValueError) as e:
        ReinforcedGAN.resume(d, progress=False)
    _one_line_error(e, "training.pt is missing")


# ----- a kill at every step of a save --------------------------------------------------------
KILL_SCRIPT = textwrap.dedent(
    """
    import json, os, shutil, signal, sys, traceback
    import torch
    torch.set_num_threads(1)
    from market_env import MarketConfig
    from solvers.neural import GANSchedule, ReinforcedGAN

    root = sys.argv[1]
    cfg = MarketConfig(gamma=(1.0, 2.0), xi=(2.0, -2.0), lam=0.1, cost_power=2.0,
                       horizon=0.5, n_steps=10)
    sched = GANSchedule(rounds=3, gen_epochs=2, disc_epochs=2, batch_size=16,
                        disc_batch_size=16, noise_batches=1, pool_batches=1)
    first = ReinforcedGAN(cfg, sched, seed=0, progress=False, width=8, depth=1)
    first.train(rounds=2)

    def kill_at(n):
        count = [0]
        for name in ("replace", "rename", "link", "unlink"):
            def wrapped(*a, _orig=getattr(os, name), **k):
                count[0] += 1
                if count[0] == n:
                    os.kill(os.getpid(), signal.SIGKILL)
                return _orig(*a, **k)
            setattr(os, name, wrapped)

    def killed_save(n, trainer, d):
        pid = os.fork()
        if pid == 0:
            try:
                kill_at(n)
                trainer.save(d)
                os._exit(0)
            except BaseException:
                traceback.print_exc()
                os._exit(3)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            return "killed"
        assert os.WEXITSTATUS(status) == 0, "a save failed"
        return "done"

    runs = {"first": [], "resave": []}
    for n in range(1, 60):  # a first save into a fresh folder, killed at step n
        d = f"{root}/first-{n}"
        runs["first"].append(d)
        if killed_save(n, first, d) == "done":
            break
    base = f"{root}/base"
    first.save(base)  # the first save completes
    for name in ("evaluation.json", "rates.png"):  # what solve writes after a save
        open(f"{base}/{name}", "w").write("{}")
    resumed = ReinforcedGAN.resume(base, progress=False)
    resumed.train(rounds=3)
    for n in range(1, 60):  # re-saving the resumed run over the complete one
        d = f"{root}/resave-{n}"
        shutil.copytree(base, d)
        runs["resave"].append(d)
        if killed_save(n, resumed, d) == "done":
            break
    json.dump(runs, open(f"{root}/runs.json", "w"))
    """
)


def _state(d):
    """(rounds done, S0, utility) of the run in ``d`` as loaded, or the ValueError text."""
    try:
        sol = load_solution(d)
    except ValueError as exc:
        assert "\n" not in str(exc)
        return str(exc)
    m = evaluate(sol, n_paths=20, seed=0)
    trainer = ReinforcedGAN.resume(d, progress=False)
    return trainer.round, m["S0"], m["utility_sum"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_kill_at_any_step_of_a_save_leaves_a_complete_state(tmp_path, capsys):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = json.loads((tmp_path / "runs.json").read_text())
    assert len(runs["first"]) >= 5 and len(runs["resave"]) >= 15  # every step was hit
    old = _state(tmp_path / "base")
    new = _state(runs["resave"][-1])
    assert old[0] == 2 and new[0] == 3 and old[1:] != new[1:]

    # a first save killed: nothing loads, and it says so in one line, or it is complete
    for d in runs["first"][:-1]:
        got = _state(d)
        assert got == old or "incomplete" in got or "holds no saved solution" in got, (d, got)
    assert _state(runs["first"][-1]) == old
    # re-saving a complete run: always loadable, the previous state or the new one
    seen = set()
    for d in runs["resave"]:
        got = _state(d)
        assert got in (old, new), (d, got)
        seen.add(got[0])
        names = set(os.listdir(d))
        if got == new:  # the previous state's evaluation never sits beside the new one
            assert "evaluation.json" not in names and "rates.png" not in names
        # a save from whatever state the kill left completes
        ReinforcedGAN.resume(d, progress=False).save(d)
        assert _state(d) == got
        assert sorted(os.listdir(d)) == [
            "history.json",
            "solution.json",
            "training.pt",
            "weights.pt",
        ]
    assert seen == {2, 3}

    # the CLI: exit 0 with the metrics, or 2 with one line on stderr; never a traceback
    capsys.readouterr()
    for d in runs["first"][:2] + runs["resave"][:2]:
        rc = main(["evaluate", "--solution", d, "--paths", "20", "--json"])
        out, err = capsys.readouterr()
        assert (rc, err) == (0, "") or (rc == 2 and err.count("\n") == 1), (rc, err)
    proc = subprocess.run(
        [sys.executable, "-m", "solvers.cli", "evaluate", "--solution", runs["first"][1]],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "incomplete" in proc.stderr
