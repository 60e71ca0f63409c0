"""References between resources and the registry that resolves them.

A field annotated with :class:`Ref` holds the id of another resource::

    class Post(msgspec.Struct):
        author_id: Annotated[str, Ref("user", on_delete=OnDelete.cascade)]
        editor_id: Annotated[str | None, Ref("user", on_delete=OnDelete.set_null)] = None
        tag_ids: Annotated[list[str], Ref("tag")] = []

Managers that know each other through a :class:`Registry` keep referential integrity when a
target is deleted (soft or permanent):

* ``dangling`` (default): nothing happens; the reference may point at a deleted resource.
* ``set_null``: the referrer gets a new revision with the field set to ``None`` (list fields
  lose the id).
* ``cascade``: the referrer is deleted the same way (soft with soft, permanent with permanent).
* ``restrict``: the delete is refused with :class:`ReferenceRestrictedError` while live
  referrers exist.

These effects reach every referrer, whoever deletes: only the delete of the target is
authorized as the acting user; what it does to referrers is a system step (see
:class:`ReferenceSource`).

Resource-id references are indexed automatically, so referrers are found by index. Revision
references (``ref_type=RefType.revision_id``) are informational: never indexed, always dangling.

Cross-resource effects are not one transaction: ``restrict`` is checked before the delete and
cascades run right after it succeeds. A referrer created concurrently with the delete of its
target can therefore survive a ``restrict``/``cascade``; run :meth:`Registry.referrers` to audit.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import msgspec
import msgspec.inspect as mi

from . import models
from .errors import FieldError, ReferenceRestrictedError, SpecStarError, ValidationError
from .indexes import field_type
from .query.ast import Condition, Field, Op
from .types import ResourceMeta

__all__ = [
    "OnDelete",
    "Ref",
    "RefField",
    "RefRevision",
    "RefType",
    "ReferenceRestrictedError",
    "ReferenceSource",
    "Registry",
    "collect_refs",
]


class OnDelete(enum.StrEnum):
    """What happens to referrers when the referenced resource is deleted."""

    dangling = "dangling"
    set_null = "set_null"
    cascade = "cascade"
    restrict = "restrict"


class RefType(enum.StrEnum):
    """Whether a reference holds a resource id or a (pinned) revision id."""

    resource_id = "resource_id"
    revision_id = "revision_id"


class Ref:
    """Marks a ``str``, ``str | None`` or ``list[str]`` field as a reference to ``resource``.

    Args:
        resource: the name of the referenced resource type.
        on_delete: what happens to the referrer when the target is deleted.
        ref_type: a resource id (default) or a pinned revision id.
        cross_scope: with ``validate_refs``, whether the field may name a resource the
            writer cannot see (outside their access scope). By default it may not: such a
            reference is refused exactly like one to a missing resource, so references
            neither attach to other users' resources nor probe for them.
    """

    def __init__(
        self,
        resource: str,
        *,
        on_delete: OnDelete | str = OnDelete.dangling,
        ref_type: RefType | str = RefType.resource_id,
        cross_scope: bool = False,
    ) -> None:
        self.resource = resource
        self.on_delete = OnDelete(on_delete)
        self.ref_type = RefType(ref_type)
        if self.ref_type is RefType.revision_id and self.on_delete is not OnDelete.dangling:
            raise ValueError("revision references are always on_delete=dangling")
        if not isinstance(cross_scope, bool):
            raise TypeError(f"Ref cross_scope must be a bool, not {cross_scope!r}")
        self.cross_scope = cross_scope

    def __repr__(self) -> str:
        scope = ", cross_scope=True" if self.cross_scope else ""
        return f"Ref({self.resource!r}, on_delete={self.on_delete.value!r}{scope})"


class RefRevision(Ref):
    """Deprecated spelling of ``Ref(resource, ref_type=RefType.revision_id)``."""

    def __init__(self, resource: str) -> None:
        super().__init__(resource, ref_type=RefType.revision_id)


class RefField(msgspec.Struct, frozen=True):
    """One reference field of a model.

    Attributes:
        path: dotted path of the field in the referring model.
        target: resource name of the referenced type.
        is_list: the field holds a list of ids.
        nullable: the field accepts ``None``.
        cross_scope: the field may name resources its writer cannot see.
    """

    path: str
    target: str
    on_delete: OnDelete
    ref_type: RefType
    is_list: bool
    nullable: bool
    cross_scope: bool = False

    def names(self, target_id: str) -> Condition:
        """The condition a referrer matches when this field names ``target_id``."""
        return Condition(Field(self.path), Op.contains if self.is_list else Op.eq, target_id)


def _shape(model: type, path: str) -> tuple[bool, bool]:
    """(is_list, nullable) of the field at ``path``."""
    t = field_type(model, path)
    nullable = False
    while isinstance(t, mi.Metadata | mi.UnionType):
        if isinstance(t, mi.Metadata):
            t = t.type
            continue
        nullable = nullable or any(isinstance(x, mi.NoneType) for x in t.types)
        rest = [x for x in t.types if not isinstance(x, mi.NoneType)]
        if len(rest) != 1:
            break
        t = rest[0]
    if isinstance(t, mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType):
        return True, nullable
    if isinstance(t, mi.StrType):
        return False, nullable
    raise SpecStarError(f"Ref field {path!r} must be a str, str | None or list[str]")


def collect_refs(model: type) -> list[RefField]:
    """The :class:`Ref` fields of a model.

    Raises:
        SpecStarError: a Ref on a field that is not a string or list of strings.
        ValueError: ``on_delete=set_null`` on a field that accepts no ``None`` (and no list).
    """
    out: list[RefField] = []
    for path, ref in models.find_annotated_fields(model, Ref):
        is_list, nullable = _shape(model, path)
        if ref.on_delete is OnDelete.set_null and not (nullable or is_list):
            raise ValueError(
                f"Ref({ref.resource!r}, on_delete=set_null) on {path!r} needs an optional field "
                "(str | None) or a list"
            )
        out.append(
            RefField(
                path,
                ref.resource,
                ref.on_delete,
                ref.ref_type,
                is_list,
                nullable,
                ref.cross_scope,
            )
        )
    return out


class ReferenceSource(Protocol):
    """What referential integrity needs of a manager: a :class:`ResourceManager` is one.

    The integrity reads and writes run for the framework, not for a user: ``referrer_metas``
    and ``is_live`` see every row, and ``apply_set_null``, ``cascade_delete`` and
    ``cascade_restore`` reach every row and write as the user given, without asking the
    permission checker (the user's own delete or restore of the target was authorized).
    """

    @property
    def name(self) -> str:
        """The resource name."""

    @property
    def refs(self) -> Sequence[RefField]:
        """The model's reference fields."""

    def referrer_metas(
        self, ref: RefField, target_id: str, *, include_deleted: bool
    ) -> Iterator[ResourceMeta]:
        """Metas whose reference field ``ref`` names ``target_id`` (no permission checks)."""

    def is_live(self, resource_id: str) -> bool:
        """Whether the resource exists and is not soft-deleted (no permission checks)."""

    def apply_set_null(
        self,
        resource_id: str,
        refs: Sequence[RefField],
        target_id: str,
        *,
        user: str,
        now: datetime,
    ) -> object:
        """Clear ``target_id`` from the ``refs`` fields of one resource, as a new revision."""

    def is_visible(self, resource_id: str, user: str) -> bool:
        """Whether the resource is live and ``user`` may see it (``exists`` as that user; a
        user refused outright sees nothing)."""

    def cascade_delete(
        self, resource_id: str, *, permanent: bool, user: str, now: datetime
    ) -> object:
        """Delete a resource (soft, or permanently) whose cascading target went, as ``user``
        (no permission checks); its own referrers follow."""

    def cascade_restore(self, resource_id: str, *, user: str, now: datetime) -> object:
        """Undo the soft delete of a resource that a cascade deleted, and of what that
        delete cascaded to, as ``user`` (no permission checks)."""


M = TypeVar("M", bound=ReferenceSource)


class Registry(Generic[M]):
    """The managers of one application, by resource name, so references can be followed.

    Typed by what it holds: ``Registry[ResourceManager[Any]]`` for an application's managers.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._managers: dict[str, M] = {}

    def add(self, manager: M) -> None:
        """Register a manager (its ``name`` must be new)."""
        with self._lock:
            if manager.name in self._managers:
                raise ValueError(f"a resource named {manager.name!r} is already registered")
            self._managers[manager.name] = manager

    def get(self, name: str) -> M:
        """The manager of a resource name; ``KeyError`` lists the known names."""
        try:
            return self._managers[name]
        except KeyError:
            raise KeyError(
                f"no resource named {name!r}; registered: {', '.join(sorted(self._managers))}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._managers

    def __iter__(self) -> Iterator[M]:
        return iter(list(self._managers.values()))

    def refs_to(self, target: str) -> list[tuple[M, RefField]]:
        """Every (referring manager, resource-id reference field) that points at ``target``."""
        return [
            (manager, ref)
            for manager in self
            for ref in manager.refs
            if ref.target == target and ref.ref_type is RefType.resource_id
        ]

    def referrers(
        self, target: str, resource_id: str, *, include_deleted: bool = False
    ) -> list[tuple[str, str, str]]:
        """``(resource name, field path, referrer id)`` of everything referencing a resource.

        Reads the stores directly (no permission checks): integrity must see every row.
        """
        found: list[tuple[str, str, str]] = []
        for manager, ref in self.refs_to(target):
            for meta in manager.referrer_metas(ref, resource_id, include_deleted=include_deleted):
                found.append((manager.name, ref.path, meta.resource_id))
        return found

    def check_refs(
        self,
        manager: ReferenceSource,
        data: Any,
        previous: Any = None,
        *,
        user: str | None = None,
        resource_id: str | None = None,
    ) -> None:
        """Raise :class:`ValidationError` for new reference values naming no live resource.

        Only ids that ``previous`` (the data being replaced) did not already hold are checked,
        so a reference left dangling on purpose never blocks unrelated changes. With
        ``user`` (the writer), a resource that user cannot see counts as missing — same
        error, same message — unless the field is ``Ref(..., cross_scope=True)``. A reference
        of the resource being written (``resource_id``) to itself is always valid.
        """
        doc = msgspec.to_builtins(data)
        old = msgspec.to_builtins(previous) if previous is not None else {}
        errors: list[FieldError] = []
        for ref in manager.refs:
            if ref.ref_type is not RefType.resource_id or ref.target not in self:
                continue
            known = set(_ids_at(old, ref.path))
            target = self.get(ref.target)
            for rid in _ids_at(doc, ref.path):
                if rid in known or (rid == resource_id and ref.target == manager.name):
                    continue
                visible = (
                    target.is_live(rid)
                    if user is None or ref.cross_scope
                    else target.is_visible(rid, user)
                )
                if not visible:
                    loc = "/" + ref.path.replace(".", "/")
                    errors.append(FieldError(loc, f"no live {ref.target} with id {rid!r}"))
        if errors:
            raise ValidationError("references to missing resources", errors)


def _ids_at(doc: Any, path: str) -> list[str]:
    """The non-null ids a reference field holds in a builtins document."""
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    ids = value if isinstance(value, list) else [value]
    return [v for v in ids if isinstance(v, str)]
