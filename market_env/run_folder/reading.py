"""Reading a run folder back: ``solution.json`` (bounded strict JSON, its manifest) and the
files it names, each checked (size, SHA-256, ``torch.load(weights_only=True)``, the keys and
shapes a solution expects); see :mod:`market_env.run_folder`."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..jsonio import read_bounded, read_json_file, short_path, short_repr
from .files import (
    MAX_SPEC_BYTES,
    MEMBER_FILES,
    RUN_FORMAT,
    SHA256_HEX,
    SPEC_FILE,
    STAGED_NAME,
    one_line,
    staged_name,
)


# ----- reading -------------------------------------------------------------------------------
class RunIncompleteError(ValueError):
    """A file ``solution.json`` names is missing or does not match its manifest entry."""


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
                return read_bounded(path, label, max_bytes, raise_missing=True)
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
            data = read_bounded(self.directory / stored, shown, max_bytes, raise_missing=True)
        except FileNotFoundError:
            raise self.incomplete(f"{shown} is missing") from None
        if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise self.incomplete(f"{shown} does not match {SPEC_FILE}")
        return data

    def changed(self) -> bool:
        """Whether ``solution.json`` on disk is no longer the one read (a save ran)."""
        try:
            return read_bounded(self.directory / SPEC_FILE, SPEC_FILE, MAX_SPEC_BYTES) != self.raw
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
    raw = read_bounded(spec_path, label, MAX_SPEC_BYTES, raise_missing=True)
    spec = read_json_file(spec_path, what="solution spec", max_bytes=MAX_SPEC_BYTES)
    if not isinstance(spec, dict):
        raise ValueError(f"{label} must be a JSON object, got {type_name(spec)}")
    for key, kind in (("kind", str), ("config", dict), ("params", dict)):
        if key not in spec:
            raise ValueError(f"{label} has no {key!r}")
        if not isinstance(spec[key], kind):
            need = "a string" if kind is str else "an object"
            raise ValueError(f"{label}: {key!r} must be {need}, got {type_name(spec[key])}")
    if "training" in spec and not isinstance(spec["training"], dict):
        got = type_name(spec["training"])
        raise ValueError(f"{label}: 'training' must be an object, got {got}")
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


def type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _check_manifest(files: Any, label: str) -> dict[str, dict[str, Any]]:
    if not isinstance(files, dict):
        raise ValueError(f"{label}: 'files' must be an object, got {type_name(files)}")
    for name, entry in files.items():
        if name not in MEMBER_FILES:
            raise ValueError(
                f"{label}: 'files' names {short_repr(name)}; allowed: {list(MEMBER_FILES)}"
            )
        if not isinstance(entry, dict) or set(entry) != {"path", "bytes", "sha256"}:
            raise ValueError(f"{label}: files[{name!r}] must be {{path, bytes, sha256}}")
        stored, size, digest = entry["path"], entry["bytes"], entry["sha256"]
        staged = isinstance(stored, str) and STAGED_NAME.match(stored)
        if stored != name and not (staged and staged_name(name, staged.group(2)) == stored):
            raise ValueError(
                f"{label}: files[{name!r}].path must be {name!r} or its staged name, got "
                f"{short_repr(stored)}"
            )
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"{label}: files[{name!r}].bytes must be an integer >= 0")
        if not isinstance(digest, str) or not SHA256_HEX.match(digest):
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
        raise ValueError(f"{label} does not hold a state_dict (got {type_name(state)})")
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(
            f"{label} does not hold a state_dict of tensors ({short_repr(bad[0])} is "
            f"{type_name(state[bad[0]])})"
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
