"""Every bad input is one ValueError naming the parameter, the value and what is allowed."""

import json
import math
import os
import sys

import numpy as np
import pytest
import torch

import market_env
from market_env import BatchedMarket, MarketConfig, load_config, read_json_file
from market_env.jsonio import short_repr

BASE = {"gamma": [1.0, 2.0], "xi": [1.0, -1.0]}


def config_error(**changes) -> str:
    data = dict(BASE)
    data.update(changes)
    with pytest.raises(ValueError) as err:
        MarketConfig(**data)
    return str(err.value)


# ----- MarketConfig: kinds of values -----------------------------------------------------------
@pytest.mark.parametrize(
    "changes, message",
    [
        ({"gamma": "12"}, "gamma must be a list or tuple of numbers, one per agent, got str '12'"),
        ({"gamma": {1.0, 2.0}}, "gamma must be a list or tuple of numbers"),
        ({"xi": frozenset({1.0, -1.0})}, "xi must be a list or tuple of numbers"),
        (
            {"gamma": {"a": 1.0, "b": 2.0}},
            "gamma must be a list or tuple of numbers, one per agent",
        ),
        ({"gamma": None}, "gamma is required"),
        ({"xi": None}, "xi is required"),
        ({"gamma": 3.0}, "gamma must be a list or tuple of numbers, one per agent, got 3.0"),
        ({"gamma": [[1.0, 2.0], [3.0, 4.0]]}, "gamma[0] must be a finite number, got list [1.0,"),
        ({"gamma": [True, 2.0]}, "gamma[0] must be a finite number, got bool True"),
        ({"xi": ["1", "-1"]}, "xi[0] must be a finite number, got str '1'"),
        ({"xi": [1.0, None]}, "xi[1] must be a finite number, got NoneType None"),
        ({"xi": [1.0, math.inf]}, "xi[1] must be a finite number, got inf"),
        ({"initial_holdings": {0.5, 0.25}}, "initial_holdings must be a list or tuple"),
        ({"initial_holdings": [0.5, "x"]}, "initial_holdings[1] must be a finite number"),
        ({"lam": "12"}, "lam must be a finite number, got str '12'"),
        ({"lam": True}, "lam must be a finite number, got bool True"),
        ({"lam": None}, "lam must be a finite number, got NoneType None"),
        ({"alpha": [1.0]}, "alpha must be a finite number, got list [1.0]"),
        ({"beta": math.inf}, "beta must be a finite number, got inf"),
        ({"supply": -math.inf}, "supply must be a finite number, got -inf"),
        ({"horizon": 10**400}, "horizon must be a finite number, got <int of about 401 digits>"),
        ({"n_steps": 1e400}, "n_steps must be an integer >= 1 and <= 100000"),
        ({"n_steps": 2.5}, "n_steps must be an integer >= 1 and <= 100000"),
        ({"n_steps": True}, "(MarketConfig.MAX_STEPS), got bool True"),
        (
            {"n_steps": "100"},
            "n_steps must be an integer >= 1 and <= 100000 (MarketConfig.MAX_STEPS), got str '100'",
        ),
        ({"n_steps": math.nan}, "(MarketConfig.MAX_STEPS), got nan"),
        ({"n_steps": None}, "n_steps must be an integer"),
        ({"n_steps": [100]}, "n_steps must be an integer"),
        (
            {"gamma": np.ones((2, 2))},
            "gamma must be a list or tuple of numbers, one per agent (1-d)",
        ),
        ({"gamma": [np.bool_(True), 2.0]}, "gamma[0] must be a finite number"),
        ({"gamma": [1.0, torch.tensor(True)]}, "gamma[1] must be a finite number"),
    ],
)
def test_config_refuses_wrong_kinds(changes, message):
    assert message in config_error(**changes)


def test_a_set_is_refused_because_it_has_no_order():
    assert "a set has no order" in config_error(gamma={1.0, 2.0})


