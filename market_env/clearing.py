"""Quantity-clearing rules: how submitted trading rates become fills (DESIGN.md).

Each rule maps the submitted rates ``(B, N)`` to fills ``(B, N)``. The submitted imbalance
``Σ_n rate_n / N`` is computed by :func:`imbalance` and reported whatever the rule.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["CLEARING_RULES", "ClearingRule", "imbalance", "get_clearing_rule"]

#: ``rule(rates, imbalance) -> fills``; ``imbalance`` is ``Σ_n rate_n / N`` of shape ``(B,)``.
ClearingRule = Callable[[Tensor, Tensor], Tensor]


def imbalance(rates: Tensor) -> Tensor:
    """The submitted imbalance ``Σ_n rate_n / N`` per path, shape ``(B,)`` (MODEL.md §2)."""
    return rates.mean(dim=-1)


def project(rates: Tensor, imbalance: Tensor) -> Tensor:
    """Each fill is the order minus the mean imbalance, so fills sum to zero."""
    return rates - imbalance.unsqueeze(-1)


def residual(rates: Tensor, imbalance: Tensor) -> Tensor:
    """The last agent absorbs the imbalance: ``fill_N = −Σ_{n<N} rate_n`` (paper's mode)."""
    head = rates[..., :-1]
    return torch.cat([head, -head.sum(dim=-1, keepdim=True)], dim=-1)


def none(rates: Tensor, imbalance: Tensor) -> Tensor:
    """Fills as ordered (markets may not clear)."""
    return rates


CLEARING_RULES: dict[str, ClearingRule] = {"project": project, "residual": residual, "none": none}


def get_clearing_rule(name: str) -> ClearingRule:
    """Look a rule up by name; unknown names raise ``ValueError``."""
    try:
        return CLEARING_RULES[name]
    except KeyError:
        raise ValueError(
            f"clearing must be one of {sorted(CLEARING_RULES)}, got {name!r}"
        ) from None
