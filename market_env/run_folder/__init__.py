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

from .files import (
    DERIVED_FILES,
    EVALUATION_FILE,
    FIGURE_FILES,
    HISTORY_FILE,
    LOCK_FILE,
    MAX_HISTORY_BYTES,
    MAX_SPEC_BYTES,
    MEMBER_FILES,
    RUN_FILES,
    RUN_FORMAT,
    SPEC_FILE,
    TRAINING_FILE,
    WEIGHTS_FILE,
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    json_bytes,
    new_run_id,
    one_line,
    torch_bytes,
)
from .lock import RunLock, check_writable, clear_stale
from .reading import (
    RunIncompleteError,
    SavedRun,
    check_optimizer_state,
    check_state_dict,
    read_spec,
    torch_load_bytes,
)
from .saving import save_run

__all__ = [
    "DERIVED_FILES",
    "EVALUATION_FILE",
    "FIGURE_FILES",
    "HISTORY_FILE",
    "LOCK_FILE",
    "MAX_HISTORY_BYTES",
    "MAX_SPEC_BYTES",
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
