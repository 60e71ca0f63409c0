"""Field markers used with ``typing.Annotated``."""

from __future__ import annotations

__all__ = ["DisplayName", "Unique"]


class Unique:
    """The field's value is unique among non-deleted resources of the type; ``None`` may repeat.

    The field is indexed automatically and the store enforces uniqueness atomically::

        class User(msgspec.Struct):
            email: Annotated[str, Unique()]
            nickname: Annotated[str | None, Unique()] = None
    """

    def __repr__(self) -> str:
        return "Unique()"


class DisplayName:
    """Marks the ``str`` field that names a resource for people (shown instead of its id)."""

    def __init__(self, label: str | None = None) -> None:
        self.label = label

    def __repr__(self) -> str:
        return f"DisplayName({self.label!r})"
