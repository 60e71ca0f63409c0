"""SpecStar storage on SQL databases: SQLite (the embedded default) and PostgreSQL.

Both compile the core query AST to SQL (filters, sorts, keyset cursors and counts run in the
database) and keep every storage invariant across threads and processes::

    from specstar.core import ResourceManager
    from specstar.sql import SQLiteStorageFactory

    factory = SQLiteStorageFactory("data")
    books = ResourceManager(Book, storage_factory=factory, indexed_fields=["year"])

Use :class:`PostgresStorageFactory` when several hosts share the data.
"""

from ._store import SQLStorage
from ._version import __version__
from .blobs import FileBlobStore, PostgresBlobStore
from .postgres import PostgresStorage, PostgresStorageFactory
from .sqlite import SQLiteStorage, SQLiteStorageFactory

__all__ = [
    "FileBlobStore",
    "PostgresBlobStore",
    "PostgresStorage",
    "PostgresStorageFactory",
    "SQLStorage",
    "SQLiteStorage",
    "SQLiteStorageFactory",
    "__version__",
]
