"""A fluent builder for event handlers.

::

    handlers = (
        EventHandlers()
        .before("create", stamp_slug)
        .on_success(["update", "patch"], notify)
        .on_failure("*", report)
        .after("delete", audit)
    )
    manager = ResourceManager(Article, event_handlers=[handlers])

Each callback receives the :class:`~specstar.core.pipeline.Event` (phase, the typed
:class:`~specstar.core.pipeline.OperationContext` with user, time, resource name and inputs,
and the result or error). Handlers given to a manager run in order; an application combines its
global handlers with a model's own by listing the global ones first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .pipeline import Event, EventPhase, event_callback

__all__ = ["EventHandlers", "combine_handlers", "event_callback"]

Callback = Callable[[Event], Any]
Actions = str | Iterable[str]


class EventHandlers:
    """Callbacks registered by phase and action (``"*"`` matches every action)."""

    def __init__(self) -> None:
        self._entries: list[tuple[EventPhase, frozenset[str], Callback]] = []

    def on(self, phase: EventPhase | str, actions: Actions, callback: Callback) -> EventHandlers:
        """Register ``callback`` for ``phase`` of ``actions``; returns ``self`` for chaining."""
        names = frozenset([actions] if isinstance(actions, str) else actions)
        if not names:
            raise ValueError("give at least one action (or '*')")
        self._entries.append((EventPhase(phase), names, callback))
        return self

    def before(self, actions: Actions, callback: Callback) -> EventHandlers:
        """Run before the commit; raising aborts the write with nothing stored."""
        return self.on(EventPhase.before, actions, callback)

    def after(self, actions: Actions, callback: Callback) -> EventHandlers:
        """Run after the operation, whether it succeeded or failed."""
        return self.on(EventPhase.after, actions, callback)

    def on_success(self, actions: Actions, callback: Callback) -> EventHandlers:
        """Run after a successful commit."""
        return self.on(EventPhase.on_success, actions, callback)

    def on_failure(self, actions: Actions, callback: Callback) -> EventHandlers:
        """Run when the operation failed (``event.error`` holds the exception)."""
        return self.on(EventPhase.on_failure, actions, callback)

    def handle(self, event: Event) -> None:
        for phase, actions, callback in self._entries:
            if phase is event.phase and ("*" in actions or event.context.action in actions):
                callback(event)

    def __len__(self) -> int:
        return len(self._entries)


def combine_handlers(
    global_handlers: Iterable[Any] | None, model_handlers: Iterable[Any] | None
) -> list[Any]:
    """Global handlers first, then the model's own: both run, in that order."""
    return [*(global_handlers or ()), *(model_handlers or ())]
