"""Bounded, safe JSON reading and short value formatting for error messages.

Every file the project reads by hand (a market config of MODEL.md §1, §6; a saved solution's
spec) goes through :func:`read_json_file`, so bad input is one line ``ValueError`` that
names the file (DESIGN.md, "Bad input fails early"), never a hang, a traceback or a huge
echo. :func:`short_repr` formats offending values for such messages.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import stat
from typing import Any

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_INT_DIGITS",
    "read_bounded",
    "read_json_file",
    "short_path",
    "short_repr",
]

#: Default bound on the size of a JSON file: 1 MiB (a config is a few hundred bytes; a
#: solution spec a few kilobytes).
MAX_JSON_BYTES = 1 << 20

#: Longest integer literal accepted, in digits (Python's default ``int`` string limit,
#: enforced here whatever the interpreter's setting).
MAX_INT_DIGITS = 4300

#: Default length of :func:`short_repr`.
REPR_LIMIT = 60


# ----- short_repr ----------------------------------------------------------------------------
def short_repr(value: Any, limit: int = REPR_LIMIT) -> str:
    """``repr(value)`` cut to at most ``limit`` characters (ending in ``…`` when cut).

    Cheap whatever the size of ``value``: strings and containers are only looked at as far
    as the limit, and an integer too long to print is described by its digit count.
    """
    text = _repr_within(value, limit)
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def short_path(path: Any, limit: int = 120) -> str:
    """A file name for a message, quoted; a long one keeps its start and its end (the name)."""
    name = str(path)
    if len(name) > limit - 2:
        head = limit // 3
        name = name[:head] + "…" + name[-(limit - head - 3) :]
    return repr(name)


def _repr_within(value: Any, budget: int) -> str:
    """A repr of ``value`` that may stop soon after ``budget`` characters."""
    try:
        if isinstance(value, bool) or value is None:
            return repr(value)
        if isinstance(value, int):
            if value.bit_length() > 200:  # ~60 digits: do not convert the whole number
                digits = int(value.bit_length() * math.log10(2)) + 1
                sign = "-" if value < 0 else ""
                return f"<{sign}int of about {digits} digits>"
            return repr(value)
        if isinstance(value, (str, bytes, bytearray)):
            return repr(value[: budget + 1])
        if isinstance(value, dict):
            return _join(("{", "}"), itertools.islice(value.items(), budget + 1), budget, True)
        if isinstance(value, (list, tuple, set, frozenset)):
            if isinstance(value, list):
                ends = ("[", "]")
            elif isinstance(value, tuple):
                ends = ("(", ")")
            else:
                ends = (type(value).__name__ + "({", "})")
            return _join(ends, itertools.islice(value, budget + 1), budget)
        return repr(value)
    except Exception:  # a repr that fails (or recurses too deep) must not mask the error
        return f"<{type(value).__name__} object>"


def _join(ends: tuple[str, str], items: Any, budget: int, pairs: bool = False) -> str:
    parts = [ends[0]]
    used = len(ends[0])
    for item in items:
        if used > budget:
            parts.append("…")
            break
        if len(parts) > 1:
            parts.append(", ")
            used += 2
        if pairs:
            k, v = item
            text = _repr_within(k, budget - used) + ": "
            text += _repr_within(v, budget - used - len(text))
        else:
            text = _repr_within(item, budget - used)
        parts.append(text)
        used += len(text)
    parts.append(ends[1])
    return "".join(parts)


# ----- read_json_file ------------------------------------------------------------------------
class _Refused(Exception):
    """Raised inside the JSON parser's hooks; turned into one ``ValueError``."""


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a finite number (NaN and ±Infinity are not allowed)")


def _parse_int(text: str) -> int:
    digits = len(text) - (text[0] == "-")
    if digits > MAX_INT_DIGITS:
        raise _Refused(f"has an integer of {digits} digits (at most {MAX_INT_DIGITS} allowed)")
    return int(text)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"has the key {short_repr(key)} twice in one object")
        out[key] = value
    return out


