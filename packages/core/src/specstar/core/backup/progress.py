"""What a dump or load reports as it goes: core's callbacks, which a command turns into a
progress bar (core itself prints nothing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

__all__ = ["Progress", "ProgressCallback"]


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    """Where a dump or load stands.

    Attributes:
        phase: ``"dump"``, ``"verify"`` (a load checking the whole archive first) or
            ``"load"``.
        model: the model being worked on (``None`` before the first one).
        resources: resources done so far, all models together.
        total: resources expected in all, when known (a dump counts them first), else
            ``None``.
        bytes: archive bytes written or read so far.
        total_bytes: the archive's size when known (a load after verifying), else ``None``.
        done: whether this is the last report of the phase.
    """

    phase: Literal["dump", "verify", "load"]
    model: str | None
    resources: int
    total: int | None
    bytes: int
    total_bytes: int | None = None
    done: bool = False


#: Called with each :class:`Progress` (after every resource, and once ``done``).
ProgressCallback = Callable[[Progress], None]
