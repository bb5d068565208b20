"""Device selection, once for the whole library: ``"auto"`` means CUDA when there is one.

Every solver and interface that takes ``device=`` reads it through :func:`resolve_device`,
so a name torch does not know, or ``"cuda"`` on a machine without one, fails the same way
everywhere (DESIGN.md "Conventions": ``device`` is an argument).
"""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device meant by ``device``.

    ``"auto"`` → ``cuda`` when ``torch.cuda.is_available()``, else ``cpu``; anything else as
    :class:`torch.device` reads it (``"cpu"``, ``"cuda"``, ``"cuda:1"``, a device).

    Raises:
        ValueError: a name torch does not know, or a CUDA device on a machine without CUDA.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda[:i]' or a torch.device, got {device!r}"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} requested but torch.cuda.is_available() is False; "
            "use device='cpu' or 'auto'"
        )
    return resolved
