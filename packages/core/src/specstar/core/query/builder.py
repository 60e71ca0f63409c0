"""A small Python builder for query expressions.

``QB`` turns Python operators into :mod:`~specstar.core.query.ast` nodes::

    from specstar.core.query import QB

    adults = (QB.age >= 18) & QB["address.city"].in_(["Paris", "Lyon"])
    recent = QB["$created_time"] > datetime(2024, 1, 1, tzinfo=UTC)
    order = (QB.age.desc(), QB.meta("created_time").asc())

Remember that ``&``, ``|`` and ``~`` bind tighter than comparisons in Python, so comparisons
must be parenthesised when combined: ``(QB.a == 1) & (QB.b == 2)``. Chained comparisons
(``18 <= QB.age < 30``) do not work either: Python reduces them with ``and``, which keeps only
one side; write ``(QB.age >= 18) & (QB.age < 30)``.

The builder only checks that names are well formed; whether a path is indexed and whether the
values fit its kind is checked by :func:`~specstar.core.query.resolve.resolve_query`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from ..errors import QueryError
from .ast import META_FIELDS, PATH_RE, Condition, Field, Op, Sort

__all__ = ["QB", "FieldRef"]


def _make_field(path: str, *, meta: bool) -> Field:
    if not isinstance(path, str):
        raise QueryError(f"a field name must be a str, not {type(path).__name__}")
    if meta:
        if path not in META_FIELDS:
            known = ", ".join(f"${name}" for name in META_FIELDS)
            raise QueryError(f"'${path}' is not a meta field; meta fields: {known}", path=path)
    elif not PATH_RE.fullmatch(path):
        raise QueryError(
            f"{path!r} is not a valid field path (dot-separated identifiers)", path=path
        )
    return Field(path, meta=meta)


def _values(values: Iterable[Any], method: str) -> tuple[Any, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise QueryError(f"{method}() takes a list of values, not {type(values).__name__}")
    return tuple(values)


class FieldRef:
    """A field inside a builder expression; its operators and methods make conditions.

    Comparison operators (``== != > >= < <=``) return a :class:`~.ast.Condition` rather than a
    ``bool``, so a ``FieldRef`` is unhashable. Comparing with ``None`` builds an ``eq``/``ne``
    condition that :func:`~specstar.core.query.resolve.resolve_query` rejects; use
    :meth:`is_null` instead.

    Attributes:
        field: the :class:`~.ast.Field` this reference stands for.
    """

    __slots__ = ("field",)
    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __init__(self, field: Field) -> None:
        """Wrap ``field``."""
        self.field = field

    def __repr__(self) -> str:
        return f"FieldRef({str(self.field)!r})"

    def _cond(self, op: Op, value: Any) -> Condition:
        if isinstance(value, FieldRef):
            raise QueryError(
                f"cannot compare field {self.field} with field {value.field}: "
                "conditions compare a field with a value"
            )
        return Condition(self.field, op, value)

    def __eq__(self, value: object) -> Condition:  # type: ignore[override]
        """``field == value``."""
        return self._cond(Op.eq, value)

    def __ne__(self, value: object) -> Condition:  # type: ignore[override]
        """``field != value`` (null values never match; see :meth:`is_null`)."""
        return self._cond(Op.ne, value)

    def __gt__(self, value: Any) -> Condition:
        """``field > value``."""
        return self._cond(Op.gt, value)

    def __ge__(self, value: Any) -> Condition:
        """``field >= value``."""
        return self._cond(Op.gte, value)

    def __lt__(self, value: Any) -> Condition:
        """``field < value``."""
        return self._cond(Op.lt, value)

    def __le__(self, value: Any) -> Condition:
        """``field <= value``."""
        return self._cond(Op.lte, value)

    def in_(self, values: Iterable[Any]) -> Condition:
        """The value is one of ``values`` (Python's ``in`` cannot be overloaded)."""
        return self._cond(Op.in_, _values(values, "in_"))

    def not_in(self, values: Iterable[Any]) -> Condition:
        """The value is none of ``values`` (null values never match)."""
        return self._cond(Op.not_in, _values(values, "not_in"))

    def contains(self, value: Any) -> Condition:
        """Substring test on a str field; element membership on a list field."""
        return self._cond(Op.contains, value)

    def contains_any(self, values: Iterable[Any]) -> Condition:
        """A list field holds at least one of ``values``."""
        return self._cond(Op.contains_any, _values(values, "contains_any"))

    def starts_with(self, prefix: str) -> Condition:
        """A str field starts with ``prefix``."""
        return self._cond(Op.starts_with, prefix)

    def ends_with(self, suffix: str) -> Condition:
        """A str field ends with ``suffix``."""
        return self._cond(Op.ends_with, suffix)

    def regex(self, pattern: str) -> Condition:
        """A str field matches ``pattern`` somewhere (:func:`re.search` semantics)."""
        return self._cond(Op.regex, pattern)

    def is_null(self, flag: bool = True) -> Condition:
        """The value is null or missing (``flag=False``: it is present and not null)."""
        return self._cond(Op.is_null, flag)

    def exists(self, flag: bool = True) -> Condition:
        """The path is present in the data, even if null (``flag=False``: it is absent)."""
        return self._cond(Op.exists, flag)

    def asc(self) -> Sort:
        """Sort ascending on this field (nulls last)."""
        return Sort(self.field)

    def desc(self) -> Sort:
        """Sort descending on this field (nulls first)."""
        return Sort(self.field, descending=True)


class _QBMeta(type):
    """Metaclass giving ``QB`` its item and attribute access."""

    def __getattr__(cls, name: str) -> FieldRef:
        if name.startswith("_"):
            raise AttributeError(name)
        return FieldRef(_make_field(name, meta=False))

    def __getitem__(cls, path: str) -> FieldRef:
        if isinstance(path, str) and path.startswith("$"):
            return FieldRef(_make_field(path[1:], meta=True))
        return FieldRef(_make_field(path, meta=False))


class QB(metaclass=_QBMeta):
    """Entry point of the builder; never instantiated.

    * ``QB["address.city"]`` or ``QB.age`` — an indexed data path (attribute access works for
      names that do not start with ``_`` and are not ``meta``);
    * ``QB["$created_time"]`` or ``QB.meta("created_time")`` — a meta field of
      :class:`~specstar.core.types.ResourceMeta`.

    Raises:
        QueryError: the path is not a dotted identifier path, or the meta field is unknown.
    """

    def __new__(cls) -> QB:  # pragma: no cover - guard only
        raise TypeError("QB is not instantiated; use QB['path'] or QB.path")

    @staticmethod
    def meta(name: str) -> FieldRef:
        """The meta field ``name`` (without the ``$``), e.g. ``QB.meta("updated_by")``."""
        return FieldRef(_make_field(name, meta=True))
