"""The run-folder lock and the checks ``solve`` makes before training (see
:mod:`market_env.run_folder`): :class:`RunLock` keeps a second solve or save out of a folder
in use; :func:`check_writable` and :func:`clear_stale`."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

from ..jsonio import short_path
from .files import LOCK_FILE, RUN_FILES, fsync_dir, is_ours, list_names, remove_file


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
        if remove_file(path / name):
            removed.append(name)
    for entry in list_names(path):
        if is_ours(entry) and remove_file(path / entry):
            removed.append(entry)
    fsync_dir(path)
    return removed


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
    :meth:`~market_env.solution.Solution.save` it calls locks it again). Use as a context manager.
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
