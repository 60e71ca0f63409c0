"""Backups of a :class:`~specstar.fastapi.SpecStar` app's models: ``dump`` and ``load``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import BinaryIO

from msgspec import UNSET, UnsetType

from specstar.core import (
    DumpStats,
    LoadStats,
    ModelQuery,
    OnDuplicate,
    ProgressCallback,
    dump,
    load,
)

from ._app_state import AppState

__all__ = ["Backups"]


class Backups(AppState):
    """The backup part of :class:`~specstar.fastapi.SpecStar`: archives of the registered
    models (streamed), written and loaded."""

    def dump(
        self,
        bio: BinaryIO,
        model_queries: Mapping[str, ModelQuery] | None = None,
        *,
        user: str | UnsetType = UNSET,
        progress: ProgressCallback | None = None,
    ) -> dict[str, DumpStats]:
        """Write a backup archive of the registered models to ``bio`` (streamed).

        Args:
            bio: a binary stream, written sequentially.
            model_queries: ``{model name: query}``: only these models, each restricted to
                what its query selects (``None``: all of it). By default every model.
            user: who dumps (authorized as the action ``dump``).
            progress: called after each resource (see :class:`specstar.core.backup.Progress`).

        Raises:
            ValueError: ``model_queries`` names an unregistered model.
            PermissionDeniedError: ``user`` may not dump a model (nothing is written).
        """
        return dump(
            list(self.resource_managers.values()),
            bio,
            model_queries=model_queries,
            user=user,
            progress=progress,
        )

    def load(
        self,
        bio: BinaryIO,
        on_duplicate: OnDuplicate | str | None = None,
        *,
        user: str | UnsetType = UNSET,
        progress: ProgressCallback | None = None,
    ) -> dict[str, LoadStats]:
        """Load a backup archive into the registered models.

        The archive is checked whole first; each resource is then checked as a write would
        be and stored atomically with its revisions as archived. Refused records are listed
        in the returned stats with their reason.

        Args:
            bio: a binary stream (one that cannot seek is spooled to a temporary file).
            on_duplicate: ``overwrite`` (default), ``skip`` or ``raise_error``.
            user: who loads (authorized as the action ``load``).
            progress: called after each resource.

        Raises:
            ArchiveError: the archive is damaged or names an unregistered model.
            DuplicateResourceError: a duplicate under ``raise_error``.
            PermissionDeniedError: ``user`` may not load a model (nothing is loaded).
        """
        return load(
            list(self.resource_managers.values()),
            bio,
            on_duplicate=OnDuplicate.overwrite if on_duplicate is None else on_duplicate,
            user=user,
            progress=progress,
        )
