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
from datetime import datetime
from typing import Any, ClassVar

from ..errors import QueryError
from ._dates import Zone, day_window, rolling_window
from .ast import META_FIELDS, PATH_RE, And, Condition, Expr, Field, Not, Op, Or, QueryBuilder, Sort

__all__ = ["QB", "FieldRef", "like_to_regex"]


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


_ANY_CHAR = "(?:.|\\n)"  # any character, the line feed included, without inline flags
_LIKE_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\f": "\\f", "\v": "\\v"}


def _literal(ch: str) -> str:
    if ch in _LIKE_ESCAPES:
        return _LIKE_ESCAPES[ch]
    if ord(ch) < 0x20 or ord(ch) == 0x7F:
        return f"\\x{ord(ch):02x}"
    if ch.isascii() and not ch.isalnum() and ch != " ":
        return "\\" + ch  # punctuation: escaped, whether special or not
    return ch


def like_to_regex(pattern: str) -> str:
    """The regular expression of a ``LIKE`` pattern: ``^...$`` around the pattern, ``%`` as
    any run of characters, ``_`` as one character (line feeds included), every other character
    literal. It uses only constructs every regex engine of the stores reads alike.

    Example:
        ``like_to_regex("a%.")`` is ``^a(?:.|\\n)*\\.$``.
    """
    body = "".join(
        f"{_ANY_CHAR}*" if ch == "%" else _ANY_CHAR if ch == "_" else _literal(ch) for ch in pattern
    )
    return f"^{body}$"


