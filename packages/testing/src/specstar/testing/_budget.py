"""Hypothesis example budgets that follow the active profile."""

from __future__ import annotations

from hypothesis import settings

__all__ = ["DEEP_FACTOR", "budget"]

#: How many times the examples of the default profile the ``deep`` profile runs.
DEEP_FACTOR = 5


def budget(examples: int) -> int:
    """``examples`` scaled by the active profile (``deep``: five times as many).

    A property that sets its own ``max_examples`` passes it through here so that
    ``--hypothesis-profile=deep`` raises it like every other property.
    """
    return max(examples, examples * settings().max_examples // 100)
