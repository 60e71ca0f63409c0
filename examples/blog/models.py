"""The blog's models: authors, their posts, and comments on posts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from specstar.core import DisplayName, OnDelete, Ref, Unique


class Author(msgspec.Struct, kw_only=True):
    """Someone who writes posts; ``handle`` is unique among live authors."""

    handle: Annotated[str, Unique(), msgspec.Meta(min_length=1, max_length=40)]
    name: Annotated[str, DisplayName(), msgspec.Meta(min_length=1, max_length=200)]
    bio: str = ""


class Post(msgspec.Struct, kw_only=True):
    """An article; ``slug`` is unique. An author with posts cannot be deleted (409)."""

    slug: Annotated[str, Unique(), msgspec.Meta(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    title: Annotated[str, DisplayName(), msgspec.Meta(min_length=1, max_length=300)]
    author_id: Annotated[str, Ref("author", on_delete=OnDelete.restrict)]
    body: str = ""
    tags: list[str] = []
    published_at: datetime | None = None


class Comment(msgspec.Struct, kw_only=True):
    """A reader's comment; deleting its post deletes it too (soft or permanent, like the post)."""

    post_id: Annotated[str, Ref("post", on_delete=OnDelete.cascade)]
    author_name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=5000)]
    rating: Annotated[int, msgspec.Meta(ge=1, le=5)] | None = None
