"""Names of a package loaded on first use (PEP 562), written once for every lazy package of
the library (``market_env``, ``market_env.reference``, ``solvers``, ``solvers.neural``), so
importing a package costs only what its first used name needs (``market-eq --help`` loads no
torch)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, table: Mapping[str, str], namespace: dict[str, Any] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` serving the names of ``table``.

    Args:
        package: the package's ``__name__``.
        table: public name → the module holding it; a name without a leading package
            (``"riccati"``) is relative to ``package``, a dotted absolute one
            (``"market_env.solution"``) is used as it is when its first part is not a
            submodule name of ``package``.
        namespace: the package's ``globals()``; when given, a loaded name is stored there so
            later look-ups skip ``__getattr__``.
    """
    root = package.split(".")[0]

    def module_of(name: str) -> str:
        where = table[name]
        if where.split(".")[0] in (root, "market_env", "solvers"):
            return where
        return f"{package}.{where}"

    def __getattr__(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module_of(name)), name)
        if namespace is not None:
            namespace[name] = value
        return value

    def __dir__() -> list[str]:
        listed = set(table) | set((namespace or {}).get("__all__", ()))
        return sorted(listed)

    return __getattr__, __dir__