def test_config_accepts_numbers_numpy_and_torch_scalars():
    c = MarketConfig(
        gamma=np.array([1.0, 2.0]),
        xi=torch.tensor([1.0, -1.0], dtype=torch.float64),
        lam=np.float32(0.25),
        horizon=torch.tensor(0.5),
        n_steps=np.int64(10),
        alpha=1,
        beta=np.float64(2.0),
        initial_holdings=[np.float64(0.5), 1],
    )
    assert c.gamma == (1.0, 2.0) and type(c.gamma[0]) is float
    assert c.xi == (1.0, -1.0) and c.lam == 0.25 and c.horizon == 0.5
    assert c.n_steps == 10 and type(c.n_steps) is int
    assert c.initial_holdings == (0.5, 1.0) and type(c.alpha) is float
    assert MarketConfig(**BASE, n_steps=100.0).n_steps == 100
    assert MarketConfig(**BASE, n_steps=torch.tensor(7)).n_steps == 7
    assert MarketConfig(**BASE, initial_holdings=None).initial_holdings is None
    assert MarketConfig(gamma=(1, 2), xi=(1, -1)) == MarketConfig(**BASE)


# ----- MarketConfig: limits -----------------------------------------------------------------
@pytest.mark.parametrize(
    "changes, message",
    [
        ({"gamma": [1.0] * 1001, "xi": [0.0] * 1001}, "gamma has 1001 entries; at most 1000"),
        ({"xi": [0.0] * 10**6}, "xi has 1000000 entries; at most 1000 agents"),
        (
            {"n_steps": 100_001},
            "n_steps must be an integer >= 1 and <= 100000 (MarketConfig.MAX_STEPS), got 100001",
        ),
        ({"n_steps": 10**400}, "got <int of about 401 digits>"),
        ({"horizon": 1e6}, "horizon must be in [1e-06, 1000]"),
        ({"horizon": 1e-7}, "horizon must be in [1e-06, 1000]"),
        ({"lam": 1e-7}, "lam must be in [1e-06, 1e+06]"),
        ({"lam": 1e300}, "lam must be in [1e-06, 1e+06]"),
        ({"gamma": [1e300, 1.0]}, "gamma[0] must be in [1e-06, 1e+06]"),
        ({"gamma": [1.0, 0.0]}, "gamma[1] must be > 0, got 0.0"),
        ({"xi": [1e7, -1e7]}, "xi[0] must be in [-1e+06, 1e+06]"),
        ({"beta": -1e7}, "beta must be in [-1e+06, 1e+06]"),
        ({"alpha": 1e-300}, "alpha must be in [1e-06, 1e+06]"),
        ({"supply": 0.0}, "supply must be > 0, got 0.0"),
        ({"initial_holdings": [1e9, 0.0]}, "initial_holdings[0] must be in [-1e+06, 1e+06]"),
    ],
)
def test_config_limits(changes, message):
    assert message in config_error(**changes)


def test_limits_are_documented_class_attributes():
    assert MarketConfig.MAX_AGENTS == 1000 and MarketConfig.MAX_STEPS == 100_000
    assert MarketConfig.MAX_HORIZON == 1e3
    doc = MarketConfig.__doc__
    assert "MAX_AGENTS" in doc and "MAX_HORIZON" in doc and "MODEL.md" in doc
    edge = MarketConfig(
        gamma=[1e-6] + [1e6] * 999,
        xi=[1e6] + [-1e6] * 999,
        horizon=1e3,
        n_steps=100_000,
        lam=1e-6,
    )
    assert edge.n_agents == 1000 and edge.dt == pytest.approx(1e-2)


def test_with_revalidates():
    c = MarketConfig(**BASE)
    with pytest.raises(ValueError, match="n_steps must be an integer"):
        c.with_(n_steps="7")
    with pytest.raises(ValueError, match="xi must be a list or tuple"):
        c.with_(xi={1.0, -1.0})


# ----- messages never echo huge values -----------------------------------------------------
@pytest.mark.parametrize(
    "changes",
    [
        {"gamma": "1" * 10**7},
        {"lam": "9" * 10**7},
        {"lam": 10**100_000},
        {"gamma": [1.0, "x" * 10**7]},
        {"gamma": [1.0, [[[[2.0] * 10**6]]]]},
        {"xi": {float(i) for i in range(10**5)}},
    ],
)
def test_huge_values_are_not_echoed(changes):
    message = config_error(**changes)
    assert len(message) < 300, message


