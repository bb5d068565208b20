"""Crash-safe run folders: what ``market-eq solve --out DIR`` writes, and how it is read back.

A run folder holds ``solution.json`` (kind, config, params, the ``training`` section and a
manifest of the other files), ``weights.pt`` (the ``state_dict``, DESIGN.md "Persistence"),
``training.pt`` (optimiser state, for ``--resume``), ``history.json``, ``evaluation.json`` and
the figures. A kill (SIGKILL, power loss, a full disk) at any moment of a save leaves the
folder in its previous complete state or in the new complete state, never a mixture that
loads: the rules are

* every file is written to a temporary name in the same folder, flushed, ``fsync``-ed and
  renamed into place (:func:`os.replace`, atomic on POSIX and Windows), then the folder is
  ``fsync``-ed (:func:`atomic_write_bytes`);
* ``solution.json`` is the commit point: it is written last and names, for every other file
  of the state, the file's name, size and SHA-256 (``"files"``); a loader reads only what it
  names and checks size and digest, so a file that does not belong to it is detected
  ("the run in DIR is incomplete: …") instead of being scored;
* a save into a folder that already holds a ``solution.json`` (a resumed run, a re-save)
  never overwrites a file the current ``solution.json`` names (:func:`save_run`): the new
  files go to *staged* names (``weights.<8 hex>.pt``), the new ``solution.json`` naming
  them replaces the old one (commit 1: the folder is now the new state), the staged files
  are then hard-linked (or copied) onto the plain names and a second ``solution.json``
  naming the plain files replaces the first (commit 2), and the staged names are removed.
  Between any two steps the current ``solution.json`` names files that exist and match, so
  the previous complete state is never left unreadable and the plain names
  (``weights.pt``, ``training.pt``, ``history.json``) are what a finished save leaves.
  A first save (no ``solution.json`` yet) has no previous state to keep and writes the plain
  names directly, ``solution.json`` last.

Files that describe an earlier state (``evaluation.json``, the figures) are removed just
before the commit, so they never sit beside a state they do not describe (``solve`` writes
the new ones after the save). Folders saved before the manifest existed (no ``"files"`` in
``solution.json``) still load: their plain files are read as they are, unchecked.

Concurrency: :class:`RunLock` keeps a second solve (or save) out of a folder in use.
:func:`check_writable` and :func:`clear_stale` are what ``solve`` calls before training.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import secrets
import socket
import stat
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from market_env.jsonio import read_json_file, short_path, short_repr

__all__ = [
    "DERIVED_FILES",
    "EVALUATION_FILE",
    "FIGURE_FILES",
    "HISTORY_FILE",
    "LOCK_FILE",
    "MEMBER_FILES",
    "RUN_FILES",
    "RUN_FORMAT",
    "SPEC_FILE",
    "TRAINING_FILE",
    "WEIGHTS_FILE",
    "RunIncompleteError",
    "RunLock",
    "SavedRun",
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_optimizer_state",
    "check_state_dict",
    "check_writable",
    "clear_stale",
    "json_bytes",
    "new_run_id",
    "one_line",
    "read_spec",
    "save_run",
    "torch_bytes",
    "torch_load_bytes",
]

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

_STAGED = re.compile(r"^(weights|training|history)\.([0-9a-f]{8})\.(pt|json)$")
_TEMP = re.compile(r"^\.(.+)\.[0-9a-f]{8}\.tmp$")
_PLOT_TEMP = re.compile(r"^\.(rates|holdings|sigma|mu)\.png\.\d+\.tmp$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def one_line(exc: BaseException | str, limit: int = 300) -> str:
    """The text of ``exc`` on one line (whitespace collapsed), at most ``limit`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def new_run_id() -> str:
    """A fresh run id: 16 random hex digits (kept by a resumed run)."""
    return secrets.token_hex(8)


# ----- atomic writes -------------------------------------------------------------------------
def _fsync_dir(directory: Path) -> None:
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


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, flushed and
    ``fsync``-ed, then :func:`os.replace` onto ``path`` and the folder ``fsync``-ed. A reader
    (or a crash) sees the old file or the new one, never a part of either."""
    path = Path(path)
    tmp = _temp_name(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


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


# ----- the folder before training ------------------------------------------------------------
def check_writable(directory: str | os.PathLike[str]) -> Path:
    """Create ``directory`` if needed and check that files can be created in it; raises a
    one-line ``ValueError`` otherwise (``solve`` calls it before training, so a run is never
    trained for minutes and then lost to a folder it cannot write)."""
    path = Path(directory)
    label = short_path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"the run folder {label} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the run folder {label}: {exc.strerror or exc}") from None
    probe = path / f".write-test.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"the run folder {label} is not writable: {exc.strerror or exc}") from None
    for name in (*RUN_FILES, LOCK_FILE):
        if (path / name).is_dir():
            raise ValueError(f"the run folder {label} holds a folder named {name!r}; remove it")
    return path


def clear_stale(directory: str | os.PathLike[str]) -> list[str]:
    """Before a fresh (not resumed) run writes into ``directory``, remove the files of an
    earlier run: ``solution.json`` first (so an interrupted clear never leaves something that
    loads), then the other :data:`RUN_FILES` (weights, optimiser state, history, evaluation,
    figures) and the staged and temporary names :func:`save_run` and the figures use.

    Only those names are removed; other files are left where they are (they may be the
    user's, and a loader never reads a name ``solution.json`` does not give), and folders
    are never removed. The lock file is left to :class:`RunLock`. Returns the names removed.
    """
    path = Path(directory)
    if not path.is_dir():
        return []
    removed = []
    for name in RUN_FILES:
        if _remove(path / name):
            removed.append(name)
    for entry in _listdir(path):
        if _is_ours(entry) and _remove(path / entry):
            removed.append(entry)
    _fsync_dir(path)
    return removed


def _listdir(path: Path) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _is_ours(name: str) -> bool:
    """A staged or temporary name written by this module or by the figures."""
    if _STAGED.match(name) or _PLOT_TEMP.match(name):
        return True
    m = _TEMP.match(name)
    return bool(m) and (m.group(1) in RUN_FILES or bool(_STAGED.match(m.group(1))))


def _remove(path: Path) -> bool:
    """Remove the file (or link) ``path``; folders and missing names are left alone."""
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            return False
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


# ----- the lock ------------------------------------------------------------------------------
_HELD: dict[tuple[str, int], int] = {}
_HELD_GUARD = threading.Lock()


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, run by someone else
        return True
    try:  # a killed process not yet reaped is a zombie: dead for our purpose
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


class RunLock:
    """Exclusive use of a run folder, for one solve (or save) at a time.

    The lock is the file ``run.lock`` in the folder, created with ``O_CREAT | O_EXCL`` and
    holding ``"<pid> <host> <token>"``. A second lock on a folder in use raises a one-line
    ``ValueError`` naming the process that holds it. A lock left by a process that died
    (killed, crashed) on this host is stale and taken over (renamed away, checked, removed);
    one from another host is respected, since its process cannot be checked. The lock is
    re-entrant in the thread that holds it (``solve`` locks the folder, and the
    :meth:`~solvers.base.Solution.save` it calls locks it again). Use as a context manager.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_FILE
        self._key: tuple[str, int] | None = None
        self._token: str | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _folder_key(self) -> str:
        return os.path.realpath(self.directory)

    def acquire(self) -> None:
        """Take the lock (re-entrantly in this thread); ``ValueError`` when it is in use."""
        if self._key is not None:
            raise RuntimeError("this RunLock is already held; make a new one")
        self.directory.mkdir(parents=True, exist_ok=True)
        key = (self._folder_key(), threading.get_ident())
        with _HELD_GUARD:
            if key in _HELD:
                _HELD[key] += 1
                self._key = key
                return
        host = socket.gethostname()
        token = f"{os.getpid()} {host} {secrets.token_hex(8)}"
        for _ in range(20):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                self._handle_existing(host, key[0])
                continue
            except OSError as exc:
                raise ValueError(
                    f"cannot lock the run folder {short_path(self.directory)}: "
                    f"{exc.strerror or exc}"
                ) from None
            with os.fdopen(fd, "w") as f:
                f.write(token + "\n")
                f.flush()
                os.fsync(f.fileno())
            self._token = token
            with _HELD_GUARD:
                _HELD[key] = 1
            self._key = key
            return
        raise ValueError(f"could not lock the run folder {short_path(self.directory)} (contended)")

    def _read(self, path: Path) -> str | None:
        try:
            with open(path, "rb") as f:
                return f.read(300).decode("utf-8", "replace").strip()
        except OSError:
            return None

    def _handle_existing(self, host: str, folder: str) -> None:
        """The lock file exists: refuse when its holder lives, take it over when stale."""
        content = self._read(self.path)
        if content is None:  # removed meanwhile: try again
            return
        parts = content.split()
        try:
            pid = int(parts[0])
            holder_host = parts[1]
        except (IndexError, ValueError):
            pid, holder_host = -1, host
            try:  # being written this very moment? give it a few seconds
                if time.time() - os.stat(self.path).st_mtime < 5:
                    time.sleep(0.05)
                    return
            except OSError:
                return
        if holder_host != host:
            alive = True
        elif pid == os.getpid():  # this process: another thread, or an earlier life's pid
            with _HELD_GUARD:
                alive = any(k[0] == folder for k in _HELD)
        else:
            alive = _pid_alive(pid)
        if alive:
            where = "" if holder_host == host else f" on host {holder_host}"
            raise ValueError(
                f"the run folder {short_path(self.directory)} is in use by process {pid}{where} "
                f"(lock file {LOCK_FILE}); wait for that run to end, or delete the lock file "
                "if no such run is active"
            )
        # stale: move it away, and remove it if it is still the stale lock we read
        aside = self.path.with_name(f".{LOCK_FILE}.{secrets.token_hex(4)}.stale")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        if self._read(aside) == content:
            os.unlink(aside)
            return
        try:  # another process locked the folder in between: give its lock back
            os.link(aside, self.path)
        except OSError:
            pass
        os.unlink(aside)

    def release(self) -> None:
        """Release the lock (the file is removed when it is still this lock's)."""
        key, self._key = self._key, None
        if key is None:
            return
        with _HELD_GUARD:
            _HELD[key] -= 1
            if _HELD[key] > 0:
                return
            del _HELD[key]
        if self._token is not None and self._read(self.path) == self._token:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        self._token = None


# ----- saving --------------------------------------------------------------------------------
def _manifest_entry(stored: str, data: bytes) -> dict[str, Any]:
    return {"path": stored, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _staged_name(name: str, token: str) -> str:
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}.{token}.{suffix}"


def _previous_generation(spec_path: Path) -> int:
    try:
        spec = read_json_file(spec_path, what="solution spec", max_bytes=MAX_SPEC_BYTES)
        generation = spec.get("generation", 0)
        return generation if isinstance(generation, int) and generation >= 0 else 0
    except (ValueError, AttributeError):
        return 0


def _place(src: Path, dst: Path, data: bytes) -> None:
    """Give ``dst`` the content of ``src`` atomically: a hard link renamed onto ``dst``, or
    (where links are not supported) a fresh atomic copy."""
    tmp = _temp_name(dst)
    try:
        os.link(src, tmp)
    except OSError:
        atomic_write_bytes(dst, data)
        return
    try:
        os.replace(tmp, dst)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(dst.parent)


def save_run(
    directory: str | os.PathLike[str], spec: dict[str, Any], members: dict[str, bytes]
) -> Path:
    """Save one complete state into ``directory``: the files ``members`` (plain name →
    bytes, names from :data:`MEMBER_FILES`) and ``solution.json`` (``spec`` plus
    ``"format"``, ``"generation"`` and the manifest ``"files"``), by the protocol of the
    module docstring, under :class:`RunLock`. Afterwards the folder holds exactly the plain
    names of ``members`` beside ``solution.json``: member files of an earlier state that this
    one lacks, staged and temporary leftovers of an interrupted save are removed, and so are
    the :data:`DERIVED_FILES` of the previous state. Returns the folder.
    """
    unknown = sorted(set(members) - set(MEMBER_FILES))
    if unknown:
        raise ValueError(f"unknown run-folder member(s) {unknown}; allowed: {list(MEMBER_FILES)}")
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    spec_path = path / SPEC_FILE
    with RunLock(path):
        previous = os.path.lexists(spec_path)
        base = {
            **spec,
            "format": RUN_FORMAT,
            "generation": _previous_generation(spec_path) + 1 if previous else 1,
        }
        if previous:
            # never overwrite what the current solution.json names: stage under new names
            token = secrets.token_hex(4)
            staged = {name: _staged_name(name, token) for name in members}
            for name, data in members.items():
                atomic_write_bytes(path / staged[name], data)
            files = {name: _manifest_entry(staged[name], members[name]) for name in members}
            _commit(path, {**base, "files": files})  # commit 1: the new state, staged names
            for name, data in members.items():
                _place(path / staged[name], path / name, data)
        else:
            for name, data in members.items():
                atomic_write_bytes(path / name, data)
        files = {name: _manifest_entry(name, data) for name, data in members.items()}
        _commit(path, {**base, "files": files}, drop=not previous)  # the plain names
        for name in MEMBER_FILES:
            if name not in members:
                _remove(path / name)
        for entry in _listdir(path):
            if _is_ours(entry) and not _PLOT_TEMP.match(entry):
                _remove(path / entry)
        _fsync_dir(path)
    return path


def _commit(path: Path, spec: dict[str, Any], drop: bool = True) -> None:
    """Write ``solution.json`` (the commit point); first remove the previous state's
    evaluation and figures (``drop``), which would not describe the new one."""
    data = json_bytes(spec)
    if drop:
        for name in DERIVED_FILES:
            _remove(path / name)
    atomic_write_bytes(path / SPEC_FILE, data)


# ----- reading -------------------------------------------------------------------------------
class RunIncompleteError(ValueError):
    """A file ``solution.json`` names is missing or does not match its manifest entry."""


def _read_bytes(path: Path, label: str, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes`` (one-line errors)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ValueError(f"cannot read {label}: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"cannot read {label}: it is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {label}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise ValueError(f"{label} is larger than the limit of {max_bytes} bytes")
    return data


@dataclass
class SavedRun:
    """A run folder's ``solution.json`` as read by :func:`read_spec`.

    Attributes:
        directory: the folder.
        spec: the parsed, checked ``solution.json``.
        raw: its bytes (a reader compares them to tell a folder that changed under it).
        files: the manifest (plain name → ``{"path", "bytes", "sha256"}``), or ``None`` for
            a folder saved before manifests (its plain files are read unchecked).
    """

    directory: Path
    spec: dict[str, Any]
    raw: bytes
    files: dict[str, dict[str, Any]] | None

    @property
    def spec_label(self) -> str:
        return f"solution spec {short_path(self.directory / SPEC_FILE)}"

    def incomplete(self, what: str) -> RunIncompleteError:
        return RunIncompleteError(
            f"the run in {short_path(self.directory)} is incomplete: {what} (the save was "
            "interrupted?); rerun or resume from a complete copy"
        )

    def has(self, name: str) -> bool:
        """Whether this state includes the member ``name``."""
        if self.files is not None:
            return name in self.files
        return os.path.lexists(self.directory / name)

    def read(self, name: str, max_bytes: int) -> bytes | None:
        """The bytes of member ``name`` (``None`` when the state has none), checked against
        the manifest: a missing file or one whose size or SHA-256 differs raises
        :class:`RunIncompleteError`."""
        if self.files is None:
            path = self.directory / name
            if not os.path.lexists(path):
                return None
            label = f"{name} in {short_path(self.directory)}"
            try:
                return _read_bytes(path, label, max_bytes)
            except FileNotFoundError:  # a dangling link, or removed meanwhile
                raise ValueError(f"cannot read {label}: no such file") from None
        entry = self.files.get(name)
        if entry is None:
            return None
        stored = entry["path"]
        shown = name if stored == name else f"{name} (saved as {stored})"
        if entry["bytes"] > max_bytes:
            raise ValueError(
                f"{self.spec_label} gives {name} a size of {entry['bytes']} bytes, over the "
                f"limit of {max_bytes}"
            )
        try:
            data = _read_bytes(self.directory / stored, shown, max_bytes)
        except FileNotFoundError:
            raise self.incomplete(f"{shown} is missing") from None
        if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise self.incomplete(f"{shown} does not match {SPEC_FILE}")
        return data

    def changed(self) -> bool:
        """Whether ``solution.json`` on disk is no longer the one read (a save ran)."""
        try:
            return _read_bytes(self.directory / SPEC_FILE, SPEC_FILE, MAX_SPEC_BYTES) != self.raw
        except (OSError, ValueError):
            return True


def read_spec(directory: str | os.PathLike[str]) -> SavedRun:
    """Read and check ``solution.json`` of ``directory`` (bounded, strict JSON through
    :func:`market_env.jsonio.read_json_file`). One-line ``ValueError`` for: no such file
    (saying when other run files suggest an interrupted save), unreadable, oversized,
    invalid or too deeply nested JSON, not an object, a missing or mistyped ``kind``,
    ``config``, ``params`` (``null`` included), a ``training`` section that is not an object,
    a malformed manifest, or a format newer than :data:`RUN_FORMAT`."""
    path = Path(directory)
    spec_path = path / SPEC_FILE
    if not os.path.lexists(spec_path):
        if path.is_dir() and any(os.path.lexists(path / n) for n in MEMBER_FILES):
            raise RunIncompleteError(
                f"the run in {short_path(path)} is incomplete: {SPEC_FILE} is missing (the save "
                "was interrupted?); rerun or resume from a complete copy"
            )
        raise ValueError(f"{short_path(path)} holds no saved solution ({SPEC_FILE} missing)")
    label = f"solution spec {short_path(spec_path)}"
    raw = _read_bytes(spec_path, label, MAX_SPEC_BYTES)
    spec = read_json_file(spec_path, what="solution spec", max_bytes=MAX_SPEC_BYTES)
    if not isinstance(spec, dict):
        raise ValueError(f"{label} must be a JSON object, got {_type(spec)}")
    for key, kind in (("kind", str), ("config", dict), ("params", dict)):
        if key not in spec:
            raise ValueError(f"{label} has no {key!r}")
        if not isinstance(spec[key], kind):
            need = "a string" if kind is str else "an object"
            raise ValueError(f"{label}: {key!r} must be {need}, got {_type(spec[key])}")
    if "training" in spec and not isinstance(spec["training"], dict):
        raise ValueError(f"{label}: 'training' must be an object, got {_type(spec['training'])}")
    fmt = spec.get("format", 1)
    if isinstance(fmt, bool) or not isinstance(fmt, int) or fmt < 1:
        raise ValueError(f"{label}: 'format' must be an integer >= 1, got {short_repr(fmt)}")
    if fmt > RUN_FORMAT:
        raise ValueError(
            f"{label} was written in run-folder format {fmt} by a newer version; this one reads "
            f"up to format {RUN_FORMAT}"
        )
    files = spec.get("files")
    if files is not None or "files" in spec:
        files = _check_manifest(files, label)
    return SavedRun(path, spec, raw, files)


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _check_manifest(files: Any, label: str) -> dict[str, dict[str, Any]]:
    if not isinstance(files, dict):
        raise ValueError(f"{label}: 'files' must be an object, got {_type(files)}")
    for name, entry in files.items():
        if name not in MEMBER_FILES:
            raise ValueError(
                f"{label}: 'files' names {short_repr(name)}; allowed: {list(MEMBER_FILES)}"
            )
        if not isinstance(entry, dict) or set(entry) != {"path", "bytes", "sha256"}:
            raise ValueError(f"{label}: files[{name!r}] must be {{path, bytes, sha256}}")
        stored, size, digest = entry["path"], entry["bytes"], entry["sha256"]
        staged = isinstance(stored, str) and _STAGED.match(stored)
        if stored != name and not (staged and _staged_name(name, staged.group(2)) == stored):
            raise ValueError(
                f"{label}: files[{name!r}].path must be {name!r} or its staged name, got "
                f"{short_repr(stored)}"
            )
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"{label}: files[{name!r}].bytes must be an integer >= 0")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise ValueError(f"{label}: files[{name!r}].sha256 must be 64 lowercase hex digits")
    return files


def torch_load_bytes(data: bytes, label: str, map_location: Any = "cpu") -> Any:
    """:func:`torch.load` of ``data`` with ``weights_only=True`` (never anything else), with
    one-line ``ValueError`` refusals: an empty file, one that is not a zip archive (what
    :func:`torch.save` writes), a truncated or corrupt archive, and a file that asks to
    build objects other than tensors and plain containers (a pickle of arbitrary objects:
    refused unread, as DESIGN.md requires)."""
    if not data:
        raise ValueError(f"{label} is empty")
    if not data.startswith(b"PK\x03\x04"):
        raise ValueError(f"{label} is not a torch weights file (not a zip archive)")
    import pickle

    try:
        return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise ValueError(
            f"{label} is not a weights file written by this library: it holds objects other "
            "than tensors, and was refused"
        ) from None
    except Exception as exc:  # truncated zip, bad record, ...: torch raises many kinds
        reason = one_line(exc, 1000).split(". ")[0].rstrip(".")  # torch adds advice after
        if "weights_only" in reason or not reason:
            reason = type(exc).__name__
        raise ValueError(
            f"{label} cannot be read (truncated or corrupt?): {reason[:120]}"
        ) from None


def check_state_dict(
    state: Any, expected: dict[str, torch.Tensor], label: str, what: str
) -> dict[str, torch.Tensor]:
    """Check that ``state`` (loaded from ``label``) is a ``state_dict`` with exactly the keys
    and shapes of ``expected`` (that of a freshly built ``what``) and finite values; one-line
    ``ValueError`` naming the first missing/extra keys or the first wrong shape."""
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise ValueError(f"{label} does not hold a state_dict (got {_type(state)})")
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(
            f"{label} does not hold a state_dict of tensors ({short_repr(bad[0])} is "
            f"{_type(state[bad[0]])})"
        )
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing keys {_few(missing)}")
        if extra:
            parts.append(f"unexpected keys {_few(extra)}")
        raise ValueError(
            f"{label} does not fit this {what}: {'; '.join(parts)} (were the params in "
            f"{SPEC_FILE} changed?)"
        )
    for key, ref in expected.items():
        value = state[key]
        if tuple(value.shape) != tuple(ref.shape):
            raise ValueError(
                f"{label} does not fit this {what}: {key} has shape {tuple(value.shape)}, "
                f"expected {tuple(ref.shape)} (were the params in {SPEC_FILE} changed?)"
            )
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ValueError(f"{label} holds non-finite values (NaN or inf) in {key}")
    return state


def _few(keys: Iterable[str], n: int = 3) -> str:
    keys = list(keys)
    shown = ", ".join(short_repr(k) for k in keys[:n])
    more = f", … ({len(keys)} in all)" if len(keys) > n else ""
    return f"[{shown}{more}]"


def check_optimizer_state(optimizer: torch.optim.Optimizer, saved: Any, label: str) -> None:
    """Check that ``saved`` (an ``optimizer.state_dict()`` read from ``label``) fits
    ``optimizer``: as many parameter groups with as many parameters, and every per-parameter
    tensor (Adam's moments) of its parameter's shape. :meth:`torch.optim.Optimizer.
    load_state_dict` checks only the counts; a wrong shape would fail at the next step."""
    if (
        not isinstance(saved, dict)
        or not isinstance(saved.get("state"), dict)
        or not isinstance(saved.get("param_groups"), list)
    ):
        raise ValueError(f"{label} is not an optimiser state")
    unfit = f"{label} does not fit the networks:"
    groups = optimizer.param_groups
    if len(saved["param_groups"]) != len(groups):
        raise ValueError(
            f"{unfit} it has {len(saved['param_groups'])} parameter groups, they {len(groups)}"
        )
    shapes: dict[Any, tuple[int, ...]] = {}
    for i, (old, new) in enumerate(zip(saved["param_groups"], groups)):
        ids = old.get("params") if isinstance(old, dict) else None
        if not isinstance(ids, list) or len(ids) != len(new["params"]):
            count = len(ids) if isinstance(ids, list) else "no"
            raise ValueError(
                f"{unfit} its parameter group {i} has {count} parameters, theirs "
                f"{len(new['params'])}"
            )
        for pid, param in zip(ids, new["params"]):
            shapes[pid] = tuple(param.shape)
    for pid, entry in saved["state"].items():
        if pid not in shapes or not isinstance(entry, dict):
            raise ValueError(f"{unfit} it has a state for an unknown parameter {short_repr(pid)}")
        for key, value in entry.items():
            if key == "step" or not isinstance(value, torch.Tensor):
                continue
            if tuple(value.shape) != shapes[pid]:
                raise ValueError(
                    f"{unfit} its {key} of parameter {pid} has shape {tuple(value.shape)}, the "
                    f"parameter {shapes[pid]}"
                )
