"""What a read returns: the ``returns`` and ``partial`` parameters in every form they take.

``returns`` names the parts of each item: ``data``, ``info`` (also ``revision_info`` or
``revision-info``) and ``meta``, comma-separated or repeated; or one bare form,
``only-data``, ``only-meta`` or ``only-revision_info`` (``only-info``,
``only-revision-info``), which returns that part itself instead of an object holding it.

``partial`` narrows the parts: a path without a prefix, or with ``data/``, is a member of
``data`` (a JSON Pointer such as ``/address/city`` or a dotted path ``address.city``);
``meta/<member>`` and ``info/<member>`` keep only those members of ``meta`` and ``info``. A
part no path names is returned whole.
"""

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from specstar.core import QueryError, ResourceMeta, RevisionInfo

from .params import RETURNS, parse_partial

__all__ = ["ReadShape", "read_shape"]

_ALIASES = {"revision_info": "info", "revision-info": "info"}
_BARE = {
    "only-data": "data",
    "only-meta": "meta",
    "only-info": "info",
    "only-revision_info": "info",
    "only-revision-info": "info",
}
_MEMBERS = {
    "meta": frozenset(f.name for f in msgspec.structs.fields(ResourceMeta)),
    "info": frozenset(f.name for f in msgspec.structs.fields(RevisionInfo)),
}


class ReadShape(msgspec.Struct, frozen=True):
    """A read's ``returns`` and ``partial``, parsed.

    Attributes:
        returns: the parts the manager reads.
        data_paths: JSON Pointers of the ``data`` members to keep (``None``: all).
        members: per part (``meta``, ``info``), the members to keep.
        bare: the part returned by itself (a bare ``returns`` form), if any.
    """

    returns: tuple[str, ...]
    data_paths: list[str] | None
    members: dict[str, tuple[str, ...]]
    bare: str | None

    @property
    def reshapes(self) -> bool:
        """Whether items need :meth:`apply` (not only what the manager returns)."""
        return self.bare is not None or bool(self.members)

    def apply(self, item: Any) -> Any:
        """One item (a ``SearchedResource``) as this shape returns it."""
        if not self.reshapes:
            return item
        out: dict[str, Any] = msgspec.to_builtins(item)
        for part, names in self.members.items():
            if isinstance(out.get(part), dict):
                out[part] = {k: out[part][k] for k in names if k in out[part]}
        return out.get(self.bare) if self.bare is not None else out

    def apply_all(self, items: Sequence[Any]) -> Any:
        """:meth:`apply` on every item of a page."""
        return [self.apply(i) for i in items] if self.reshapes else items


def _split(values: Iterable[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or ():
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def _returns(values: Iterable[str] | None) -> tuple[tuple[str, ...], str | None]:
    tokens = _split(values)
    bare = [t for t in tokens if t in _BARE]
    if bare:
        if len(tokens) > 1:
            raise QueryError(
                f"returns={bare[0]} returns that part by itself: send it alone, "
                f"not with {', '.join(t for t in tokens if t != bare[0])}"
            )
        return (_BARE[bare[0]],), _BARE[bare[0]]
    parts = [_ALIASES.get(t, t) for t in tokens]
    if not parts:
        return RETURNS, None
    unknown = sorted(set(parts) - set(RETURNS))
    if unknown:
        forms = ", ".join([*RETURNS, *_ALIASES, *_BARE])
        raise QueryError(f"returns accepts {forms} — not {', '.join(unknown)}")
    return tuple(p for p in RETURNS if p in parts), None


def read_shape(returns: Iterable[str] | None, partial: Iterable[str] | None) -> ReadShape:
    """Parse ``returns`` and ``partial`` (see the module docstring).

    Raises:
        QueryError: an unknown part or member, a bare form with other parts, or a
            ``meta/``/``info/`` path for a part ``returns`` leaves out (400).
    """
    parts, bare = _returns(returns)
    data: list[str] = []
    members: dict[str, list[str]] = {}
    for path in _split(partial):
        head, slash, rest = path.partition("/")
        if slash and head == "data":
            data.append("/" + rest if rest else "")
        elif slash and head in _MEMBERS:
            if not rest or "/" in rest or "." in rest or rest not in _MEMBERS[head]:
                accepted = ", ".join(sorted(_MEMBERS[head]))
                raise QueryError(
                    f"partial path {path!r}: {head}/ takes one member of {head} ({accepted})",
                    path=path,
                )
            if head not in parts:
                raise QueryError(
                    f"partial path {path!r} narrows {head}, which returns leaves out", path=path
                )
            members.setdefault(head, []).append(rest)
        else:
            data.append(path)
    if data and "data" not in parts:
        raise QueryError(
            f"partial path {data[0]!r} narrows data, which returns leaves out", path=data[0]
        )
    return ReadShape(
        returns=parts,
        data_paths=parse_partial(data),
        members={k: tuple(v) for k, v in members.items()},
        bare=bare,
    )