def test_short_repr():
    assert short_repr(1.5) == "1.5" and short_repr("ab") == "'ab'"
    long = short_repr("x" * 10**6)
    assert len(long) == 60 and long.endswith("…")
    assert short_repr(10**5000) == "<int of about 5001 digits>"
    assert short_repr(-(10**5000)).startswith("<-int")
    assert short_repr([1, 2, 3]) == "[1, 2, 3]" and short_repr((1,)) == "(1)"
    assert len(short_repr(list(range(10**6)))) == 60
    deep: list = []
    for _ in range(10**4):
        deep = [deep]
    assert len(short_repr(deep)) <= 60
    assert short_repr({"k": "v" * 1000}).startswith("{'k': 'vvv")
    assert len(short_repr(torch.zeros(10**6))) <= 60
    assert short_repr(b"\x00" * 10**6, limit=10).endswith("…")

    class Bad:
        def __repr__(self):
            raise RuntimeError("no repr")

    assert short_repr(Bad()) == "<Bad object>"


# ----- from_dict and load_config -----------------------------------------------------------
def test_from_dict_refuses_null_except_initial_holdings():
    with pytest.raises(ValueError, match="gamma must not be null"):
        MarketConfig.from_dict({"gamma": None, "xi": [1, -1]})
    with pytest.raises(ValueError, match="lam must not be null"):
        MarketConfig.from_dict({**BASE, "lam": None})
    assert MarketConfig.from_dict({**BASE, "initial_holdings": None}).initial_holdings is None
    with pytest.raises(ValueError) as err:
        MarketConfig.from_dict({**BASE, "k" * 10**6: 1})
    assert "unknown config key(s)" in str(err.value) and len(str(err.value)) < 400


def write(tmp_path, text: str | bytes, name: str = "c.json"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"gamma": "12", "xi": [1, -1]}', "gamma must be a list or tuple of numbers"),
        ('{"gamma": [1, 2], "xi": [1, -1], "lam": NaN}', "NaN is not a finite number"),
        ('{"gamma": [1, 2], "xi": [1, -1], "lam": Infinity}', "Infinity is not a finite number"),
        ('{"gamma": [1, 2], "xi": [-Infinity, 1]}', "-Infinity is not a finite number"),
        ('{"gamma": [1, 2], "xi": [1, -1], "n_steps": 1e400}', "the number at n_steps overflows"),
        ('{"gamma": [1, -1e999], "xi": [1, -1]}', "the number at gamma[1] overflows"),
        ('{"gamma": [1, 2], "xi": [1, -1], "n_steps": 100.5}', "n_steps must be an integer"),
        ('{"gamma": [1, 2], "xi": [1, -1], "n_steps": true}', "got bool True"),
        ('{"gamma": [1, 2], "xi": [1, -1], "n_steps": null}', "n_steps must not be null"),
        ('{"gamma": [1, 2], "xi": [[1], [-1]]}', "xi[0] must be a finite number, got list [1]"),
        ('{"gamma": [1, 2], "gamma": [3, 4], "xi": [1, -1]}', "has the key 'gamma' twice"),
        ('{"gamma": [1, 2], "xi": [1, -1], "n_steps": 1' + "0" * 5000 + "}", "5001 digits"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("[1, 2]", "a market config must be a JSON object, got list"),
        ("", "is not valid JSON"),
        ("{not json", "is not valid JSON"),
    ],
    ids=lambda v: v[:20] if isinstance(v, str) else None,
)
def test_load_config_refuses_bad_files(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as err:
        load_config(path)
    text = str(err.value)
    assert message in text and "config file" in text and "c.json" in text, text
    assert "\n" not in text and len(text) < 400


def test_read_json_file_refuses_non_utf8_and_accepts_a_bom(tmp_path):
    with pytest.raises(ValueError, match=r"JSON file .*c\.json' is not UTF-8 text"):
        read_json_file(write(tmp_path, b'{"a": "\xff"}'))
    assert read_json_file(write(tmp_path, '\ufeff{"a": 1}'.encode())) == {"a": 1}


def test_read_json_file_bounds_the_bytes_read(tmp_path):
    with pytest.raises(ValueError, match="larger than the limit of 10 bytes"):
        read_json_file(write(tmp_path, "[" + "1," * 10 + "1]"), max_bytes=10)
    assert read_json_file(write(tmp_path, "[1, 2, 3]"), max_bytes=9) == [1, 2, 3]
    big = write(tmp_path, " " * (1 << 20) + "1")
    with pytest.raises(ValueError, match="config file .* is larger than the limit of 1048576"):
        load_config(big)
    with pytest.raises(ValueError, match="max_bytes must be an integer >= 1"):
        read_json_file(big, max_bytes=0)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_read_json_file_refuses_devices_fifos_and_directories(tmp_path):
    with pytest.raises(
        ValueError, match="cannot read config file '/dev/zero': it is not a regular"
    ):
        load_config("/dev/zero")
    with pytest.raises(ValueError, match="it is a directory"):
        read_json_file(tmp_path, what="solution spec")
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)  # opening it for reading would block without O_NONBLOCK
        with pytest.raises(ValueError, match="not a regular file"):
            read_json_file(fifo)


