"""SpecStar storage on S3."""

from ._version import __version__
from .blobs import S3BlobStore

__all__ = ["S3BlobStore", "__version__"]
