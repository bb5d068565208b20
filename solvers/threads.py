"""The CPU thread policy of the solvers (measured in ``benchmarks/contention.py``).

Training runs with **one intra-op torch thread** unless told otherwise. The networks and
batches of the neural solvers are small (``(B, N+2) × (N+2, 50)`` matrix products per
step), so a second thread buys little on a quiet machine (about 1.4× per generator epoch
and 1.1× per discriminator epoch on a 2-core CPU), while on a busy machine every extra
thread of torch's OpenMP pool spins against the other processes and the epoch becomes many
times slower (``benchmarks/results/contention.md``: beside one competing process, 1.06× at
one thread against 3.4–4.3× at two). One thread is the setting whose speed
does not depend on what else the machine is doing; ``threads=0`` asks for all cores.

The library never changes torch's thread count on import: :func:`torch_threads` sets it for
the duration of a training call (the trainers' ``train()``, :func:`solvers.exploitability`,
:func:`solvers.rl.train_learners`, every ``market-eq`` subcommand via ``--threads``) and
restores it afterwards.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

__all__ = ["DEFAULT_THREADS", "resolve_threads", "torch_threads", "with_threads"]

#: Intra-op threads used by training when the caller does not say (see the module docstring).
DEFAULT_THREADS = 1


def resolve_threads(threads: int | None) -> int:
    """The thread count meant by ``threads``: ``None`` → :data:`DEFAULT_THREADS`, ``0`` → all
    cores of this machine, ``n ≥ 1`` → ``n``. Anything else raises ``ValueError``."""
    if threads is None:
        return DEFAULT_THREADS
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads must be an integer >= 0 (0: all cores), got {threads!r}")
    if threads == 0:
        return (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
    return threads


@contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Run the block with ``resolve_threads(threads)`` intra-op torch threads, then restore
    the previous setting. Yields the thread count in use."""
    n = resolve_threads(threads)
    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


F = TypeVar("F", bound=Callable[..., Any])


def with_threads(fn: F) -> F:
    """Give ``fn`` a keyword-only ``threads`` argument (``None``: :data:`DEFAULT_THREADS`,
    ``0``: all cores) and run it inside :func:`torch_threads`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, threads: int | None = None, **kwargs: Any) -> Any:
        with torch_threads(threads):
            return fn(*args, **kwargs)

    sig = inspect.signature(fn)
    extra = inspect.Parameter(
        "threads", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="int | None"
    )
    wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), extra])
    return wrapper  # type: ignore[return-value]
