"""The blog API: three related models on SQLite (or memory), with the full REST API.

Authors write posts (``Post.author_id`` refers to an author, who cannot be deleted while
they have posts); readers comment on posts (``Comment.post_id``; comments go with their
post). ``Author.handle`` and ``Post.slug`` are unique.

Run it with ``make run`` (or ``python -m examples.blog``); the interactive docs are at
http://127.0.0.1:8000/docs and the admin UI at http://127.0.0.1:8000/admin. Data lives in
``data/`` at the repository root (override with ``SPECSTAR_DATA_DIR``;
``SPECSTAR_STORAGE=memory`` keeps everything in memory).

Requests may name the acting user in an ``X-User`` header: it becomes ``created_by`` /
``updated_by`` (a stand-in for real authentication, which would plug in the same way).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Header

from specstar.admin import mount as mount_admin
from specstar.core import MemoryStorageFactory, Schema, StorageFactory
from specstar.fastapi import DependencyProvider, SpecStar, install_problem_handlers

from .models import Author, Comment, Post

__all__ = ["DATA_DIR", "create_app", "storage_factory"]

log = logging.getLogger("examples.blog")

#: Where the SQLite files go by default: ``data/`` at the repository root.
DATA_DIR = Path(__file__).resolve().parents[2] / "data"


def storage_factory() -> tuple[StorageFactory, str]:
    """SQLite in ``SPECSTAR_DATA_DIR`` (default ``data/``) when ``specstar.sql`` is installed,
    else memory; returns the factory and a description for the start-up message (it names
    the folder: it is printed on the server's console, never put in the API document)."""
    choice = os.environ.get("SPECSTAR_STORAGE", "sqlite")
    if choice not in ("sqlite", "memory"):
        raise SystemExit(f"SPECSTAR_STORAGE={choice!r}: use 'sqlite' (the default) or 'memory'")
    if choice == "memory":
        return MemoryStorageFactory(), "memory (SPECSTAR_STORAGE=memory)"
    try:
        from specstar.sql import SQLiteStorageFactory
    except ImportError:
        log.warning("specstar.sql is not installed: keeping the blog in memory")
        return MemoryStorageFactory(), "memory (specstar-storage-sql is not installed)"
    folder = Path(os.environ.get("SPECSTAR_DATA_DIR", DATA_DIR))
    folder.mkdir(parents=True, exist_ok=True)
    factory: StorageFactory = SQLiteStorageFactory(folder)
    return factory, f"SQLite in {folder}"


def current_user(
    x_user: Annotated[str | None, Header(description="Who is acting (demo only).")] = None,
) -> str | None:
    """The acting user, from the ``X-User`` header (``anonymous`` when absent)."""
    return x_user or None


def create_app(factory: StorageFactory | None = None) -> FastAPI:
    """Build the blog app (a new :class:`SpecStar` each time, so tests can make several)."""
    if factory is None:
        factory, where = storage_factory()
    else:
        where = type(factory).__name__
    kind = "in memory" if isinstance(factory, MemoryStorageFactory) else "in SQLite"
    crud = SpecStar(
        storage_factory=factory,
        dependency_provider=DependencyProvider(get_user=current_user),
    )
    # Unique and Ref fields are indexed on their own; references must name live resources.
    # Authors carry a schema version: POST /author/_migrate brings stored ones up to date.
    crud.add_model(Schema(Author, "1"), indexed_fields=["name"], migrate_route=True)
    crud.add_model(Post, indexed_fields=["title", "tags", "published_at"])
    crud.add_model(Comment, indexed_fields=["rating"])
    app = FastAPI(
        title="SpecStar blog",
        version="1.0",
        description=f"Authors, posts and comments, versioned, kept {kind}.",
    )
    install_problem_handlers(app)
    crud.apply(app)
    # The admin UI at /admin: the same models, as the user get_user resolves.
    mount_admin(app, crud, path="/admin", title="SpecStar blog admin")
    app.state.storage = where
    app.state.crud = crud
    return app
