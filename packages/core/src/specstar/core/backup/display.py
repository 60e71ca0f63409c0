"""How the ``specstar dump``/``load`` commands show :class:`Progress`: a bar redrawn in place
on a terminal (resources and bytes, rate, ETA), plain lines now and then otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from .progress import Progress

__all__ = ["ProgressDisplay", "format_bytes", "format_duration"]

#: Seconds between two redraws on a terminal, and between two lines otherwise.
TTY_INTERVAL = 0.1
LINE_INTERVAL = 5.0
_WIDTH = 24


def format_bytes(n: float) -> str:
    """``n`` bytes as ``"512 B"``, ``"1.5 KiB"``, ``"12.0 MiB"``..."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """``seconds`` as ``"h:mm:ss"``."""
    s = max(0, round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class ProgressDisplay:
    """A :data:`~specstar.core.backup.progress.ProgressCallback` writing to ``stream``.

    Args:
        stream: where to write (the command's standard error).
        tty: redraw one line in place (default: whether ``stream`` is a terminal).
        clock: the time source (for tests).
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.clock = clock
        self.phase: str | None = None
        self.started = 0.0
        self.shown = -1e9

    def __call__(self, p: Progress) -> None:
        now = self.clock()
        if p.phase != self.phase:
            if self.tty and self.phase is not None:
                self.stream.write("\n")
            self.phase, self.started, self.shown = p.phase, now, -1e9
        interval = TTY_INTERVAL if self.tty else LINE_INTERVAL
        if not p.done and now - self.shown < interval:
            return
        self.shown = now
        text = self.line(p, now - self.started)
        if self.tty:
            self.stream.write("\r\x1b[K" + text + ("\n" if p.done else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def line(self, p: Progress, elapsed: float) -> str:
        """One line describing ``p``, ``elapsed`` seconds into its phase."""
        rate = p.resources / elapsed if elapsed > 0 else 0.0
        parts = [f"{p.phase}"]
        if p.model is not None:
            parts.append(p.model)
        if p.total is not None:
            share = p.resources / p.total if p.total else 1.0
            if self.tty:
                filled = round(share * _WIDTH)
                parts.append("[" + "#" * filled + "." * (_WIDTH - filled) + "]")
            parts.append(f"{p.resources}/{p.total} resources ({share:.0%})")
        else:
            parts.append(f"{p.resources} resources")
        size = format_bytes(p.bytes)
        if p.total_bytes is not None:
            size += f"/{format_bytes(p.total_bytes)}"
        parts.append(size)
        parts.append(f"{rate:,.0f}/s")
        if p.done:
            parts.append(f"done in {format_duration(elapsed)}")
        elif p.total is not None and rate > 0:
            parts.append(f"ETA {format_duration((p.total - p.resources) / rate)}")
        return "  ".join(parts)