def _first_non_finite(data: Any) -> str | None:
    """The JSON path (``gamma[0]``, ``config.lam``) of the first non-finite float, if any.

    Iterative, and a path is only spelled out for the culprit, so the walk is linear in
    the size of ``data`` whatever its depth.
    """
    # each entry: (node, parent entry's path link, step); a link is (parent link, step)
    stack: list[tuple[Any, Any]] = [(data, None)]
    while stack:
        node, link = stack.pop()
        if isinstance(node, float):
            if not math.isfinite(node):
                steps: list[str] = []
                while link is not None:
                    link, step = link
                    steps.append(step)
                path = "".join(reversed(steps)).lstrip(".")
                return path or "the top level"
        elif isinstance(node, dict):
            for key, value in reversed(list(node.items())):  # reversed: pop in file order
                stack.append((value, (link, f".{key}")))
        elif isinstance(node, list):
            for i in range(len(node) - 1, -1, -1):
                stack.append((node[i], (link, f"[{i}]")))
    return None


def read_json_file(
    path: str | os.PathLike[str],
    *,
    what: str = "JSON file",
    max_bytes: int = MAX_JSON_BYTES,
) -> Any:
    """Read and parse one JSON file, refusing anything odd with one line ``ValueError``.

    Refused, each with a message that starts with ``"{what} '{path}'"``: a path that does
    not exist or cannot be read; anything but a regular file (``/dev/zero``, a FIFO, a
    directory: they are never read from, so nothing hangs); a file over ``max_bytes`` bytes
    (only ``max_bytes + 1`` bytes are ever read); bytes that are not UTF-8; invalid JSON;
    ``NaN``/``Infinity`` literals and numbers that overflow to infinity (``1e400``, with
    the place where they occur); integers of more than :data:`MAX_INT_DIGITS` digits; an
    object with a duplicate key; nesting too deep for the parser.

    Args:
        path: the file.
        what: what the file is, for messages (``"config file"``, ``"solution spec"``).
        max_bytes: the largest size accepted (default :data:`MAX_JSON_BYTES`, 1 MiB).

    Returns:
        The parsed value (``dict``, ``list``, ``str``, ``int``, finite ``float``, ``bool``
        or ``None``).
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes must be an integer >= 1, got {short_repr(max_bytes)}")
    try:
        name = os.fspath(path)
    except TypeError:
        raise ValueError(
            f"{what} path must be a str or path-like, got {type(path).__name__}"
        ) from None
    label = f"{what} {short_path(name)}"
    data = read_bounded(name, label, max_bytes)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{label} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_int=_parse_int,
            object_pairs_hook=_pairs,
        )
    except _Refused as exc:
        raise ValueError(f"{label} {exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{label} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError(f"{label} is nested too deeply to parse") from None
    except ValueError as exc:  # e.g. an interpreter-level int limit lower than ours
        raise ValueError(f"{label} has a value that cannot be parsed: {exc}") from None
    where = _first_non_finite(value)
    if where is not None:
        raise ValueError(
            f"{label}: the number at {short_repr(where)[1:-1]} overflows to infinity "
            "(its magnitude exceeds the largest float, ~1.8e308)"
        )
    return value


def read_bounded(
    name: str | bytes | os.PathLike[str], label: str, max_bytes: int, *, raise_missing: bool = False
) -> bytes:
    """The bytes of the regular file ``name``, at most ``max_bytes``; every refusal is one
    ``ValueError`` saying ``cannot read {label}: …`` (or that it is over the limit).

    Opened without blocking, so a FIFO or device is refused rather than read forever. With
    ``raise_missing`` a missing file raises :class:`FileNotFoundError` instead, for callers
    that report absence themselves (a run folder's manifest).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(name, flags)
    except OSError as exc:
        if raise_missing and isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"cannot read {label}: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise ValueError(f"cannot read {label}: it is {kind}")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {label}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise ValueError(f"{label} is larger than the limit of {max_bytes} bytes")
    return data
