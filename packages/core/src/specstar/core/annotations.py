"""Field markers used with ``typing.Annotated``."""

from __future__ import annotations

from collections.abc import Sequence

from ._normalizers import parse_normalize

__all__ = ["DisplayName", "Unique"]


class Unique:
    """The field's value is unique among non-deleted resources of the type; ``None`` may repeat.

    The field is indexed automatically and the store enforces uniqueness atomically::

        class User(msgspec.Struct):
            email: Annotated[str, Unique(normalize="text")]
            nickname: Annotated[str | None, Unique()] = None

    Args:
        normalize: compare a normalised key instead of the exact value (``str`` fields only):
            names of normalisers joined by ``+`` (``"casefold+nfkc+trim"``) or a list of them;
            ``"text"`` is ``invisible+nfkc+casefold+trim``, which makes ``Ann@X.com``,
            ``ann@x.com``, its fullwidth form and `` ann@x.com`` one value. The stored value
            stays as written; the key is indexed next to it as ``<field>__<names>`` (e.g.
            ``email__invisible_nfkc_casefold_trim``), is what the store's unique index holds,
            and can be searched. Off by default: exact comparison is right for codes, tokens
            and other case-sensitive identifiers, and turning normalisation on for existing
            data must be a decision (a unique index over the new key cannot be built while
            existing resources collide). Turn it on for what people type: emails, user names.

    Raises:
        ValueError: an unknown normaliser name.
    """

    def __init__(self, *, normalize: str | Sequence[str] | None = None) -> None:
        self.normalize: tuple[str, ...] = parse_normalize(normalize)

    def __repr__(self) -> str:
        if self.normalize:
            return f"Unique(normalize={'+'.join(self.normalize)!r})"
        return "Unique()"


class DisplayName:
    """Marks the ``str`` field that names a resource for people (shown instead of its id)."""

    def __init__(self, label: str | None = None) -> None:
        self.label = label

    def __repr__(self) -> str:
        return f"DisplayName({self.label!r})"
