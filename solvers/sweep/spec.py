"""The sweep spec (one JSON object) and its expansion into cells.

A spec names a base market (``"preset"`` or ``"config"``: MODEL.md §1, §6), a ``"grid"`` of
:class:`~market_env.MarketConfig` fields with lists of values, the ``"seeds"`` and the
``"solvers"`` with their options; every combination is one :class:`Cell`. The format is
documented once, in :data:`SPEC_HELP` (``market-eq sweep --help`` prints it).

Everything is checked before any cell runs, each problem one ``ValueError`` naming the key and
the value; what can only fail on a combination of values (a config the analytic Riccati
solution refuses, a solver option the solver does not know) fails in its cell, and the cell
stays in the table with its reason.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from market_env.config import MarketConfig, get_preset
from market_env.jsonio import read_json_file, short_repr

__all__ = [
    "ANALYTIC_SOLVERS",
    "LEARNER_PREFIXES",
    "NEURAL_SOLVERS",
    "SPEC_HELP",
    "Cell",
    "SolverEntry",
    "SweepSpec",
    "expand_cells",
    "load_spec",
    "parse_spec",
]

#: Neural solvers (``solvers.neural.api.solve``).
NEURAL_SOLVERS = ("reinforced-gan", "combo", "fbsde")
#: Named analytic solutions (``market_env.reference``) → class name and keyword arguments.
ANALYTIC_SOLVERS: dict[str, tuple[str, dict[str, Any]]] = {
    "frictionless": ("FrictionlessSolution", {}),
    "riccati": ("RiccatiSolution", {}),
    "riccati-discrete": ("DiscreteRiccatiSolution", {}),
    "leading-order": ("LeadingOrderSolution", {}),
}
#: Independent learners: ``solvers.rl.METHODS`` names start with one of these (checked
#: against the full list when the cell runs, so the spec parser needs no SB3 import).
LEARNER_PREFIXES = ("ppo-", "sac-", "market-game", "a2c-", "td3-", "rllib")
#: Schedules a neural solver entry can name (``solvers.neural.SCHEDULES``).
SCHEDULE_NAMES = ("default", "quick")
#: Top-level keys of a spec.
SPEC_KEYS = ("name", "preset", "config", "grid", "seeds", "solvers", "eval")
#: Keys of one solver entry.
ENTRY_KEYS = ("solver", "schedule", "options", "label")
#: Keys of ``"eval"``.
EVAL_KEYS = ("paths", "seed", "certify_iterations", "cell_plots")

SPEC_HELP = """\
SPEC is one JSON object:
  name     optional; the sweep's name (default: the file's stem)
  preset   base market: a preset name (quadratic-10, power-2, power-10), or
  config   base market: an object of MarketConfig fields (as --config files), or a path
  grid     {FIELD: [values...]}: MarketConfig fields swept (their product is the grid)
  seeds    [int...]: training seeds (default [0])
  solvers  list of solver entries, each a name or an object (default ["reinforced-gan"]):
             {"solver": "reinforced-gan" | "combo" | "fbsde",
              "schedule": "default" | "quick" | {"from": "quick", "rounds": 3, ...},
              "options": {network options of solvers.neural.solve, e.g. "mu": "learned"},
              "label": "optional name in the table"}
             {"solver": "riccati" | "riccati-discrete" | "leading-order" | "frictionless"}
             {"solver": "ppo-shared" (any solvers.rl method), "options": {train_learners
              options, e.g. "timesteps": 20000}}
  eval     {"paths": 3000, "seed": 0, "certify_iterations": 300, "cell_plots": false}
