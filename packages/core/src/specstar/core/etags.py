"""Entity tags: the identity of one representation of a resource's revision.

A stable revision never changes, so its tag is its revision id (``"post:1f0c:3"``). A draft
is rewritten in place by ``modify``, so its tag adds a version of its content: ``~`` and the
first eight hex digits of its data hash (``"post:1f0c:3~9a41c07e"``). Every change of a
revision's data or status therefore changes its tag.

A write given an ``expected_etag`` acts only while the current revision has exactly that tag;
the comparison of a draft's content is repeated by the store inside its atomic step (see
:attr:`specstar.core.commits.Write.expected_draft_hash`), so a rewrite is a compare-and-swap
too.
"""

from __future__ import annotations

import msgspec

from .errors import PreconditionFailedError
from .types import ResourceMeta, RevisionInfo, RevisionStatus

__all__ = ["DRAFT_TAG_SEPARATOR", "Precondition", "draft_tag", "entity_tag", "revision_of_tag"]

#: Separates a draft's revision id from the version of its content in its entity tag.
DRAFT_TAG_SEPARATOR = "~"
#: Hex digits of the data hash a draft's entity tag carries.
_CONTENT_DIGITS = 8


def entity_tag(info: RevisionInfo) -> str:
    """The entity tag of a revision (unquoted): its id while stable; for a draft, its id,
    ``~`` and the first eight hex digits of its data hash.

    Example:
        ``entity_tag(info)`` is ``"post:1f0c:3"`` for a stable revision and
        ``"post:1f0c:3~9a41c07e"`` for a draft.
    """
    if info.status == RevisionStatus.draft:
        return draft_tag(info.revision_id, info.data_hash)
    return info.revision_id


def draft_tag(revision_id: str, data_hash: str) -> str:
    """The entity tag of the draft ``revision_id`` while its data hash is ``data_hash``."""
    digest = data_hash.rpartition(":")[2]
    return f"{revision_id}{DRAFT_TAG_SEPARATOR}{digest[:_CONTENT_DIGITS]}"


def revision_of_tag(tag: str) -> str:
    """The revision id an entity tag names (the tag itself for a stable revision's tag).

    Resource ids may contain ``~``; the draft suffix is recognised after the last ``:`` only,
    where revision ids hold their sequence number.
    """
    head, colon, seq = tag.rpartition(":")
    if not colon or DRAFT_TAG_SEPARATOR not in seq:
        return tag
    return f"{head}:{seq.split(DRAFT_TAG_SEPARATOR, 1)[0]}"


class Precondition(msgspec.Struct, frozen=True):
    """What a write expects of the current revision of its resource.

    Attributes:
        revision_id: the revision that must be current.
        tag: the exact entity tag the current revision must have (``None``: only the
            revision id is compared, as ``expected_revision_id`` does).
    """

    revision_id: str
    tag: str | None = None

    @classmethod
    def of(cls, expected_revision_id: str | None, expected_etag: str | None) -> Precondition | None:
        """The precondition of a verb's ``expected_revision_id``/``expected_etag`` arguments.

        Raises:
            ValueError: both were given.
        """
        if expected_etag is not None:
            if expected_revision_id is not None:
                raise ValueError("give expected_revision_id or expected_etag, not both")
            return cls(revision_of_tag(expected_etag), expected_etag)
        if expected_revision_id is not None:
            return cls(expected_revision_id)
        return None

    @property
    def needs_revision(self) -> bool:
        """Whether checking it needs the current revision's info, not only the meta."""
        return self.tag is not None

    def check(self, meta: ResourceMeta, info: RevisionInfo | None = None) -> None:
        """Raise unless ``meta`` (and ``info``, its current revision) satisfy it.

        Raises:
            PreconditionFailedError: another revision is current, or (for a tag) the current
                revision's entity tag differs.
        """
        rid = meta.resource_id
        if meta.current_revision_id != self.revision_id:
            raise PreconditionFailedError(
                rid, self.tag or self.revision_id, meta.current_revision_id
            )
        if self.tag is None:
            return
        if info is None or info.revision_id != meta.current_revision_id:
            raise PreconditionFailedError(rid, self.tag, None)
        actual = entity_tag(info)
        if actual != self.tag:
            raise PreconditionFailedError(rid, self.tag, actual)
