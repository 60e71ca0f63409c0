"""SpecStar storage on S3.

Two ways to keep resources in S3::

    from specstar.s3 import S3StorageFactory, S3PayloadStoreFactory

    # no database at all: S3 is the source of truth, shared by any number of processes
    factory = S3StorageFactory("my-bucket", prefix="app/")

    # meta in SQLite or PostgreSQL, revision data as S3 objects
    from specstar.sql import PostgresStorageFactory
    factory = PostgresStorageFactory(dsn, payloads=S3PayloadStoreFactory("my-bucket", "app/"))
"""

from __future__ import annotations

from ._version import __version__
from .blobs import (
    S3BlobStore,
)
from .compaction import (
    Compaction,
)
from .factory import (
    S3StorageFactory,
)
from .payloads import (
    S3PayloadStore,
    S3PayloadStoreFactory,
)
from .storage import (
    S3Storage,
)

__all__ = [
    "Compaction",
    "S3BlobStore",
    "S3PayloadStore",
    "S3PayloadStoreFactory",
    "S3Storage",
    "S3StorageFactory",
    "__version__",
]