Cells: grid x seeds x solvers; each cell writes OUT/cells/<cell id>/ (cell.json when done;
the id is a digest of the cell's content). Example (examples/sweep_lam_power.json):
  {"preset": "power-2", "grid": {"lam": [0.001, 0.003, 0.01, 0.03],
   "cost_power": [1.5, 2.0]}, "seeds": [0], "solvers": ["reinforced-gan"]}
"""


@dataclass(frozen=True)
class SolverEntry:
    """One solver of a spec: ``kind`` is ``"neural"``, ``"analytic"`` or ``"learner"``."""

    solver: str
    kind: str
    schedule: Any = "default"
    options: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"solver": self.solver, "options": self.options}
        if self.kind == "neural":
            out["schedule"] = self.schedule
        return out


@dataclass(frozen=True)
class Cell:
    """One equilibrium to compute: a full config, the swept values, a seed and a solver."""

    id: str
    index: int
    config: dict[str, Any]
    values: dict[str, Any]
    seed: int
    entry: SolverEntry
    eval: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "index": self.index,
            "config": self.config,
            "values": self.values,
            "seed": self.seed,
            "entry": {**self.entry.to_dict(), "kind": self.entry.kind, "label": self.entry.label},
            "eval": self.eval,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cell:
        e = data["entry"]
        entry = SolverEntry(
            e["solver"], e["kind"], e.get("schedule", "default"), e["options"], e["label"]
        )
        return cls(
            data["id"],
            data["index"],
            data["config"],
            data["values"],
            data["seed"],
            entry,
            data["eval"],
        )


@dataclass(frozen=True)
class SweepSpec:
    """A checked spec (see :data:`SPEC_HELP`)."""

    name: str
    base: dict[str, Any]
    base_name: str
    grid: dict[str, list[Any]]
    seeds: list[int]
    solvers: list[SolverEntry]
    eval: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "base": self.base_name,
            "grid": self.grid,
            "seeds": self.seeds,
            "solvers": [s.to_dict() | {"label": s.label} for s in self.solvers],
            "eval": self.eval,
        }


def _fail(where: str, text: str) -> ValueError:
    return ValueError(f"spec {where}: {text}")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_keys(obj: Any, allowed: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _fail(where, f"must be a JSON object, got {short_repr(obj)}")
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise _fail(where, f"unknown key {unknown[0]!r}; allowed: {list(allowed)}")
    return obj


def _base_config(data: dict[str, Any], spec_dir: Path | None) -> tuple[MarketConfig, str]:
    if "preset" in data and "config" in data:
        raise _fail("preset/config", "give one base market, not both")
    if "config" in data:
        raw = data["config"]
        if isinstance(raw, str):
            from market_env.config import load_config

            path = Path(raw) if spec_dir is None or Path(raw).is_absolute() else spec_dir / raw
            return load_config(path), Path(raw).stem
        if not isinstance(raw, dict):
            raise _fail(
                "config",
                f"must be an object of MarketConfig fields or a path, got {short_repr(raw)}",
            )
        try:
            return MarketConfig.from_dict(raw), "config"
        except ValueError as exc:
            raise _fail("config", str(exc)) from None
    name = data.get("preset", "quadratic-10")
    if not isinstance(name, str):
        raise _fail("preset", f"must be a preset name, got {short_repr(name)}")
    try:
        return get_preset(name), name
    except ValueError as exc:
        raise _fail("preset", str(exc)) from None


def _grid(raw: Any, base: MarketConfig) -> dict[str, list[Any]]:
    grid = _check_keys(raw if raw is not None else {}, tuple(f.name for f in fields(base)), "grid")
    out: dict[str, list[Any]] = {}
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise _fail(
                f"grid.{key}", f"must be a non-empty list of values, got {short_repr(values)}"
            )
        for value in values:  # each value alone on the base market: one line naming it
            try:
                MarketConfig.from_dict({**base.to_dict(), key: value})
            except (ValueError, TypeError) as exc:
                raise _fail(f"grid.{key}", f"value {short_repr(value)} refused: {exc}") from None
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            raise _fail(f"grid.{key}", f"values repeat: {short_repr(values)}")
        out[key] = list(values)
    return out


def _entry(raw: Any, i: int) -> SolverEntry:
    where = f"solvers[{i}]"
    if isinstance(raw, str):
        raw = {"solver": raw}
    obj = _check_keys(raw, ENTRY_KEYS, where)
    name = obj.get("solver")
    if not isinstance(name, str):
        raise _fail(f"{where}.solver", f"must be a solver name, got {short_repr(name)}")
    if name in NEURAL_SOLVERS:
        kind = "neural"
    elif name in ANALYTIC_SOLVERS:
        kind = "analytic"
    elif name.startswith(LEARNER_PREFIXES):
        kind = "learner"
    else:
        allowed = [*NEURAL_SOLVERS, *ANALYTIC_SOLVERS, "an SB3 learner method (ppo-shared, ...)"]
        raise _fail(f"{where}.solver", f"unknown solver {name!r}; allowed: {allowed}")
    options = obj.get("options", {})
    if not isinstance(options, dict):
        raise _fail(f"{where}.options", f"must be an object, got {short_repr(options)}")
    if kind == "analytic" and options:
        raise _fail(f"{where}.options", f"{name} takes no options, got {sorted(options)}")
    schedule = obj.get("schedule", "default")
    if "schedule" in obj and kind != "neural":
        raise _fail(f"{where}.schedule", f"only neural solvers {list(NEURAL_SOLVERS)} take one")
    _check_schedule(schedule, f"{where}.schedule")
    label = obj.get("label", name)
    if not isinstance(label, str) or not label:
        raise _fail(f"{where}.label", f"must be a non-empty string, got {short_repr(label)}")
    return SolverEntry(name, kind, schedule, dict(options), label)


def _check_schedule(schedule: Any, where: str) -> None:
    if isinstance(schedule, str):
        if schedule not in SCHEDULE_NAMES:
            raise _fail(where, f"unknown schedule {schedule!r}; allowed: {list(SCHEDULE_NAMES)}")
        return
    if not isinstance(schedule, dict):
        raise _fail(where, f"must be a schedule name or an object, got {short_repr(schedule)}")
    base = schedule.get("from", "default")
    if base not in SCHEDULE_NAMES:
        raise _fail(
            f"{where}.from", f"unknown schedule {short_repr(base)}; allowed: {list(SCHEDULE_NAMES)}"
        )
    # field names and values are checked by GANSchedule itself when the cell builds it
    # (a bad one fails that cell with GANSchedule's own message)


def _eval(raw: Any) -> dict[str, Any]:
    obj = _check_keys(raw if raw is not None else {}, EVAL_KEYS, "eval")
    out = {"paths": 3000, "seed": 0, "certify_iterations": 300, "cell_plots": False}
    out.update(obj)
    for key in ("paths", "certify_iterations"):
        if not _is_int(out[key]) or out[key] < 1:
            raise _fail(f"eval.{key}", f"must be an integer >= 1, got {short_repr(out[key])}")
    if not _is_int(out["seed"]):
        raise _fail("eval.seed", f"must be an integer, got {short_repr(out['seed'])}")
    if not isinstance(out["cell_plots"], bool):
        raise _fail(
            "eval.cell_plots", f"must be true or false, got {short_repr(out['cell_plots'])}"
        )
    return out


def parse_spec(data: Any, *, name: str = "sweep", spec_dir: Path | None = None) -> SweepSpec:
    """Check a spec object (see :data:`SPEC_HELP`) and return it as a :class:`SweepSpec`."""
    data = _check_keys(data, SPEC_KEYS, "(top level)")
    base, base_name = _base_config(data, spec_dir)
    grid = _grid(data.get("grid"), base)
    seeds = data.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(_is_int(s) for s in seeds):
        raise _fail("seeds", f"must be a non-empty list of integers, got {short_repr(seeds)}")
    if len(set(seeds)) != len(seeds):
        raise _fail("seeds", f"seeds repeat: {short_repr(seeds)}")
    raw_solvers = data.get("solvers", ["reinforced-gan"])
    if not isinstance(raw_solvers, list) or not raw_solvers:
        raise _fail("solvers", f"must be a non-empty list, got {short_repr(raw_solvers)}")
    solvers = [_entry(s, i) for i, s in enumerate(raw_solvers)]
    labels = [s.label for s in solvers]
    if len(set(labels)) != len(labels):
        raise _fail("solvers", f'two entries have the same label; give each a "label": {labels}')
    spec_name = data.get("name", name)
    if not isinstance(spec_name, str) or not spec_name:
        raise _fail("name", f"must be a non-empty string, got {short_repr(spec_name)}")
    return SweepSpec(
        spec_name, base.to_dict(), base_name, grid, list(seeds), solvers, _eval(data.get("eval"))
    )


def load_spec(path: str | Path) -> SweepSpec:
    """Read and check the spec file ``path`` (one line ``ValueError`` on any problem)."""
    data = read_json_file(path, what="sweep spec")
    return parse_spec(data, name=Path(path).stem, spec_dir=Path(path).parent)


def cell_id(config: dict[str, Any], seed: int, entry: SolverEntry, eval_: dict[str, Any]) -> str:
    """A stable id from the cell's content: the solver's label and a digest of the config,
    seed, solver entry and evaluation settings (never the clock or the order)."""
    content = {"config": config, "seed": seed, "entry": entry.to_dict(), "eval": eval_}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:12]
    return f"{entry.label}-{digest}"


def expand_cells(spec: SweepSpec) -> list[Cell]:
    """Every cell of ``spec``: the grid's product (in the order of its keys and values), then
    the seeds, then the solvers."""
    keys = list(spec.grid)
    cells: list[Cell] = []
    for combo in itertools.product(*(spec.grid[k] for k in keys)):
        values = dict(zip(keys, combo))
        config = {**spec.base, **values}
        for seed in spec.seeds:
            for entry in spec.solvers:
                cid = cell_id(config, seed, entry, spec.eval)
                cells.append(Cell(cid, len(cells), config, values, seed, entry, spec.eval))
    return cells
