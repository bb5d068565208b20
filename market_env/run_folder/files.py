"""Run-folder file names and atomic writes (see :mod:`market_env.run_folder` for the rules):
every file goes to a temporary name in the same folder, is flushed, ``fsync``-ed and renamed
into place, then the folder is ``fsync``-ed."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

SPEC_FILE = "solution.json"
WEIGHTS_FILE = "weights.pt"
TRAINING_FILE = "training.pt"
HISTORY_FILE = "history.json"
EVALUATION_FILE = "evaluation.json"
LOCK_FILE = "run.lock"
#: The figures ``solve`` draws (:func:`solvers.plots.plot_comparison`).
FIGURE_FILES = ("rates.png", "holdings.png", "sigma.png", "mu.png")
#: Files of a saved state that ``solution.json`` names in its manifest.
MEMBER_FILES = (WEIGHTS_FILE, TRAINING_FILE, HISTORY_FILE)
#: Files computed from a saved state after the save; removed when the state changes.
DERIVED_FILES = (EVALUATION_FILE, *FIGURE_FILES)
#: Every file name of a run folder (what :func:`clear_stale` may remove, with the staged
#: and temporary names of :func:`save_run`).
RUN_FILES = (SPEC_FILE, *MEMBER_FILES, *DERIVED_FILES)
#: Version of the layout written here: 2 (a manifest in ``solution.json``); 1 = before it.
RUN_FORMAT = 2

#: Bounds on what is read back (only this many bytes, plus one, are ever read).
MAX_SPEC_BYTES = 4 << 20
MAX_HISTORY_BYTES = 256 << 20

STAGED_NAME = re.compile(r"^(weights|training|history)\.([0-9a-f]{8})\.(pt|json)$")
TEMP_NAME = re.compile(r"^\.(.+)\.[0-9a-f]{8}\.tmp$")
PLOT_TEMP_NAME = re.compile(r"^\.(rates|holdings|sigma|mu)\.png\.\d+\.tmp$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def one_line(exc: BaseException | str, limit: int = 300) -> str:
    """The text of ``exc`` on one line (whitespace collapsed), at most ``limit`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def new_run_id() -> str:
    """A fresh run id: 16 random hex digits (kept by a resumed run)."""
    return secrets.token_hex(8)


# ----- atomic writes -------------------------------------------------------------------------
def fsync_dir(directory: Path) -> None:
    """Make renames in ``directory`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


@contextlib.contextmanager
def removed_on_failure(tmp: Path) -> Iterator[None]:
    """Remove the temporary file ``tmp`` if the block fails (whatever the reason, a kill
    included), then re-raise; the block itself renames ``tmp`` into place on success."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, flushed and
    ``fsync``-ed, then :func:`os.replace` onto ``path`` and the folder ``fsync``-ed. A reader
    (or a crash) sees the old file or the new one, never a part of either."""
    path = Path(path)
    tmp = temp_name(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)
    with removed_on_failure(tmp):
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """:func:`atomic_write_bytes` of ``text`` in UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _finite(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by ``None`` (strict JSON)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def json_bytes(obj: Any, *, indent: int | None = 2, finite: bool = True) -> bytes:
    """``obj`` as JSON text (UTF-8, one trailing newline). With ``finite`` (default) NaN and
    ±inf are written as ``null``, so :func:`market_env.jsonio.read_json_file` reads it back."""
    if finite:
        obj = _finite(obj)
    return (json.dumps(obj, indent=indent, allow_nan=not finite) + "\n").encode("utf-8")


def atomic_write_json(
    path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2, finite: bool = False
) -> None:
    """:func:`atomic_write_bytes` of ``obj`` as JSON (``finite``: see :func:`json_bytes`;
    off by default, so NaN stays ``NaN`` as :func:`json.dumps` writes it)."""
    atomic_write_bytes(path, json_bytes(obj, indent=indent, finite=finite))


def torch_bytes(obj: Any) -> bytes:
    """What :func:`torch.save` writes for ``obj`` (a zip archive), as bytes."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """:func:`torch.save` of ``obj`` to ``path``, atomically (:func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, torch_bytes(obj))


def staged_name(name: str, token: str) -> str:
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}.{token}.{suffix}"


def list_names(path: Path) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def is_ours(name: str) -> bool:
    """A staged or temporary name written by this module or by the figures."""
    if STAGED_NAME.match(name) or PLOT_TEMP_NAME.match(name):
        return True
    m = TEMP_NAME.match(name)
    return bool(m) and (m.group(1) in RUN_FILES or bool(STAGED_NAME.match(m.group(1))))


def remove_file(path: Path) -> bool:
    """Remove the file (or link) ``path``; folders and missing names are left alone."""
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            return False
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
