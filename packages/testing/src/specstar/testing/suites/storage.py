"""The full storage conformance suite."""

from __future__ import annotations

from .backup import BackupTests
from .concurrency import ConcurrencyTests
from .drafts import DraftTests
from .long_values import LongValueTests
from .properties import PropertyTests
from .queries import QueryTests
from .reads import ReadTests
from .revisions import RevisionTests
from .revmeta import RevMetaTests
from .scopes import ScopeTests


class StorageSuite(
    RevisionTests,
    ReadTests,
    ConcurrencyTests,
    DraftTests,
    QueryTests,
    LongValueTests,
    PropertyTests,
    ScopeTests,
    RevMetaTests,
    BackupTests,
):
    """Every behaviour a :class:`~specstar.core.ports.StorageFactory` must have.

    Wire an adapter in with one fixture::

        class TestSQLite(StorageSuite):
            @pytest.fixture
            def storage_factory(self, tmp_path):
                return SQLiteStorageFactory(tmp_path)
    """
