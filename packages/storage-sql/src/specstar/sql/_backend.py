"""What the shared SQL storage needs from a database: transactions, DDL and error mapping."""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from ._dialect import Dialect, RegexHook
from ._layout import IndexColumn

__all__ = ["Backend", "Tx", "Violation"]


class Tx(Protocol):
    """A database session inside (or outside) a transaction; SQL uses ``?`` placeholders."""

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of a query, or ``None``."""
        ...

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of a query."""
        ...

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute a statement; returns the number of rows it changed."""
        ...

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Execute a statement once per row of parameters, in one go (inside a write
        transaction: the statement is parsed once, the rows are streamed)."""
        ...


class Violation(Exception):
    """A constraint violation reported by the database, in database-neutral terms.

    Attributes:
        column: the ``ix_<n>`` column of a violated unique index, or ``None`` for a primary
            key (the resource or revision already exists).
    """

    def __init__(self, column: str | None) -> None:
        super().__init__(column or "primary key")
        self.column = column


class Backend(abc.ABC):
    """One database (file or server schema) holding the tables of many resource types."""

    dialect: Dialect
    #: ``'"schema".'`` on PostgreSQL, empty on SQLite.
    prefix: str
    #: Appended to the meta read (table alias ``m``) of a write transaction to lock the row
    #: (``FOR UPDATE OF m``).
    lock_clause: str
    #: ``LIMIT`` value meaning "no limit".
    no_limit: Any

    @abc.abstractmethod
    def write(self) -> AbstractContextManager[Tx]:
        """A write transaction, serialised against other writers of the same rows.

        Database errors leave it as :class:`Violation` (constraint violations) or
        :class:`~specstar.core.errors.StorageError`; errors raised by the body roll it back and
        pass through unchanged. A transaction that could not reach ``COMMIT`` (a lost
        connection, a lock not granted in time) raises
        :class:`~specstar.core.errors.StorageUnavailableError`: nothing was applied. One whose
        ``COMMIT`` got no answer raises
        :class:`~specstar.core.errors.WriteOutcomeUnknownError`.
        """

    @abc.abstractmethod
    def read(self, snapshot: bool = False) -> AbstractContextManager[Tx]:
        """A read session; with ``snapshot`` every statement sees the same committed state.

        Without ``snapshot`` a statement whose connection was lost may run once more on
        another connection (each statement stands alone); otherwise a lost connection raises
        :class:`~specstar.core.errors.StorageUnavailableError`.
        """

    @abc.abstractmethod
    def ddl(self, base: str) -> AbstractContextManager[Tx]:
        """A transaction for schema changes of one resource type, serialised across processes."""

    @abc.abstractmethod
    def create_tables(self, tx: Tx, base: str) -> None:
        """Create the meta and revision tables of a resource type if they do not exist."""

    @abc.abstractmethod
    def sync_columns(
        self, tx: Tx, base: str, columns: Sequence[IndexColumn], unique: frozenset[int]
    ) -> None:
        """Add missing value/presence columns and their indexes; create the unique indexes of
        the ``unique`` column numbers and drop every other unique index of the table."""

    @abc.abstractmethod
    def regex_hook(self, tx: Tx, table: str) -> RegexHook:
        """How ``regex`` conditions on ``table`` are compiled inside this session."""

    @abc.abstractmethod
    def explain(self, tx: Tx, sql: str, params: Sequence[Any]) -> list[str]:
        """The database's plan for a query, one line per step."""

    @abc.abstractmethod
    def analyze(self, tx: Tx, table: str) -> None:
        """Refresh the planner statistics of a table."""

    @abc.abstractmethod
    def encode_time(self, value: datetime) -> Any:
        """A datetime as its column stores it."""

    @abc.abstractmethod
    def decode_time(self, raw: Any) -> datetime:
        """A stored datetime as an aware UTC datetime."""

    def decode_blob(self, raw: Any) -> bytes:
        """Stored bytes as ``bytes``."""
        return bytes(raw)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def iter_chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