def _exprs(exprs: tuple[Any, ...], method: str) -> tuple[Expr, ...]:
    for expr in exprs:
        if not isinstance(expr, Condition | And | Or | Not):
            raise QueryError(f"QB.{method}() takes conditions, not {type(expr).__name__}")
    return exprs


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

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Refuse a call: ``QB.name()`` is a data path, not one of ``QB``'s functions."""
        helpers = ", ".join(f"{name}()" for name in META_FIELDS)
        raise QueryError(
            f"QB.{self.field.path}() is not a function of QB: {self.field} is a data path "
            f"(compare it, e.g. QB.{self.field.path} == 1). Meta fields: {helpers}; "
            "QB.all(), QB.any(), QB.filter(), QB.meta(name)",
            path=str(self.field),
        )

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

    def eq(self, value: Any) -> Condition:
        """``field == value``."""
        return self._cond(Op.eq, value)

    def ne(self, value: Any) -> Condition:
        """``field != value``."""
        return self._cond(Op.ne, value)

    def gt(self, value: Any) -> Condition:
        """``field > value``."""
        return self._cond(Op.gt, value)

    def gte(self, value: Any) -> Condition:
        """``field >= value``."""
        return self._cond(Op.gte, value)

    def lt(self, value: Any) -> Condition:
        """``field < value``."""
        return self._cond(Op.lt, value)

    def lte(self, value: Any) -> Condition:
        """``field <= value``."""
        return self._cond(Op.lte, value)

    def __mod__(self, pattern: str) -> Condition:
        """``field % pattern``: :meth:`regex`."""
        return self.regex(pattern)

    def __lshift__(self, values: Iterable[Any]) -> Condition:
        """``field << [a, b]``: :meth:`in_`."""
        return self.in_(values)

    def __rshift__(self, value: Any) -> Condition:
        """``field >> value``: :meth:`contains`."""
        return self.contains(value)

    def __invert__(self) -> Condition:
        """``~field``: :meth:`is_falsy` (null, missing, ``0``, ``""``, ``[]`` or ``false``)."""
        return self.is_falsy()

    def in_(self, values: Iterable[Any]) -> Condition:
        """The value is one of ``values`` (Python's ``in`` cannot be overloaded)."""
        return self._cond(Op.in_, _values(values, "in_"))

    def one_of(self, values: Iterable[Any]) -> Condition:
        """Same as :meth:`in_`."""
        return self._cond(Op.in_, _values(values, "one_of"))

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

    def not_contains(self, value: Any) -> Not:
        """``~contains(value)``: null values match neither (three-valued logic)."""
        return Not(self.contains(value))

    def not_starts_with(self, prefix: str) -> Not:
        """``~starts_with(prefix)``; null values never match."""
        return Not(self.starts_with(prefix))

    def not_ends_with(self, suffix: str) -> Not:
        """``~ends_with(suffix)``; null values never match."""
        return Not(self.ends_with(suffix))

    def icontains(self, value: str) -> Condition:
        """Substring test ignoring ASCII case (``A``-``Z`` equal ``a``-``z``; other characters,
        ``É`` and ``é`` included, match only themselves)."""
        return self._cond(Op.icontains, value)

    def istarts_with(self, prefix: str) -> Condition:
        """:meth:`starts_with` ignoring ASCII case (see :meth:`icontains`)."""
        return self._cond(Op.istarts_with, prefix)

    def iends_with(self, suffix: str) -> Condition:
        """:meth:`ends_with` ignoring ASCII case (see :meth:`icontains`)."""
        return self._cond(Op.iends_with, suffix)

    def regex(self, pattern: str) -> Condition:
        """A str field matches ``pattern`` somewhere (:func:`re.search` semantics)."""
        return self._cond(Op.regex, pattern)

    def match(self, pattern: str) -> Condition:
        """Same as :meth:`regex` (the pattern may match anywhere; anchor it with ``^``)."""
        return self.regex(pattern)

    def like(self, pattern: str) -> Condition:
        """SQL ``LIKE``, case-sensitive: ``%`` is any run of characters, ``_`` one character,
        everything else itself; the whole value must match. Built on :meth:`regex` (see
        :func:`like_to_regex`)."""
        if not isinstance(pattern, str):
            raise QueryError(f"like() takes a str pattern, not {type(pattern).__name__}")
        return self.regex(like_to_regex(pattern))

    def between(self, low: Any, high: Any) -> And:
        """``low <= field <= high`` (both ends included)."""
        return And((self._cond(Op.gte, low), self._cond(Op.lte, high)))

    def in_range(self, low: Any, high: Any) -> And:
        """``low <= field < high`` (the half-open range, as Python's ``range``)."""
        return And((self._cond(Op.gte, low), self._cond(Op.lt, high)))

    def is_null(self, flag: bool = True) -> Condition:
        """The value is null or missing (``flag=False``: it is present and not null)."""
        return self._cond(Op.is_null, flag)

    def isna(self) -> Condition:
        """Same as :meth:`is_null`."""
        return self.is_null()

    def is_not_null(self) -> Condition:
        """The value is present and not null (``is_null(False)``)."""
        return self.is_null(False)

    def has_value(self) -> Condition:
        """Same as :meth:`is_not_null`."""
        return self.is_null(False)

    def exists(self, flag: bool = True) -> Condition:
        """The path is present in the data, even if null (``flag=False``: it is absent)."""
        return self._cond(Op.exists, flag)

    def is_empty(self, flag: bool = True) -> Condition:
        """The str is ``""`` or the list is ``[]`` (``flag=False``: non-empty). Unknown on
        null: combine with :meth:`is_null` to include nulls."""
        return self._cond(Op.is_empty, flag)

    def is_blank(self, flag: bool = True) -> Condition:
        """The str is empty or only ASCII whitespace (space, tab, line breaks, form feed,
        vertical tab); ``flag=False``: it has another character. Unknown on null."""
        return self._cond(Op.is_blank, flag)

    def is_true(self) -> Condition:
        """A bool field is ``true``."""
        return self._cond(Op.eq, True)

    def is_false(self) -> Condition:
        """A bool field is ``false`` (null is neither true nor false)."""
        return self._cond(Op.eq, False)

    def is_truthy(self) -> Condition:
        """The value is truthy as in Python: not null, missing, ``0``, ``""``, ``[]`` or
        ``false`` (every datetime is truthy)."""
        return self._cond(Op.truthy, True)

    def is_falsy(self) -> Condition:
        """The value is null, missing, ``0``, ``""``, ``[]`` or ``false``."""
        return self._cond(Op.truthy, False)

    def _fn(self, fn: str) -> FieldRef:
        if self.field.fn is not None:
            raise QueryError(f"{self.field} already applies {self.field.fn}(); apply one only")
        if self.field.meta:
            raise QueryError(f"{fn}() applies to indexed data paths, not {self.field}")
        return FieldRef(Field(self.field.path, fn=fn))

    def length(self) -> FieldRef:
        """The number of characters of a str (elements of a list), to compare:
        ``QB.name.length() >= 3``."""
        return self._fn("length")

    def any(self) -> FieldRef:
        """The elements of a list field, any of which must satisfy the condition that follows:
        ``QB.tags.any().starts_with("a")`` (false on an empty list)."""
        return self._fn("any")

    def all(self) -> FieldRef:
        """The elements of a list field, every one of which must satisfy the condition that
        follows: ``QB.scores.all() >= 0`` (true on an empty list)."""
        return self._fn("all")

    def _window(self, window: tuple[datetime, datetime], closed: bool = False) -> And:
        start, end = window
        return And((self._cond(Op.gte, start), self._cond(Op.lte if closed else Op.lt, end)))

    def today(self, tz: Zone | None = None, *, now: datetime | None = None) -> And:
        """A datetime field falls on the current day in ``tz`` (default UTC; a tzinfo or an
        IANA name), from local midnight to the next. ``now`` replaces the clock."""
        return self._window(day_window("day", tz, now))

    def yesterday(self, tz: Zone | None = None, *, now: datetime | None = None) -> And:
        """A datetime field falls on the previous day in ``tz`` (see :meth:`today`)."""
        return self._window(day_window("day", tz, now, back=1))

    def this_week(self, tz: Zone | None = None, *, now: datetime | None = None) -> And:
        """A datetime field falls in the current week (Monday 00:00 to the next) in ``tz``."""
        return self._window(day_window("week", tz, now))

    def this_month(self, tz: Zone | None = None, *, now: datetime | None = None) -> And:
        """A datetime field falls in the current calendar month in ``tz``."""
        return self._window(day_window("month", tz, now))

    def this_year(self, tz: Zone | None = None, *, now: datetime | None = None) -> And:
        """A datetime field falls in the current calendar year in ``tz``."""
        return self._window(day_window("year", tz, now))

    def last_n_days(self, n: int, tz: Zone | None = None, *, now: datetime | None = None) -> And:
        """A datetime field lies in the last ``n`` days of 24 hours: ``now - n days <= field
        <= now`` (a rolling window; use :meth:`today` and friends for calendar days)."""
        return self._window(rolling_window(n, tz, now), closed=True)

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
    * ``QB["$created_time"]``, ``QB.meta("created_time")`` or ``QB.created_time()`` — a meta
      field of :class:`~specstar.core.types.ResourceMeta`;
    * ``QB.all(a, b)`` / ``QB.any(a, b)`` — and / or of conditions; ``QB.filter(a)`` starts a
      :class:`~.ast.QueryBuilder`.

    The names of these methods (``all``, ``any``, ``filter``, ``meta`` and the meta fields) are
    not data paths through attribute access; write ``QB["all"]`` for a field named so.

    Raises:
        QueryError: the path is not a dotted identifier path, or the meta field is unknown.
    """

    def __new__(cls) -> QB:  # pragma: no cover - guard only
        raise TypeError("QB is not instantiated; use QB['path'] or QB.path")

    @staticmethod
    def meta(name: str) -> FieldRef:
        """The meta field ``name`` (without the ``$``), e.g. ``QB.meta("updated_by")``."""
        return FieldRef(_make_field(name, meta=True))

    @staticmethod
    def all(*exprs: Expr) -> And:
        """True when every one of ``exprs`` is true (``QB.all()`` is always true)."""
        return And(_exprs(exprs, "all"))

    @staticmethod
    def any(*exprs: Expr) -> Or:
        """True when any of ``exprs`` is true (``QB.any()`` is always false)."""
        return Or(_exprs(exprs, "any"))

    @staticmethod
    def filter(*exprs: Expr) -> QueryBuilder:
        """A query keeping the rows where every one of ``exprs`` is true."""
        return QueryBuilder().filter(*_exprs(exprs, "filter"))

    @staticmethod
    def resource_id() -> FieldRef:
        """The meta field ``$resource_id``."""
        return FieldRef(Field("resource_id", meta=True))

    @staticmethod
    def current_revision_id() -> FieldRef:
        """The meta field ``$current_revision_id``."""
        return FieldRef(Field("current_revision_id", meta=True))

    @staticmethod
    def schema_version() -> FieldRef:
        """The meta field ``$schema_version``."""
        return FieldRef(Field("schema_version", meta=True))

    @staticmethod
    def total_revision_count() -> FieldRef:
        """The meta field ``$total_revision_count``."""
        return FieldRef(Field("total_revision_count", meta=True))

    @staticmethod
    def revision_seq() -> FieldRef:
        """The meta field ``$revision_seq``."""
        return FieldRef(Field("revision_seq", meta=True))

    @staticmethod
    def created_time() -> FieldRef:
        """The meta field ``$created_time``."""
        return FieldRef(Field("created_time", meta=True))

    @staticmethod
    def created_by() -> FieldRef:
        """The meta field ``$created_by``."""
        return FieldRef(Field("created_by", meta=True))

    @staticmethod
    def updated_time() -> FieldRef:
        """The meta field ``$updated_time``."""
        return FieldRef(Field("updated_time", meta=True))

    @staticmethod
    def updated_by() -> FieldRef:
        """The meta field ``$updated_by``."""
        return FieldRef(Field("updated_by", meta=True))

    @staticmethod
    def is_deleted() -> FieldRef:
        """The meta field ``$is_deleted`` (only with a query's ``is_deleted=None``)."""
        return FieldRef(Field("is_deleted", meta=True))

    @staticmethod
    def rev_status() -> FieldRef:
        """The meta field ``$rev_status``: the status of the current revision."""
        return FieldRef(Field("rev_status", meta=True))

    @staticmethod
    def rev_created_time() -> FieldRef:
        """The meta field ``$rev_created_time``: when the current revision was created."""
        return FieldRef(Field("rev_created_time", meta=True))

    @staticmethod
    def rev_updated_time() -> FieldRef:
        """The meta field ``$rev_updated_time``: when the current revision last changed."""
        return FieldRef(Field("rev_updated_time", meta=True))