def test_read_json_file_missing_and_bad_path(tmp_path):
    with pytest.raises(ValueError, match="cannot read config file .*nope.json.*No such file"):
        load_config(tmp_path / "nope.json")
    with pytest.raises(ValueError, match="path must be a str or path-like, got int"):
        read_json_file(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError) as err:
        load_config("x" * 100_000)
    assert len(str(err.value)) < 300


def test_read_json_file_is_public_and_returns_plain_json(tmp_path):
    assert "read_json_file" in market_env.__all__
    data = {"a": [1, 2.5, None, True], "b": {"c": "d"}}
    assert read_json_file(write(tmp_path, json.dumps(data)), what="spec") == data


def test_huge_integer_refused_whatever_the_interpreter_limit(tmp_path, monkeypatch):
    if hasattr(sys, "set_int_max_str_digits"):
        old = sys.get_int_max_str_digits()
        sys.set_int_max_str_digits(0)
        try:
            with pytest.raises(ValueError, match="integer of 5000 digits"):
                read_json_file(write(tmp_path, "9" * 5000))
        finally:
            sys.set_int_max_str_digits(old)


def test_load_config_round_trip_still_works(tmp_path):
    c = MarketConfig(**BASE, n_steps=7, initial_holdings=[0.25, 0.75])
    c.save(tmp_path / "c.json")
    assert load_config(tmp_path / "c.json") == c


# ----- BatchedMarket -----------------------------------------------------------------------------
def test_batch_size_is_bounded_before_allocation(quad10):
    with pytest.raises(ValueError) as err:
        BatchedMarket(quad10, 10**9)
    text = str(err.value)
    assert "batch_size × n_steps × n_agents = 1000000000 × 100 × 10 = 1e+12" in text
    assert "exceeds the limit 134217728" in text and "batch_size <= 134217" in text
    assert BatchedMarket(quad10, 134217).batch_size == 134217  # the largest allowed is built
    with pytest.raises(ValueError) as err:
        BatchedMarket(quad10, 10**5000)
    assert "<int of about 5001 digits>" in str(err.value) and len(str(err.value)) < 300
    assert BatchedMarket(quad10, np.int64(3)).batch_size == 3


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "4", None])
def test_batch_size_must_be_a_positive_integer(power2, bad):
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        BatchedMarket(power2, bad)


