"""SpecStar storage on SQL databases: SQLite (the embedded default) and PostgreSQL.

Both compile the core query AST to SQL (filters, sorts, keyset cursors and counts run in the
database) and keep every storage invariant across threads and processes::

    from specstar.core import ResourceManager
    from specstar.sql import SQLiteStorageFactory

    factory = SQLiteStorageFactory("data")
    books = ResourceManager(Book, storage_factory=factory, indexed_fields=["year"])

Use :class:`PostgresStorageFactory` when several hosts share the data; it needs the
``postgres`` extra (``pip install "specstar-storage-sql[postgres]"``), imported only when used,
so a SQLite user installs no PostgreSQL driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._store import SQLStorage
from ._version import __version__
from .blobs import FileBlobStore
from .postgres_blobs import PostgresBlobStore
from .sqlite import SQLiteStorage, SQLiteStorageFactory
from .sqlite_queue import SQLiteMessageQueue, SQLiteMessageQueueFactory

if TYPE_CHECKING:
    from .postgres import PostgresStorage, PostgresStorageFactory
    from .postgres_locks import PostgresLockBackend
    from .postgres_queue import PostgresMessageQueue, PostgresMessageQueueFactory

__all__ = [
    "FileBlobStore",
    "PostgresBlobStore",
    "PostgresLockBackend",
    "PostgresMessageQueue",
    "PostgresMessageQueueFactory",
    "PostgresStorage",
    "PostgresStorageFactory",
    "SQLStorage",
    "SQLiteMessageQueue",
    "SQLiteMessageQueueFactory",
    "SQLiteStorage",
    "SQLiteStorageFactory",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """Import the PostgreSQL classes on first use (their driver is an optional extra)."""
    if name in ("PostgresStorage", "PostgresStorageFactory"):
        from . import postgres

        return getattr(postgres, name)
    if name == "PostgresLockBackend":
        from . import postgres_locks

        return postgres_locks.PostgresLockBackend
    if name in ("PostgresMessageQueue", "PostgresMessageQueueFactory"):
        from . import postgres_queue

        return getattr(postgres_queue, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
