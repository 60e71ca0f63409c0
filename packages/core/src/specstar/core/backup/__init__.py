"""Backup and restore: a streaming, checksummed archive of resources, their revisions and
blobs, portable across storage backends.

:func:`dump` writes managers to an archive and :func:`load` reads one back into managers,
checking every record as a write would. The format is described in
:mod:`specstar.core.backup.format`.
"""

from __future__ import annotations

from .format import FORMAT_VERSION
from .loader import load
from .progress import Progress, ProgressCallback
from .reader import ArchiveReader, verify
from .stats import LoadFailure, LoadStats, OnDuplicate
from .writer import DumpStats, ModelQuery, dump

__all__ = [
    "FORMAT_VERSION",
    "ArchiveReader",
    "DumpStats",
    "LoadFailure",
    "LoadStats",
    "ModelQuery",
    "OnDuplicate",
    "Progress",
    "ProgressCallback",
    "dump",
    "load",
    "verify",
]