def test_device_and_seed_are_checked(power2):
    with pytest.raises(ValueError, match="device must be a torch device"):
        BatchedMarket(power2, 2, device="no-such-device")
    with pytest.raises(ValueError, match="seed must be an integer or None, got 1.5"):
        BatchedMarket(power2, 2, seed=1.5)
    with pytest.raises(ValueError, match=r"seed must be in \[-2\*\*63, 2\*\*64\)"):
        BatchedMarket(power2, 2, seed=2**70)
    m = BatchedMarket(power2, 2, seed=np.int64(4))
    with pytest.raises(ValueError, match="seed must be an integer or None, got True"):
        m.reset(seed=True)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mu": math.nan}, "mu must be a finite number or a tensor of shape () or (3,)"),
        ({"mu": torch.tensor([0.0, math.inf, 0.0])}, "mu must be finite, got inf at path 1"),
        ({"sigma": torch.tensor(math.nan)}, "sigma must be finite, got nan"),
        ({"sigma": -math.inf}, "sigma must be a finite number or a tensor"),
        ({"sigma": torch.ones(3, 2)}, "sigma must be a finite number or a tensor of shape () or"),
        ({"sigma": torch.ones(2)}, "got shape (2,)"),
        (
            {"mu": "0.5"},
            "mu must be a finite number or a tensor of shape () or (3,) (one per path)",
        ),
        ({"mu": True}, "mu must be a finite number or a tensor of shape () or (3,) (one per path)"),
        ({"sigma": torch.ones(3, dtype=torch.bool)}, "sigma must be a real tensor"),
        ({"mu": 10**400}, "got <int of about 401 digits>"),
    ],
)
def test_step_refuses_bad_mu_and_sigma(power2, kwargs, message):
    m = BatchedMarket(power2, 3)
    m.reset()
    with pytest.raises(ValueError) as err:
        m.step(torch.zeros(3, 2), **kwargs)
    assert message in str(err.value)
    assert m.state.k == 0  # nothing advanced


def test_step_accepts_numbers_and_tensors_for_mu_and_sigma(power2):
    m = BatchedMarket(power2, 3, dtype=torch.float64)
    m.reset(S0=np.zeros(3))
    rates = torch.zeros(3, 2, dtype=torch.float64)
    m.step(rates, mu=0.5, sigma=1.0)
    m.step(rates, mu=torch.tensor(0.5), sigma=torch.ones(1))
    res = m.step(rates, mu=np.full(3, 0.5), sigma=torch.full((3,), 1.2))
    assert res.sigma.tolist() == pytest.approx([1.2] * 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"S0": math.nan}, "S0 must be a finite number or a tensor"),
        ({"S0": torch.tensor([0.0, 0.0, -math.inf])}, "S0 must be finite, got -inf at path 2"),
        ({"S0": torch.zeros(3, 1)}, "S0 must be a finite number or a tensor of shape () or (3,)"),
        ({"S0": "0.3"}, "S0 must be a finite number"),
        ({"noise": [[0.0] * 100] * 3}, "noise must be a torch.Tensor of shape (3, 100), got list"),
        ({"noise": torch.zeros(3, 99)}, "noise must have shape (3, 100)"),
    ],
)
def test_reset_refuses_bad_S0_and_noise(power2, kwargs, message):
    m = BatchedMarket(power2, 3)
    with pytest.raises(ValueError) as err:
        m.reset(**kwargs)
    assert message in str(err.value)


def test_reset_refuses_non_finite_noise_naming_the_entry(power2):
    m = BatchedMarket(power2, 3)
    noise = torch.zeros(3, 100)
    noise[1, 7] = math.nan
    with pytest.raises(ValueError, match="noise must be finite, got nan at path 1, step 7"):
        m.reset(noise=noise)


def test_validate_false_is_the_unchecked_fast_path(power2):
    m = BatchedMarket(power2, 3, validate=False)
    noise = torch.zeros(3, 100)
    noise[0, 0] = math.nan
    m.reset(noise=noise, S0=math.inf)
    res = m.step(torch.full((3, 2), math.nan), mu=math.nan, sigma=torch.tensor(math.inf))
    assert not bool(torch.isfinite(res.state.S).any())


def test_rates_of_another_dtype_are_refused(power2):
    m = BatchedMarket(power2, 2)
    m.reset()
    with pytest.raises(ValueError, match="rates must have the market's dtype torch.float32"):
        m.step(torch.zeros(2, 2, dtype=torch.float64))


def test_long_paths_keep_the_file_name(tmp_path):
    deep = tmp_path / ("d" * 200) / "nope.json"
    with pytest.raises(ValueError) as err:
        load_config(deep)
    assert "nope.json" in str(err.value) and "…" in str(err.value)
    assert len(str(err.value)) < 200


def test_the_first_overflow_in_file_order_is_named(tmp_path):
    path = write(tmp_path, '{"a": [1, 2e400], "b": {"c": -1e999}}')
    with pytest.raises(ValueError, match=r"the number at a\[1\] overflows"):
        read_json_file(path)
