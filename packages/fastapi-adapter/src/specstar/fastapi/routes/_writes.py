"""What the data-changing routes share: the write mode and the revision-info answers."""

import enum
from typing import Annotated, Any

from starlette.responses import Response

from fastapi import Query as QueryParam
from specstar.core import FieldError, RevisionInfo, RevisionStatus, ValidationError, entity_tag

from ..openapi import json_content, ref
from ..responses import json_response
from ._base import etag_header

__all__ = ["ChangeStatusQuery", "ModeQuery", "WriteMode", "body_error", "info_doc", "info_response"]


class WriteMode(enum.StrEnum):
    """``?mode=`` of ``PUT`` and ``PATCH``: a new revision, or an in-place edit of a draft."""

    update = "update"
    modify = "modify"


ModeQuery = Annotated[
    WriteMode,
    QueryParam(
        description=(
            "`update` (default): write a new revision. `modify`: edit the current revision in "
            "place, as `POST /{id}/modify` does (only while it is a draft: 409 "
            "`revision_not_draft` otherwise)."
        )
    ),
]
ChangeStatusQuery = Annotated[
    RevisionStatus | None,
    QueryParam(
        description=(
            "With `mode=update`: the new revision's status; with `mode=modify`: the status "
            "the edited draft moves to (`stable` makes it immutable)."
        )
    ),
]


def info_response(info: RevisionInfo, *, status_code: int = 200) -> Response:
    """``info`` as JSON with its entity tag as ``ETag``."""
    return json_response(info, status_code=status_code, etag=entity_tag(info))


def info_doc(description: str) -> dict[str, Any]:
    """The OpenAPI response of a write answering with a :class:`RevisionInfo` and ``ETag``."""
    return {
        "description": description,
        "content": json_content(ref("RevisionInfo")),
        "headers": {"ETag": etag_header()},
    }


def body_error(message: str) -> ValidationError:
    """A 422 about the body as a whole (an empty field path)."""
    return ValidationError(message, [FieldError("", message)])
