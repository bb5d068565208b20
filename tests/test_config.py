import json
import math

import pytest

from market_env import PRESETS, MarketConfig, get_preset, load_config


def test_presets_match_model_md():
    q = get_preset("quadratic-10")
    assert q.n_agents == 10 and q.cost_power == 2.0 and q.horizon == 0.2 and q.lam == 1e-2
    assert q.gamma == pytest.approx([1.0 + 0.1 * i for i in range(10)])
    assert q.xi == (28.9, 14.9, 11.8, -14.0, -19.1, -27.0, 22.2, 31.5, -26.3, -22.9)
    assert (q.alpha, q.beta, q.supply, q.n_steps) == (1.0, 2.0, 1.0, 100)
    p = get_preset("power-2")
    assert p.gamma == (1.0, 2.0) and p.xi == (3.0, -3.0) and p.cost_power == 1.5
    assert p.horizon == 0.4
    p10 = get_preset("power-10")
    assert p10.gamma == q.gamma and p10.xi == q.xi and p10.cost_power == 1.5
    for cfg in PRESETS.values():
        assert abs(cfg.xi_sum) < 1e-12


def test_derived_quantities():
    c = get_preset("power-2")
    assert c.gamma_bar == pytest.approx(2.0 / 3.0)
    assert c.phi0 == pytest.approx((2.0 / 3.0, 1.0 / 3.0))
    assert sum(c.phi0) == pytest.approx(c.supply)
    assert c.dt == pytest.approx(0.004)
    # μ̄ = γ̄α²s and S_0 = (β − μ̄)T (MODEL.md §3), with α and s away from 1
    d = c.with_(alpha=2.0, supply=0.5)
    assert d.mu_bar == pytest.approx(2.0 / 3.0 * 4.0 * 0.5)
    assert d.frictionless_S0 == pytest.approx((2.0 - 4.0 / 3.0) * 0.4)


def test_json_round_trip_has_exactly_the_fields(tmp_path):
    c = get_preset("quadratic-10").with_(initial_holdings=[0.1] * 10)
    path = tmp_path / "c.json"
    c.save(path)
    data = json.loads(path.read_text())
    assert set(data) == {
        "gamma",
        "xi",
        "lam",
        "cost_power",
        "horizon",
        "n_steps",
        "alpha",
        "beta",
        "supply",
        "initial_holdings",
    }
    assert load_config(path) == c


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"gamma": (1.0, -1.0)}, "gamma[1] must be > 0, got -1.0"),
        ({"lam": 0.0}, "lam must be > 0, got 0.0"),
        ({"horizon": -1.0}, "horizon must be > 0"),
        ({"cost_power": 0.5}, "cost_power must be in (1, 2], got 0.5"),
        ({"cost_power": 2.5}, "cost_power must be in (1, 2], got 2.5"),
        ({"xi": (1.0, 2.0, 3.0)}, "xi must have one entry per agent"),
        ({"gamma": (1.0,), "xi": (0.0,)}, "at least 2 agents"),
        ({"lam": math.nan}, "lam must be a finite number"),
        ({"xi": (math.nan, 1.0)}, "xi[0] must be a finite number, got nan"),
        ({"n_steps": 0}, "n_steps must be an integer >= 1"),
        ({"n_steps": 2.5}, "n_steps must be an integer >= 1"),
        ({"initial_holdings": (1.0,)}, "initial_holdings must have one entry per agent"),
    ],
)
def test_invalid_values_name_field_value_and_rule(changes, message):
    base = dict(gamma=(1.0, 2.0), xi=(1.0, -1.0))
    base.update(changes)
    with pytest.raises(ValueError) as err:
        MarketConfig(**base)
    assert message in str(err.value)


def test_unknown_preset_and_keys(tmp_path):
    with pytest.raises(ValueError, match="unknown preset 'nope'.*power-2"):
        get_preset("nope")
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['foo'\]"):
        MarketConfig.from_dict({"gamma": [1, 2], "xi": [1, -1], "foo": 1})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_config(bad)


def test_xi_balanced_is_relative_to_the_largest_endowment():
    base = MarketConfig(gamma=(1.0, 2.0), xi=(2.0, -2.0))
    assert base.xi_balanced
    assert base.with_(xi=(50.0, -50.0 + 1e-9)).xi_balanced  # rounding at |ξ| = 50
    assert not base.with_(xi=(2.0, -2.0 + 1e-6)).xi_balanced
    assert not base.with_(xi=(0.1, 0.0)).xi_balanced
