"""The vocabulary of compiled SQL, shared by the compiler and both databases.

:class:`Sql` is a fragment of SQL text with ``?`` placeholders and the values it binds;
:class:`Target` is a queryable column; a :class:`Dialect` supplies the few constructs that
differ between the databases and converts values to what its driver binds. :func:`known` and
:func:`key_limit` are the two facts about a target every part of the compiler needs: its
truth value where the column holds a value, and how much of a text value its index holds.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from specstar.core.spi import Kind

__all__ = ["Dialect", "RegexHook", "Sql", "Target", "key_limit", "known"]


class Sql(NamedTuple):
    """A fragment of SQL with ``?`` placeholders and the values they bind, in order."""

    text: str
    params: tuple[Any, ...] = ()

    def __add__(self, other: object) -> Sql:
        if not isinstance(other, Sql):
            return NotImplemented
        return Sql(self.text + other.text, self.params + other.params)

    @staticmethod
    def join(separator: str, parts: Iterable[Sql]) -> Sql:
        """The parts joined by ``separator`` (their parameters concatenated in order)."""
        items = list(parts)
        return Sql(separator.join(p.text for p in items), tuple(v for p in items for v in p.params))

    def wrap(self) -> Sql:
        """The fragment in parentheses."""
        return Sql(f"({self.text})", self.params)


class Target(NamedTuple):
    """A queryable column: its quoted name, kind, list-ness, nullability and presence column."""

    column: str
    kind: Kind
    is_list: bool
    nullable: bool
    presence: str | None
    name: str


class Dialect(abc.ABC):
    """What differs between the SQL databases: value binding and a few functions."""

    #: ``TRUE``/``FALSE`` spelled for this database.
    true = "TRUE"
    false = "FALSE"
    #: Deepest parenthesis nesting of a filter the database's parser accepts.
    max_depth = 1000
    #: Whether SpecStar chooses between the sort index and the filter's index for "filter +
    #: sort + limit" (see :mod:`._plan`): for a database whose planner has no range statistics.
    walks_sort_index = False
    #: Characters of an indexed text value its index entry holds, or ``None`` for the whole
    #: value. A database whose index entries have a size limit indexes this prefix (the
    #: :meth:`index_key` expression) and the compiler repeats the prefix next to every
    #: comparison and sort key, so the index still answers them while the full value decides.
    index_prefix: int | None = None

    @abc.abstractmethod
    def encode(self, kind: Kind, value: Any) -> Any:
        """A normalised, storable scalar of ``kind`` as the driver binds it."""

    @abc.abstractmethod
    def encode_list(self, kind: Kind, values: Sequence[Any]) -> Any:
        """A list of normalised scalars (``None`` elements allowed) as its column stores it."""

    @abc.abstractmethod
    def list_contains(self, column: str, kind: Kind, value: Any) -> Sql:
        """True when the (non-null) list column holds ``value``; value already encoded."""

    @abc.abstractmethod
    def list_contains_any(self, column: str, kind: Kind, values: Sequence[Any]) -> Sql:
        """True when the (non-null) list column holds one of ``values`` (encoded)."""

    @abc.abstractmethod
    def substring(self, column: str, needle: str) -> Sql:
        """True when the non-empty ``needle`` occurs in the text column."""

    @abc.abstractmethod
    def prefix(self, column: str, length: int) -> str:
        """The first ``length`` characters of the text column."""

    @abc.abstractmethod
    def suffix(self, column: str, length: int) -> str:
        """The last ``length`` characters of the text column."""

    @abc.abstractmethod
    def fold(self, column: str) -> str:
        """The text column with ASCII ``A``-``Z`` lowered, nothing else changed."""

    @abc.abstractmethod
    def strip(self, column: str) -> str:
        """The text column without, at either end, the characters of the one ``?``
        placeholder (bound to :data:`BLANK_CHARS`)."""

    @abc.abstractmethod
    def text_length(self, column: str) -> str:
        """The number of characters (code points) of the text column."""

    @abc.abstractmethod
    def list_length(self, column: str) -> str:
        """The number of elements of the (non-null) list column."""

    @abc.abstractmethod
    def elements(self, column: str, kind: Kind) -> tuple[str, str]:
        """A ``FROM`` source over the elements of the list column, and the element value
        (comparable like a scalar column of ``kind``)."""

    def bool_literal(self, value: bool) -> str:
        """``TRUE``/``FALSE`` as a literal of this database."""
        return self.true if value else self.false

    def index_key(self, column: str) -> str:
        """The expression a text column's index holds (its first :attr:`index_prefix`
        characters); only called when :attr:`index_prefix` is set."""
        return self.prefix(column, self.index_prefix or 0)


#: Given a target and a pattern, the SQL testing the (non-null) column against the pattern.
RegexHook = Callable[[Target, str], Sql]


def known(dialect: Dialect, target: Target, value: bool) -> Sql:
    """``value`` where the target column is not null, unknown (``NULL``) where it is."""
    literal = dialect.bool_literal(value)
    if not target.nullable:
        return Sql(literal)
    return Sql(f"(CASE WHEN {target.column} IS NOT NULL THEN {literal} END)")


def key_limit(dialect: Dialect, target: Target) -> int | None:
    """The prefix length an index holds of this column's values, or ``None`` when the
    index holds the column itself (see :attr:`Dialect.index_prefix`)."""
    limit = dialect.index_prefix
    if limit is None or target.kind != "str" or target.is_list or target.presence is None:
        return None
    return limit
