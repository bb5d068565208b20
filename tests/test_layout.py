"""The layout's contract (DESIGN.md "Floors"), read from the code's imports.

Each test names the rule it enforces; a failure lists the offending ``module: import`` lines.

1. The simulator core imports only torch, numpy and the standard library (and itself).
2. Nothing in ``market_env`` imports ``solvers``, the benchmarks or the CLI.
3. Nothing imports the CLI package (``solvers.cli``) but the CLI itself.
4. ``solvers.neural`` and ``solvers.rl`` do not import each other.
5. No module imports a private name (``_x``) from another module, or reaches one as an
   attribute of a name it imported from the library.
6. The module-level imports of the library have no cycle.
7. No library module is over 500 lines unless its docstring says why ("over 500 lines").
8. ``import market_env`` loads neither pettingzoo nor stable_baselines3; ``market-eq --help``
   loads no torch (so it answers in about a second).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("market_env", "solvers")
LEAVES = ("benchmarks", "examples")

#: The simulator core (DESIGN.md floor 1): module names under ``market_env``.
CORE = (
    "market_env.config",
    "market_env.state",
    "market_env.clearing",
    "market_env.price",
    "market_env.cost",
    "market_env.market",
    "market_env.market_maker",
    "market_env.observation",
    "market_env.rollout",
    "market_env.metrics",
    "market_env.jsonio",
    "market_env.device",
)
CORE_THIRD_PARTY = {"torch", "numpy"}
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _library_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            files[_module_name(path)] = path
    return files


def _leaf_files() -> dict[str, Path]:
    files = {}
    for folder in LEAVES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            files[_module_name(path)] = path
    return files


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Imports(ast.NodeVisitor):
    """Every import of a module: ``(target, names, top_level)`` with relative imports
    resolved. ``top_level`` is False inside functions and ``if TYPE_CHECKING:`` blocks."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.found: list[tuple[str, list[str], bool]] = []
        self._depth = 0

    def _resolve(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = self.package.split(".")
        if node.level > 1:
            base = base[: len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((alias.name, [], self._depth == 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        names = [alias.name for alias in node.names]
        self.found.append((self._resolve(node), names, self._depth == 0))

    def _nested(self, node: ast.AST) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _nested

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node):
            self._nested(node)
        else:
            self.generic_visit(node)


def _imports(module: str, path: Path) -> list[tuple[str, list[str], bool]]:
    visitor = _Imports(module, path.name == "__init__.py")
    visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return visitor.found


def _targets(target: str, names: list[str], known: set[str]) -> list[str]:
    """The modules an import statement loads: ``from pkg import mod`` loads ``pkg.mod``."""
    out = [target]
    for name in names:
        if f"{target}.{name}" in known:
            out.append(f"{target}.{name}")
    return out


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


LIBRARY = _library_files()
ALL_FILES = {**LIBRARY, **_leaf_files()}


def test_core_imports_only_torch_numpy_stdlib():
    stdlib = sys.stdlib_module_names
    bad = []
    for module in CORE:
        if module not in LIBRARY:
            continue
        for target, _names, _top in _imports(module, LIBRARY[module]):
            root = target.split(".")[0]
            if _within(target, "market_env"):
                if not any(_within(target, core) for core in CORE) and target != "market_env":
                    bad.append(f"{module}: {target}")
            elif root not in stdlib and root not in CORE_THIRD_PARTY and root != "__future__":
                bad.append(f"{module}: {target}")
    assert not bad, "the simulator core imports beyond torch/numpy/stdlib:\n" + "\n".join(bad)


def test_market_env_never_imports_solvers_benchmarks_or_cli():
    bad = [
        f"{module}: {target}"
        for module, path in LIBRARY.items()
        if _within(module, "market_env")
        for target, _names, _top in _imports(module, path)
        if target.split(".")[0] in ("solvers", "benchmarks", "examples")
    ]
    assert not bad, "market_env must not import solvers or the leaves:\n" + "\n".join(bad)


def test_nothing_imports_the_cli():
    known = set(ALL_FILES)
    bad = []
    for module, path in ALL_FILES.items():
        if _within(module, "solvers.cli"):
            continue
        for target, names, _top in _imports(module, path):
            if any(_within(t, "solvers.cli") for t in _targets(target, names, known)):
                bad.append(f"{module}: {target}")
    assert not bad, "the CLI is a leaf; these import it:\n" + "\n".join(bad)


def test_neural_and_rl_are_independent():
    bad = []
    for module, path in LIBRARY.items():
        for a, b in (("solvers.neural", "solvers.rl"), ("solvers.rl", "solvers.neural")):
            if _within(module, a):
                bad += [f"{module}: {t}" for t, _n, _top in _imports(module, path) if _within(t, b)]
    assert not bad, "solvers.neural and solvers.rl must not import each other:\n" + "\n".join(bad)


def test_no_private_name_crosses_a_module():
    bad = []
    for module, path in ALL_FILES.items():
        for target, names, _top in _imports(module, path):
            if target.split(".")[0] not in PACKAGES:
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and target != module:
                bad.append(f"{module}: from {target} import {', '.join(private)}")
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def _private_attributes(path: Path) -> list[str]:
    """``name._x`` where ``name`` was imported from the library (a module, class or function
    of ``market_env``/``solvers``): a private name reached across modules by attribute."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    imported.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level or (node.module or "").split(".")[0] in PACKAGES:
                imported.update(alias.asname or alias.name for alias in node.names)
    return [
        f"{node.value.id}.{node.attr} (line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and isinstance(node.value, ast.Name)
        and node.value.id in imported
    ]


def test_no_private_attribute_of_an_imported_name():
    bad = [
        f"{module}: {hit}"
        for module, path in ALL_FILES.items()
        for hit in _private_attributes(path)
    ]
    assert not bad, "private attributes of imported library names:\n" + "\n".join(bad)


def test_private_attribute_finder_finds_one(tmp_path):
    # The checker itself must be able to fail.
    path = tmp_path / "m.py"
    path.write_text("from market_env import market\nmarket._private_helper()\n")
    assert _private_attributes(path) == ["market._private_helper (line 2)"]


def _graph() -> dict[str, set[str]]:
    known = set(LIBRARY)
    graph: dict[str, set[str]] = {m: set() for m in LIBRARY}
    for module, path in LIBRARY.items():
        for target, names, top in _imports(module, path):
            if not top:
                continue
            for t in _targets(target, names, known):
                if t in known and t != module:
                    graph[module].add(t)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_package_init_edge(a: str, b: str) -> bool:
    # A package's __init__ re-exporting its own submodules is not a cycle of design.
    return LIBRARY[a].name == "__init__.py" and _within(b, a)


def test_no_import_cycle():
    graph = _graph()
    pruned = {a: {b for b in bs if not _is_package_init_edge(a, b)} for a, bs in graph.items()}
    cycles = _cycles(pruned)
    assert not cycles, "import cycles (module-level imports):\n" + "\n".join(
        " ↔ ".join(c) for c in cycles
    )


def test_cycle_finder_finds_a_cycle():
    # The checker itself must be able to fail.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_modules_are_short_or_say_why():
    bad = []
    for module, path in LIBRARY.items():
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if lines > MAX_LINES and "over 500 lines" not in doc:
            bad.append(f"{module}: {lines} lines")
    assert not bad, f"modules over {MAX_LINES} lines without a reason in the docstring:\n" + (
        "\n".join(bad)
    )


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    return set(out.stdout.split())


def test_import_market_env_loads_no_rl_framework_but_pettingzoo_on_use():
    loaded = _loaded_after("import market_env")
    assert "pettingzoo" not in loaded and "stable_baselines3" not in loaded
    loaded = _loaded_after("import market_env; market_env.parallel_env(preset='quadratic-10')")
    assert "pettingzoo" in loaded and "stable_baselines3" not in loaded


@pytest.mark.parametrize("argv", [["--help"], ["solve", "--help"], ["evaluate", "--help"]])
def test_cli_help_loads_no_torch(argv):
    code = (
        "import contextlib, io\n"
        "from solvers.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit:\n"
        "        pass"
    )
    assert "torch" not in _loaded_after(code)
