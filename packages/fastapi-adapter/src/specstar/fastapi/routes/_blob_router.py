"""What the global file routes (``/blobs/...``) share: where and how they are added, and
the permission gate each of them passes first."""

from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from specstar.core import (
    BlobUploads,
    BlobUploadSession,
    CheckerLike,
    MemoryStorage,
    ResourceManager,
)

from ..dependencies import DependencyProvider
from ..responses import MsgspecResponse

__all__ = ["BLOB_READ", "BLOB_RESOURCE", "BLOB_UPLOAD", "BlobRouter"]

#: The action of the upload and upload-session routes.
BLOB_UPLOAD = "blob_upload"
#: The action of the download routes.
BLOB_READ = "blob_read"
#: The resource name the global blob routes are checked under.
BLOB_RESOURCE = "blob"


class BlobRouter:
    """Adds the global file routes to ``router`` under ``prefix``.

    Args:
        router: the router the routes are added to.
        uploads: the uploads service the routes work on.
        permission_checker: the checker every route asks first (``None``: everyone may).
        get_user: the dependency giving the acting user.
        prefix: path of the routes.
        tags: the OpenAPI tags of the routes.
        route_class: the route class of the routes.
    """

    def __init__(
        self,
        router: APIRouter,
        *,
        uploads: BlobUploads,
        permission_checker: CheckerLike | None,
        get_user: Any,
        prefix: str,
        tags: list[str | Any],
        route_class: type[APIRoute],
    ) -> None:
        self.router = router
        self.uploads = uploads
        self.get_user = get_user
        self.prefix = prefix
        self.tags = tags
        self.route_class = route_class
        # the checker answers through a manager, so both checker protocols, scopes and the
        # strict operation context work as on every other route; it keeps no records
        self._gate: ResourceManager[BlobUploadSession] = ResourceManager(
            BlobUploadSession,
            name=BLOB_RESOURCE,
            storage=MemoryStorage(),
            permission_checker=permission_checker,
        )

    def allowed(self, action: str, user: Any) -> Any:
        """The uploader ``user`` acts as, once the checker allows ``action``."""
        who = DependencyProvider.user_of(user)
        self._gate.authorize(action, user=self.uploads.user_of(who))
        return who

    def add(
        self, path: str, endpoint: Any, method: str, name: str, summary: str, **kw: Any
    ) -> None:
        """Add ``endpoint`` as ``method prefix+path``, named ``blobs:{name}`` (operation id
        ``{name}_blobs``); ``kw`` goes to ``add_api_route`` (default response class:
        :class:`MsgspecResponse`)."""
        self.router.add_api_route(
            self.prefix + path,
            endpoint,
            methods=[method],
            name=f"blobs:{name}",
            operation_id=f"{name}_blobs",
            summary=summary,
            tags=self.tags,
            route_class_override=self.route_class,
            response_class=kw.pop("response_class", MsgspecResponse),
            **kw,
        )
