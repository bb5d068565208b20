"""Saving a run folder crash-safely, ``solution.json`` last as the commit point (the rules
are in :mod:`market_env.run_folder`)."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Any

from ..jsonio import read_json_file
from .files import (
    DERIVED_FILES,
    MAX_SPEC_BYTES,
    MEMBER_FILES,
    PLOT_TEMP_NAME,
    RUN_FORMAT,
    SPEC_FILE,
    atomic_write_bytes,
    fsync_dir,
    is_ours,
    json_bytes,
    list_names,
    remove_file,
    removed_on_failure,
    staged_name,
    temp_name,
)
from .lock import RunLock


# ----- saving --------------------------------------------------------------------------------
def _manifest_entry(stored: str, data: bytes) -> dict[str, Any]:
    return {"path": stored, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


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
    tmp = temp_name(dst)
    try:
        os.link(src, tmp)
    except OSError:
        atomic_write_bytes(dst, data)
        return
    with removed_on_failure(tmp):
        os.replace(tmp, dst)
    fsync_dir(dst.parent)


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
            staged = {name: staged_name(name, token) for name in members}
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
                remove_file(path / name)
        for entry in list_names(path):
            if is_ours(entry) and not PLOT_TEMP_NAME.match(entry):
                remove_file(path / entry)
        fsync_dir(path)
    return path


def _commit(path: Path, spec: dict[str, Any], drop: bool = True) -> None:
    """Write ``solution.json`` (the commit point); first remove the previous state's
    evaluation and figures (``drop``), which would not describe the new one."""
    data = json_bytes(spec)
    if drop:
        for name in DERIVED_FILES:
            remove_file(path / name)
    atomic_write_bytes(path / SPEC_FILE, data)
